"""Build an embedder from a settings string.

Its own module so that `clustering.embedder` (the Protocol and the torch backend) and the other
backends (which use the embedder's helpers) import in one direction only. Each backend's heavy
imports (torch, onnxruntime, openai) happen when its embedder first embeds, not here.

Example:
    >>> emb = make_embedder("onnx", "all-MiniLM-L6-v2")
    >>> emb.embed_batch(["the judge ignored the error"]).shape
    (1, 384)
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Literal, get_args

from clustering.embedder import Embedder, SentenceTransformerEmbedder
from clustering.onnx_embedder import OnnxEmbedder
from clustering.openai_embedder import OpenAIEmbedder, openai_client

Backend = Literal["torch", "torch-bf16", "onnx", "openai"]
BACKENDS: tuple[str, ...] = get_args(Backend)


@dataclass(frozen=True, slots=True)
class RemoteOptions:
    """How to reach an OpenAI-compatible embeddings server (the "openai" backend only).

    Attributes:
        base_url: The server's ``/v1`` URL; None = OpenAI's.
        api_key: Its key; None = a placeholder (local servers need none).
        timeout_s: Timeout of one request, in seconds.
        max_retries: Retries of one request (429, 5xx, timeouts), with backoff.
        concurrency: Requests in flight at once.
        dimensions: Ask for vectors this long (OpenAI's text-embedding-3); None = the model's.
    """

    base_url: str | None = None
    api_key: str | None = None
    timeout_s: float = 60.0
    max_retries: int = 5
    concurrency: int = 4
    dimensions: int | None = None


def make_embedder(
    backend: Backend,
    model: str,
    batch_size: int = 64,
    cache_dir: Path | None = None,
    remote: RemoteOptions | None = None,
) -> Embedder:
    """Build an embedder from a settings string.

    Args:
        backend: "torch" (sentence-transformers, float32: the reference), "torch-bf16" (the same
            in bfloat16, for CPUs with AVX512-BF16 or AMX), "onnx" (int8 ONNX Runtime export)
            or "openai" (an OpenAI-compatible ``/v1/embeddings`` server).
        model: Model name or local path (for "openai": the name the server serves).
        batch_size: Texts per forward pass, or per request for "openai".
        cache_dir: Where the ONNX backend keeps its export (ignored by the others).
        remote: How to reach the server, for "openai" (defaults: OpenAI's, no key).

    Returns:
        An `Embedder`.

    Raises:
        ValueError: For an unknown backend.
    """
    if backend == "torch":
        return SentenceTransformerEmbedder(model=model, batch_size=batch_size)
    if backend == "torch-bf16":
        return SentenceTransformerEmbedder(model=model, batch_size=batch_size, precision="bfloat16")
    if backend == "onnx":
        return OnnxEmbedder(model=model, batch_size=batch_size, cache_dir=cache_dir)
    if backend == "openai":
        options = remote or RemoteOptions()
        client = openai_client(
            options.base_url, options.api_key, options.timeout_s, options.max_retries
        )
        return OpenAIEmbedder(
            client,
            model,
            batch_size=batch_size,
            concurrency=options.concurrency,
            dimensions=options.dimensions,
        )
    expected = ", ".join(repr(b) for b in BACKENDS)
    raise ValueError(f"unknown embedding backend {backend!r}: expected one of {expected}")
