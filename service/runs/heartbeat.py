"""A running run's heartbeat: how the worker says a long stage is still alive."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from sqlalchemy import update

from service.context import Services
from service.runs.store import held_by
from service.storage.models import Run

log = logging.getLogger("axial.jobs")
HEARTBEAT_EVERY = 10.0


class Heartbeat:
    """Keeps a running run's heartbeat fresh while a long stage (clustering) computes.

    Only while ``holder`` still holds the run: a released run gets no beats from its old worker.
    """

    def __init__(self, services: Services, run_id: int, holder: str | None = None) -> None:
        self.services, self.run_id, self.holder = services, run_id, holder
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, name="axial-heartbeat", daemon=True)

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)

    def _beat(self) -> None:
        every = min(HEARTBEAT_EVERY, self.services.settings.run_stale_after_s / 3)
        while not self._stop.wait(every):
            try:
                with self.services.db.transaction() as session:
                    session.execute(
                        update(Run)
                        .where(*held_by(self.run_id, self.holder))
                        .values(heartbeat_at=datetime.now(UTC))
                    )
            except Exception:
                log.exception("heartbeat failed for run %s", self.run_id)
