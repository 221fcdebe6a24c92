"""Build an embedder from a settings string.

Its own module so that `clustering.embedder` (the Protocol and the torch backend) and
`clustering.onnx_embedder` (which uses the embedder's helpers) import in one direction only.

Example:
    >>> emb = make_embedder("torch", "all-MiniLM-L6-v2")
    >>> emb.embed_batch(["the judge ignored the error"]).shape
    (1, 384)
"""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from clustering.embedder import Embedder, SentenceTransformerEmbedder
from clustering.onnx_embedder import OnnxEmbedder


def make_embedder(
    backend: Literal["torch", "onnx"],
    model: str,
    batch_size: int = 64,
    cache_dir: Path | None = None,
) -> Embedder:
    """Build an embedder from a settings string.

    Args:
        backend: "torch" (sentence-transformers) or "onnx" (int8 ONNX Runtime export).
        model: Model name or local path.
        batch_size: Texts per forward pass.
        cache_dir: Where the ONNX backend keeps its export (ignored by torch).

    Returns:
        An `Embedder`.

    Raises:
        ValueError: For an unknown backend.
    """
    if backend == "torch":
        return SentenceTransformerEmbedder(model=model, batch_size=batch_size)
    if backend == "onnx":
        return OnnxEmbedder(model=model, batch_size=batch_size, cache_dir=cache_dir)
    raise ValueError(f"unknown embedding backend {backend!r}: expected 'torch' or 'onnx'")
