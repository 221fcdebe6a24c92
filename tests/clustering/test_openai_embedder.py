"""The OpenAI-compatible embeddings backend against a local stub server (real SDK, real HTTP)."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import openai
import pytest

from clustering import Embedder, OpenAIEmbedder, make_embedder
from clustering.factory import RemoteOptions
from clustering.openai_embedder import EmbeddingReplyInvalid, openai_client
from tests.fakes.embeddings_stub import (
    EmbeddingsStub,
    missing_vector,
    rate_limited,
    running_embeddings_stub,
    server_error,
    slow,
    stub_vector,
)

TEXTS = [
    f"note {i}: the agent {'retried the tool' if i % 2 else 'ignored the date'}" for i in range(23)
]


@pytest.fixture
def stub() -> Iterator[EmbeddingsStub]:
    with running_embeddings_stub(dim=24) as server:
        yield server


def remote(
    stub: EmbeddingsStub,
    batch_size: int = 64,
    concurrency: int = 4,
    dimensions: int | None = None,
    max_retries: int = 3,
) -> OpenAIEmbedder:
    client = openai_client(stub.url, "test-key", timeout_s=5, max_retries=max_retries)
    return OpenAIEmbedder(client, "stub-model", batch_size, concurrency, dimensions)


def expected(texts: list[str], dim: int = 24) -> np.ndarray:
    X = np.array([stub_vector(t, dim) for t in texts], dtype=np.float32)
    return X / np.linalg.norm(X, axis=1, keepdims=True)


def test_vectors_come_back_in_order_unit_length_batched(stub: EmbeddingsStub) -> None:
    emb = remote(stub, batch_size=5, concurrency=2)
    X = emb.embed_batch(TEXTS)
    assert isinstance(emb, Embedder) and emb.model_id == "stub-model+openai-api"
    assert X.dtype == np.float32 and X.shape == (len(TEXTS), 24)
    np.testing.assert_allclose(X, expected(TEXTS), atol=1e-6)  # reordered by index, normalised
    assert [len(r["input"]) for r in stub.requests] == [5, 5, 5, 5, 3]
    assert sorted(stub.texts) == sorted(TEXTS)
    assert {r["model"] for r in stub.requests} == {"stub-model"}
    assert {r["encoding_format"] for r in stub.requests} == {"float"}
    assert all("dimensions" not in r for r in stub.requests)
    assert stub.headers[0]["authorization"] == "Bearer test-key"


def test_requests_run_concurrently_up_to_the_limit(stub: EmbeddingsStub) -> None:
    stub.queue(*[slow(0.3)] * 6)
    remote(stub, batch_size=2, concurrency=3).embed_batch(TEXTS[:12])
    assert len(stub.requests) == 6 and stub.max_in_flight == 3


def test_429_and_5xx_are_retried(stub: EmbeddingsStub) -> None:
    stub.queue(rate_limited(), server_error(503))
    X = remote(stub, batch_size=50).embed_batch(TEXTS[:4])
    np.testing.assert_allclose(X, expected(TEXTS[:4]), atol=1e-6)
    assert len(stub.requests) == 3  # 429, 503, then the answer


def test_an_error_that_outlasts_the_retries_is_raised(stub: EmbeddingsStub) -> None:
    stub.queue(server_error(), server_error())
    with pytest.raises(openai.InternalServerError):
        remote(stub, max_retries=1).embed_batch(TEXTS[:2])
    assert len(stub.requests) == 2


def test_a_reply_missing_a_vector_is_refused(stub: EmbeddingsStub) -> None:
    stub.queue(missing_vector())
    with pytest.raises(EmbeddingReplyInvalid, match="asked for 3 vectors"):
        remote(stub).embed_batch(TEXTS[:3])


def test_dimensions_are_asked_for_and_name_the_vectors(stub: EmbeddingsStub) -> None:
    emb = remote(stub, dimensions=8)
    assert emb.model_id == "stub-model+openai-api+d8"
    assert emb.embed_batch(TEXTS[:2]).shape == (2, 8)
    assert stub.requests[0]["dimensions"] == 8


def test_empty_batch_keeps_the_dimension(stub: EmbeddingsStub) -> None:
    emb = remote(stub)
    assert emb.embed_batch([]).shape == (0, 24)  # asked the server once
    assert emb.embed_batch([]).shape == (0, 24) and len(stub.requests) == 1


def test_make_embedder_builds_it_from_plain_options(stub: EmbeddingsStub) -> None:
    emb = make_embedder(
        "openai", "stub-model", batch_size=10, remote=RemoteOptions(base_url=stub.url)
    )
    assert isinstance(emb, OpenAIEmbedder) and emb.batch_size == 10
    emb.embed_batch(TEXTS[:1])
    assert stub.headers[0]["authorization"] == "Bearer not-needed"  # local servers need no key


def test_bad_arguments_are_refused() -> None:
    with pytest.raises(ValueError, match="at least 1"):
        OpenAIEmbedder(openai_client("http://127.0.0.1:9/v1"), "m", batch_size=0)
