"""NoteClusterer: reduce note vectors, cluster them with HDBSCAN, optionally reassign noise.

Example:
    >>> clusterer = NoteClusterer(random_state=0).fit(X)
    >>> clusterer.labels_[:5], clusterer.n_clusters_
    (array([ 0,  0, -1,  3,  1]), 12)
"""

from __future__ import annotations

import time
from typing import Literal, Self

import numpy as np
from numpy.typing import NDArray

from clustering.describe import centroids
from clustering.embedder import normalize_rows
from clustering.reduce import (
    KNN_MODES,
    Reduction,
    pca_reduce,
    resolve_reduction,
    umap_reduce,
)

SelectionMethod = Literal["eom", "leaf"]

# The rule of n: min_cluster_size = max(MCS_MIN, round(coefficient * sqrt(n))), the
# coefficient MCS_COEF below LARGE_BATCH notes and LARGE_MCS_COEF from there.
MCS_COEF, LARGE_MCS_COEF = 0.36, 0.4
MCS_MIN = 3
# min_samples = max(1, round(MIN_SAMPLES_FRACTION * min_cluster_size)) unless given.
MIN_SAMPLES_FRACTION = 1 / 3
# No proposal may hold more than this share of a batch while HDBSCAN's tree has finer
# clusters below it (see NoteClusterer's max_cluster_share).
MAX_CLUSTER_SHARE = 0.5
# UMAP settings by batch size: small batches get UMAP's local default neighbourhood and full
# optimisation; large ones a wider neighbourhood and several short optimisations, averaged
# (steadier from seed to seed). 8 layouts: an even number keeps both threads of a 2-core
# machine busy, and at 6 the 3-seed stability of banking77 or clinc150 falls below 0.9 on
# some seed triples; 60 epochs: at 30-50, clinc150's near intents stay merged. Figures:
# bench/README.md, "Chosen defaults".
LARGE_BATCH = 5000
SMALL_NEIGHBOURS, LARGE_NEIGHBOURS = 15, 30
LARGE_EPOCHS = 60  # per layout
LARGE_LAYOUTS = 8  # layouts averaged from LARGE_BATCH notes on (1 below)


def min_cluster_size_for(n: int) -> int:
    """The default smallest cluster HDBSCAN may report for n notes.

    Grows like sqrt(n): 3 up to ~90 notes, 5 for 200, 6 for 300, 11 for 1,000, 16 for
    2,000, 25 for 4,999; from 5,000 notes, where the averaged UMAP layouts start
    (`LARGE_BATCH`), the coefficient is 0.4 instead of 0.36: 28 for 5,000, 46 for 13,000,
    60 for 22,500, 89 for 50,000. The averaged layouts pack a category more tightly, so its
    sub-groups pass a smaller threshold as clusters of their own: 0.4 there gives fewer
    clusters and a higher F1 on banking77 and clinc150. At the small end 0.4 would leave
    the 203-note demo with too few clusters for its ~10 categories. A few hundred short
    notes need small clusters or real, rare failure modes vanish into noise, but not so
    small that every pair of similar notes becomes a cluster; tens of thousands need
    larger ones or one category shatters into many near-duplicate clusters (BERTopic's
    fixed 10 splits banking77's 77 intents into hundreds). Growing slower than n keeps
    room for more categories in larger batches. Never below 3: two notes are an anecdote,
    not a category. Figures: bench/README.md, "Chosen defaults".

    Args:
        n: Number of notes.

    Returns:
        max(3, round(0.36 * sqrt(n))) below 5,000 notes, max(3, round(0.4 * sqrt(n)))
        from there.

    Raises:
        ValueError: For negative n.
    """
    if n < 0:
        raise ValueError(f"n must be >= 0, got {n}")
    coefficient = LARGE_MCS_COEF if n >= LARGE_BATCH else MCS_COEF
    return int(max(MCS_MIN, round(coefficient * n**0.5)))


def default_min_samples(min_cluster_size: int) -> int:
    """HDBSCAN's min_samples when none is given: a third of min_cluster_size, at least 1.

    min_samples sets how much HDBSCAN smooths density (a note's core distance is to its
    min_samples-th neighbour). HDBSCAN's own default, min_samples = min_cluster_size, left
    every mast note as noise and, on the UMAP path, merged neighbouring intents (a lower F1
    on a banking77 sample) and varied more from seed to seed (bench/README.md).

    Args:
        min_cluster_size: The resolved min_cluster_size.

    Returns:
        max(1, round(min_cluster_size / 3)).
    """
    return max(1, round(min_cluster_size * MIN_SAMPLES_FRACTION))


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
    `reassigned_` so a reviewer can see and undo it (`raw_labels_` keeps HDBSCAN's answer).

    Args:
        min_cluster_size: Smallest cluster; None = `min_cluster_size_for(n)`.
        min_samples: HDBSCAN's density smoothing; None = `default_min_samples`, a third
            of min_cluster_size.
        reduction: "auto" (PCA below `umap_min_notes` notes, UMAP from there), "pca",
            "umap" or "none".
        n_components: UMAP's output dimensions.
        n_neighbors: UMAP's neighbourhood size; None = 15 below 5,000 notes, 30 from there.
        n_epochs: UMAP's optimisation epochs per layout; None = UMAP's default (500)
            below 5,000 notes, 60 from there.
        n_layouts: UMAP layouts averaged (same graph and spectral start, derived seeds);
            None = 1 below 5,000 notes, 8 from there (steadier from seed to seed); they
            are optimised on one thread per CPU.
        pca_components: PCA's output dimensions (15: better than 10 on
            llm_code_bug_notes and the demo; a few hundred notes are sensitive to it, see
            bench/README.md).
        umap_min_notes: Where "auto" switches from PCA to UMAP.
        cluster_selection_method: "eom" or "leaf".
        cluster_selection_epsilon: Merge clusters closer than this (reduced space).
        max_cluster_share: With "eom", no cluster larger than this share of the notes is
            selected while the tree has clusters below it (HDBSCAN's max_cluster_size,
            at least min_cluster_size + 1); None = no limit. On weakly structured notes
            "eom" can select one cluster holding most of a batch (63 of 67 notes of an
            llm_code_bug_notes week, 4 of 10 random 300-note stackoverflow_titles tasks
            with fewer clusters than a third of their labels): a reviewer then sorts the
            whole batch by hand inside one proposal. Two proposals of one category cost a
            single merge, so a category truly holding more than half a batch loses little.
            Figures: bench/README.md, "Review effort".
        reassign_threshold: Cosine to the nearest centroid needed to move an unclustered
            note into that cluster (default 0.2); None = never reassign.
        random_state: Seed of UMAP's layout (PCA and HDBSCAN have no randomness).
        n_jobs: Threads that optimise the averaged UMAP layouts; None = one per CPU. The
            labels do not depend on it.
        knn: How UMAP's neighbour candidates are found: "auto" (bfloat16 candidates
            re-ranked in float32 where the CPU has bfloat16 instructions, float32
            elsewhere), "bf16" or "fp32" (see `clustering.reduce.cosine_neighbours`).

    Attributes (after fit):
        labels_, raw_labels_, reassigned_, probabilities_, n_clusters_, min_cluster_size_,
        reduced_, reduction_ (the method used), timings_ (seconds per stage).

    Example:
        >>> model = NoteClusterer(random_state=0).fit(X)
        >>> model.labels_[model.reassigned_]   # notes a reviewer may want to undo
    """

    def __init__(
        self,
        min_cluster_size: int | None = None,
        min_samples: int | None = None,
        reduction: Reduction = "auto",
        n_components: int = 5,
        n_neighbors: int | None = None,
        n_epochs: int | None = None,
        n_layouts: int | None = None,
        pca_components: int = 15,
        umap_min_notes: int = 1000,
        cluster_selection_method: SelectionMethod = "eom",
        cluster_selection_epsilon: float = 0.0,
        max_cluster_share: float | None = MAX_CLUSTER_SHARE,
        reassign_threshold: float | None = 0.2,
        random_state: int = 0,
        n_jobs: int | None = None,
        knn: str = "auto",
    ) -> None:
        self.min_cluster_size = min_cluster_size
        self.min_samples = min_samples
        self.reduction = reduction
        self.n_components = n_components
        self.n_neighbors = n_neighbors
        self.n_epochs = n_epochs
        self.n_layouts = n_layouts
        self.pca_components = pca_components
        self.umap_min_notes = umap_min_notes
        self.cluster_selection_method = cluster_selection_method
        self.cluster_selection_epsilon = cluster_selection_epsilon
        self.max_cluster_share = max_cluster_share
        self.reassign_threshold = reassign_threshold
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.knn = knn

    def _validate(self, X: NDArray[np.floating]) -> NDArray[np.float32]:
        X = np.asarray(X)
        if X.ndim != 2 or X.shape[0] < 2 or X.shape[1] < 1:
            raise ValueError(f"expected shape (n_notes >= 2, dim >= 1), got {X.shape}")
        if not np.all(np.isfinite(X)):
            raise ValueError("embeddings contain NaN or infinite values")
        if self.knn not in KNN_MODES:
            raise ValueError(f"knn must be one of {KNN_MODES}, got {self.knn!r}")
        if self.n_jobs is not None and self.n_jobs < 1:
            raise ValueError(f"n_jobs must be >= 1 or None, got {self.n_jobs}")
        if self.max_cluster_share is not None and not 0 < self.max_cluster_share <= 1:
            raise ValueError(
                f"max_cluster_share must be in (0, 1] or None, got {self.max_cluster_share}"
            )
        if self.min_cluster_size is not None and self.min_cluster_size < 2:
            raise ValueError(f"min_cluster_size must be >= 2, got {self.min_cluster_size}")
        return normalize_rows(X)

    def _reduce(self, V: NDArray[np.float32]) -> tuple[str, NDArray[np.float32]]:
        method = resolve_reduction(self.reduction, V.shape[0], self.umap_min_notes)
        if method == "umap":
            large = V.shape[0] >= LARGE_BATCH
            neighbours = self.n_neighbors or (LARGE_NEIGHBOURS if large else SMALL_NEIGHBOURS)
            epochs = self.n_epochs or (LARGE_EPOCHS if large else None)
            layouts = self.n_layouts or (LARGE_LAYOUTS if large else 1)
            reduced = umap_reduce(
                V,
                self.n_components,
                neighbours,
                self.random_state,
                epochs,
                layouts,
                n_jobs=self.n_jobs,
                knn=self.knn,
            )
        elif method == "pca":
            reduced = pca_reduce(V, self.pca_components, whiten=False)
        else:
            reduced = V
        return method, reduced

    def _hdbscan(
        self, R: NDArray[np.float32], mcs: int, method: str
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        import hdbscan

        min_samples = max(1, min(self.min_samples or default_min_samples(mcs), R.shape[0] - 1))
        share = self.max_cluster_share
        model = hdbscan.HDBSCAN(
            min_cluster_size=mcs,
            min_samples=min_samples,
            cluster_selection_method=self.cluster_selection_method,
            cluster_selection_epsilon=self.cluster_selection_epsilon,
            max_cluster_size=0 if share is None else max(mcs + 1, int(share * R.shape[0])),
            metric="euclidean",
            core_dist_n_jobs=1,
        ).fit(R.astype(np.float64))
        labels = np.asarray(model.labels_, dtype=np.int64)
        return labels, np.asarray(model.probabilities_, dtype=np.float64)

    def fit(self, X: NDArray[np.floating], y: object = None) -> Self:
        """Cluster the notes.

        Args:
            X: Note embeddings, shape (n_notes, dim), n_notes >= 2 (rows are normalized).
            y: Ignored (sklearn convention).

        Returns:
            self, with `labels_` etc. set.

        Raises:
            ValueError: For fewer than 2 notes, a non-2-D array or non-finite values.
        """
        V = self._validate(X)
        n = V.shape[0]
        mcs = max(2, min(self.min_cluster_size or min_cluster_size_for(n), n))
        clock = _Clock()
        if not np.any(V - V[0]):  # all identical: density is undefined, one group of n
            method, reduced = "none", np.zeros((n, 1), dtype=np.float32)
            raw, probabilities = np.zeros(n, dtype=np.int64), np.ones(n)
        else:
            method, reduced = self._reduce(V)
            clock.lap("reduce")
            raw, probabilities = self._hdbscan(reduced, mcs, method)
            clock.lap("hdbscan")
        raw = relabel_by_size(raw)
        labels, moved = raw.copy(), np.zeros(n, dtype=bool)
        if self.reassign_threshold is not None:
            labels, moved = reassign_noise(V, raw, self.reassign_threshold)
        clock.lap("reassign")
        self.raw_labels_, self.labels_, self.reassigned_ = raw, labels, moved
        self.probabilities_ = probabilities.astype(np.float64)
        self.n_clusters_ = int(labels.max() + 1) if (labels >= 0).any() else 0
        self.min_cluster_size_ = int(mcs)
        self.reduced_, self.reduction_, self.timings_ = reduced, method, clock.laps
        return self

    def fit_predict(self, X: NDArray[np.floating], y: object = None) -> NDArray[np.int64]:
        """Fit and return `labels_`."""
        return self.fit(X).labels_


class _Clock:
    """Seconds per named stage."""

    def __init__(self) -> None:
        self.laps: dict[str, float] = {}
        self._last = time.perf_counter()

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.laps[name] = now - self._last
        self._last = now


def warm_up() -> float:
    """Pay import and numba compile costs now (at service start), not on the first request.

    Fits the default clusterer on 1,200 synthetic points (UMAP and HDBSCAN), once more with
    two averaged layouts (the path of batches from 5,000 notes), and on 300 points (PCA).
    umap-learn 0.5 caches none of its numba code on disk: every process compiles it on its
    first fit (about 10 s of CPU), which this call pays before the first run does.

    Returns:
        Seconds it took.
    """
    t0 = time.perf_counter()
    rng = np.random.default_rng(0)
    centres = rng.normal(size=(12, 24))
    X = np.repeat(centres, 100, axis=0) + 0.3 * rng.normal(size=(1200, 24))
    NoteClusterer(random_state=0).fit(X.astype(np.float32))
    # the averaged-layouts path of large batches (its SGD kernel compiles on first use)
    NoteClusterer(random_state=0, n_layouts=2, n_epochs=5).fit(X.astype(np.float32))
    NoteClusterer(random_state=0).fit(X[:300].astype(np.float32))  # the PCA path
    return time.perf_counter() - t0
