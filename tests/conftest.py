"""Shared fixtures: a real database per test, the real MiniLM model once per session, the real app.

Storage and API tests run on SQLite and, when ``AXIAL_TEST_DATABASE_URL`` names a PostgreSQL
server, on PostgreSQL too (each test in its own schema).

Speed: the model is loaded once per session and its vectors are memoised by text (many tests run
the same 203 demo notes); the apps' workers skip the clustering warm-up (``warm_up=False``;
tests/clustering/test_clusterer.py and tests/service/test_runs_api.py exercise it).
"""

from __future__ import annotations

import os
import shutil
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from numpy.typing import NDArray

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from clustering import Embedder, SentenceTransformerEmbedder
from service.app import create_app
from service.auth import Role, create_key
from service.demo import DEMO_DIR
from service.notes.batches import get_or_create_project
from service.settings import Settings
from service.storage.db import Database
from tests.fakes.openai_stub import OpenAIStub, running_stub

REPO = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("AXIAL_TEST_DATABASE_URL")


def datasets_dir() -> Path:
    return Path(os.environ.get("AXIAL_DATASETS", REPO.parent / "shared" / "datasets"))


needs_datasets = pytest.mark.skipif(
    not datasets_dir().is_dir(),
    reason=f"shared datasets not found at {datasets_dir()} (set AXIAL_DATASETS)",
)


class MemoEmbedder:
    """The real embedder with its vectors memoised by text: a text is embedded once per session.

    Same ``Embedder`` protocol and ``model_id`` as the model it wraps; a batch embeds only the
    texts not seen before (in one call, in order) and returns copies, so callers cannot change
    the memo. Thread-safe: apps' workers and the live servers share it.
    """

    def __init__(self, inner: Embedder) -> None:
        self.inner = inner
        self.model_id = inner.model_id
        self._vectors: dict[str, NDArray[np.float32]] = {}
        self._lock = threading.Lock()

    def embed_batch(self, texts: Sequence[str]) -> NDArray[np.float32]:
        if len(texts) == 0:
            return self.inner.embed_batch(texts)
        with self._lock:
            missing = list(dict.fromkeys(t for t in texts if t not in self._vectors))
            if missing:
                self._vectors.update(zip(missing, self.inner.embed_batch(missing), strict=True))
            return np.stack([self._vectors[t] for t in texts]).astype(np.float32, copy=True)


@pytest.fixture(scope="session")
def minilm() -> SentenceTransformerEmbedder:
    """The real all-MiniLM-L6-v2 (torch), loaded offline once per test session."""
    model = SentenceTransformerEmbedder("all-MiniLM-L6-v2")
    model.embed_batch(["warm"])  # load the weights now, not inside the first test's timing
    return model


@pytest.fixture(scope="session")
def embedder(minilm: SentenceTransformerEmbedder) -> Embedder:
    """The real model for the service tests, its vectors memoised by text (``MemoEmbedder``)."""
    return MemoEmbedder(minilm)


@pytest.fixture
def openai_stub() -> Iterator[OpenAIStub]:
    """A local OpenAI-compatible server on 127.0.0.1 that the real openai SDK talks to."""
    with running_stub() as stub:
        yield stub


@pytest.fixture(scope="session")
def migrated_sqlite(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A SQLite file with every migration applied, once per session, for tests to copy."""
    path = tmp_path_factory.mktemp("template") / "axial.db"
    database = Database(f"sqlite:///{path}")
    database.upgrade()
    database.dispose()  # the last connection checkpoints the WAL into the file
    return path


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database: a SQLite file, or a PostgreSQL schema of its own.

    The SQLite file is a copy of one migrated once per session (the app's own upgrade then
    finds it at head); the PostgreSQL schema starts empty and is migrated by the app.
    """
    if request.param == "sqlite":
        path = tmp_path / "axial.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        yield f"sqlite:///{path}"
        return
    if not PG_URL:
        pytest.skip("AXIAL_TEST_DATABASE_URL is not set (CI sets it to the local PostgreSQL)")
    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(PG_URL)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in PG_URL else "?"
    yield f"{PG_URL}{sep}options=-csearch_path%3D{schema}"
    with admin.begin() as conn:
        conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    admin.dispose()


@pytest.fixture
def settings(db_url: str) -> Settings:
    """Settings on the test database. ``blind_first`` is off here so that tests of review
    actions reach proposals directly; tests/service/test_blind_first.py and the browser flow
    on the demo cover the default (on)."""
    return Settings(
        database_url=db_url,
        session_secret="test-session-secret",
        datasets=datasets_dir(),
        blind_first=False,
    )


@pytest.fixture
def app(settings: Settings, embedder: Embedder) -> Iterator[Any]:
    application = create_app(settings, embedder=embedder, warm_up=False)
    yield application
    application.state.worker.stop()
    application.state.services.db.dispose()


@pytest.fixture
def client(app: Any) -> Iterator[TestClient]:
    with TestClient(app) as test_client:
        yield test_client


def make_keys(app: Any, project: str = "demo") -> dict[str, str]:
    with app.state.services.db.transaction() as session:
        proj = get_or_create_project(session, project)
        return {role.value: create_key(session, proj, role, f"test-{role.value}") for role in Role}


@pytest.fixture
def keys(app: Any) -> dict[str, str]:
    """API keys by role for project "demo", plus "outsider": a lead of another project."""
    found = make_keys(app, "demo")
    found["outsider"] = make_keys(app, "elsewhere")["lead"]
    return found


def auth(key: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {key}"}


def wait_for_run(client: TestClient, run_id: int, key: str, timeout: float = 300) -> dict[str, Any]:
    deadline = time.monotonic() + timeout
    while True:
        body: dict[str, Any] = client.get(f"/api/v1/runs/{run_id}", headers=auth(key)).json()
        if body["status"] in ("succeeded", "failed") or time.monotonic() > deadline:
            return body
        time.sleep(0.2)


def demo_notes() -> bytes:
    return (DEMO_DIR / "notes.jsonl").read_bytes()


@pytest.fixture
def demo_run(client: TestClient, keys: dict[str, str]) -> int:
    """Project "demo" with the demo notes submitted and one finished run; returns its id."""
    resp = client.post(
        "/api/v1/projects/demo/batches",
        content=demo_notes(),
        headers={**auth(keys["lead"]), "Content-Type": "application/x-ndjson"},
    )
    assert resp.status_code == 201, resp.text
    run = client.post(
        "/api/v1/projects/demo/runs",
        json={"batch_id": resp.json()["id"]},
        headers=auth(keys["lead"]),
    )
    assert run.status_code == 202, run.text
    status = wait_for_run(client, run.json()["id"], keys["lead"])
    assert status["status"] == "succeeded", status
    return int(status["id"])


WaitForRun = Callable[[TestClient, int, str], dict[str, Any]]
