"""Embeddings cached by (model id, sha256 of the text): a text seen before is never embedded again.

The texts a run still needs are embedded at the speed of the model:

- **sorted by length over the whole set**, longest first, then handed to the model a chunk at a
  time. Every forward pass pads its texts to the longest of them, so batches of like lengths
  waste little; chunks cut from an unsorted list would each mix short and long texts. Embedders
  that count tokens (:class:`CountsTokens`: torch) are sorted by tokens, one pass of their
  tokenizer; the others by characters (sentence-transformers' ``encode`` sorts by characters:
  on 10,000 short notes its passes carry 1.41 tokens per real token, sorted by tokens 1.02). Progress is reported after every forward
  pass of the model (embedders that report their batches, :class:`ReportsBatches`: torch and
  ONNX; the others after every chunk); the batches are the model's own, as without progress.
- **stored while the model works**: each chunk's vectors go to a writer thread that inserts
  them in its own transactions (several chunks at once when it falls behind), so the database
  never waits on the model nor the model on the database. What was stored stays stored if the
  run fails or its worker stops: the next run re-embeds only the rest.
"""

from __future__ import annotations

import queue
import threading
from collections import Counter
from collections.abc import Callable, Sequence
from types import TracebackType

import numpy as np
import numpy.typing as npt
from sqlalchemy import insert, select
from sqlalchemy.exc import IntegrityError

from clustering.embedder import CountsTokens, Embedder, ReportsBatches
from service.storage.db import Database
from service.storage.models import Embedding

CHUNK = 256
"""Texts handed to the model at once, at least (the model batches them itself)."""

Vectors = dict[str, npt.NDArray[np.float32]]


def load_cached(db: Database, model_id: str, hashes: Sequence[str]) -> Vectors:
    """The cached vectors of these text hashes for this model."""
    found: Vectors = {}
    unique = sorted(set(hashes))
    with db.transaction() as session:
        for start in range(0, len(unique), 500):
            rows = session.execute(
                select(Embedding.text_sha256, Embedding.vector).where(
                    Embedding.model_id == model_id,
                    Embedding.text_sha256.in_(unique[start : start + 500]),
                )
            )
            for digest, blob in rows:
                found[digest] = np.frombuffer(blob, dtype=np.float32)
    return found


def store_vectors(db: Database, model_id: str, items: Vectors) -> None:
    """Insert the vectors not stored yet (another run may have stored some meanwhile)."""
    with db.transaction() as session:
        known: set[str] = set()
        digests = list(items)
        for start in range(0, len(digests), 500):
            known.update(
                session.scalars(
                    select(Embedding.text_sha256).where(
                        Embedding.model_id == model_id,
                        Embedding.text_sha256.in_(digests[start : start + 500]),
                    )
                )
            )
        rows = [
            {
                "model_id": model_id,
                "text_sha256": d,
                "dim": int(v.shape[0]),
                "vector": np.ascontiguousarray(v, dtype=np.float32).tobytes(),
            }
            for d, v in items.items()
            if d not in known
        ]
        if rows:
            session.execute(insert(Embedding), rows)


class VectorWriter:
    """A thread storing vectors while the caller computes the next ones.

    ``put`` never blocks; leaving the ``with`` block waits until everything put is stored and
    raises the writer's first error, if any (unless the block itself is raising).
    """

    def __init__(self, db: Database, model_id: str) -> None:
        self.db, self.model_id = db, model_id
        self.error: BaseException | None = None
        self._queue: queue.SimpleQueue[Vectors | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._loop, name="axial-embed-writer", daemon=True)

    def __enter__(self) -> VectorWriter:
        self._thread.start()
        return self

    def put(self, items: Vectors) -> None:
        if self.error is not None:
            raise RuntimeError("storing embeddings failed") from self.error
        self._queue.put(items)

    def _loop(self) -> None:
        done = False
        while not done:
            batch: Vectors = {}
            item = self._queue.get()
            while True:  # take whatever else is waiting: one transaction for all of it
                if item is None:
                    done = True
                else:
                    batch.update(item)
                if done or self._queue.empty():
                    break
                item = self._queue.get()
            if batch and self.error is None:
                try:
                    self._store(batch)
                except BaseException as exc:  # reported to the caller by put() or __exit__
                    self.error = exc

    def _store(self, batch: Vectors) -> None:
        try:
            store_vectors(self.db, self.model_id, batch)
        except IntegrityError:  # another run stored some of these meanwhile: skip them now
            store_vectors(self.db, self.model_id, batch)

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self._queue.put(None)
        self._thread.join()
        if exc is None and self.error is not None:
            raise RuntimeError("storing embeddings failed") from self.error


def chunk_size(embedder: Embedder) -> int:
    """Texts per call: ``CHUNK``, or enough to keep every request of a remote embedder busy."""
    batch = int(getattr(embedder, "batch_size", 1))
    in_flight = int(getattr(embedder, "concurrency", 1))
    return max(CHUNK, batch * in_flight * 2)


def longest_first(embedder: Embedder, items: Sequence[tuple[str, str]]) -> list[tuple[str, str]]:
    """``(digest, text)`` pairs sorted longest first: in tokens when the embedder counts them
    (characters break ties), else in characters; stable."""
    texts = [t for _, t in items]
    chars = np.fromiter((len(t) for t in texts), dtype=np.int64, count=len(texts))
    if isinstance(embedder, CountsTokens) and texts:
        order = np.lexsort((-chars, -embedder.token_lengths(texts)))
    else:
        order = np.argsort(-chars, kind="stable")
    return [items[i] for i in order]


def embed_chunk(
    embedder: Embedder,
    texts: list[str],
    ready: int,
    on_progress: Callable[[int], None] | None,
) -> npt.NDArray[np.float32]:
    """One chunk's vectors; ``on_progress(ready + texts embedded so far)`` after each pass.

    A pass counts its distinct texts; the chunk's end reports the exact count (a text used by
    several notes counts once per note), which is never less.
    """
    if on_progress is None or not isinstance(embedder, ReportsBatches):
        return embedder.embed_batch(texts)
    done = 0

    def on_batch(n: int) -> None:
        nonlocal done
        done = min(done + n, len(texts))
        on_progress(ready + done)

    return embedder.embed_batch_reporting(texts, on_batch)


def embed_with_cache(
    db: Database,
    embedder: Embedder,
    texts: Sequence[str],
    hashes: Sequence[str],
    on_progress: Callable[[int], None] | None = None,
) -> npt.NDArray[np.float32]:
    """Vectors for ``texts`` (row i for text i), embedding and storing only the missing ones.

    The missing texts are embedded longest first, a chunk at a time, while a writer thread
    stores the previous chunks (see the module docstring).

    Args:
        db: where the cache lives.
        embedder: the model; its ``model_id`` keys the cache.
        texts: the note texts.
        hashes: sha256 of each text, same order.
        on_progress: called with the number of texts whose vector is ready, after the cache
            lookup, after every forward pass of the model (see :func:`embed_chunk`) and after
            every chunk.

    Returns:
        float32 array (n, d) with unit rows.
    """
    cached = load_cached(db, embedder.model_id, hashes)
    missing: dict[str, str] = {}
    for text, digest in zip(texts, hashes, strict=True):
        if digest not in cached:
            missing.setdefault(digest, text)
    uses = Counter(hashes)  # a text may appear more than once
    ready = len(texts) - sum(uses[d] for d in missing)
    if on_progress is not None:
        on_progress(ready)
    pending = longest_first(embedder, list(missing.items()))
    step = chunk_size(embedder)
    with VectorWriter(db, embedder.model_id) as writer:
        for start in range(0, len(pending), step):
            chunk = pending[start : start + step]
            vectors = embed_chunk(embedder, [t for _, t in chunk], ready, on_progress)
            fresh = {d: vectors[i] for i, (d, _) in enumerate(chunk)}
            writer.put(fresh)
            cached.update(fresh)
            ready += sum(uses[d] for d in fresh)
            if on_progress is not None:
                on_progress(ready)
    return np.vstack([cached[d] for d in hashes]).astype(np.float32, copy=False)
