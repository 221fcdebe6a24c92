"""Engine: what the layout kernel, threaded layouts and bfloat16 kNN candidates buy, in one process.

Per set: (1) the neighbour graph (30 neighbours) in float32 and with bfloat16 candidates
re-ranked in float32: seconds, and how many neighbour entries per million differ; (2) one
60-epoch layout of the same graph from the same start with umap's own epoch kernel (as
axial ran it up to session 3: compiled `nogil`, called once per epoch) and with axial's
`_sgd_layout`, on UMAP's curve (a, b = 1.93, 0.79) and on axial's (b = 3/4, whose power is
two square roots); (2b) the bfloat16 candidates' float32 re-rank by gathered rows and torch's
bmm vs compiled dot products, and UMAP's spectral start vs axial's; (3) `NoteClusterer` fits, same seeds, each session's defaults on its
engine: session 2 (float32 kNN, one thread, umap's kernel and spectral start, 5 layouts x 30
epochs), session 3 (bfloat16 candidates, one thread per CPU, umap's kernel and spectral
start, 4 layouts x 60 epochs), session 4 (axial's kernel on UMAP's curve, umap's spectral
start, 6 layouts, min_cluster_size 0.4·√n) and the current ones (8 layouts on b = 3/4,
axial's spectral start). The bfloat16 candidates' re-rank is always the current one
(compiled dot products; sessions 3-4 gathered rows for torch's bmm, ~0.9 s more on
clinc150). Seconds are the mean over seeds; F1 is B-cubed.

Usage:
    .venv/bin/python bench/engine.py [--sets clinc150 banking77] [--seeds 0 1]
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import numpy as np
from _data import embed_cached, load_set, write_json

from clustering import NoteClusterer, warm_up
from clustering import layout as layout_module
from clustering.embedder import normalize_rows
from clustering.layout import _Edges, _optimise_layout, _spectral_start, curve_params
from clustering.reduce import cosine_neighbours, cpu_has_bf16
from judges.agreement import label_bcubed

# (label, NoteClusterer params, layout optimiser, curve, spectral start); "mcs_coef" becomes
# the min_cluster_size that coefficient of sqrt(n) gives (sessions 2 and 3 used 0.36)
SETTINGS: list[tuple[str, dict[str, Any], str, str, str]] = [
    ("session 2 (5 × 30 epochs, 1 thread, float32 kNN, umap's kernel)", {"knn": "fp32", "n_jobs": 1, "n_epochs": 30, "n_layouts": 5, "mcs_coef": 0.36}, "umap", "umap", "umap"),
    ("session 3 (4 × 60, 2 threads, bf16 kNN, umap's kernel)", {"n_epochs": 60, "n_layouts": 4, "mcs_coef": 0.36}, "umap", "umap", "umap"),
    ("session 4 (6 × 60, axial's kernel, UMAP's curve, 0.4·√n)", {"n_layouts": 6}, "axial", "umap", "umap"),
    ("current (8 × 60, b = 3/4, axial's spectral start)", {}, "axial", "axial", "axial"),
]  # fmt: skip


def umap_spectral_start(X: np.ndarray, graph: Any, dim: int, rng: Any) -> np.ndarray:
    """UMAP's own spectral_layout, as the layouts started up to session 4."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from umap.spectral import spectral_layout

    return spectral_layout(X, graph, dim, rng, metric="cosine")


STARTS = {"umap": umap_spectral_start, "axial": _spectral_start}


def umap_curve() -> tuple[float, float]:
    """UMAP's own (a, b) for min_dist 0, spread 1, as the layouts used up to session 4."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from umap.umap_ import find_ab_params

    a, b = find_ab_params(1.0, 0.0)
    return float(a), float(b)


CURVES = {"umap": umap_curve, "axial": curve_params}


def umap_kernel_layout(
    edges: _Edges, start: np.ndarray, n_epochs: int, a: float, b: float, seed: int
) -> np.ndarray:
    """One layout with umap's own single-epoch kernel, as clustering.reduce ran it up to
    session 3 (compiled nogil by us, called once per epoch): the baseline."""
    import numba
    from umap.layouts import _optimize_layout_euclidean_single_epoch
    from umap.umap_ import INT32_MAX, INT32_MIN

    global _UMAP_KERNEL
    if _UMAP_KERNEL is None:
        _UMAP_KERNEL = numba.njit(
            _optimize_layout_euclidean_single_epoch, fastmath=True, parallel=False, nogil=True
        )
    embedding = start.copy()
    rng_state = np.random.RandomState(seed).randint(INT32_MIN, INT32_MAX, 3).astype(np.int64)
    per_sample = np.full((embedding.shape[0], 3), rng_state, dtype=np.int64) + embedding[
        :, 0
    ].astype(np.float64).view(np.int64).reshape(-1, 1)
    per_negative = edges.epochs_per_sample / 5.0
    next_negative, next_sample = per_negative.copy(), edges.epochs_per_sample.copy()
    unused, alpha = np.zeros(1, dtype=np.float32), 1.0
    for n in range(n_epochs):
        _UMAP_KERNEL(
            embedding, embedding, edges.head, edges.tail, edges.n_vertices,
            edges.epochs_per_sample, a, b, per_sample, 1.0, embedding.shape[1], True, alpha,
            per_negative, next_negative, next_sample, n, False, unused, unused, 0, 0, 0, 0,
            unused, unused, 0,
        )  # fmt: skip
        alpha = 1.0 - float(n) / float(n_epochs)
    return embedding


_UMAP_KERNEL = None
OPTIMISERS = {"umap": umap_kernel_layout, "axial": _optimise_layout}


def kernel_row(V: np.ndarray, indices: np.ndarray, dists: np.ndarray) -> dict[str, float]:
    """Time one 60-epoch layout per optimiser and curve on the same 30-neighbour graph and
    start."""
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from umap.umap_ import fuzzy_simplicial_set, make_epochs_per_sample

    graph, _, _ = fuzzy_simplicial_set(
        V, 30, np.random.RandomState(0), "cosine", knn_indices=indices, knn_dists=dists
    )
    graph = graph.tocoo()
    edges = _Edges(graph.row, graph.col, make_epochs_per_sample(graph.data, 60), graph.shape[0])
    start = np.random.default_rng(0).uniform(0, 10, size=(V.shape[0], 5)).astype(np.float32)
    row = {}
    for name, optimise, curve in [
        ("umap", umap_kernel_layout, "umap"),
        ("axial", _optimise_layout, "umap"),
        ("axial_b34", _optimise_layout, "axial"),
    ]:
        a, b = CURVES[curve]()
        optimise(edges, start, 2, a, b, 0)  # compile
        t0 = time.perf_counter()
        optimise(edges, start, 60, a, b, 0)
        row[f"{name}_s"] = time.perf_counter() - t0
    return row


def steps_row(V: np.ndarray, indices: np.ndarray, dists: np.ndarray) -> dict[str, float]:
    """Time session 5's two cheaper steps against what they replaced, on the same inputs:
    the float32 re-rank of 46 bfloat16 candidates per note (rows gathered for torch's bmm,
    as up to session 4, vs axial's compiled dot products), and the spectral start (UMAP's
    `spectral_layout` vs axial's `_spectral_start`)."""
    import warnings

    import torch

    from clustering._numba import compiled
    from clustering.reduce import _candidate_similarities

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        from umap.umap_ import fuzzy_simplicial_set

    V32 = np.ascontiguousarray(V, dtype=np.float32)
    T, block = torch.from_numpy(V32), 1024
    candidates = [
        torch.topk(T[s : s + block].bfloat16() @ T.bfloat16().T, 46, dim=1)[1]
        for s in range(0, len(V32), block)
    ]
    rerank = compiled(_candidate_similarities)
    rerank(V32, 0, candidates[0][:2].numpy())  # compile
    t0 = time.perf_counter()
    for i, top in enumerate(candidates):
        torch.bmm(T[top], T[i * block : (i + 1) * block].unsqueeze(2))
    t1 = time.perf_counter()
    for i, top in enumerate(candidates):
        rerank(V32, i * block, top.numpy())
    t2 = time.perf_counter()
    graph, _, _ = fuzzy_simplicial_set(
        V, 30, np.random.RandomState(0), "cosine", knn_indices=indices, knn_dists=dists
    )
    t3 = time.perf_counter()
    umap_spectral_start(V, graph, 5, np.random.RandomState(0))
    t4 = time.perf_counter()
    _spectral_start(V, graph, 5, np.random.RandomState(0))
    t5 = time.perf_counter()
    return {
        "rerank_bmm_s": t1 - t0,
        "rerank_compiled_s": t2 - t1,
        "spectral_umap_s": t4 - t3,
        "spectral_axial_s": t5 - t4,
    }


def knn_row(V: np.ndarray) -> tuple[dict[str, float], tuple[np.ndarray, np.ndarray]]:
    """Time both neighbour graphs and count the entries where they differ; also return the
    float32 graph (indices, distances) for the kernel timing."""
    t0 = time.perf_counter()
    exact, exact_dists = cosine_neighbours(V, 30, candidates="fp32")
    t1 = time.perf_counter()
    fast, _ = cosine_neighbours(V, 30, candidates="bf16")
    t2 = time.perf_counter()
    kept = sum(len(set(a) & set(b)) for a, b in zip(exact, fast, strict=True))
    row = {
        "fp32_s": t1 - t0,
        "bf16_s": t2 - t1,
        "differing_per_million": 1e6 * (1 - kept / exact.size),
    }
    return row, (exact, exact_dists)


def main() -> None:
    """Run every set and setting, print three markdown tables, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=["clinc150", "banking77"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    args = parser.parse_args()
    print(f"# warm-up {warm_up():.1f} s; CPU has bfloat16 instructions: {cpu_has_bf16()}")
    results: list[dict[str, Any]] = []
    for name in args.sets:
        note_set = load_set(name)
        X, _ = embed_cached(note_set)
        V = normalize_rows(X)
        knn, (indices, dists) = knn_row(V)
        entry: dict[str, Any] = {"set": name, "n": len(X), "knn": knn}
        entry["kernel"] = kernel_row(V, indices, dists)
        entry["steps"] = steps_row(V, indices, dists)
        entry["fits"] = []
        for label, params, optimiser, curve, start in SETTINGS:
            seconds, f1s = [], []
            params = dict(params)
            if "mcs_coef" in params:
                params["min_cluster_size"] = max(3, round(params.pop("mcs_coef") * len(X) ** 0.5))
            # the fit looks these up in clustering.layout at call time
            layout_module._optimise_layout = OPTIMISERS[optimiser]  # type: ignore[assignment]
            layout_module.curve_params = CURVES[curve]  # type: ignore[assignment]
            layout_module._spectral_start = STARTS[start]  # type: ignore[assignment]
            try:
                for seed in args.seeds:
                    t0 = time.perf_counter()
                    model = NoteClusterer(random_state=seed, **params).fit(X)
                    seconds.append(time.perf_counter() - t0)
                    f1s.append(label_bcubed(note_set.labels, model.labels_)[2])
            finally:
                layout_module._optimise_layout = _optimise_layout  # type: ignore[assignment]
                layout_module.curve_params = curve_params  # type: ignore[assignment]
                layout_module._spectral_start = STARTS["axial"]  # type: ignore[assignment]
            entry["fits"].append(
                {"setting": label, "seconds": statistics.mean(seconds), "f1": statistics.mean(f1s)}
            )
            print(f"# {name} {label}: {seconds} s, F1 {f1s}", flush=True)
        results.append(entry)
    print(
        "\n| set | kNN float32 s | kNN bf16 candidates s | speed-up | entries differing per million |"
    )
    print("| --- | ---: | ---: | ---: | ---: |")
    for r in results:
        k = r["knn"]
        print(
            f"| {r['set']} | {k['fp32_s']:.2f} | {k['bf16_s']:.2f} | {k['fp32_s'] / k['bf16_s']:.2f}× "
            f"| {k['differing_per_million']:.1f} |"
        )
    print(
        "\n| set | one 60-epoch layout, umap's kernel s | axial's kernel s | speed-up "
        "| axial's kernel, b = 3/4 s | speed-up |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        k = r["kernel"]
        print(
            f"| {r['set']} | {k['umap_s']:.2f} | {k['axial_s']:.2f} | {k['umap_s'] / k['axial_s']:.2f}× "
            f"| {k['axial_b34_s']:.2f} | {k['umap_s'] / k['axial_b34_s']:.2f}× |"
        )
    print(
        "\n| set | re-rank, gathered bmm s | compiled s | speed-up "
        "| spectral start, UMAP's s | axial's s | speed-up |"
    )
    print("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in results:
        t = r["steps"]
        print(
            f"| {r['set']} | {t['rerank_bmm_s']:.2f} | {t['rerank_compiled_s']:.2f} "
            f"| {t['rerank_bmm_s'] / t['rerank_compiled_s']:.1f}× | {t['spectral_umap_s']:.2f} "
            f"| {t['spectral_axial_s']:.2f} | {t['spectral_umap_s'] / t['spectral_axial_s']:.2f}× |"
        )
    print("\n| set | setting | fit s | vs session 2 | B³ F1 |")
    print("| --- | --- | ---: | ---: | ---: |")
    for r in results:
        base = r["fits"][0]["seconds"]
        for f in r["fits"]:
            print(
                f"| {r['set']} | {f['setting']} | {f['seconds']:.1f} | {base / f['seconds']:.2f}× "
                f"| {f['f1']:.3f} |"
            )
    print(f"\nJSON: {write_json('engine', {'seeds': args.seeds, 'results': results})}")


if __name__ == "__main__":
    main()
