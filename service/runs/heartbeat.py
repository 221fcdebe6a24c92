"""A running run's heartbeat: how the worker says a long stage is still alive."""

from __future__ import annotations

import logging
import threading
from datetime import UTC, datetime

from sqlalchemy import update

from service.context import Services
from service.storage.models import Run

log = logging.getLogger("axial.jobs")
HEARTBEAT_EVERY = 10.0


class Heartbeat:
    """Keeps a running run's heartbeat fresh while a long stage (clustering) computes."""

    def __init__(self, services: Services, run_id: int) -> None:
        self.services, self.run_id = services, run_id
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._beat, daemon=True)

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
                        .where(Run.id == self.run_id, Run.status == "running")
                        .values(heartbeat_at=datetime.now(UTC))
                    )
            except Exception:
                log.exception("heartbeat failed for run %s", self.run_id)
