"""The averaged-UMAP reduction: our compiled SGD against a plain reference and UMAP's own optimiser."""

from __future__ import annotations

import warnings

import numpy as np
import pytest

from clustering._numba import compiled
from clustering.embedder import normalize_rows
from clustering.layout import (
    _derived_seed,
    _layout_kernel,
    _spectral_start,
    averaged_layouts,
    curve_params,
)
from clustering.reduce import _candidate_similarities, cosine_neighbours


def _blobs(n: int = 600, k: int = 6, seed: int = 0, noise: float = 0.4) -> np.ndarray:
    rng = np.random.default_rng(seed)
    centres = rng.normal(size=(k, 32))
    X = np.repeat(centres, n // k, axis=0) + noise * rng.normal(size=(n, 32))
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


def _python_sgd(embedding, head, tail, epochs_per_sample, a, b, rng_state, n_epochs):
    """The SGD `_sgd_layout` documents, in plain Python with float32 scalars (slow, exact
    integer random numbers): what the compiled kernel must compute."""
    f32 = np.float32
    emb, state = embedding.copy(), [[int(v) for v in row] for row in rng_state]
    n_vertices, mask = emb.shape[0], 0xFFFFFFFF
    per_negative = epochs_per_sample / 5.0
    next_negative, next_sample, alpha = per_negative.copy(), epochs_per_sample.copy(), f32(1)

    def coefficient(d2, negative):
        if negative:
            return f32(2) * b / ((f32(0.001) + d2) * (a * d2**b + f32(1)))
        return f32(-2) * a * b * (d2**b / d2) / (a * d2**b + f32(1))

    for n in range(n_epochs):
        for i in range(len(epochs_per_sample)):
            if next_sample[i] > n:
                continue
            j, k = int(head[i]), int(tail[i])
            d2 = f32(((emb[j] - emb[k]) ** 2).sum(dtype=np.float32))
            c = coefficient(d2, False) if d2 > 0 else f32(0)
            for d in range(emb.shape[1]):
                g = np.clip(c * (emb[j, d] - emb[k, d]), f32(-4), f32(4))
                emb[j, d] += g * alpha
                emb[k, d] -= g * alpha
            next_sample[i] += epochs_per_sample[i]
            n_negative = int((n - next_negative[i]) / per_negative[i])
            next_negative[i] += n_negative * per_negative[i]
            s = state[j]
            for _ in range(n_negative):
                s[0] = (((s[0] & 4294967294) << 12) & mask) ^ ((((s[0] << 13) & mask) ^ s[0]) >> 19)
                s[1] = (((s[1] & 4294967288) << 4) & mask) ^ ((((s[1] << 2) & mask) ^ s[1]) >> 25)
                s[2] = (((s[2] & 4294967280) << 17) & mask) ^ ((((s[2] << 3) & mask) ^ s[2]) >> 11)
                as_int32 = ((s[0] ^ s[1] ^ s[2]) + 2**31) % 2**32 - 2**31
                other = as_int32 % n_vertices
                d2 = f32(((emb[j] - emb[other]) ** 2).sum(dtype=np.float32))
                if d2 > 0:
                    c = coefficient(d2, True)
                    for d in range(emb.shape[1]):
                        g = np.clip(c * (emb[j, d] - emb[other, d]), f32(-4), f32(4))
                        emb[j, d] += g * alpha
        alpha = f32(1.0 - n / n_epochs)
    return emb


def _fuzzy_graph(X: np.ndarray, k: int = 15):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from umap.umap_ import fuzzy_simplicial_set

        indices, dists = cosine_neighbours(X, k)
        graph, _, _ = fuzzy_simplicial_set(
            X, k, np.random.RandomState(0), "cosine", knn_indices=indices, knn_dists=dists
        )
    return graph


@pytest.mark.parametrize("curve", ["umap", "axial"])
def test_compiled_sgd_computes_what_it_documents(curve: str) -> None:
    """On UMAP's curve (b = 0.79: a power) and on axial's (b = 3/4: two square roots)."""
    X = _blobs(n=150, k=3, seed=4)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from umap.umap_ import find_ab_params, make_epochs_per_sample

    graph = _fuzzy_graph(X, k=8).tocoo()
    ab = find_ab_params(1.0, 0.0) if curve == "umap" else curve_params()
    a, b = (np.float32(v) for v in ab)
    assert (b == np.float32(0.75)) == (curve == "axial")
    start = np.random.default_rng(0).uniform(0, 10, size=(150, 3)).astype(np.float32)
    eps = make_epochs_per_sample(graph.data, 4)
    state = np.random.default_rng(1).integers(-(2**40), 2**40, size=(150, 3))
    compiled = start.copy()
    _layout_kernel()(compiled, graph.row, graph.col, eps, a, b, state.copy(), 4)
    expected = _python_sgd(start, graph.row, graph.col, eps, a, b, state, 4)
    assert np.abs(compiled - start).max() > 0.1  # it did move the notes
    np.testing.assert_allclose(compiled, expected, atol=1e-3)


def test_axial_curve_is_umaps_with_b_three_quarters() -> None:
    """b fixed at 3/4, a fitted to UMAP's target exp(-d): the curve stays within 0.02 of
    UMAP's own fit (a, b = 1.93, 0.79) and fits the target about as well."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from umap.umap_ import find_ab_params

    a, b = curve_params()
    ua, ub = find_ab_params(1.0, 0.0)
    assert b == 0.75 and abs(ub - 0.79) < 0.01
    d = np.linspace(0.0, 10.0, 10001)
    ours, umaps = 1 / (1 + a * d ** (2 * b)), 1 / (1 + ua * d ** (2 * ub))
    assert np.abs(ours - umaps).max() < 0.02
    target = d <= 3.0
    misfit = lambda y: np.sqrt(np.mean((y[target] - np.exp(-d[target])) ** 2))  # noqa: E731
    assert misfit(ours) < 1.2 * misfit(umaps)


def test_averaged_layouts_keep_umaps_quality() -> None:
    """Against umap's own optimiser (simplicial_set_embedding), on overlapping blobs: the
    layouts preserve neighbourhoods as well and HDBSCAN finds the blobs as well in them."""
    import hdbscan
    from sklearn.manifold import trustworthiness
    from sklearn.metrics import adjusted_rand_score

    X = _blobs(n=1200, k=8, seed=5, noise=1.1)
    truth = np.repeat(np.arange(8), 150)
    indices, dists = cosine_neighbours(X, 15)
    ours = averaged_layouts(X, indices, dists, 5, 3, 60, 2)
    reference = _umap_reference(X, indices, dists, 5, 3, 60, 2)

    def recovered(layout):
        labels = hdbscan.HDBSCAN(min_cluster_size=40, min_samples=13).fit_predict(layout)
        return adjusted_rand_score(truth, labels)

    ours_t, ref_t = (
        trustworthiness(X, ours, n_neighbors=15),
        trustworthiness(X, reference, n_neighbors=15),
    )
    assert ref_t > 0.8 and ours_t > ref_t - 0.01
    assert recovered(ours) > recovered(reference) - 0.05


def test_thread_count_does_not_change_the_layout() -> None:
    X = _blobs(seed=1)
    indices, dists = cosine_neighbours(X, 15)
    one = averaged_layouts(X, indices, dists, 5, 0, 30, 4, n_threads=1)
    two = averaged_layouts(X, indices, dists, 5, 0, 30, 4, n_threads=2)
    np.testing.assert_array_equal(one, two)
    other_seed = averaged_layouts(X, indices, dists, 5, 1, 30, 4, n_threads=2)
    assert not np.array_equal(one, other_seed)


def _umap_spectral(X: np.ndarray, graph, dim: int) -> np.ndarray:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from umap.spectral import spectral_layout

        return spectral_layout(X, graph, dim, np.random.RandomState(0), metric="cosine")


def test_spectral_start_finds_umaps_eigenvectors() -> None:
    """From the largest eigenvalues of the normalised adjacency: the same vectors as UMAP's
    smallest of the Laplacian (up to sign and solver tolerance), signs fixed."""
    from scipy.sparse.csgraph import connected_components

    X = _blobs(n=900, k=6, seed=2, noise=1.1)
    graph = _fuzzy_graph(X)
    assert connected_components(graph)[0] == 1  # else UMAP's own layout is used
    ours = _spectral_start(X, graph, 5, np.random.RandomState(0))
    theirs = _umap_spectral(X, graph, 5)
    assert ours.shape == (900, 5)
    for i in range(5):  # each vector is UMAP's i-th, up to sign
        assert abs(np.corrcoef(ours[:, i], theirs[:, i])[0, 1]) > 0.999
    top = np.abs(ours).argmax(axis=0)
    assert np.all(ours[top, np.arange(5)] > 0)  # largest entry positive
    again = _spectral_start(X, graph, 5, np.random.RandomState(7))
    np.testing.assert_array_equal(ours, again)  # no randomness in it


def test_spectral_start_of_a_split_graph_is_umaps() -> None:
    """Two far-apart groups make a graph of two components: UMAP's own layout for those."""
    rng = np.random.default_rng(3)
    a, b = rng.normal(size=(1, 32)), rng.normal(size=(1, 32))
    X = normalize_rows(
        np.vstack([a + 0.05 * rng.normal(size=(200, 32)), b + 0.05 * rng.normal(size=(200, 32))])
    ).astype(np.float32)
    graph = _fuzzy_graph(X, k=10)
    ours = _spectral_start(X, graph, 5, np.random.RandomState(0))
    np.testing.assert_array_equal(ours, _umap_spectral(X, graph, 5))


def test_candidate_similarities_are_float32_dot_products() -> None:
    X = _blobs(n=300, seed=3)
    candidates = np.random.default_rng(0).integers(0, 300, size=(50, 7))
    got = compiled(_candidate_similarities)(X, 100, candidates)
    expected = np.einsum("rd,rcd->rc", X[100:150], X[candidates])
    assert got.dtype == np.float32
    np.testing.assert_allclose(got, expected, atol=1e-5)


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
