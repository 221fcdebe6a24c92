"""Workers execute queued runs: a thread of the web process, or ``axial worker`` processes.

Any number of workers, on any machines, share one database. A worker claims the oldest queued
run and records itself as its holder (``run.worker``, ``host:pid:process:name``, see
:mod:`service.runs.identity`); every later write of the run (progress, heartbeat, failure,
results) is conditional on that worker still holding it. A run whose worker died is marked
failed with the stage it was in: at once when the worker ran on this host (a starting process,
and every poll of a worker, checks that the process behind each holder still exists), after
``run_stale_after_s`` without a heartbeat otherwise. A worker that stops releases the run it
holds back to the queue.

Why the run table is the queue, claimed with ``SELECT … FOR UPDATE SKIP LOCKED``, rather than a
job-queue package (Celery, RQ, Dramatiq, procrastinate): the run row already is the job. Its
status, stage, progress, heartbeat and error are what the API reports, so a separate queue would
be a second copy of that state to keep in step with it (a message acknowledged whose run never
started, a run queued whose message was lost), and a broker (Redis, RabbitMQ) would be one more
service to run, secure and back up for a queue of a few runs a day. On PostgreSQL, SKIP LOCKED
makes the table a correct queue: concurrent claimers each lock a different queued row without
waiting for one another, and the claim commits in the same transaction as the status change.
SQLite has neither row locks nor SKIP LOCKED: there the same statement is a conditional UPDATE
(``WHERE status = 'queued'``) under SQLite's single write lock, which serialises the claims.
"""

from __future__ import annotations

import logging
import threading
import time
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

from sqlalchemy import select, update

from service.domain import RunStatus
from service.runs.identity import is_gone
from service.runs.identity import new_worker_id as new_worker_id  # re-exported
from service.runs.pipeline import execute_run
from service.runs.store import held_by
from service.storage.models import Run

if TYPE_CHECKING:
    from service.context import Services

log = logging.getLogger("axial.jobs")


def _claimed_values(worker_id: str) -> dict[str, object]:
    now = datetime.now(UTC)
    return {
        "status": RunStatus.running,
        "started_at": now,
        "heartbeat_at": now,
        "stage": "load",
        "worker": worker_id,
    }


def claim_next(services: Services, worker_id: str | None = None) -> int | None:
    """Move the oldest queued run to running, held by ``worker_id``; None when none is queued.

    One statement: ``UPDATE run … WHERE status = 'queued' AND id = (SELECT id … ORDER BY id
    LIMIT 1 FOR UPDATE SKIP LOCKED) RETURNING id`` on PostgreSQL, the same without the lock
    clause on SQLite (see the module docstring).
    """
    oldest = select(Run.id).where(Run.status == RunStatus.queued).order_by(Run.id).limit(1)
    if services.db.engine.dialect.name == "postgresql":
        oldest = oldest.with_for_update(skip_locked=True)
    with services.db.transaction() as session:
        run_id = session.scalar(
            update(Run)
            .where(Run.id == oldest.scalar_subquery(), Run.status == RunStatus.queued)
            .values(**_claimed_values(worker_id or new_worker_id()))
            .returning(Run.id)
        )
        return None if run_id is None else int(run_id)


def claim_run(services: Services, run_id: int, worker_id: str | None = None) -> bool:
    """Claim one specific queued run (the CLI and the demo execute their own run in-process)."""
    with services.db.transaction() as session:
        claimed = session.scalar(
            update(Run)
            .where(Run.id == run_id, Run.status == RunStatus.queued)
            .values(**_claimed_values(worker_id or new_worker_id("cli")))
            .returning(Run.id)
        )
        return claimed is not None


def release_run(services: Services, run_id: int, worker_id: str) -> bool:
    """Put a run ``worker_id`` holds back in the queue, its progress reset; False if not held.

    Nothing of the run is stored before it succeeds (results are written in one transaction),
    and its embeddings are cached, so the worker that claims it next starts clean and fast.
    """
    with services.db.transaction() as session:
        released = session.scalar(
            update(Run)
            .where(*held_by(run_id, worker_id))
            .values(
                status=RunStatus.queued,
                stage="queued",
                done=0,
                total=0,
                timings={},
                started_at=None,
                heartbeat_at=None,
                worker=None,
            )
            .returning(Run.id)
        )
        return released is not None


def fail_interrupted(services: Services) -> int:
    """Mark runs whose worker stopped heartbeating as failed; returns how many."""
    cutoff = datetime.now(UTC) - timedelta(seconds=services.settings.run_stale_after_s)
    stale_runs = select(Run).where(Run.status == RunStatus.running, Run.heartbeat_at < cutoff)
    if services.db.engine.dialect.name == "postgresql":  # one worker marks each stale run
        stale_runs = stale_runs.with_for_update(skip_locked=True)
    with services.db.transaction() as session:
        stale = session.scalars(stale_runs).all()
        for run in stale:
            run.status = RunStatus.failed
            run.error = (
                f"{run.stage}: interrupted: the process running it stopped during this stage; "
                "start a new run"
            )
            run.finished_at = datetime.now(UTC)
        return len(stale)


def fail_dead_workers(services: Services) -> list[int]:
    """Fail at once the running runs whose worker's process on this host no longer exists.

    The error names the stage and the worker: ``embed: worker host:pid:… is gone``. Workers on
    other hosts are left to :func:`fail_interrupted` (their heartbeat). Each run is failed only
    if the same dead worker still holds it (a conditional UPDATE), so two processes starting at
    once fail it once.

    Returns:
        The ids of the runs failed.
    """
    with services.db.transaction() as session:
        held = session.execute(
            select(Run.id, Run.worker, Run.stage).where(Run.status == RunStatus.running)
        ).all()
    failed: list[int] = []
    for run_id, holder, stage in held:
        if not is_gone(holder):
            continue
        with services.db.transaction() as session:
            done = session.scalar(
                update(Run)
                .where(*held_by(run_id, holder))
                .values(
                    status=RunStatus.failed,
                    error=f"{stage}: worker {holder} is gone (its process no longer exists)",
                    finished_at=datetime.now(UTC),
                )
                .returning(Run.id)
            )
        if done is not None:
            log.warning("run %s failed: worker %s is gone", run_id, holder)
            failed.append(run_id)
    return failed


def fail_dead_runs(services: Services) -> list[int]:
    """Both checks: dead workers of this host at once, then stale heartbeats of any host."""
    failed = fail_dead_workers(services)
    fail_interrupted(services)
    return failed


class Worker:
    """A thread that claims queued runs and executes them, one at a time.

    ``create_app`` starts one in the web process (the default); ``axial worker`` runs one per
    process. ``stop`` stops claiming, waits for the run in hand up to a timeout and then releases
    it back to the queue.

    Args:
        services: settings, database, judge and embedder.
        poll_s: seconds between polls of an empty queue.
        warm: load and run the model, build the judge and compile the clustering kernels
            before the first claim (see ``_warm_up``).
        once: return when the queue is empty instead of polling on.
        worker_id: recorded on the runs it claims; ``host:pid:process:worker-xxxx`` by
            default (:func:`service.runs.identity.new_worker_id`).

    Example::

        worker = Worker(services, once=True)
        worker.start()
        worker.join()  # every queued run executed; worker.executed lists them
    """

    def __init__(
        self,
        services: Services,
        poll_s: float = 0.3,
        warm: bool = True,
        *,
        once: bool = False,
        worker_id: str | None = None,
    ) -> None:
        self.services = services
        self.poll_s = poll_s
        self.warm = warm
        self.once = once
        self.worker_id = worker_id or new_worker_id()
        self.executed: list[int] = []
        self.ready = threading.Event()  # set once warmed up (at once without warm-up)
        self.warm_up_s: float | None = None
        self._current: int | None = None
        self._lock = threading.Lock()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self._abandoned: threading.Thread | None = None  # still computing a released run

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="axial-worker", daemon=True)
        self._thread.start()

    def is_alive(self) -> bool:
        """True while the thread runs, including one still computing a run it released."""
        return any(t is not None and t.is_alive() for t in (self._thread, self._abandoned))

    def join(self, timeout: float | None = None) -> None:
        """Wait for the thread (or the one still computing a released run) to end."""
        for thread in (self._thread, self._abandoned):
            if thread is not None:
                thread.join(timeout)

    def stop(self, timeout: float = 30.0) -> int | None:
        """Stop claiming; wait up to ``timeout`` s for the run in hand, then release it.

        Returns:
            The id of the run released back to the queue, or None.
        """
        self._stop.set()
        self.services.run_queued.set()  # end the wait between polls now
        thread = self._thread
        if thread is None:
            return None
        thread.join(timeout)
        self._thread = None
        if not thread.is_alive():
            return None
        self._abandoned = thread  # its results will not be stored (it no longer holds the run)
        with self._lock:
            current, self._current = self._current, None
        if current is not None and release_run(self.services, current, self.worker_id):
            log.warning("worker %s released run %s back to the queue", self.worker_id, current)
            return current
        return None

    def _loop(self) -> None:
        try:
            fail_dead_runs(self.services)  # before the warm-up: say so at once
        except Exception:
            log.exception("could not check for interrupted runs")
        if self.warm:
            self._warm_up()
        self.ready.set()
        log.info("worker %s is waiting for runs", self.worker_id)
        queued = self.services.run_queued
        while not self._stop.is_set():
            queued.clear()  # before the claim: a run committed after it wakes the wait below
            run_id = self._claim()
            if run_id is not None:
                self._execute(run_id)
            elif self.once:
                return
            else:
                queued.wait(self.poll_s)  # a run queued in this process, stop(), or the poll

    def _claim(self) -> int | None:
        try:
            fail_dead_runs(self.services)
            run_id = claim_next(self.services, self.worker_id)
        except Exception:  # database briefly unavailable: try again later
            log.exception("worker could not poll for runs")
            return None
        if run_id is None:
            return None
        with self._lock:
            if self._stop.is_set():  # stopped while claiming: hand it straight back
                release_run(self.services, run_id, self.worker_id)
                return None
            self._current = run_id
        return run_id

    def _execute(self, run_id: int) -> None:
        log.info("worker %s claimed run %s", self.worker_id, run_id)
        started = time.perf_counter()
        try:
            execute_run(self.services, run_id)  # records a failure on the run itself
        except Exception:  # could not even record it (database gone): the heartbeat check will
            log.exception("run %s could not be executed", run_id)
        with self._lock:
            self._current = None
            self.executed.append(run_id)
        try:
            with self.services.db.transaction() as session:
                status = session.scalar(select(Run.status).where(Run.id == run_id))
            log.info("run %s %s in %.1f s", run_id, status, time.perf_counter() - started)
        except Exception:
            log.exception("could not read run %s back", run_id)

    def _warm_up(self) -> None:
        """Pay every first-use cost now, not on the first run: the weekly batch is then instant.

        Loads the model and runs it once (the first forward pass allocates and plans), builds
        the judge (its imports), and compiles the clustering kernels. The worker keeps all of it
        for its whole life: a run then pays only for its own notes.
        """
        from clustering import warm_up

        try:
            started = time.perf_counter()
            self.services.embedder.embed_batch(["warm up: the model loads and runs once"])
            _ = self.services.judge
            loaded = time.perf_counter() - started
            log.info("model loaded in %.1f s, clustering warmed up in %.1f s", loaded, warm_up())
            self.warm_up_s = time.perf_counter() - started
        except Exception:  # a broken model is reported by the run that needs it
            log.exception("warm-up failed")
