"""Describe clusters: c-TF-IDF keywords, representative, boundary and neighbouring clusters.

All helpers take the clusterer's outputs (labels, probabilities) plus the note vectors or
texts, ignore label -1 (unclustered) and return plain dicts keyed by cluster label.

Example:
    >>> labels = np.array([0, 0, 1, 1, -1])
    >>> representative_indices(X, labels, k=1)
    {0: [1], 1: [2]}
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import ArrayLike, NDArray

from clustering.embedder import normalize_rows


def _cluster_ids(labels: NDArray[np.int_]) -> list[int]:
    return sorted(int(c) for c in np.unique(labels) if c >= 0)


def centroids(X: ArrayLike, labels: NDArray[np.int_]) -> tuple[list[int], NDArray[np.float32]]:
    """Unit-norm mean direction of each cluster.

    Args:
        X: Note vectors, shape (n, d).
        labels: Cluster label per note, -1 = unclustered.

    Returns:
        (cluster ids in ascending order, array of shape (n_clusters, d) with unit rows).
    """
    V = normalize_rows(np.asarray(X))
    labels = np.asarray(labels)
    ids = _cluster_ids(labels)
    if not ids:
        return [], np.zeros((0, V.shape[1]), dtype=np.float32)
    sums = np.stack([V[labels == c].sum(axis=0) for c in ids])
    return ids, normalize_rows(sums)


def ctfidf_keywords(
    texts: Sequence[str], labels: NDArray[np.int_], top_n: int = 8
) -> dict[int, list[str]]:
    """Top words per cluster by class-based TF-IDF (as in BERTopic).

    Each cluster's notes are treated as one document; a word scores
    tf(word, cluster) * log(1 + mean words per class / frequency of the word overall).
    English stop words are dropped; ties break alphabetically.

    Args:
        texts: Note texts, aligned with `labels`.
        labels: Cluster label per note, -1 = unclustered (counted in the word
            frequencies, never returned).
        top_n: Keywords per cluster.

    Returns:
        {cluster: keywords, best first} for every cluster >= 0.
    """
    labels = np.asarray(labels)
    if len(texts) != labels.shape[0]:
        raise ValueError(f"got {len(texts)} texts but {labels.shape[0]} labels")
    ids = _cluster_ids(labels)
    classes = sorted({int(c) for c in labels})
    docs = [" ".join(t for t, lab in zip(texts, labels, strict=True) if lab == c) for c in classes]
    # Imported here: the web process imports this module (run parameters, centroids) but only
    # a run names clusters, and scikit-learn (SciPy with it) is 2 s of every process's start.
    from sklearn.feature_extraction.text import CountVectorizer

    try:
        counts = CountVectorizer(stop_words="english").fit(docs)
    except ValueError:  # empty vocabulary: only stop words or no words at all
        return {c: [] for c in ids}
    tf = counts.transform(docs).toarray().astype(np.float64)
    tf_norm = tf / np.maximum(tf.sum(axis=1, keepdims=True), 1.0)
    avg_words = tf.sum() / len(classes)
    idf = np.log(1.0 + avg_words / np.maximum(tf.sum(axis=0), 1.0))
    scores = tf_norm * idf
    vocab = counts.get_feature_names_out()
    out: dict[int, list[str]] = {}
    for row, c in enumerate(classes):
        if c < 0:
            continue
        order = sorted(np.flatnonzero(scores[row] > 0), key=lambda j: (-scores[row, j], vocab[j]))
        out[c] = [str(vocab[j]) for j in order[:top_n]]
    return out


def _member_similarity(
    V: NDArray[np.float32], labels: NDArray[np.int_], c: int, centre: NDArray[np.float32]
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    members = np.flatnonzero(labels == c)
    return members, V[members] @ centre


def representative_indices(
    X: ArrayLike, labels: NDArray[np.int_], k: int = 5
) -> dict[int, list[int]]:
    """The k members of each cluster closest (cosine) to its centroid, best first.

    Args:
        X: Note vectors, shape (n, d).
        labels: Cluster label per note, -1 = unclustered.
        k: Members per cluster.

    Returns:
        {cluster: note indices}; ties break by the smaller index.
    """
    V = normalize_rows(np.asarray(X))
    labels = np.asarray(labels)
    ids, C = centroids(V, labels)
    out: dict[int, list[int]] = {}
    for c, centre in zip(ids, C, strict=True):
        members, sim = _member_similarity(V, labels, c, centre)
        order = np.lexsort((members, -sim))
        out[c] = [int(i) for i in members[order[:k]]]
    return out


def boundary_indices(
    X: ArrayLike, labels: NDArray[np.int_], probabilities: ArrayLike, k: int = 3
) -> dict[int, list[int]]:
    """The k least certain members of each cluster, least certain first.

    Members are ordered by membership probability, then by cosine to the centroid
    (farther first), then by index.

    Args:
        X: Note vectors, shape (n, d).
        labels: Cluster label per note, -1 = unclustered.
        probabilities: Membership strength per note (e.g. `NoteClusterer.probabilities_`).
        k: Members per cluster.

    Returns:
        {cluster: note indices}.
    """
    V = normalize_rows(np.asarray(X))
    labels = np.asarray(labels)
    probs = np.asarray(probabilities, dtype=np.float64)
    ids, C = centroids(V, labels)
    out: dict[int, list[int]] = {}
    for c, centre in zip(ids, C, strict=True):
        members, sim = _member_similarity(V, labels, c, centre)
        order = np.lexsort((members, sim, probs[members]))
        out[c] = [int(i) for i in members[order[:k]]]
    return out


def nearest_clusters(X: ArrayLike, labels: NDArray[np.int_], k: int = 3) -> dict[int, list[int]]:
    """For each cluster, the other clusters whose centroids are most similar (cosine).

    Args:
        X: Note vectors, shape (n, d).
        labels: Cluster label per note, -1 = unclustered.
        k: Neighbours per cluster.

    Returns:
        {cluster: other cluster labels, nearest first; ties by the smaller label}.
    """
    ids, C = centroids(X, np.asarray(labels))
    sims = C @ C.T
    out: dict[int, list[int]] = {}
    id_arr = np.array(ids, dtype=np.int64)
    for row, c in enumerate(ids):
        others = np.flatnonzero(id_arr != c)
        order = np.lexsort((id_arr[others], -sims[row, others]))
        out[c] = [int(id_arr[others[j]]) for j in order[:k]]
    return out
