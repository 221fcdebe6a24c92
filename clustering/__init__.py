"""Clustering: embed notes, cluster them, describe the clusters, measure the result.

A pure library: no database, no web, no settings.

Every name below is imported from its module on first use (PEP 562), so ``import clustering``
costs nothing until a name is used, and ``from clustering import make_embedder`` does not load
scikit-learn, UMAP or numba (the embedders themselves load torch or onnxruntime only when they
first embed).

Example:
    >>> emb = make_embedder("torch", "all-MiniLM-L6-v2")
    >>> X = emb.embed_batch(texts)
    >>> clusterer = NoteClusterer(random_state=0).fit(X)
    >>> ctfidf_keywords(texts, clusterer.labels_)
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from clustering.clusterer import NoteClusterer, min_cluster_size_for, warm_up
    from clustering.describe import (
        boundary_indices,
        ctfidf_keywords,
        nearest_clusters,
        representative_indices,
    )
    from clustering.embedder import Embedder, SentenceTransformerEmbedder, resolve_model_path
    from clustering.factory import make_embedder
    from clustering.onnx_embedder import OnnxEmbedder
    from clustering.openai_embedder import OpenAIEmbedder

__all__ = [
    "Embedder",
    "NoteClusterer",
    "OnnxEmbedder",
    "OpenAIEmbedder",
    "SentenceTransformerEmbedder",
    "boundary_indices",
    "ctfidf_keywords",
    "make_embedder",
    "min_cluster_size_for",
    "nearest_clusters",
    "representative_indices",
    "resolve_model_path",
    "warm_up",
]

_CLUSTERER = frozenset({"NoteClusterer", "min_cluster_size_for", "warm_up"})
_DESCRIBE = frozenset(
    {"boundary_indices", "ctfidf_keywords", "nearest_clusters", "representative_indices"}
)
_EMBEDDER = frozenset({"Embedder", "SentenceTransformerEmbedder", "resolve_model_path"})


def __getattr__(name: str) -> Any:
    """Import an exported name from its module when it is first used."""
    if name in _CLUSTERER:
        from clustering import clusterer

        return _keep(name, getattr(clusterer, name))
    if name in _DESCRIBE:
        from clustering import describe

        return _keep(name, getattr(describe, name))
    if name in _EMBEDDER:
        from clustering import embedder

        return _keep(name, getattr(embedder, name))
    if name == "make_embedder":
        from clustering import factory

        return _keep(name, factory.make_embedder)
    if name == "OnnxEmbedder":
        from clustering import onnx_embedder

        return _keep(name, onnx_embedder.OnnxEmbedder)
    if name == "OpenAIEmbedder":
        from clustering import openai_embedder

        return _keep(name, openai_embedder.OpenAIEmbedder)
    raise AttributeError(f"module 'clustering' has no attribute {name!r}")


def _keep(name: str, value: Any) -> Any:
    globals()[name] = value  # later uses skip __getattr__
    return value


def __dir__() -> list[str]:
    return sorted({*globals(), *__all__})
