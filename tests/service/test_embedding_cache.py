"""The embedding cache: a text seen before (by this model) is never embedded again; the rest is
embedded longest first over the whole set, a chunk at a time, stored while the model works;
progress moves after every forward pass of the model."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from clustering import OpenAIEmbedder, SentenceTransformerEmbedder
from service.app import create_app
from service.context import Services
from service.notes.batches import sha256
from service.runs import embedding_cache
from service.runs.embedding_cache import embed_with_cache, load_cached
from service.settings import Settings
from service.storage.db import Database
from service.storage.models import Embedding
from tests.conftest import auth, demo_notes, make_keys, wait_for_run
from tests.fakes.embeddings_stub import EmbeddingsStub, running_embeddings_stub


class CountingEmbedder:
    """The real embedder, recording the batches it was asked to embed."""

    def __init__(self, inner: Any, model_id: str | None = None, fail_on_call: int = 0) -> None:
        self.inner = inner
        self.model_id = model_id or inner.model_id
        self.calls: list[list[str]] = []
        self.fail_on_call = fail_on_call

    @property
    def seen(self) -> list[str]:
        return [t for call in self.calls for t in call]

    def embed_batch(self, texts: Sequence[str]) -> Any:
        self.calls.append(list(texts))
        if len(self.calls) == self.fail_on_call:
            raise RuntimeError("the model crashed")
        return self.inner.embed_batch(texts)


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.upgrade()
    yield database
    database.dispose()


def test_texts_are_embedded_once_per_model(db: Database, embedder: Any) -> None:
    texts = ["wrong anchor date", "tone was preachy", "wrong anchor date", "made up a hotline"]
    hashes = [sha256(t) for t in texts]
    counting = CountingEmbedder(embedder)
    progress: list[int] = []
    first = embed_with_cache(db, counting, texts, hashes, on_progress=progress.append)
    assert sorted(counting.seen) == sorted(set(texts))  # the repeated text embedded once
    assert first.shape == (4, 384) and first.dtype == np.float32
    assert np.allclose(np.linalg.norm(first, axis=1), 1.0, atol=1e-4)
    assert np.array_equal(first[0], first[2]) and progress[-1] == 4
    counting.calls.clear()
    again = embed_with_cache(db, counting, texts[::-1], hashes[::-1])
    assert counting.seen == [] and np.allclose(again, first[::-1], atol=1e-6)
    other_model = CountingEmbedder(embedder, model_id="another-model")
    embed_with_cache(db, other_model, texts[:2], hashes[:2])
    assert sorted(other_model.seen) == sorted(texts[:2])  # the key includes the model id


def test_missing_texts_go_longest_first_over_the_whole_set(
    db: Database, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedding_cache, "CHUNK", 4)
    texts = [f"{'the tool call timed out ' * (i % 7)}note {i}" for i in range(18)]
    hashes = [sha256(t) for t in texts]
    embed_with_cache(db, CountingEmbedder(embedder), texts[:3], hashes[:3])  # cached before
    counting = CountingEmbedder(embedder)
    progress: list[int] = []
    X = embed_with_cache(db, counting, texts, hashes, on_progress=progress.append)
    lengths = [len(t) for t in counting.seen]
    assert sorted(counting.seen) == sorted(texts[3:]) and lengths == sorted(lengths, reverse=True)
    assert [len(c) for c in counting.calls] == [4, 4, 4, 3]  # chunks cut from the sorted set
    assert progress == [3, 7, 11, 15, 18]  # after the lookup, then after every chunk
    np.testing.assert_allclose(X, embedder.embed_batch(texts), atol=1e-5)  # rows in order
    assert len(load_cached(db, embedder.model_id, hashes)) == 18


def test_progress_moves_after_every_forward_pass_and_no_vector_changes(
    db: Database, minilm: SentenceTransformerEmbedder, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The model reports its passes (3 texts each here) inside each chunk (8 texts); it gets
    the chunks it got when progress moved per chunk, so the stored vectors are the same."""
    monkeypatch.setattr(embedding_cache, "CHUNK", 8)
    monkeypatch.setattr(minilm, "batch_size", 3)
    texts = [f"{'the judge skipped the tool output ' * (i % 4)}note {i}" for i in range(18)]
    texts.append(texts[0])  # one text used by two notes: embedded once, counted twice
    hashes = [sha256(t) for t in texts]
    progress: list[int] = []
    X = embed_with_cache(db, minilm, texts, hashes, on_progress=progress.append)
    # a pass counts texts, a chunk's end counts notes ("note 0", twice, is in the second chunk)
    assert progress == [0, 3, 6, 8, 8, 11, 14, 16, 17, 19, 19]
    order = sorted(dict.fromkeys(texts), key=len, reverse=True)  # longest first, as chunked
    per_chunk = np.vstack([minilm.embed_batch(order[i : i + 8]) for i in range(0, 18, 8)])
    expected = {t: per_chunk[i] for i, t in enumerate(order)}
    np.testing.assert_array_equal(X, np.vstack([expected[t] for t in texts]))
    stored = load_cached(db, minilm.model_id, hashes)
    assert all(np.array_equal(stored[sha256(t)], expected[t]) for t in texts)


def test_chunks_done_before_a_failure_stay_stored(
    db: Database, embedder: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(embedding_cache, "CHUNK", 2)
    texts = [f"note {i}: {'x' * i}" for i in range(7)]
    hashes = [sha256(t) for t in texts]
    with pytest.raises(RuntimeError, match="crashed"):
        embed_with_cache(db, CountingEmbedder(embedder, fail_on_call=3), texts, hashes)
    stored = load_cached(db, embedder.model_id, hashes)
    assert set(stored) == {sha256(t) for t in texts[3:]}  # the two longest chunks of two
    rerun = CountingEmbedder(embedder)
    embed_with_cache(db, rerun, texts, hashes)
    assert sorted(rerun.seen) == sorted(texts[:3])  # only what was never stored


def test_the_embeddings_key_goes_only_to_its_own_server() -> None:
    base = {"database_url": "sqlite://", "embedding_backend": "openai"}
    judge_key = {"openai_api_key": "sk-judge"}
    assert Settings(**base, **judge_key).embedding_key == "sk-judge"  # both on OpenAI
    local = {"embedding_base_url": "http://127.0.0.1:8080/v1"}
    assert Settings(**base, **local, **judge_key).embedding_key is None
    shared = {"openai_base_url": "http://127.0.0.1:8080/v1/"}
    assert Settings(**base, **local, **shared, **judge_key).embedding_key == "sk-judge"
    own = {"embedding_api_key": "sk-embed"}
    assert Settings(**base, **local, **own, **judge_key).embedding_key == "sk-embed"
    assert Settings(**base, **local).embedding_url == "http://127.0.0.1:8080/v1"
    assert Settings(**base).embedding_url == "https://api.openai.com/v1"


@pytest.fixture
def embeddings_stub() -> Iterator[EmbeddingsStub]:
    with running_embeddings_stub(dim=48) as stub:
        yield stub


def test_a_run_embeds_through_an_openai_compatible_server(
    settings: Settings, embeddings_stub: EmbeddingsStub
) -> None:
    remote = settings.model_copy(
        update={
            "embedding_backend": "openai",
            "embedding_model": "stub-embedder",
            "embedding_base_url": embeddings_stub.url,
            "embedding_batch_size": 50,
        }
    )
    app = create_app(remote, warm_up=False)
    services: Services = app.state.services
    assert isinstance(services.embedder, OpenAIEmbedder)
    try:
        with TestClient(app) as client:
            keys = make_keys(app)
            sent = client.post(
                "/api/v1/projects/demo/batches",
                content=demo_notes(),
                headers={**auth(keys["lead"]), "Content-Type": "application/x-ndjson"},
            )
            assert sent.status_code == 201, sent.text
            runs = []
            for _ in range(2):
                started = client.post(
                    "/api/v1/projects/demo/runs",
                    json={"batch_id": sent.json()["id"]},
                    headers=auth(keys["lead"]),
                )
                runs.append(wait_for_run(client, started.json()["id"], keys["lead"]))
        with services.db.transaction() as session:
            model_ids = session.execute(
                select(Embedding.model_id, func.count()).group_by(Embedding.model_id)
            ).all()
    finally:
        app.state.worker.stop()
        services.db.dispose()
    assert [r["status"] for r in runs] == ["succeeded", "succeeded"], runs
    assert runs[0]["n_clusters"] >= 2
    texts = embeddings_stub.texts
    assert len(texts) == len(set(texts)) == sent.json()["n_stored"]  # each text once, ever
    assert max(len(r["input"]) for r in embeddings_stub.requests) == 50
    assert model_ids == [("stub-embedder+openai-api", len(texts))]  # cached by its model id
