"""The averaged-UMAP reduction: our threaded optimiser against UMAP's own embedding code."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from clustering.embedder import normalize_rows
from clustering.reduce import _averaged_layouts, _derived_seed, cosine_neighbours


def _blobs(n: int = 600, k: int = 6, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, 32))
    X = np.repeat(centres, n // k, axis=0) + 0.4 * rng.normal(size=(n, 32))
    return normalize_rows(X.astype(np.float32))


def _umap_reference(X, indices, dists, n_components, random_state, n_epochs, n_layouts):
    """The same averaging done with umap's public simplicial_set_embedding, one layout at a
    time (what clustering.reduce did before its optimiser ran layouts on threads)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from umap.spectral import spectral_layout
        from umap.umap_ import (
            find_ab_params,
            fuzzy_simplicial_set,
            noisy_scale_coords,
            simplicial_set_embedding,
        )

        rng = np.random.RandomState(random_state)
        graph, _, _ = fuzzy_simplicial_set(
            X, indices.shape[1], rng, "cosine", knn_indices=indices, knn_dists=dists
        )
        start = spectral_layout(X, graph, n_components, rng, metric="cosine")
        start = noisy_scale_coords(start, rng, max_coord=10, noise=0.0001)
        a, b = find_ab_params(1.0, 0.0)
        total = np.zeros((X.shape[0], n_components))
        for i in range(n_layouts):
            layout, _ = simplicial_set_embedding(
                X, graph.copy(), n_components, 1.0, a, b, 1.0, 5, n_epochs, start.copy(),
                np.random.RandomState(_derived_seed(random_state, i)),
                "cosine", {}, False, {}, False,
            )  # fmt: skip
            total += layout
    return (total / n_layouts).astype(np.float32)


@pytest.mark.parametrize("n_epochs", [30, 8])
def test_averaged_layouts_match_umaps_own_optimiser(n_epochs: int) -> None:
    X = _blobs()
    indices, dists = cosine_neighbours(X, 15)
    ours = _averaged_layouts(X, indices, dists, 5, 3, n_epochs, 3, n_threads=1)
    reference = _umap_reference(X, indices, dists, 5, 3, n_epochs, 3)
    np.testing.assert_array_equal(ours, reference)


def test_thread_count_does_not_change_the_layout() -> None:
    X = _blobs(seed=1)
    indices, dists = cosine_neighbours(X, 15)
    one = _averaged_layouts(X, indices, dists, 5, 0, 30, 4, n_threads=1)
    two = _averaged_layouts(X, indices, dists, 5, 0, 30, 4, n_threads=2)
    np.testing.assert_array_equal(one, two)
    other_seed = _averaged_layouts(X, indices, dists, 5, 1, 30, 4, n_threads=2)
    assert not np.array_equal(one, other_seed)


def test_fp32_neighbours_are_the_brute_force_ones() -> None:
    X = _blobs(n=900, k=9, seed=2)
    indices, dists = cosine_neighbours(X, 12, block=256, candidates="fp32")
    sims = X @ X.T
    np.fill_diagonal(sims, np.inf)
    expected = np.argsort(-sims, axis=1, kind="stable")[:, :12]
    assert (indices[:, 0] == np.arange(900)).all() and (dists[:, 0] == 0).all()
    # the same sets of neighbours (order within exact float ties may differ)
    assert all(set(a) == set(b) for a, b in zip(indices, expected, strict=True))
    assert (np.diff(dists, axis=1) >= 0).all()


def test_bf16_candidates_keep_the_cosine_neighbours() -> None:
    X = _blobs(n=900, k=9, seed=3)
    exact, exact_d = cosine_neighbours(X, 12, block=256, candidates="fp32")
    fast, fast_d = cosine_neighbours(X, 12, block=256, candidates="bf16")
    recall = np.mean([len(set(a) & set(b)) / 12 for a, b in zip(exact, fast, strict=True)])
    assert recall > 0.999
    # distances are re-ranked in float32, not bfloat16's 3 significant digits
    same = exact == fast
    assert np.abs(exact_d[same] - fast_d[same]).max() < 1e-5


def test_unknown_candidates_mode_raises() -> None:
    with pytest.raises(ValueError, match="candidates"):
        cosine_neighbours(_blobs(n=60), 5, candidates="int8")
