"""Dimensionality reduction before density clustering.

HDBSCAN's density estimates degrade and its run time explodes in 384 dimensions, so the
note vectors are first reduced. Two methods are offered:

- "auto" (default): PCA for small batches, UMAP from `umap_min_notes` notes on. On a few
  hundred notes UMAP's layout changes with the seed more than the clusters do; PCA has no
  seed at all.
- "pca": deterministic (covariance eigendecomposition), fast at any n, no compile cost.
- "umap": UMAP on a brute-force cosine neighbour graph (see `cosine_neighbours`),
  spectral init and a seed, so the same seed gives the same layout; optionally several
  layouts from the same graph and start, optimised on parallel threads and averaged; first
  use in a process pays numba's compile cost (see `clustering.warm_up`).
- "none": keep the unit-normalized vectors as they are.
"""

from __future__ import annotations

import functools
import warnings
from typing import Literal

import numpy as np
from numpy.typing import NDArray

from clustering._numba import compiled
from clustering.layout import averaged_layouts

Reduction = Literal["auto", "pca", "umap", "none"]
REDUCTIONS: tuple[str, ...] = ("auto", "pca", "umap", "none")
_UMAP_MIN_N = 16  # below this UMAP's spectral init is unreliable: fall back to PCA


def pca_reduce(X: NDArray[np.float32], n_components: int, whiten: bool) -> NDArray[np.float32]:
    """Project onto the top principal components (deterministic, no randomness at all).

    Eigen-decomposes the d x d covariance on one BLAS thread (small problems only get
    slower with more threads on a busy machine); each component's sign is fixed so its
    largest coefficient is positive.

    Args:
        X: Unit-norm vectors, shape (n, d).
        n_components: Target dimensions (clipped to what the data allows).
        whiten: Scale components to unit variance.

    Returns:
        float32 array of shape (n, min(n_components, n - 1, d)).
    """
    from threadpoolctl import threadpool_limits

    k = max(1, min(n_components, X.shape[0] - 1, X.shape[1]))
    centred: NDArray[np.float64] = X.astype(np.float64) - X.mean(axis=0, dtype=np.float64)
    if not np.any(centred):  # identical vectors: every projection is zero
        return np.zeros((X.shape[0], k), dtype=np.float32)
    with threadpool_limits(limits=1, user_api="blas"):
        values, vectors = np.linalg.eigh(centred.T @ centred)
        top = vectors[:, ::-1][:, :k]
        signs = np.sign(top[np.abs(top).argmax(axis=0), np.arange(k)])
        projected: NDArray[np.float64] = centred @ (top * np.where(signs == 0, 1.0, signs))
    if whiten:
        scale = np.sqrt(np.maximum(values[::-1][:k], 1e-12) / max(1, X.shape[0] - 1))
        projected = projected / scale
    return projected.astype(np.float32)


def cosine_neighbours(
    V: NDArray[np.float32], k: int, block: int = 1024, candidates: str = "auto"
) -> tuple[NDArray[np.int64], NDArray[np.float32]]:
    """The k nearest neighbours by cosine distance (brute force, in row blocks).

    With `candidates="fp32"` every similarity is computed in float32: the exact graph. With
    "bf16" each block's similarities are first computed in bfloat16 (faster on CPUs that
    multiply bfloat16 in hardware), the best k + 16 per row are kept as candidates and
    re-ranked by their float32 similarity (dot products of the candidates' rows, compiled
    by numba); a true neighbour is lost only if bfloat16 rounding pushes it below rank
    k + 16 or float32 rounding reorders a tie at rank k (a few entries per million). "auto"
    (default) takes "bf16" where the CPU has bfloat16 instructions (`cpu_has_bf16`), "fp32"
    elsewhere. Timings and differing entries: bench/README.md (`bench/engine.py`).

    Args:
        V: Unit-norm vectors, shape (n, d).
        k: Neighbours per point, the point itself first.
        block: Rows per matrix product (bounds memory to block * n floats).
        candidates: "auto", "bf16" or "fp32".

    Returns:
        (indices, cosine distances), each of shape (n, k), nearest first; ties by index.
    """
    import torch  # its top-k beats numpy's argpartition (bench/README.md); already a dependency

    if candidates not in KNN_MODES:
        raise ValueError(f"candidates must be one of {KNN_MODES}, got {candidates!r}")
    use_bf16 = candidates == "bf16" or (candidates == "auto" and cpu_has_bf16())
    n = V.shape[0]
    idx = np.empty((n, k), dtype=np.int64)
    dist = np.empty((n, k), dtype=np.float32)
    V32 = np.ascontiguousarray(V, dtype=np.float32)
    T = torch.from_numpy(V32)
    B = T.to(torch.bfloat16) if use_bf16 else T
    rerank = compiled(_candidate_similarities) if use_bf16 else None
    wide = min(n, k + BF16_MARGIN) if use_bf16 else k
    for start in range(0, n, block):
        sims_t = B[start : start + block] @ B.T
        rows = torch.arange(sims_t.shape[0])
        sims_t[rows, rows + start] = float("inf")  # self first, whatever the rounding
        top_sims, top = torch.topk(sims_t, wide, dim=1)
        if rerank is not None:  # re-rank the candidates by their exact similarity
            exact = torch.from_numpy(rerank(V32, start, np.ascontiguousarray(top.numpy())))
            exact[:, 0] = float("inf")  # self stays first
            top_sims, order_t = torch.topk(exact, k, dim=1)
            top = torch.gather(top, 1, order_t)
        part, part_sims = top.numpy(), top_sims.float().numpy()
        order = np.lexsort((part, -part_sims), axis=1)  # ties by index: a stable order
        idx[start : start + block] = np.take_along_axis(part, order, axis=1)
        best = np.take_along_axis(part_sims, order, axis=1)
        dist[start : start + block] = np.clip(1.0 - best, 0.0, 2.0)
    dist[:, 0] = 0.0
    return idx, dist


def _candidate_similarities(  # pragma: no cover - runs compiled (numba)
    V: NDArray[np.float32], start: int, candidates: NDArray[np.int64]
) -> NDArray[np.float32]:
    """Float32 dot products of rows start, start + 1, ... with their candidates' rows."""
    out = np.empty(candidates.shape, dtype=np.float32)
    for r in range(candidates.shape[0]):
        for c in range(candidates.shape[1]):
            j = candidates[r, c]
            total = np.float32(0.0)
            for d in range(V.shape[1]):
                total += V[start + r, d] * V[j, d]
            out[r, c] = total
    return out


BF16_MARGIN = 16  # extra bfloat16 candidates per row, re-ranked in float32
KNN_MODES: tuple[str, ...] = ("auto", "bf16", "fp32")


@functools.cache
def cpu_has_bf16() -> bool:
    """Whether this CPU multiplies bfloat16 in hardware (x86 avx512_bf16 or AMX).

    Read once per process from /proc/cpuinfo, so False off Linux: the float32 path is then
    used, which is exact, slower where bfloat16 is native and faster where it is emulated.
    """
    try:
        with open("/proc/cpuinfo", encoding="ascii", errors="ignore") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = line.split(":", 1)[1].split()
                    return "avx512_bf16" in flags or "amx_bf16" in flags
    except OSError:
        return False
    return False


def umap_reduce(
    X: NDArray[np.float32],
    n_components: int,
    n_neighbors: int,
    random_state: int,
    n_epochs: int | None = None,
    n_layouts: int = 1,
    n_jobs: int | None = None,
    knn: str = "auto",
) -> NDArray[np.float32]:
    """UMAP layout on the brute-force cosine neighbour graph, seeded.

    The neighbour graph is computed by brute force (no NNDescent), so the seed only changes
    UMAP's layout optimisation, never which neighbours a note has; this also avoids
    NNDescent's numba compile cost. With `n_layouts` > 1 the layout is optimised that many
    times on the same fuzzy graph from the same (deterministic, spectral) start, with seeds
    derived from `random_state`, on one thread per CPU, and the layouts are averaged: each
    note lands where it lands on average, which damps the seed's effect on the result. A
    single layout is plain `umap.UMAP` on one thread.

    Args:
        X: Unit-norm vectors, shape (n, d).
        n_components: Target dimensions.
        n_neighbors: UMAP's neighbourhood size (clipped to n - 1).
        random_state: Seed of the layout optimisation; the same seed gives the same layout.
        n_epochs: Optimisation epochs per layout; None = UMAP's default (500 below 10,000
            points, 200 above).
        n_layouts: Layouts to average (1 = plain UMAP).
        n_jobs: Threads for the averaged layouts; None = one per CPU. The result does not
            depend on it.
        knn: How neighbour candidates are found: "auto", "bf16" or "fp32" (see
            `cosine_neighbours`).

    Returns:
        float32 array of shape (n, n_components).
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # ImportWarning: no tensorflow for ParametricUMAP
        import umap

    k = max(2, min(n_neighbors, X.shape[0] - 1))
    indices, dists = cosine_neighbours(X, k, candidates=knn)
    if n_layouts > 1:
        return averaged_layouts(
            X, indices, dists, n_components, random_state, n_epochs, n_layouts, n_jobs
        )
    reducer = umap.UMAP(
        n_neighbors=k,
        n_components=n_components,
        min_dist=0.0,
        metric="cosine",
        init="spectral",
        random_state=random_state,
        n_jobs=1,
        n_epochs=n_epochs,
        precomputed_knn=(indices, dists, None),
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # "no search index": we never call transform
        return np.asarray(reducer.fit_transform(X), dtype=np.float32)


def resolve_reduction(method: str, n: int, umap_min_notes: int) -> str:
    """Pick the reduction actually used for n notes.

    Args:
        method: "auto", "pca", "umap" or "none".
        n: Number of notes.
        umap_min_notes: With "auto", UMAP from this many notes on, PCA below.

    Returns:
        "pca", "umap" or "none".

    Raises:
        ValueError: For an unknown method.
    """
    if method not in REDUCTIONS:
        raise ValueError(f"unknown reduction {method!r}: expected one of {REDUCTIONS}")
    if method == "auto":
        return "umap" if n >= umap_min_notes else "pca"
    if method == "umap" and n < _UMAP_MIN_N:
        return "pca"
    return method
