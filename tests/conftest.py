"""Shared fixtures: a real database per test, the real MiniLM model once per session, the real app.

Storage and API tests run on SQLite and, when ``AXIAL_TEST_DATABASE_URL`` names a PostgreSQL
server, on PostgreSQL too (each test in its own schema).
"""

from __future__ import annotations

import os
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TOKENIZERS_PARALLELISM", "false")

from fastapi.testclient import TestClient
from sqlalchemy import create_engine, text

from clustering import Embedder, make_embedder
from service.app import create_app
from service.auth import Role, create_key
from service.demo import DEMO_DIR
from service.notes.batches import get_or_create_project
from service.settings import Settings
from tests.fakes.openai_stub import OpenAIStub, running_stub

REPO = Path(__file__).resolve().parents[1]
PG_URL = os.environ.get("AXIAL_TEST_DATABASE_URL")


def datasets_dir() -> Path:
    return Path(os.environ.get("AXIAL_DATASETS", REPO.parent / "shared" / "datasets"))


needs_datasets = pytest.mark.skipif(
    not datasets_dir().is_dir(),
    reason=f"shared datasets not found at {datasets_dir()} (set AXIAL_DATASETS)",
)


@pytest.fixture(scope="session")
def embedder() -> Embedder:
    """The real all-MiniLM-L6-v2, loaded offline once per test session."""
    return make_embedder("torch", "all-MiniLM-L6-v2")


@pytest.fixture
def openai_stub() -> Iterator[OpenAIStub]:
    """A local OpenAI-compatible server on 127.0.0.1 that the real openai SDK talks to."""
    with running_stub() as stub:
        yield stub


@pytest.fixture(params=["sqlite", "postgresql"])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    """A fresh database: a SQLite file, or a PostgreSQL schema of its own."""
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'axial.db'}"
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
    application = create_app(settings, embedder=embedder)
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
