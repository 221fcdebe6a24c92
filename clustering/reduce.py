"""Dimensionality reduction before density clustering.

HDBSCAN's density estimates degrade and its run time explodes in 384 dimensions, so the
note vectors are first reduced. Two methods are offered:

- "pca": deterministic (full SVD), fast at any n, no compile cost.
- "umap": UMAP on cosine distances with a fixed seed, spectral init and one thread, so the
  same seed gives the same layout; first use in a process pays numba's compile cost.
- "none": keep the unit-normalized vectors as they are.
"""

from __future__ import annotations

from typing import Literal

import numpy as np
from numpy.typing import NDArray

from clustering.embedder import normalize_rows

Reduction = Literal["pca", "umap", "none"]
REDUCTIONS: tuple[str, ...] = ("pca", "umap", "none")
_UMAP_MIN_N = 16  # below this UMAP's spectral init is unreliable: fall back to PCA


def pca_reduce(X: NDArray[np.float32], n_components: int, whiten: bool) -> NDArray[np.float32]:
    """Project onto the top principal components (deterministic).

    Args:
        X: Unit-norm vectors, shape (n, d).
        n_components: Target dimensions (clipped to what the data allows).
        whiten: Scale components to unit variance.

    Returns:
        float32 array of shape (n, min(n_components, n - 1, d)).
    """
    from sklearn.decomposition import PCA

    k = max(1, min(n_components, X.shape[0] - 1, X.shape[1]))
    centred = X.astype(np.float64) - X.mean(axis=0, dtype=np.float64)
    if not np.any(centred):  # identical vectors: every projection is zero
        return np.zeros((X.shape[0], k), dtype=np.float32)
    pca = PCA(n_components=k, svd_solver="full", whiten=whiten)
    return pca.fit_transform(X.astype(np.float64)).astype(np.float32)


def umap_reduce(
    X: NDArray[np.float32], n_components: int, n_neighbors: int, random_state: int
) -> NDArray[np.float32]:
    """UMAP layout on cosine distances, seeded and single-threaded.

    Args:
        X: Unit-norm vectors, shape (n, d).
        n_components: Target dimensions.
        n_neighbors: UMAP's neighbourhood size (clipped to n - 1).
        random_state: Seed; the same seed gives the same layout.

    Returns:
        float32 array of shape (n, n_components).
    """
    import umap

    n = X.shape[0]
    reducer = umap.UMAP(
        n_neighbors=max(2, min(n_neighbors, n - 1)),
        n_components=n_components,
        min_dist=0.0,
        metric="cosine",
        init="spectral",
        random_state=random_state,
        n_jobs=1,
    )
    return np.asarray(reducer.fit_transform(X), dtype=np.float32)


def reduce_vectors(
    X: NDArray[np.float32],
    method: str,
    n_components: int,
    n_neighbors: int = 15,
    random_state: int = 0,
    whiten: bool = False,
) -> NDArray[np.float32]:
    """Reduce unit-norm note vectors for clustering.

    Small inputs (n <= n_components + 1, or below 16 notes for UMAP) fall back to PCA, and
    "none" returns the normalized input.

    Args:
        X: Note vectors, shape (n, d).
        method: "pca", "umap" or "none".
        n_components: Target dimensions.
        n_neighbors: UMAP's neighbourhood size.
        random_state: Seed for UMAP.
        whiten: Whiten PCA components.

    Returns:
        The reduced float32 vectors.

    Raises:
        ValueError: For an unknown method.
    """
    if method not in REDUCTIONS:
        raise ValueError(f"unknown reduction {method!r}: expected one of {REDUCTIONS}")
    V = normalize_rows(X)
    if method == "none" or n_components >= V.shape[1]:
        return V
    if method == "umap" and V.shape[0] >= max(_UMAP_MIN_N, n_components + 2):
        return umap_reduce(V, n_components, n_neighbors, random_state)
    return pca_reduce(V, n_components, whiten)
