"""Embeddings cached by (model id, sha256 of the text): a text seen before is never embedded again."""

from __future__ import annotations

from collections.abc import Callable, Sequence

import numpy as np
import numpy.typing as npt
from sqlalchemy import select

from clustering import Embedder
from service.storage.db import Database
from service.storage.models import Embedding

CHUNK = 256


def load_cached(
    db: Database, model_id: str, hashes: Sequence[str]
) -> dict[str, npt.NDArray[np.float32]]:
    """The cached vectors of these text hashes for this model."""
    found: dict[str, npt.NDArray[np.float32]] = {}
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


def store_vectors(db: Database, model_id: str, items: dict[str, npt.NDArray[np.float32]]) -> None:
    with db.transaction() as session:
        known = set(
            session.scalars(
                select(Embedding.text_sha256).where(
                    Embedding.model_id == model_id, Embedding.text_sha256.in_(list(items))
                )
            )
        )
        session.add_all(
            Embedding(
                model_id=model_id,
                text_sha256=d,
                dim=int(v.shape[0]),
                vector=np.ascontiguousarray(v, dtype=np.float32).tobytes(),
            )
            for d, v in items.items()
            if d not in known
        )


def embed_with_cache(
    db: Database,
    embedder: Embedder,
    texts: Sequence[str],
    hashes: Sequence[str],
    on_progress: Callable[[int], None] | None = None,
) -> npt.NDArray[np.float32]:
    """Vectors for ``texts`` (row i for text i), embedding and storing only the missing ones.

    Args:
        db: where the cache lives.
        embedder: the model; its ``model_id`` keys the cache.
        texts: the note texts.
        hashes: sha256 of each text, same order.
        on_progress: called with the number of texts whose vector is ready.

    Returns:
        float32 array (n, d) with unit rows.
    """
    cached = load_cached(db, embedder.model_id, hashes)
    missing: dict[str, str] = {}
    for text, digest in zip(texts, hashes, strict=True):
        if digest not in cached:
            missing.setdefault(digest, text)
    ready = len(texts) - sum(1 for d in hashes if d in missing)
    if on_progress is not None:
        on_progress(ready)
    pending = list(missing.items())
    for start in range(0, len(pending), CHUNK):
        chunk = pending[start : start + CHUNK]
        vectors = embedder.embed_batch([t for _, t in chunk])
        fresh = {d: vectors[i] for i, (d, _) in enumerate(chunk)}
        store_vectors(db, embedder.model_id, fresh)
        cached.update(fresh)
        ready = sum(1 for d in hashes if d in cached)
        if on_progress is not None:
            on_progress(ready)
    return np.vstack([cached[d] for d in hashes]).astype(np.float32, copy=False)
