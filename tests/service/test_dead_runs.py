"""Dead runs are seen at once, and a failed run can be retried.

A worker records ``host:pid:process:name`` on the runs it claims (:mod:`service.runs.identity`);
a starting process fails the runs of workers on its host whose process is gone, without waiting
for the heartbeat timeout. Here for real: ``axial worker`` in a subprocess, held in its embed
stage by a slow embeddings server (the documented ``openai`` backend pointed at a local stub),
killed with SIGKILL; a second ``axial worker`` fails the run at start; the retry, executed by
that second worker, embeds only the texts the first never cached.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select, update

from judges import KeywordJudge
from service.app import create_app
from service.auth import Role, create_key
from service.context import Services
from service.demo import DEMO_DIR
from service.domain import RunStatus
from service.notes.batches import get_or_create_project
from service.runs.identity import is_gone, new_worker_id, process_token
from service.runs.worker import fail_dead_runs
from service.settings import Settings
from service.storage.models import Embedding, Run
from tests.conftest import auth, make_keys, wait_for_run
from tests.fakes.embeddings_stub import EmbeddingsStub, Fault, running_embeddings_stub, slow

REPO = Path(__file__).resolve().parents[2]
HOST = socket.gethostname()
linux = pytest.mark.skipif(
    not Path("/proc/self/stat").exists(), reason="a process is told apart through /proc (Linux)"
)
N_NOTES, CHUNK = 300, 256  # the embed stage's first chunk (256 texts) is cached before the kill


@pytest.fixture
def dead_holder() -> Iterator[str]:
    """The identity a worker of a process that has since died would have recorded."""
    proc = subprocess.Popen(["sleep", "30"])
    holder = f"{HOST}:{proc.pid}:{process_token(proc.pid)}:worker-dead"
    assert not is_gone(holder)  # alive
    proc.kill()
    proc.wait()
    yield holder


@linux
def test_a_worker_is_gone_only_when_this_host_can_tell(dead_holder: str) -> None:
    me = new_worker_id()
    assert me.startswith(f"{HOST}:{os.getpid()}:") and not is_gone(me)
    assert is_gone(dead_holder)
    _, pid, process, _ = me.rsplit(":", 3)
    ticks, _, where = process.partition("@")
    assert is_gone(f"{HOST}:{pid}:{int(ticks) + 1}@{where}:worker-x")  # pid reused
    assert not is_gone(f"elsewhere:{pid}:1@{where}:worker-x")  # another host: heartbeat rule
    assert not is_gone(f"{HOST}:{pid}:1@deadbeef.1:worker-x")  # another boot or container
    assert not is_gone(f"{HOST}:{pid}:-:worker-x")  # no /proc where it ran
    assert not is_gone(f"{HOST}:{pid}:worker-x") and not is_gone("first") and not is_gone(None)


@linux
def test_a_zombie_is_gone() -> None:
    proc = subprocess.Popen(["sleep", "30"])
    holder = f"{HOST}:{proc.pid}:{process_token(proc.pid)}:worker-z"
    proc.kill()
    deadline = time.monotonic() + 5
    while not is_gone(holder):  # killed, not yet reaped: a zombie
        assert time.monotonic() < deadline
        time.sleep(0.01)
    proc.wait()


def running_run(services: Services, holder: str, stage: str = "embed") -> int:
    """A run as a worker holding it mid-stage leaves it."""
    from service.runs.pipeline import config_hash, run_params
    from service.storage.models import Project

    params = run_params(services, 0, None, "unconfirmed")
    with services.db.transaction() as session:
        project = session.scalar(select(Project).where(Project.name == "d"))
        if project is None:
            project = Project(name="d")
            session.add(project)
            session.flush()
        now = datetime.now(UTC)
        run = Run(
            project_id=project.id, scope="unconfirmed", seed=0, params=params,
            config_hash=config_hash(params), status=RunStatus.running, stage=stage,
            timings={}, worker=holder, started_at=now, heartbeat_at=now,
        )  # fmt: skip
        session.add(run)
        session.flush()
        return run.id


@linux
def test_a_starting_process_fails_only_the_runs_of_dead_workers_here(
    db_url: str, dead_holder: str
) -> None:
    services = Services.build(
        Settings(database_url=db_url, run_stale_after_s=600), judge=KeywordJudge()
    )
    dead = running_run(services, dead_holder, "cluster")
    remote = running_run(services, f"elsewhere:{os.getpid()}:1@x.1:worker-r")
    alive = running_run(services, new_worker_id())
    assert fail_dead_runs(services) == [dead]
    assert fail_dead_runs(services) == []  # once
    with services.db.transaction() as session:
        rows = {r.id: r for r in session.scalars(select(Run))}
    assert rows[dead].status == RunStatus.failed and rows[dead].finished_at is not None
    assert rows[dead].error == (
        f"cluster: worker {dead_holder} is gone (its process no longer exists)"
    )
    assert rows[remote].status == rows[alive].status == RunStatus.running
    services.db.dispose()


@pytest.fixture
def retry_api(db_url: str) -> Iterator[tuple[TestClient, dict[str, str], Services]]:
    settings = Settings(database_url=db_url, session_secret="s", min_cluster_size=3)
    application = create_app(settings, judge=KeywordJudge(), start_worker=False, warm_up=False)
    keys = make_keys(application, "r")
    with application.state.services.db.transaction() as session:
        project = get_or_create_project(session, "r")
        keys["other_client"] = create_key(session, project, Role.client, "another-client")
    keys["outsider"] = make_keys(application, "elsewhere")["lead"]
    with TestClient(application) as client:
        yield client, keys, application.state.services
    application.state.services.db.dispose()


def submit(client: TestClient, key: str, texts: list[str], project: str = "r") -> int:
    body = "\n".join(json.dumps({"text": t}) for t in texts).encode()
    resp = client.post(
        f"/api/v1/projects/{project}/batches",
        content=body,
        headers={**auth(key), "Content-Type": "application/x-ndjson"},
    )
    assert resp.status_code == 201, resp.text
    return int(resp.json()["id"])


def test_retry_queues_a_new_run_for_a_failed_one_only(
    retry_api: tuple[TestClient, dict[str, str], Services],
) -> None:
    client, keys, services = retry_api
    batch = submit(client, keys["client"], [f"note {i} about dates" for i in range(6)])
    started = client.post(
        "/api/v1/projects/r/runs",
        json={"batch_id": batch, "seed": 7, "min_cluster_size": 4},
        headers=auth(keys["client"]),
    ).json()
    run_id = started["id"]
    url = f"/api/v1/runs/{run_id}/retry"
    queued = client.post(url, headers=auth(keys["lead"]))
    assert queued.status_code == 409, queued.text
    assert queued.json() | {"message": ""} == {
        "error": "conflict", "message": "", "field": "run_id", "status": "queued",
    }  # fmt: skip
    with services.db.transaction() as session:
        session.execute(
            update(Run).where(Run.id == run_id).values(status=RunStatus.failed, error="x")
        )
    assert client.post(url, headers=auth(keys["reviewer"])).status_code == 403
    assert client.post(url, headers=auth(keys["other_client"])).status_code == 403
    assert client.post(url, headers=auth(keys["outsider"])).status_code == 404
    assert client.post("/api/v1/runs/999999/retry", headers=auth(keys["lead"])).status_code == 404
    assert client.post(url).status_code == 401
    resp = client.post(url, headers=auth(keys["client"]))
    assert resp.status_code == 202, resp.text
    retry = resp.json()
    assert resp.headers["Location"] == f"/api/v1/runs/{retry['id']}"
    assert retry["retry_of"] == run_id and retry["status"] == "queued" and retry["id"] != run_id
    same = ("batch_id", "seed", "config_hash", "created_by", "scope")
    assert {k: retry[k] for k in same} == {k: started[k] for k in same}
    assert retry["params"] == {**started["params"], "retry_of": run_id}
    assert retry["params"]["clusterer"]["min_cluster_size"] == 4
    again = client.post(url, headers=auth(keys["lead"]))
    assert again.status_code == 409 and again.json()["retried_as"] == retry["id"]
    failed = client.get(f"/api/v1/runs/{run_id}", headers=auth(keys["lead"])).json()
    assert (failed["status"], failed["error"]) == ("failed", "x")  # left as it was


def notes_file(n: int) -> list[str]:
    """``n`` distinct note texts: the demo's, then variations of them."""
    lines = (DEMO_DIR / "notes.jsonl").read_text().splitlines()
    demo = [json.loads(line)["text"] for line in lines if line.strip()]
    return [
        demo[i % len(demo)] + (f" (again, trace {i})" if i >= len(demo) else "") for i in range(n)
    ]


def start_worker(db_url: str, stub: EmbeddingsStub) -> subprocess.Popen[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPENAI_", "AXIAL_"))}
    env.update(
        HF_HUB_OFFLINE="1",
        AXIAL_EMBEDDING_BACKEND="openai",
        AXIAL_EMBEDDING_BASE_URL=stub.url,
        AXIAL_EMBEDDING_API_KEY="test",
        AXIAL_EMBEDDING_BATCH_SIZE="128",
        AXIAL_EMBEDDING_CONCURRENCY="1",  # chunks of 256 texts: 2 requests, then the rest
        AXIAL_RUN_STALE_AFTER_S="600",  # the heartbeat rule cannot be what fails the run
        AXIAL_MIN_CLUSTER_SIZE="5",
    )
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service",
            "--db",
            db_url,
            "worker",
            "--no-warm-up",
            "--poll",
            "0.1",
        ],
        env=env,
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )


def wait_until(check: Callable[[], Any], what: str, timeout: float = 60) -> Any:
    deadline = time.monotonic() + timeout
    while not (found := check()):
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.05)
    return found


@linux
def test_a_killed_worker_s_run_fails_at_once_and_its_retry_reuses_the_cache(
    db_url: str,
) -> None:
    with running_embeddings_stub() as stub:
        settings = Settings(
            database_url=db_url, session_secret="s", embedding_backend="openai",
            embedding_base_url=stub.url, embedding_api_key="test", embedding_batch_size=128,
            embedding_concurrency=1, min_cluster_size=5,
        )  # fmt: skip
        application = create_app(settings, judge=KeywordJudge(), start_worker=False)
        services = application.state.services
        key = make_keys(application, "r")["client"]
        with TestClient(application) as client:
            batch = submit(client, key, notes_file(N_NOTES))
            run_id = client.post(
                "/api/v1/projects/r/runs", json={"batch_id": batch}, headers=auth(key)
            ).json()["id"]
            stub.queue(Fault(), Fault(), slow(60))  # the run's third request hangs
            first = start_worker(db_url, stub)
            try:
                wait_until(lambda: len(stub.requests) >= 3, "the embed stage's third request")
                wait_until(lambda: cached(services) == CHUNK, "the first chunk in the cache")
                run = read_run(services, run_id)
                assert (run.status, run.stage) == (RunStatus.running, "embed")
                assert run.worker is not None and run.worker.startswith(f"{HOST}:{first.pid}:")
            finally:
                first.kill()  # SIGKILL: no release, no last word
                first.wait(30)
            killed_at = time.monotonic()
            second = start_worker(db_url, stub)
            try:
                wait_until(lambda: read_run(services, run_id).status != "running", "the failure")
                seen_in = time.monotonic() - killed_at
                dead = read_run(services, run_id)
                assert dead.status == RunStatus.failed, dead.error
                assert (
                    dead.error
                    == f"embed: worker {run.worker} is gone (its process no longer exists)"
                )
                assert seen_in < 60  # the heartbeat timeout is 600 s here (a new process: ~2-8 s)
                sent = len(stub.texts)
                resp = client.post(f"/api/v1/runs/{run_id}/retry", headers=auth(key))
                assert resp.status_code == 202, resp.text
                retried = wait_for_run(client, resp.json()["id"], key, timeout=120)
                assert retried["status"] == "succeeded", retried["error"]
                assert retried["n_notes"] == N_NOTES
            finally:
                second.send_signal(signal.SIGTERM)
                _, err = second.communicate(timeout=30)
        services.db.dispose()
    assert f"run {run_id} failed: its worker is gone" in err
    # the retry embedded only the texts the killed run had not cached: its third request's
    again = stub.texts[sent:]
    assert sorted(again) == sorted(stub.requests[2]["input"])
    assert len(again) == N_NOTES - CHUNK


def cached(services: Services) -> int:
    with services.db.transaction() as session:
        return int(session.scalar(select(func.count()).select_from(Embedding)) or 0)


def read_run(services: Services, run_id: int) -> Run:
    with services.db.transaction() as session:
        run = session.get(Run, run_id)
        assert run is not None
        session.expunge(run)
        return run
