"""Workers as their own processes: claims, release, ``axial worker`` and ``serve --no-worker``.

Claims run against PostgreSQL (``SELECT … FOR UPDATE SKIP LOCKED``) when
``AXIAL_TEST_DATABASE_URL`` is set, and against SQLite (the conditional UPDATE) always.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
from typer.testing import CliRunner

from clustering import Embedder
from judges import KeywordJudge
from service.app import create_app
from service.cli import _state
from service.cli import app as cli
from service.context import Services
from service.demo import DEMO_DIR
from service.domain import RunStatus
from service.runs.pipeline import config_hash, run_params
from service.runs.worker import Worker, claim_next, release_run
from service.settings import Settings
from service.storage.models import Project, Proposal, Run

REPO = Path(__file__).resolve().parents[2]
both_databases = pytest.mark.parametrize(
    "db_url", [pytest.param("postgresql", marks=pytest.mark.postgres), "sqlite"], indirect=True
)


def ingest(db_url: str, tmp_path: Path, n: int, project: str = "w") -> None:
    """``axial ingest`` the first ``n`` demo notes into ``project``."""
    lines = (DEMO_DIR / "notes.jsonl").read_text().splitlines()[:n]
    sample = tmp_path / "notes.jsonl"
    sample.write_text("\n".join(lines) + "\n")
    _state.clear()
    result = CliRunner().invoke(cli, ["--db", db_url, "ingest", str(sample), "--project", project])
    _state.clear()
    assert result.exit_code == 0, result.output


def queue_runs(services: Services, n: int, project: str = "w", **params: Any) -> list[int]:
    """``n`` queued runs over every undecided note of ``project``, as ``create_run`` queues them."""
    settings = services.settings.model_copy(update=params)
    found = run_params(Services(settings, services.db, services.judge), 0, None, "unconfirmed")
    with services.db.transaction() as session:
        proj = session.scalar(select(Project).where(Project.name == project))
        if proj is None:
            proj = Project(name=project)
            session.add(proj)
            session.flush()
        runs = [
            Run(
                project_id=proj.id,
                scope="unconfirmed",
                seed=0,
                params=found,
                config_hash=config_hash(found),
                status=RunStatus.queued,
                stage="queued",
                judge_id=services.judge.judge_id,
                judge_version=services.judge.judge_version,
                timings={},
            )
            for _ in range(n)
        ]
        session.add_all(runs)
        session.flush()
        return [r.id for r in runs]


def services_on(db_url: str, **settings: Any) -> Services:
    return Services.build(Settings(database_url=db_url, **settings), judge=KeywordJudge())


@both_databases
def test_parallel_claimers_take_each_run_exactly_once(db_url: str) -> None:
    queued = queue_runs(services_on(db_url), 24)
    claimers = [services_on(db_url) for _ in range(4)]  # a Database (engine, pool) each
    taken: dict[str, list[int]] = {}
    go = threading.Barrier(len(claimers))

    def claim_all(services: Services, name: str) -> None:
        go.wait()
        mine = taken.setdefault(name, [])
        while (run_id := claim_next(services, name)) is not None:
            mine.append(run_id)

    threads = [
        threading.Thread(target=claim_all, args=(s, f"claimer-{i}")) for i, s in enumerate(claimers)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    every = [run_id for ids in taken.values() for run_id in ids]
    assert sorted(every) == queued and len(every) == len(set(every))  # each exactly once
    with claimers[0].db.transaction() as session:
        holders = dict(session.execute(select(Run.id, Run.worker)).tuples().all())
        statuses = set(session.scalars(select(Run.status)))
    assert statuses == {RunStatus.running}
    assert all(holders[run_id] == name for name, ids in taken.items() for run_id in ids)
    for services in claimers:
        services.db.dispose()


class GatedEmbedder:
    """The real embedder behind a gate: a run waits in its embed stage until the test opens it."""

    def __init__(self, inner: Embedder) -> None:
        self.inner, self.model_id = inner, inner.model_id
        self.entered, self.gate = threading.Event(), threading.Event()

    def embed_batch(self, texts: Any) -> npt.NDArray[np.float32]:
        self.entered.set()
        assert self.gate.wait(60)
        return self.inner.embed_batch(texts)


def test_a_stopped_worker_releases_its_run_and_never_stores_it(
    tmp_path: Path, embedder: Embedder
) -> None:
    """Stop a worker mid-run: the run is queued again, and the old worker's results are dropped
    when it gets to them; the next worker executes it once."""
    db_url = f"sqlite:///{tmp_path / 'axial.db'}"
    ingest(db_url, tmp_path, 60)
    gated = GatedEmbedder(embedder)
    services = Services.build(
        Settings(database_url=db_url, min_cluster_size=3), embedder=gated, judge=KeywordJudge()
    )
    [run_id] = queue_runs(services, 1, min_cluster_size=3)
    first = Worker(services, poll_s=0.05, warm=False, worker_id="first")
    first.start()
    assert gated.entered.wait(30)
    assert first.stop(timeout=0) == run_id
    with services.db.transaction() as session:
        run = session.get(Run, run_id)
        assert run is not None
        assert (run.status, run.stage, run.worker) == (RunStatus.queued, "queued", None)
    gated.gate.set()  # the old worker computes on; its progress and results must not land
    first.join(30)
    assert not first.is_alive()
    with services.db.transaction() as session:
        assert session.scalar(select(Run.status).where(Run.id == run_id)) == RunStatus.queued
        assert session.scalar(select(func.count()).select_from(Proposal)) == 0
    assert not release_run(services, run_id, "first")  # not held: nothing to release
    second = Worker(services, poll_s=0.05, warm=False, once=True, worker_id="second")
    second.start()
    second.join(60)
    assert second.executed == [run_id]
    with services.db.transaction() as session:
        run = session.get(Run, run_id)
        assert run is not None and run.status == RunStatus.succeeded and run.worker == "second"
        per_run = Counter(session.scalars(select(Proposal.run_id)))
    assert per_run[run_id] == run.n_clusters > 0  # one execution's proposals, not two
    services.db.dispose()


def worker_env(**extra: str) -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false", **extra}


def test_axial_worker_once_executes_the_queue(tmp_path: Path) -> None:
    """``python -m service worker --once`` in its own process: the queued run succeeds."""
    db_url = f"sqlite:///{tmp_path / 'axial.db'}"
    ingest(db_url, tmp_path, 30)
    services = services_on(db_url)
    [run_id] = queue_runs(services, 1, min_cluster_size=3)
    done = subprocess.run(
        [sys.executable, "-m", "service", "--db", db_url, "worker", "--once", "--no-warm-up"],
        env=worker_env(),
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stderr
    assert "runs executed: 1, failed: 0" in done.stderr
    assert "INFO" in done.stderr and "Context impl" not in done.stderr  # alembic: WARNING up
    with services.db.transaction() as session:
        run = session.get(Run, run_id)
        assert run is not None and run.status == RunStatus.succeeded, run.error
        assert run.n_notes == 30
        stored = session.scalar(select(func.count()).where(Proposal.run_id == run_id))
        assert stored == run.n_clusters
        assert run.worker is not None
        host, pid, process, name = run.worker.split(":")
        assert int(pid) != os.getpid() and name.startswith("worker-")  # the worker process's
        assert host == socket.gethostname() and process != "-"  # its start time, boot, pid ns
    services.db.dispose()


def test_axial_worker_stops_on_sigterm(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'axial.db'}"
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "--db", db_url, "worker", "--no-warm-up"],
        env=worker_env(),
        cwd=REPO,
        stderr=subprocess.PIPE,
        text=True,
    )
    assert proc.stderr is not None
    lines: list[str] = []
    for line in proc.stderr:  # the worker says when it polls
        lines.append(line)
        if "is waiting for runs" in line:
            break
    proc.send_signal(signal.SIGTERM)
    _, rest = proc.communicate(timeout=30)
    assert proc.returncode == 0, "".join(lines) + rest
    assert "SIGTERM: stopping" in rest and "runs executed: 0, failed: 0" in rest


@both_databases
def test_serve_without_worker_leaves_runs_queued(db_url: str, embedder: Embedder) -> None:
    settings = Settings(database_url=db_url, session_secret="s")
    application = create_app(settings, embedder=embedder, start_worker=False, warm_up=False)
    [run_id] = queue_runs(application.state.services, 1)
    with TestClient(application) as client:
        assert client.get("/docs").status_code == 200
        time.sleep(0.5)  # an embedded worker polls every 0.3 s
        assert not application.state.worker.is_alive()
    with application.state.services.db.transaction() as session:
        assert session.scalar(select(Run.status).where(Run.id == run_id)) == RunStatus.queued
    application.state.services.db.dispose()


def test_axial_serve_no_worker_serves_and_leaves_runs_queued(tmp_path: Path) -> None:
    db_url = f"sqlite:///{tmp_path / 'axial.db'}"
    services = services_on(db_url)
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service",
            "--db",
            db_url,
            "serve",
            "--no-worker",
            "--port",
            str(port),
        ],
        env=worker_env(),
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        [run_id] = queue_runs(services, 1)
        deadline = time.monotonic() + 60
        while True:
            try:
                with urllib.request.urlopen(f"http://127.0.0.1:{port}/api/v1/projects") as r:
                    status = r.status
            except urllib.error.HTTPError as exc:
                status = exc.code
            except OSError:
                assert time.monotonic() < deadline and proc.poll() is None, "serve did not start"
                time.sleep(0.2)
                continue
            break
        assert status == 401  # serving: the API answers (and wants a key)
        time.sleep(1.0)  # an embedded worker would have claimed it by now
        with services.db.transaction() as session:
            assert session.scalar(select(Run.status).where(Run.id == run_id)) == RunStatus.queued
    finally:
        proc.terminate()
        proc.wait(30)
    services.db.dispose()


def test_a_run_queued_in_the_process_wakes_its_worker_at_once(
    tmp_path: Path, embedder: Embedder
) -> None:
    """A worker polling every two minutes claims a run queued by its own process when the
    queueing transaction commits (the API and the demo queue runs this way), and ``stop`` ends
    its wait between polls at once."""
    from service.runs.create import queue_run

    db_url = f"sqlite:///{tmp_path / 'wake.db'}"
    ingest(db_url, tmp_path, 30)
    services = Services.build(
        Settings(database_url=db_url), embedder=embedder, judge=KeywordJudge()
    )
    worker = Worker(services, poll_s=120, warm=False)
    worker.start()
    assert worker.ready.wait(30)
    time.sleep(0.2)  # the worker's first claim found nothing: it waits on its two-minute poll
    with services.db.transaction() as session:
        project = session.scalar(select(Project).where(Project.name == "w"))
        assert project is not None
        run_id = queue_run(session, services, project, batch_id=None, seed=0).id
    deadline = time.monotonic() + 60  # far below the poll: only the wake-up can claim it
    while time.monotonic() < deadline and worker.executed != [run_id]:
        time.sleep(0.05)
    assert worker.executed == [run_id]
    with services.db.transaction() as session:
        assert session.get(Run, run_id).status == RunStatus.succeeded  # type: ignore[union-attr]
    worker.stop(timeout=60)
    assert not worker.is_alive()  # stop() woke the two-minute wait
    services.db.dispose()
