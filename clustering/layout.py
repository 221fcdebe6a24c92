"""UMAP's layout optimisation as axial runs it: one fuzzy graph and spectral start, several
seeded layouts on parallel threads, averaged.

`averaged_layouts` is what `clustering.reduce.umap_reduce` calls with `n_layouts` > 1. It
uses UMAP's own fuzzy graph (`fuzzy_simplicial_set`) and its optimiser's algorithm, with
three changes measured in bench/README.md: the spectral start is found from the largest
eigenvectors of the normalised adjacency (`_spectral_start`), the similarity curve's b is
fixed at 3/4 (`curve_params`), and the SGD runs as one compiled function (`_sgd_layout`).

What it takes from inside umap-learn, and what to re-check when umap-learn is upgraded:
clustering/LAYOUT.md.
"""

from __future__ import annotations

import functools
import os
import warnings
from dataclasses import dataclass
from typing import Any

import numpy as np
from numpy.typing import NDArray

from clustering._numba import compiled


def averaged_layouts(
    X: NDArray[np.float32],
    indices: NDArray[np.int64],
    dists: NDArray[np.float32],
    n_components: int,
    random_state: int,
    n_epochs: int | None,
    n_layouts: int,
    n_threads: int | None = None,
) -> NDArray[np.float32]:
    """UMAP's fuzzy graph and spectral start computed once, then n_layouts optimisations
    (UMAP's SGD as `_sgd_layout` runs it, with UMAP's defaults: min_dist 0, spread 1,
    5 negative samples, but the curve's b fixed at 3/4, see `curve_params`), averaged.

    Each layout is a serial SGD with its own seed, so it is the same whichever thread runs
    it; the layouts run on up to `n_threads` threads (default: one per CPU) and are summed
    in a fixed order, so the result does not depend on the thread count.
    """
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from umap.umap_ import (
            fuzzy_simplicial_set,
            make_epochs_per_sample,
            noisy_scale_coords,
        )

    rng = np.random.RandomState(random_state)
    graph, _, _ = fuzzy_simplicial_set(
        X, indices.shape[1], rng, "cosine", knn_indices=indices, knn_dists=dists
    )
    spectral = _spectral_start(X, graph, n_components, rng)
    noisy: NDArray[np.float32] = noisy_scale_coords(spectral, rng, max_coord=10, noise=0.0001)
    default_epochs = 500 if X.shape[0] <= 10000 else 200
    epochs = n_epochs or default_epochs
    # As umap's simplicial_set_embedding: drop edges too weak to be sampled in `epochs`,
    # then scale the start into [0, 10] on every axis.
    graph = graph.tocoo()
    graph.sum_duplicates()
    prune_epochs = epochs if epochs > 10 else default_epochs
    graph.data[graph.data < graph.data.max() / float(prune_epochs)] = 0.0
    graph.eliminate_zeros()
    span = np.maximum(noisy.max(axis=0) - noisy.min(axis=0), 1e-12)
    start = np.ascontiguousarray(10.0 * (noisy - noisy.min(axis=0)) / span, dtype=np.float32)
    edges = _Edges(
        head=graph.row,
        tail=graph.col,
        epochs_per_sample=make_epochs_per_sample(graph.data, epochs),
        n_vertices=graph.shape[1],
    )
    a, b = curve_params()
    seeds = [_derived_seed(random_state, i) for i in range(n_layouts)]
    threads = max(1, min(n_layouts, n_threads or os.cpu_count() or 1))

    def one(seed: int) -> NDArray[np.float32]:
        return _optimise_layout(edges, start, epochs, a, b, seed)

    if threads == 1:
        layouts = [one(seed) for seed in seeds]
    else:
        from concurrent.futures import ThreadPoolExecutor

        with ThreadPoolExecutor(max_workers=threads) as pool:
            layouts = list(pool.map(one, seeds))
    total = np.zeros((X.shape[0], n_components), dtype=np.float64)
    for layout in layouts:
        total += layout
    return (total / n_layouts).astype(np.float32)


def _spectral_start(
    X: NDArray[np.float32], graph: Any, dim: int, rng: np.random.RandomState
) -> NDArray[np.floating[Any]]:
    """UMAP's spectral initialisation, found from the other end of the spectrum.

    UMAP takes the eigenvectors of the dim + 1 smallest eigenvalues of the normalised
    Laplacian I - D^-1/2 G D^-1/2 (ARPACK, which="SM") and drops the first. They are the
    eigenvectors of the largest eigenvalues of D^-1/2 G D^-1/2, which ARPACK finds faster
    (timings: bench/README.md, `bench/engine.py`).
    Each vector's sign, which ARPACK leaves arbitrary, is fixed so that its largest entry
    is positive. A graph of several components, one too small for ARPACK, or a solver
    failure takes UMAP's own `spectral_layout`. The dtype is the solver's: float32 from
    ARPACK on UMAP's float32 graph, whatever `spectral_layout` returns otherwise.
    """
    import scipy.sparse
    from scipy.sparse.csgraph import connected_components
    from scipy.sparse.linalg import ArpackError, eigsh
    from umap.spectral import spectral_layout

    n, k = graph.shape[0], dim + 1
    n_parts, _ = connected_components(graph)
    if n_parts > 1 or n <= 2 * k + 1:
        return np.asarray(spectral_layout(X, graph, dim, rng, metric="cosine"))
    scale = scipy.sparse.diags(1.0 / np.sqrt(np.asarray(graph.sum(axis=0)).ravel()))
    adjacency = (scale @ graph @ scale).tocsr()
    try:
        values, vectors = eigsh(
            adjacency,
            k,
            which="LA",
            ncv=max(2 * k + 1, int(np.sqrt(n))),
            tol=1e-4,
            v0=np.ones(n),
            maxiter=n * 5,
        )
    except ArpackError:
        return np.asarray(spectral_layout(X, graph, dim, rng, metric="cosine"))
    top: NDArray[np.floating[Any]] = vectors[:, np.argsort(-values)[1:k]]
    signs = np.sign(top[np.abs(top).argmax(axis=0), np.arange(dim)])
    return top * np.where(signs == 0, 1.0, signs)


CURVE_B = 0.75


@functools.cache
def curve_params(b: float = CURVE_B) -> tuple[float, float]:
    """The (a, b) of the averaged layouts' similarity curve 1 / (1 + a * d^2b).

    UMAP fits both a and b to its target curve (for min_dist 0, spread 1: exp(-d)) and gets
    b = 0.79; here b is fixed at 3/4 and only a is fitted, the same way (least squares on
    300 points of d in [0, 3]). The two curves differ by less than 0.02 anywhere, and
    d^(3/4) is two square roots where d^0.79 is a call to powf, which makes the layout
    kernel faster and paid for 8 layouts instead of 6, at the same clustering quality
    (`bench/engine.py`, `bench/sweep.py`; figures in bench/README.md).

    Args:
        b: The exponent to fix.

    Returns:
        (a, b) as floats.
    """
    from scipy.optimize import curve_fit

    d = np.linspace(0.0, 3.0, 300)
    (a,), _ = curve_fit(lambda x, a: 1.0 / (1.0 + a * x ** (2 * b)), d, np.exp(-d))
    return float(a), float(b)


@dataclass(frozen=True, slots=True)
class _Edges:
    """The fuzzy graph's edges as UMAP's optimiser samples them."""

    head: NDArray[np.int32]
    tail: NDArray[np.int32]
    epochs_per_sample: NDArray[np.float64]
    n_vertices: int


def _layout_kernel() -> Any:
    """`_sgd_layout`, compiled."""
    return compiled(_sgd_layout)


def _optimise_layout(
    edges: _Edges, start: NDArray[np.float32], n_epochs: int, a: float, b: float, seed: int
) -> NDArray[np.float32]:
    """One UMAP layout optimisation from `start` with `seed` (see `_sgd_layout`)."""
    embedding = start.copy()
    # UMAP's per-vertex random state: a seeded triple offset by the vertex's start position
    low, high = np.iinfo(np.int32).min + 1, np.iinfo(np.int32).max - 1  # as umap
    triple = np.random.RandomState(seed).randint(low, high, 3).astype(np.int64)
    offsets = embedding[:, 0].astype(np.float64).view(np.int64).reshape(-1, 1)
    rng_state = np.full((embedding.shape[0], 3), triple, dtype=np.int64) + offsets
    _layout_kernel()(
        embedding,
        edges.head,
        edges.tail,
        edges.epochs_per_sample,
        np.float32(a),
        np.float32(b),
        rng_state,
        n_epochs,
    )
    return embedding


def _sgd_layout(  # pragma: no cover - runs compiled (numba)
    embedding: NDArray[np.float32],
    head: NDArray[np.int32],
    tail: NDArray[np.int32],
    epochs_per_sample: NDArray[np.float64],
    a: np.float32,
    b: np.float32,
    rng_state: NDArray[np.int64],
    n_epochs: int,
) -> None:
    """UMAP's layout SGD, in place, all epochs in one compiled call.

    The algorithm of umap's `optimize_layout_euclidean` (serial, euclidean output, no
    densMAP): the same edge schedule, 5 negative samples per positive one drawn with the
    same random generator, gamma 1, a learning rate falling linearly from 1, gradients
    clipped to +-4. Its gradient coefficients are computed in float32 where umap's are
    float64, and its loops are fused into one function: faster than umap's kernel, with
    the same clustering quality. With b = 3/4 (`CURVE_B`, what `averaged_layouts` uses)
    the power d^2b is taken as two square roots instead of a call to powf, which sits on
    the serial chain of an edge's negative samples. Batching an edge's negative samples
    (computing their gradients from one position, then applying them) was faster still but
    lowered clinc150's F1, so they stay serial. Figures for each: bench/README.md.
    """
    n_vertices = embedding.shape[0]
    dim = embedding.shape[1]
    one, clip = np.float32(1.0), np.float32(4.0)
    epochs_per_negative = epochs_per_sample / 5.0
    next_negative = epochs_per_negative.copy()
    next_sample = epochs_per_sample.copy()
    alpha = one
    three_quarters = b == np.float32(0.75)  # `CURVE_B`: d^(3/4) from two square roots
    for n in range(n_epochs):
        for i in range(epochs_per_sample.shape[0]):
            if next_sample[i] > n:
                continue
            j, k = head[i], tail[i]
            dist_squared = np.float32(0.0)
            for d in range(dim):
                diff = embedding[j, d] - embedding[k, d]
                dist_squared += diff * diff
            coeff = np.float32(0.0)
            if dist_squared > 0.0:
                if three_quarters:
                    root = np.sqrt(dist_squared)
                    power = root * np.sqrt(root)
                else:
                    power = dist_squared**b
                coeff = np.float32(-2.0) * a * b * (power / dist_squared) / (a * power + one)
            for d in range(dim):
                grad = min(max(coeff * (embedding[j, d] - embedding[k, d]), -clip), clip)
                embedding[j, d] += grad * alpha
                embedding[k, d] -= grad * alpha
            next_sample[i] += epochs_per_sample[i]
            n_negative = int((n - next_negative[i]) / epochs_per_negative[i])
            next_negative[i] += n_negative * epochs_per_negative[i]
            state = rng_state[j]
            for _ in range(n_negative):
                # umap's tau_rand_int: three xorshift generators, the note's own state
                state[0] = (((state[0] & 4294967294) << 12) & 0xFFFFFFFF) ^ (
                    (((state[0] << 13) & 0xFFFFFFFF) ^ state[0]) >> 19
                )
                state[1] = (((state[1] & 4294967288) << 4) & 0xFFFFFFFF) ^ (
                    (((state[1] << 2) & 0xFFFFFFFF) ^ state[1]) >> 25
                )
                state[2] = (((state[2] & 4294967280) << 17) & 0xFFFFFFFF) ^ (
                    (((state[2] << 3) & 0xFFFFFFFF) ^ state[2]) >> 11
                )
                other = np.int32(state[0] ^ state[1] ^ state[2]) % n_vertices
                dist_squared = np.float32(0.0)
                for d in range(dim):
                    diff = embedding[j, d] - embedding[other, d]
                    dist_squared += diff * diff
                if dist_squared > 0.0:
                    if three_quarters:
                        root = np.sqrt(dist_squared)
                        power = root * np.sqrt(root)
                    else:
                        power = dist_squared**b
                    coeff = (
                        np.float32(2.0)
                        * b
                        / ((np.float32(0.001) + dist_squared) * (a * power + one))
                    )
                    for d in range(dim):
                        diff = embedding[j, d] - embedding[other, d]
                        embedding[j, d] += min(max(coeff * diff, -clip), clip) * alpha
        alpha = np.float32(1.0 - float(n) / float(n_epochs))


def _derived_seed(random_state: int, i: int) -> int:
    """The seed of the i-th extra layout: distinct per (random_state, i), within 32 bits."""
    return int(np.random.SeedSequence([random_state, i]).generate_state(1)[0])
