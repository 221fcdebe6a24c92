"""What the routes and the workers share: settings, database, embedder and judge."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path

from clustering import Embedder, make_embedder
from judges import Judge
from service.runs.judging import build_judge
from service.settings import Settings
from service.storage.db import Database


@dataclass
class Services:
    settings: Settings
    db: Database
    judge: Judge
    _embedder: Embedder | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)

    @classmethod
    def build(
        cls, settings: Settings, *, embedder: Embedder | None = None, judge: Judge | None = None
    ) -> Services:
        db = Database(settings.database_url)
        db.upgrade()
        return cls(
            settings=settings, db=db, judge=judge or build_judge(settings), _embedder=embedder
        )

    @property
    def embedder(self) -> Embedder:
        """The embedder, loaded on first use (model loading takes seconds)."""
        with self._lock:
            if self._embedder is None:
                self._embedder = make_embedder(
                    self.settings.embedding_backend,
                    self.settings.embedding_model,
                    batch_size=self.settings.embedding_batch_size,
                    cache_dir=Path.home() / ".cache" / "axial",
                )
            return self._embedder
