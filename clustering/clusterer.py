"""NoteClusterer: reduce note vectors, cluster them with HDBSCAN, optionally reassign noise.

Example:
    >>> clusterer = NoteClusterer(random_state=0).fit(X)
    >>> clusterer.labels_[:5], clusterer.n_clusters_
    (array([ 0,  0, -1,  3,  1]), 12)
"""

from __future__ import annotations

import math
import time
from typing import Literal, Self

import numpy as np
from numpy.typing import NDArray

from clustering.describe import centroids
from clustering.embedder import normalize_rows
from clustering.reduce import reduce_vectors

SelectionMethod = Literal["eom", "leaf"]

# The rule of n: min_cluster_size = clip(round(MCS_SCALE * sqrt(n)), MCS_MIN, MCS_MAX).
MCS_SCALE = 0.25
MCS_MIN = 3
MCS_MAX = 100


def min_cluster_size_for(n: int) -> int:
    """The default smallest cluster HDBSCAN may report for n notes.

    Grows like the square root of n: a few hundred short notes need clusters of ~3-5 (a
    fixed 10 hides real, small failure modes), while tens of thousands of notes need larger
    ones or they shatter into hundreds of near-duplicates. Never below 3 (2 notes are an
    anecdote, not a category).

    Args:
        n: Number of notes.

    Returns:
        clip(round(0.25 * sqrt(n)), 3, 100).
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    return int(min(MCS_MAX, max(MCS_MIN, round(MCS_SCALE * math.sqrt(n)))))


def relabel_by_size(labels: NDArray[np.int_]) -> NDArray[np.int64]:
    """Renumber clusters 0..k-1 by size (largest first), ties by smallest member index.

    Args:
        labels: Cluster labels, -1 = noise (kept as -1).

    Returns:
        The renumbered labels as int64.
    """
    labels = np.asarray(labels, dtype=np.int64)
    ids = [int(c) for c in np.unique(labels) if c >= 0]
    keyed = sorted(ids, key=lambda c: (-int((labels == c).sum()), int(np.argmax(labels == c))))
    mapping = {old: new for new, old in enumerate(keyed)}
    out = np.full_like(labels, -1)
    for old, new in mapping.items():
        out[labels == old] = new
    return out


def reassign_noise(
    X: NDArray[np.float32], labels: NDArray[np.int64], threshold: float
) -> tuple[NDArray[np.int64], NDArray[np.bool_]]:
    """Move unclustered notes to the nearest cluster centroid if cosine >= threshold.

    Args:
        X: Note vectors (original space), shape (n, d).
        labels: Cluster labels, -1 = noise.
        threshold: Minimum cosine similarity to the nearest centroid.

    Returns:
        (new labels, mask of the notes that were moved out of noise).
    """
    ids, C = centroids(X, labels)
    moved = np.zeros(labels.shape[0], dtype=bool)
    noise = np.flatnonzero(labels < 0)
    if not ids or noise.size == 0:
        return labels.copy(), moved
    sims = normalize_rows(X[noise]) @ C.T
    best = sims.argmax(axis=1)
    ok = sims[np.arange(noise.size), best] >= threshold
    out = labels.copy()
    out[noise[ok]] = np.asarray(ids, dtype=np.int64)[best[ok]]
    moved[noise[ok]] = True
    return out, moved


class NoteClusterer:
    """Cluster note embeddings: reduction, then HDBSCAN, then optional noise reassignment.

    Noise stays -1 ("unclustered") unless `reassign_threshold` is set, in which case notes
    whose cosine to the nearest cluster centroid reaches it are moved there and flagged in
    `reassigned_` so a reviewer can see and undo it.

    Args:
        min_cluster_size: Smallest cluster; None = `min_cluster_size_for(n)`.
        min_samples: HDBSCAN's density smoothing; None = HDBSCAN's default (min_cluster_size).
        reduction: "pca", "umap" or "none".
        n_components: Reduced dimensions.
        n_neighbors: UMAP neighbourhood size (ignored by PCA).
        cluster_selection_method: "eom" or "leaf".
        cluster_selection_epsilon: Merge clusters closer than this (reduced space).
        reassign_threshold: Cosine threshold for soft reassignment; None = never reassign.
        random_state: Seed for the stochastic parts (UMAP).

    Attributes (after fit):
        labels_, raw_labels_, reassigned_, probabilities_, n_clusters_, min_cluster_size_,
        reduced_.
    """

    def __init__(
        self,
        min_cluster_size: int | None = None,
        min_samples: int | None = None,
        reduction: Literal["pca", "umap", "none"] = "pca",
        n_components: int = 10,
        n_neighbors: int = 15,
        cluster_selection_method: SelectionMethod = "eom",
        cluster_selection_epsilon: float = 0.0,
        reassign_threshold: float | None = None,
        random_state: int = 0,
    ) -> None:
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.reduction = reduction
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.cluster_selection_method = cluster_selection_method
        self.cluster_selection_epsilon = cluster_selection_epsilon
        self.reassign_threshold = reassign_threshold
        self.random_state = random_state

    def _validate(self, X: NDArray[np.floating]) -> NDArray[np.float32]:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] < 1:
            raise ValueError(f"expected shape (n_notes >= 2, dim >= 1), got {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("embeddings contain NaN or infinite values")
        if self.min_cluster_size is not None and self.min_cluster_size < 2:
            raise ValueError(f"min_cluster_size must be >= 2, got {self.min_cluster_size}")
        return X.astype(np.float32, copy=False)

    def _hdbscan(self, R: NDArray[np.float32], mcs: int) -> tuple[NDArray[np.int64], NDArray]:
        import hdbscan

        n = R.shape[0]
        min_samples = min(self.min_samples or mcs, n - 1)
        model = hdbscan.HDBSCAN(
            min_cluster_size=mcs,
            min_samples=max(1, min_samples),
            cluster_selection_method=self.cluster_selection_method,
            cluster_selection_epsilon=self.cluster_selection_epsilon,
            metric="euclidean",
            core_dist_n_jobs=1,
        ).fit(R.astype(np.float64))
        return np.asarray(model.labels_, dtype=np.int64), np.asarray(model.probabilities_)

    def fit(self, X: NDArray[np.floating], y: object = None) -> Self:
        """Cluster the notes.

        Args:
            X: Note embeddings, shape (n_notes, dim), n_notes >= 2.
            y: Ignored (sklearn convention).

        Returns:
            self, with `labels_` etc. set.

        Raises:
            ValueError: For fewer than 2 notes, a non-2-D array or non-finite values.
        """
        X = self._validate(X)
        n = X.shape[0]
        mcs = self.min_cluster_size or min_cluster_size_for(n)
        mcs = max(2, min(mcs, n))
        if not np.any(X - X[0]):  # all identical: density is undefined, one group of n
            reduced = np.zeros((n, 1), dtype=np.float32)
            raw, probabilities = np.zeros(n, dtype=np.int64), np.ones(n)
        else:
            reduced = reduce_vectors(
                X, self.reduction, self.n_components, self.n_neighbors, self.random_state
            )
            raw, probabilities = self._hdbscan(reduced, mcs)
        raw = relabel_by_size(raw)
        labels, moved = raw.copy(), np.zeros(n, dtype=bool)
        if self.reassign_threshold is not None:
            labels, moved = reassign_noise(X, raw, self.reassign_threshold)
        self.raw_labels_ = raw
        self.labels_ = labels
        self.reassigned_ = moved
        self.probabilities_ = probabilities.astype(np.float64)
        self.n_clusters_ = int(labels.max() + 1) if (labels >= 0).any() else 0
        self.min_cluster_size_ = int(mcs)
        self.reduced_ = reduced
        return self

    def fit_predict(self, X: NDArray[np.floating], y: object = None) -> NDArray[np.int64]:
        """Fit and return `labels_`."""
        return self.fit(X).labels_


def warm_up() -> float:
    """Run one small default fit so compile/import costs are paid at service start.

    Returns:
        Seconds it took.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(8, 32))
    X = np.repeat(centres, 40, axis=0) + 0.1 * rng.normal(size=(320, 32))
    NoteClusterer().fit(X.astype(np.float32))
    return time.perf_counter() - t0
