"""Fixtures for the clustering library tests: one real embedder per session, dataset paths."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from clustering import OnnxEmbedder, SentenceTransformerEmbedder

REPO = Path(__file__).resolve().parents[2]


def datasets_dir() -> Path:
    """The shared datasets folder: env AXIAL_DATASETS, else <repo>/../shared/datasets."""
    return Path(os.environ.get("AXIAL_DATASETS", REPO.parent / "shared" / "datasets"))


@pytest.fixture(scope="session")
def embedder(minilm: SentenceTransformerEmbedder) -> SentenceTransformerEmbedder:
    """The real default MiniLM embedder (torch) itself, not memoised: these tests test it.

    The same loaded model as the service tests' (tests/conftest.py ``minilm``): one load
    per session.
    """
    return minilm


@pytest.fixture(scope="session")
def datasets() -> Path:
    """The datasets folder, or skip with the reason when it is absent."""
    path = datasets_dir()
    if not path.is_dir():
        pytest.skip(f"datasets folder {path} is absent (set AXIAL_DATASETS)")
    return path


@pytest.fixture(scope="session")
def onnx_embedder(tmp_path_factory: pytest.TempPathFactory, worker_id: str) -> OnnxEmbedder:
    """The service's default backend: an int8 export made in a fresh folder (exercises the
    local export path), once per test run.

    Under pytest-xdist the folder is the run's, shared by its workers (the parent of their
    temporary folders): the first worker to need it exports (~11 s of CPU) while holding a
    file lock, the others wait for it or find it done.
    """
    from filelock import FileLock

    root = tmp_path_factory.getbasetemp()
    if worker_id != "master":
        root = root.parent
    folder = root / "onnx-export"
    with FileLock(f"{folder}.lock"):
        embedder = OnnxEmbedder(cache_dir=folder)
        embedder.embed_batch(["export"])  # the export, or this run's export found
    return embedder
