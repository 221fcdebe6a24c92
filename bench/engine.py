"""Engine: what the threaded layouts and the bfloat16 kNN candidates buy, in one process.

Per set: (1) the neighbour graph (30 neighbours) in float32 and with bfloat16 candidates
re-ranked in float32: seconds, and how many neighbour entries per million differ; (2) the
default `NoteClusterer` fit under three settings, same seeds: the previous session's defaults
on the previous engine (float32 kNN, one thread, 5 layouts x 30 epochs), the same layouts on
the current engine (bfloat16 candidates where the CPU has them, one thread per CPU), and the
current defaults (4 layouts x 60 epochs). Seconds are the mean over seeds; F1 is B-cubed.

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
from clustering.embedder import normalize_rows
from clustering.evaluation import bcubed
from clustering.reduce import cosine_neighbours, cpu_has_bf16

SETTINGS: list[tuple[str, dict[str, Any]]] = [
    ("previous defaults, previous engine", {"knn": "fp32", "n_jobs": 1, "n_epochs": 30, "n_layouts": 5}),
    ("previous defaults, current engine", {"n_epochs": 30, "n_layouts": 5}),
    ("current defaults", {}),
]  # fmt: skip


def knn_row(V: np.ndarray) -> dict[str, float]:
    """Time both neighbour graphs and count the entries where they differ."""
    t0 = time.perf_counter()
    exact, _ = cosine_neighbours(V, 30, candidates="fp32")
    t1 = time.perf_counter()
    fast, _ = cosine_neighbours(V, 30, candidates="bf16")
    t2 = time.perf_counter()
    kept = sum(len(set(a) & set(b)) for a, b in zip(exact, fast, strict=True))
    return {
        "fp32_s": t1 - t0,
        "bf16_s": t2 - t1,
        "differing_per_million": 1e6 * (1 - kept / exact.size),
    }


def main() -> None:
    """Run every set and setting, print two markdown tables, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=["clinc150", "banking77"])
    parser.add_argument("--seeds", nargs="+", type=int, default=[0, 1])
    args = parser.parse_args()
    print(f"# warm-up {warm_up():.1f} s; CPU has bfloat16 instructions: {cpu_has_bf16()}")
    results: list[dict[str, Any]] = []
    for name in args.sets:
        note_set = load_set(name)
        X, _ = embed_cached(note_set)
        entry: dict[str, Any] = {"set": name, "n": len(X), "knn": knn_row(normalize_rows(X))}
        entry["fits"] = []
        for label, params in SETTINGS:
            seconds, f1s = [], []
            for seed in args.seeds:
                t0 = time.perf_counter()
                model = NoteClusterer(random_state=seed, **params).fit(X)
                seconds.append(time.perf_counter() - t0)
                f1s.append(bcubed(note_set.labels, model.labels_)[2])
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
    print("\n| set | setting | fit s | vs previous | B³ F1 |")
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
