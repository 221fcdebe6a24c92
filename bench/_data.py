"""Shared bench helpers: find and load the datasets, embed them once, cache the vectors.

Datasets live in `$AXIAL_DATASETS` (default `<repo>/../shared/datasets`), one
`<name>/notes.jsonl` per set. Embeddings are cached under `bench/results/cache/` (git-ignored),
keyed by model id and set name, and checked against a hash of the texts.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

RESULTS = REPO / "bench" / "results"
CACHE = RESULTS / "cache"

# name -> labels to drop (clinc150's out-of-scope bucket is not a category)
SETS: dict[str, frozenset[str]] = {
    "llm_code_bug_notes": frozenset(),
    "mast_human_annotations": frozenset(),
    "banking77": frozenset(),
    "stackoverflow_titles": frozenset(),
    "clinc150": frozenset({"oos"}),
}
UNSCORED = frozenset({"mast_human_annotations"})


@dataclass(frozen=True, slots=True)
class NoteSet:
    """One labelled set of texts."""

    name: str
    texts: list[str]
    labels: NDArray[np.int64]
    label_names: list[str]

    @property
    def n_true(self) -> int:
        """Number of true categories."""
        return len(self.label_names)


def datasets_dir() -> Path:
    """Return the datasets folder (env AXIAL_DATASETS, else `<repo>/../shared/datasets`)."""
    return Path(os.environ.get("AXIAL_DATASETS", REPO.parent / "shared" / "datasets"))


def load_jsonl(path: Path, name: str | None = None, drop: frozenset[str] = frozenset()) -> NoteSet:
    """Load a notes.jsonl ({"text", "label", ...} per line), dropping some labels.

    Args:
        path: The JSONL file.
        name: Set name (defaults to the parent folder's name).
        drop: Labels whose rows are left out.

    Returns:
        The set, labels encoded as ints in order of first appearance.
    """
    texts: list[str] = []
    raw: list[str] = []
    with path.open(encoding="utf-8") as fh:
        for line in fh:
            if not line.strip():
                continue
            row = json.loads(line)
            if row["label"] in drop:
                continue
            texts.append(row["text"])
            raw.append(row["label"])
    names = list(dict.fromkeys(raw))
    index = {n: i for i, n in enumerate(names)}
    labels = np.array([index[r] for r in raw], dtype=np.int64)
    return NoteSet(name or path.parent.name, texts, labels, names)


def load_set(name_or_path: str) -> NoteSet:
    """Load a shared set by name, or any JSONL of the same shape by path.

    Args:
        name_or_path: A key of `SETS` or a path to a .jsonl file.

    Returns:
        The loaded set.
    """
    if name_or_path in SETS:
        path = datasets_dir() / name_or_path / "notes.jsonl"
        return load_jsonl(path, name_or_path, SETS[name_or_path])
    path = Path(name_or_path)
    return load_jsonl(path, path.stem if path.stem != "notes" else path.parent.name)


def _texts_digest(texts: list[str]) -> str:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8"))
        h.update(b"\0")
    return h.hexdigest()


def embed_cached(
    note_set: NoteSet, backend: str = "torch", batch_size: int = 64
) -> tuple[NDArray[np.float32], float]:
    """Embed a set's texts once and cache the vectors on disk.

    Args:
        note_set: The set.
        backend: "torch" or "onnx".
        batch_size: Texts per forward pass.

    Returns:
        (vectors, seconds spent embedding now; 0.0 when read from the cache).
    """
    from clustering import make_embedder

    embedder = make_embedder(backend, "all-MiniLM-L6-v2", batch_size, CACHE / "onnx")  # type: ignore[arg-type]
    slug = embedder.model_id.replace("/", "__")
    digest = _texts_digest(note_set.texts)[:16]
    path = CACHE / slug / f"{note_set.name}-{digest}.npy"
    if path.exists():
        return np.load(path), 0.0
    t0 = time.perf_counter()
    X = embedder.embed_batch(note_set.texts)
    seconds = time.perf_counter() - t0
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, X)
    return X, seconds


def write_json(name: str, payload: object) -> Path:
    """Write a results JSON to bench/results/<name>.json and return its path."""
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    path.write_text(json.dumps(payload, indent=2))
    return path
