"""The embedding cache: a text seen before (by this model) is never embedded again."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np

from service.notes.batches import sha256
from service.runs.embedding_cache import embed_with_cache
from service.storage.db import Database


class CountingEmbedder:
    """The real embedder, recording which texts it was asked to embed."""

    def __init__(self, inner: Any, model_id: str | None = None) -> None:
        self.inner = inner
        self.model_id = model_id or inner.model_id
        self.seen: list[str] = []

    def embed_batch(self, texts: Sequence[str]) -> Any:
        self.seen.extend(texts)
        return self.inner.embed_batch(texts)


def test_texts_are_embedded_once_per_model(db_url: str, embedder: Any) -> None:
    db = Database(db_url)
    db.upgrade()
    texts = ["wrong anchor date", "tone was preachy", "wrong anchor date", "made up a hotline"]
    hashes = [sha256(t) for t in texts]
    counting = CountingEmbedder(embedder)
    progress: list[int] = []
    first = embed_with_cache(db, counting, texts, hashes, on_progress=progress.append)
    assert sorted(counting.seen) == sorted(set(texts))  # the repeated text embedded once
    assert first.shape == (4, 384) and first.dtype == np.float32
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-4)
    assert np.array_equal(first[0], first[2]) and progress[-1] == 4
    counting.seen.clear()
    again = embed_with_cache(db, counting, texts[::-1], hashes[::-1])
    assert counting.seen == [] and np.allclose(again, first[::-1], atol=1e-6)
    other_model = CountingEmbedder(embedder, model_id="another-model")
    embed_with_cache(db, other_model, texts[:2], hashes[:2])
    assert sorted(other_model.seen) == sorted(texts[:2])  # the key includes the model id
    db.dispose()
