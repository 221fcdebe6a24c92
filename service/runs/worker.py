"""Runs execute in a background worker thread that outlives the request that started them.

The worker claims queued runs with a conditional UPDATE, so several service processes can share
one PostgreSQL database without running a run twice. A run whose process died (no heartbeat for
``run_stale_after_s``) is marked failed with the stage it was in; earlier runs are untouched.
"""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any

from sqlalchemy import CursorResult, select, update

from service.runs.pipeline import execute_run
from service.storage.models import Run

if TYPE_CHECKING:
    from service.context import Services

log = logging.getLogger("axial.jobs")


def claim_next(services: Services) -> int | None:
    """Move the oldest queued run to running; None when there is none (or another won)."""
    with services.db.transaction() as session:
        run_id = session.scalar(
            select(Run.id).where(Run.status == "queued").order_by(Run.id).limit(1)
        )
        if run_id is None:
            return None
        now = datetime.now(UTC)
        claimed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(Run)
            .where(Run.id == run_id, Run.status == "queued")
            .values(status="running", started_at=now, heartbeat_at=now, stage="load")
        )
        return run_id if claimed.rowcount == 1 else None


def fail_interrupted(services: Services) -> int:
    """Mark runs whose worker stopped heartbeating as failed; returns how many."""
    cutoff = datetime.now(UTC) - timedelta(seconds=services.settings.run_stale_after_s)
    with services.db.transaction() as session:
        stale = session.scalars(
            select(Run).where(Run.status == "running", Run.heartbeat_at < cutoff)
        ).all()
        for run in stale:
            run.status = "failed"
            run.error = (
                f"{run.stage}: interrupted: the process running it stopped during this stage; "
                "start a new run"
            )
            run.finished_at = datetime.now(UTC)
        return len(stale)


class Worker:
    """One background thread executing queued runs one at a time."""

    def __init__(self, services: Services, poll_s: float = 0.3, warm: bool = True) -> None:
        self.services = services
        self.poll_s = poll_s
        self.warm = warm
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        if self._thread is not None:
            return
        self._stop.clear()
        self._thread = threading.Thread(target=self._loop, name="axial-worker", daemon=True)
        self._thread.start()

    def stop(self, timeout: float = 30.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout)
            self._thread = None

    def _loop(self) -> None:
        try:
            fail_interrupted(self.services)  # before the warm-up: say so at once
        except Exception:
            log.exception("could not check for interrupted runs")
        if self.warm:
            self._warm_up()
        while not self._stop.is_set():
            try:
                fail_interrupted(self.services)
                run_id = claim_next(self.services)
            except Exception:  # database briefly unavailable: try again later
                log.exception("worker could not poll for runs")
                run_id = None
            if run_id is None:
                self._stop.wait(self.poll_s)
                continue
            execute_run(self.services, run_id)

    def _warm_up(self) -> None:
        """Load the model and pay the clustering compile costs now, not on the first run."""
        from clustering import warm_up

        try:
            _ = self.services.embedder
            log.info("clustering warmed up in %.1f s", warm_up())
        except Exception:  # a broken model is reported by the run that needs it
            log.exception("warm-up failed")


def claim_run(services: Services, run_id: int) -> bool:
    """Claim one specific queued run (the CLI executes its own run in-process)."""
    now = datetime.now(UTC)
    with services.db.transaction() as session:
        claimed: CursorResult[Any] = session.execute(  # type: ignore[assignment]
            update(Run)
            .where(Run.id == run_id, Run.status == "queued")
            .values(status="running", started_at=now, heartbeat_at=now, stage="load")
        )
        return bool(claimed.rowcount == 1)
