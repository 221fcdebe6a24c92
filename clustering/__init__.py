"""Clustering: embed notes, cluster them, describe the clusters, measure the result.

A pure library: no database, no web, no settings.

Example:
    >>> emb = make_embedder("torch", "all-MiniLM-L6-v2")
    >>> X = emb.embed_batch(texts)
    >>> clusterer = NoteClusterer(random_state=0).fit(X)
    >>> ctfidf_keywords(texts, clusterer.labels_)
"""

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

__all__ = [
    "Embedder",
    "NoteClusterer",
    "OnnxEmbedder",
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
