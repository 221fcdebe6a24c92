"""Shared fixtures: a real database per test, the real MiniLM model once per session, the real app.

Storage and API tests run on SQLite and, when ``AXIAL_TEST_DATABASE_URL`` names a PostgreSQL
server, on PostgreSQL too (each test in a migrated schema of its own, emptied after it for a
later test of the same process).

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

if os.environ.get("PYTEST_XDIST_WORKER"):
    # `make test` runs one pytest-xdist worker per core, so each worker (and every process it
    # starts) keeps to one thread in torch, BLAS and numba; set before they are imported. Two
    # threads per worker spin against the other worker: embedding 1,600 notes under load took
    # 15 s of CPU with two torch threads, 6 s with one.
    for name in ("OMP_NUM_THREADS", "OPENBLAS_NUM_THREADS", "MKL_NUM_THREADS", "NUMBA_NUM_THREADS"):
        os.environ.setdefault(name, "1")

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


class SchemaPool:
    """Migrated PostgreSQL schemas of this process, each emptied after a test and reused.

    A schema is created and migrated (the app's own ``Database.upgrade``) only when none is
    free; after its test every row of every table but ``alembic_version`` is deleted and its
    sequences restarted, so the next test starts from what a fresh migration leaves (ids from 1). A
    schema that cannot be emptied (a lock still held) is not reused; all are dropped at the end.
    """

    def __init__(self, url: str) -> None:
        self.url = url
        self.admin = create_engine(url)
        self.free: list[str] = []
        self.made: list[str] = []

    def url_of(self, schema: str) -> str:
        sep = "&" if "?" in self.url else "?"
        return f"{self.url}{sep}options=-csearch_path%3D{schema}"

    def take(self) -> str:
        if self.free:
            return self.free.pop()
        schema = f"t_{uuid.uuid4().hex[:12]}"
        with self.admin.begin() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        self.made.append(schema)
        database = Database(self.url_of(schema))
        database.upgrade()
        database.dispose()
        return schema

    def give_back(self, schema: str) -> None:
        try:
            with self.admin.begin() as conn:
                conn.execute(text("SET LOCAL lock_timeout = '10s'"))
                tables = conn.scalars(
                    text(
                        "SELECT tablename FROM pg_tables WHERE schemaname = :schema"
                        " AND tablename <> 'alembic_version'"
                    ),
                    {"schema": schema},
                ).all()
                sequences = conn.scalars(
                    text(
                        "SELECT c.relname FROM pg_class c JOIN pg_namespace n"
                        " ON n.oid = c.relnamespace WHERE c.relkind = 'S' AND n.nspname = :schema"
                    ),
                    {"schema": schema},
                ).all()
                # DELETE, not TRUNCATE: a test leaves a few rows, and TRUNCATE of 20 tables
                # costs PostgreSQL 0.2-0.5 s of file work per test against 0.02-0.04 s for
                # DELETE. The replica role skips the foreign-key and insert-only triggers.
                conn.execute(text("SET LOCAL session_replication_role = replica"))
                for table in tables:
                    conn.execute(text(f'DELETE FROM "{schema}"."{table}"'))
                for sequence in sequences:
                    conn.execute(text(f'ALTER SEQUENCE "{schema}"."{sequence}" RESTART'))
                heads = conn.scalars(text(f'SELECT version_num FROM "{schema}".alembic_version'))
                if len(heads.all()) != 1:
                    return  # not at one head as the migrations left it: not reused
        except Exception:
            return  # still locked by a connection the test left open: not reused
        self.free.append(schema)

    def close(self) -> None:
        with self.admin.begin() as conn:
            for schema in self.made:
                conn.execute(text(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE'))
        self.admin.dispose()


@pytest.fixture(scope="session")
def pg_schemas() -> Iterator[SchemaPool]:
    """This process's pool of migrated PostgreSQL schemas (``SchemaPool``)."""
    assert PG_URL
    pool = SchemaPool(PG_URL)
    yield pool
    pool.close()


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database at the head migration: a SQLite file, or a PostgreSQL schema.

    The SQLite file is a copy of one migrated once per session; the PostgreSQL schema is one
    of this process's migrated schemas, emptied after its previous test (``SchemaPool``).
    Either way the app's own upgrade then finds the database at head.
    """
    if request.param == "sqlite":
        path = tmp_path / "axial.db"
        shutil.copyfile(request.getfixturevalue("migrated_sqlite"), path)
        yield f"sqlite:///{path}"
        return
    if not PG_URL:
        pytest.skip("AXIAL_TEST_DATABASE_URL is not set (CI sets it to the local PostgreSQL)")
    pool: SchemaPool = request.getfixturevalue("pg_schemas")
    schema = pool.take()
    yield pool.url_of(schema)
    pool.give_back(schema)


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
        time.sleep(0.05)


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


# How `make test` spreads the suite over its pytest-xdist workers (`-n auto --dist loadfile`):
# whole groups of tests, handed out in the order the workers collected them. A group is one
# test file, except UMAP's: the files that fit UMAP run on one worker, which then compiles
# umap-learn's numba functions once (umap caches none of them on disk: ~9 s of CPU in each
# process that fits UMAP). Groups go out longest first, so that no core idles at the end
# behind one long file; an unlisted file counts a second per test (a new long file belongs
# in ``SECONDS``).
UMAP_GROUP = frozenset(
    {
        "tests/clustering/test_banking77.py",
        "tests/clustering/test_clusterer.py",
        "tests/clustering/test_reduce.py",
        "tests/clustering/test_umap_internals.py",
        "tests/service/test_runs_api.py",  # its worker warms up: NoteClusterer on UMAP
    }
)
SECONDS = {  # wall seconds of the longest groups in one `make test` (2 workers, loaded machine)
    "umap": 130,  # 156 before test_banking77 embedded with ONNX
    "tests/service/test_hostile_input.py": 88,
    "tests/service/test_cli.py": 76,
    "tests/service/test_batches_api.py": 75,
    "tests/service/test_agreement_scopes.py": 67,
    "tests/service/test_scopes_matrix.py": 65,
    "tests/clustering/test_embedder.py": 65,
    "tests/service/test_dead_runs.py": 56,
    "tests/service/test_agreement_api.py": 56,
    "tests/service/test_workers.py": 55,
    "tests/service/test_categories_api.py": 54,
    "tests/review_ui/test_error_pages.py": 50,
    "tests/service/test_schemathesis.py": 50,
    "tests/service/test_openapi.py": 44,
    "tests/service/test_agreement_blind.py": 43,
    "tests/service/test_sessions.py": 38,
    "tests/review_ui/test_review_flow.py": 33,
    "tests/service/test_carry_over.py": 31,
    "tests/clustering/test_small_sets.py": 26,
    "tests/service/test_concurrency.py": 18,
    "tests/service/test_agreement_audit.py": 18,
    "tests/service/test_agreement_saturation.py": 18,
    "tests/service/test_review_api.py": 17,
    "tests/service/test_body_limits.py": 17,
    "tests/review_ui/test_dashboard.py": 17,
    "tests/review_ui/test_review_safety.py": 16,
    "tests/service/test_embedding_cache.py": 16,
    "tests/review_ui/test_readable_pages.py": 15,
    "tests/review_ui/test_pages.py": 14,
    "tests/service/test_carry_over_bulk.py": 13,
    "tests/review_ui/test_dashboard_browser.py": 11,
    "tests/review_ui/test_carry_over_browser.py": 11,
    "tests/review_ui/test_keyboard_browser.py": 10,
    "tests/review_ui/test_api_docs.py": 10,
}


def xdist_unit(nodeid: str) -> str:
    """The group of a test under `make test`: its file, or "umap" (see ``UMAP_GROUP``)."""
    path = nodeid.split("::", 1)[0]
    return "umap" if path in UMAP_GROUP else path


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On an xdist worker: the tests of each group together, the longest groups first."""
    if not hasattr(config, "workerinput"):
        return  # not an xdist worker: pytest's own order
    groups: dict[str, list[pytest.Item]] = {}
    for item in items:
        groups.setdefault(xdist_unit(item.nodeid), []).append(item)
    order = sorted(groups, key=lambda name: -SECONDS.get(name, len(groups[name])))
    items[:] = [item for name in order for item in groups[name]]


def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """`--dist loadfile`, with the UMAP files as one unit and units in the collected order."""
    if config.getvalue("dist") != "loadfile":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class GroupScheduling(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            return xdist_unit(nodeid)

    config.option.loadscopereorder = False  # keep the longest-first order of the workers
    return GroupScheduling(config, log)
