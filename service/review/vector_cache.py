"""Vectors and centroids kept across the requests of one database.

A note's text digest never changes and an embedding row (model id, digest) is only ever
inserted, so what :mod:`service.review.similarity` reads of them, once read, holds for every
later request: one :class:`VectorCache` per database engine.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import TYPE_CHECKING, TypeVar
from weakref import WeakKeyDictionary

from sqlalchemy.engine import Engine
from sqlalchemy.orm import Session

if TYPE_CHECKING:  # annotations only: NumPy is not imported by readers that never rank
    import numpy as np

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class VectorCache:
    """Immutable facts the similarity reads, kept across requests of one database.

    A note's text digest never changes and an embedding row (model id, digest) is only ever
    inserted, so a note's vector under a model, once read, is the same in every later request
    whatever the concurrent writers do; so is the centroid of a list of notes that all have one
    (cached only then: a note without a vector might get one later). Absence is never cached.
    At most ``max_vectors`` vectors and ``max_centroids`` centroids, the oldest dropped first.
    """

    def __init__(self, max_vectors: int = 20_000, max_centroids: int = 5_000) -> None:
        self.max_vectors, self.max_centroids = max_vectors, max_centroids
        self._vectors: dict[tuple[str, int], np.ndarray] = {}
        self._centroids: dict[tuple[str, tuple[int, ...]], np.ndarray | None] = {}
        self._lock = threading.Lock()

    def clear(self) -> None:
        """Forget everything (for a database whose vectors were deleted behind the service)."""
        with self._lock:
            self._vectors.clear()
            self._centroids.clear()

    def vector(self, model_id: str, note_id: int) -> np.ndarray | None:
        return self._vectors.get((model_id, note_id))

    def centroid(self, model_id: str, note_ids: tuple[int, ...]) -> tuple[bool, np.ndarray | None]:
        """(found, centroid): found False when it was not cached."""
        try:
            return True, self._centroids[(model_id, note_ids)]
        except KeyError:
            return False, None

    def keep_vectors(self, model_id: str, vectors: dict[int, np.ndarray]) -> None:
        with self._lock:
            for n, v in vectors.items():
                self._vectors[(model_id, n)] = v
            _trim(self._vectors, self.max_vectors)

    def keep_centroid(
        self, model_id: str, note_ids: tuple[int, ...], centroid: np.ndarray | None
    ) -> None:
        if centroid is not None:
            centroid.setflags(write=False)  # shared by the requests of every thread
        with self._lock:
            self._centroids[(model_id, note_ids)] = centroid
            _trim(self._centroids, self.max_centroids)


_CACHES: WeakKeyDictionary[Engine, VectorCache] = WeakKeyDictionary()
_CACHES_GUARD = threading.Lock()


def _trim(cache: dict[K, V], most: int) -> None:
    """Drop the oldest entries over ``most`` (the caller holds the lock)."""
    while len(cache) > most:
        del cache[next(iter(cache))]


def vector_cache(session: Session) -> VectorCache:
    """The cache of the session's database (its engine: one per app, so per database)."""
    engine = session.get_bind().engine
    with _CACHES_GUARD:
        cache = _CACHES.get(engine)
        if cache is None:
            cache = _CACHES[engine] = VectorCache()
        return cache
