"""Embed through any OpenAI-compatible ``/v1/embeddings`` server: OpenAI, text-embeddings-inference,
vLLM, llama.cpp's server, Ollama.

This is how a team embeds millions of notes on machines other than axial's: the texts go to the
server in batches of ``batch_size``, ``concurrency`` requests in flight, each retried with
backoff on 429, 5xx, timeouts and dropped connections (honouring ``Retry-After``). The vectors
come back as floats, in the order of the texts (the reply's ``index`` decides), and are scaled to
unit length here. Their ``model_id`` is ``<model>+openai-api`` (``+d<dimensions>`` when the
server is asked to shorten them), so the service's cache keeps them apart from local vectors.

A pure library: the ``openai`` client is injected, or built from plain arguments by
:func:`openai_client`; nothing here reads settings or the environment.

Example:
    >>> emb = OpenAIEmbedder(openai_client("http://127.0.0.1:8080/v1"), "BAAI/bge-small-en-v1.5")
    >>> emb.embed_batch(["the judge ignored the error"]).shape
    (1, 384)
"""

from __future__ import annotations

from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TYPE_CHECKING, Any

import numpy as np
from numpy.typing import NDArray

from clustering.embedder import empty_embeddings, normalize_rows

if TYPE_CHECKING:
    import openai

NO_KEY = "not-needed"
"""Sent as the API key to servers that need none (text-embeddings-inference, vLLM, llama.cpp)."""


class EmbeddingReplyInvalid(ValueError):
    """The server answered 200 with something that is not one vector per text."""


def openai_client(
    base_url: str | None = None,
    api_key: str | None = None,
    timeout_s: float = 60.0,
    max_retries: int = 5,
) -> openai.OpenAI:
    """An ``openai.OpenAI`` client for an embeddings server, from plain arguments.

    The client retries 429, 5xx, timeouts and connection errors itself, with exponential
    backoff and jitter, honouring the server's ``Retry-After``.

    Args:
        base_url: The server's ``/v1`` URL; None = OpenAI's.
        api_key: The key; None or "" sends a placeholder (local servers need none).
        timeout_s: Timeout of one request, in seconds.
        max_retries: Retries of one request before its error is raised.

    Returns:
        The client.
    """
    import openai

    return openai.OpenAI(
        base_url=base_url, api_key=api_key or NO_KEY, timeout=timeout_s, max_retries=max_retries
    )


class OpenAIEmbedder:
    """Embed texts with an OpenAI-compatible ``/v1/embeddings`` endpoint.

    Args:
        client: An ``openai.OpenAI`` client (see :func:`openai_client`); it does the retrying.
        model: The model name the server serves ("text-embedding-3-small",
            "BAAI/bge-small-en-v1.5", ...).
        batch_size: Texts per request.
        concurrency: Requests in flight at once.
        dimensions: Ask the server for vectors this long (models that support it, such as
            OpenAI's text-embedding-3); None = the model's own length.

    Example:
        >>> OpenAIEmbedder(client, "text-embedding-3-small").model_id
        'text-embedding-3-small+openai-api'
    """

    def __init__(
        self,
        client: openai.OpenAI,
        model: str,
        batch_size: int = 64,
        concurrency: int = 4,
        dimensions: int | None = None,
    ) -> None:
        if batch_size < 1 or concurrency < 1:
            raise ValueError("batch_size and concurrency must be at least 1")
        self.client = client
        self.model = model
        self.batch_size = batch_size
        self.concurrency = concurrency
        self.dimensions = dimensions
        self.model_id = f"{model}+openai-api" + (f"+d{dimensions}" if dimensions else "")
        self._dim: int | None = dimensions

    @property
    def dim(self) -> int:
        """The vectors' length (asks the server once when it was not given)."""
        if self._dim is None:
            self._dim = int(self._request(["dimension"]).shape[1])
        return self._dim

    def _request(self, texts: list[str]) -> NDArray[np.float32]:
        extra: dict[str, Any] = {} if self.dimensions is None else {"dimensions": self.dimensions}
        reply = self.client.embeddings.create(
            model=self.model, input=texts, encoding_format="float", **extra
        )
        rows = sorted(reply.data, key=lambda item: item.index)
        if [item.index for item in rows] != list(range(len(texts))):
            raise EmbeddingReplyInvalid(
                f"{self.model}: asked for {len(texts)} vectors, got indices "
                f"{[item.index for item in rows][:10]}"
            )
        lengths = {len(item.embedding) for item in rows}
        if len(lengths) != 1 or 0 in lengths:
            raise EmbeddingReplyInvalid(f"{self.model}: vectors of lengths {sorted(lengths)}")
        return np.asarray([item.embedding for item in rows], dtype=np.float32)

    def embed_batch(self, texts: Sequence[str]) -> NDArray[np.float32]:
        """Embed texts: ``batch_size`` per request, ``concurrency`` requests at once.

        Args:
            texts: The texts, in order.

        Returns:
            Array of shape (len(texts), dim), float32, unit-norm rows.

        Raises:
            EmbeddingReplyInvalid: A reply without one vector of one length per text.
            openai.APIError: A request that still failed after the client's retries.
        """
        if len(texts) == 0:
            return empty_embeddings(self.dim)
        batches = [
            list(texts[start : start + self.batch_size])
            for start in range(0, len(texts), self.batch_size)
        ]
        if len(batches) == 1 or self.concurrency == 1:
            parts = [self._request(batch) for batch in batches]
        else:
            with ThreadPoolExecutor(min(self.concurrency, len(batches))) as pool:
                parts = list(pool.map(self._request, batches))
        if len({part.shape[1] for part in parts}) != 1:
            raise EmbeddingReplyInvalid(f"{self.model}: batches answered vectors of other lengths")
        vectors = normalize_rows(np.vstack(parts))
        self._dim = int(vectors.shape[1])
        return vectors
