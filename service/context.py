"""What the routes and the workers share: settings, database, embedder and judge.

The embedder and the judge are built on first use, and so are their imports (torch,
sentence-transformers, onnxruntime, openai): commands that only read or write the database
(``axial categories``, ``keys``, ``users``, ``export``) never load them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from service.settings import Settings
from service.storage.db import Database

if TYPE_CHECKING:
    from clustering import Embedder
    from judges import Judge


def build_embedder(settings: Settings) -> Embedder:
    """The embedder the settings name (``embedding_*``); nothing is loaded until it embeds.

    The only place that turns ``Settings`` into an embedder: ``clustering`` never sees them.
    """
    from clustering.factory import RemoteOptions, make_embedder

    remote = RemoteOptions(
        base_url=settings.embedding_url,
        api_key=settings.embedding_key,
        timeout_s=settings.embedding_timeout_s,
        max_retries=settings.embedding_max_retries,
        concurrency=settings.embedding_concurrency,
        dimensions=settings.embedding_dimensions,
    )
    return make_embedder(
        settings.embedding_backend,
        settings.embedding_model,
        batch_size=settings.embedding_batch_size,
        cache_dir=Path.home() / ".cache" / "axial",  # the onnx backend's int8 export
        remote=remote,
    )


@dataclass
class Services:
    """Settings, database, and the judge and embedder (each built on first use).

    ``Services(settings, db, judge)`` takes a ready judge; :meth:`build` migrates the database
    and takes a ready embedder and judge, or builds them from the settings when first used.
    """

    settings: Settings
    db: Database
    _judge: Judge | None = None
    _embedder: Embedder | None = None
    _lock: threading.Lock = field(default_factory=threading.Lock)
    #: Set when a run queued in this process commits, so the process's own worker claims it at
    #: once instead of at its next poll (workers in other processes still poll).
    run_queued: threading.Event = field(default_factory=threading.Event)

    @classmethod
    def build(
        cls, settings: Settings, *, embedder: Embedder | None = None, judge: Judge | None = None
    ) -> Services:
        db = Database(settings.database_url)
        db.upgrade()
        return cls(settings=settings, db=db, _judge=judge, _embedder=embedder)

    @property
    def judge(self) -> Judge:
        """The judge of new runs, built on first use (the LLM judge imports openai)."""
        with self._lock:
            if self._judge is None:
                from service.runs.judging import build_judge

                self._judge = build_judge(self.settings)
            return self._judge

    @property
    def embedder(self) -> Embedder:
        """The embedder, built on first use (its model loads when it first embeds)."""
        with self._lock:
            if self._embedder is None:
                self._embedder = build_embedder(self.settings)
            return self._embedder
