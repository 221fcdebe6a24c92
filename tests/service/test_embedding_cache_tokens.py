"""The embedding cache sorts the texts to embed by tokens when the embedder counts them (torch):
over the whole set, longest first, so each forward pass pads little; others by characters."""

from __future__ import annotations

import json
import os
import random
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from clustering import SentenceTransformerEmbedder
from clustering.embedder import CountsTokens
from service.notes.batches import sha256
from service.runs import embedding_cache
from service.runs.embedding_cache import embed_with_cache, load_cached, longest_first
from service.storage.db import Database


class Recording:
    """The real torch embedder, recording what it is asked (it counts tokens as the model)."""

    def __init__(self, inner: SentenceTransformerEmbedder) -> None:
        self.inner, self.model_id = inner, inner.model_id
        self.calls: list[list[str]] = []

    def token_lengths(self, texts: Sequence[str]) -> Any:
        return self.inner.token_lengths(texts)

    def embed_batch(self, texts: Sequence[str]) -> Any:
        self.calls.append(list(texts))
        return self.inner.embed_batch(texts)


class CharsOnly:
    model_id = "chars-only"


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.upgrade()
    yield database
    database.dispose()


def real_texts(n: int, seed: int) -> list[str]:
    root = Path(os.environ.get("AXIAL_DATASETS", Path(__file__).parents[3] / "shared" / "datasets"))
    paths = sorted(root.glob("*/notes.jsonl"))
    if not paths:
        pytest.skip(f"no datasets under {root} (set AXIAL_DATASETS)")
    pool = sorted(
        {json.loads(line)["text"] for p in paths for line in p.read_text().splitlines() if line}
    )
    return random.Random(seed).sample(pool, n)


@pytest.mark.parametrize("seed", [0, 1])
def test_missing_texts_go_by_tokens_over_the_whole_set(
    db: Database, minilm: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch, seed: int
) -> None:
    monkeypatch.setattr(embedding_cache, "CHUNK", 16)
    texts = real_texts(70, seed)
    texts.append(texts[5])  # used by two notes: embedded once
    hashes = [sha256(t) for t in texts]
    recording = Recording(minilm)
    assert isinstance(recording, CountsTokens)
    X = embed_with_cache(db, recording, texts, hashes)
    seen = [t for call in recording.calls for t in call]
    assert sorted(seen) == sorted(set(texts)) and [len(c) for c in recording.calls][:4] == [16] * 4
    tokens = minilm.token_lengths(seen).tolist()
    assert tokens == sorted(tokens, reverse=True)
    for i in range(1, len(seen)):  # characters break ties
        assert tokens[i - 1] > tokens[i] or len(seen[i - 1]) >= len(seen[i])
    reference = minilm.embed_batch(texts)
    assert (X * reference).sum(axis=1).min() >= 0.9999
    stored = load_cached(db, minilm.model_id, hashes)
    assert len(stored) == len(set(texts))
    assert all(np.array_equal(stored[h], X[i]) for i, h in enumerate(hashes))


def test_embedders_that_count_no_tokens_go_by_characters() -> None:
    texts = [*real_texts(200, 2), "ok", "no", "ok!"]
    items = [(sha256(t), t) for t in texts]
    expected = sorted(items, key=lambda item: -len(item[1]))  # stable, as before
    assert longest_first(CharsOnly(), items) == expected  # type: ignore[arg-type]
    assert longest_first(CharsOnly(), []) == []  # type: ignore[arg-type]
