"""Scale: seconds per clustering stage and peak RSS at 1k, 10k and 50k notes.

The notes are a seeded sample of all shared sets combined (embedded once, cached). Each size
runs in a fresh process, so its peak RSS is its own and its compile costs are visible:
`import` (clustering + umap + hdbscan), `warm_up` (numba compile, what the service pays at
start), then the default `NoteClusterer` fit split into stages (reduce = exact kNN graph +
UMAP or PCA, hdbscan, reassign) and the describe step the service runs after it (c-TF-IDF
keywords, representatives, boundary notes, nearest clusters). Embedding is not timed here
(see bench/embed_speed.py for texts/s).

Usage:
    .venv/bin/python bench/scale.py [--sizes 1000 10000 50000]
"""

from __future__ import annotations

import argparse
import itertools
import json
import math
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

from _data import SETS, write_json

HERE = Path(__file__).resolve().parent


def child(n: int) -> dict[str, Any]:
    """Run one size in this process and return its measurements."""
    import resource

    t0 = time.perf_counter()
    import numpy as np
    from _data import embed_cached, load_set

    from clustering import (
        NoteClusterer,
        boundary_indices,
        ctfidf_keywords,
        nearest_clusters,
        representative_indices,
        warm_up,
    )
    from clustering.reduce import umap_reduce  # noqa: F401  (imports umap's numba module)

    out: dict[str, Any] = {"n": n, "import": time.perf_counter() - t0}
    texts: list[str] = []
    parts = []
    for name in SETS:
        note_set = load_set(name)
        texts.extend(note_set.texts)
        parts.append(embed_cached(note_set)[0])
    pick = np.sort(np.random.default_rng(0).choice(len(texts), size=n, replace=False))
    X = np.vstack(parts)[pick]
    texts = [texts[i] for i in pick]
    out["warm_up"] = warm_up()
    t1 = time.perf_counter()
    model = NoteClusterer(random_state=0).fit(X)
    out["fit"] = time.perf_counter() - t1
    out.update(model.timings_)
    t2 = time.perf_counter()
    ctfidf_keywords(texts, model.labels_)
    representative_indices(X, model.labels_)
    boundary_indices(X, model.labels_, model.probabilities_)
    nearest_clusters(X, model.labels_)
    out["describe"] = time.perf_counter() - t2
    out["total_after_warm_up"] = out["fit"] + out["describe"]
    out["clusters"] = model.n_clusters_
    out["unclustered"] = float((model.labels_ < 0).mean())
    out["reduction"] = model.reduction_
    out["min_cluster_size"] = model.min_cluster_size_
    out["peak_rss_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    return out


def growth(rows: list[dict[str, Any]], key: str) -> str:
    """Empirical exponent b in time ~ n^b between consecutive sizes."""
    pieces = []
    for a, b in itertools.pairwise(rows):
        if a[key] > 0 and b[key] > 0:
            exp = math.log(b[key] / a[key]) / math.log(b["n"] / a["n"])
            pieces.append(f"{a['n']:,}→{b['n']:,}: n^{exp:.2f}")
    return ", ".join(pieces)


def main() -> None:
    """Run each size in a fresh process, print a markdown table, write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--child", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(args.child)))
        return
    rows = []
    for n in args.sizes:
        proc = subprocess.run(
            [sys.executable, str(HERE / "scale.py"), "--child", str(n)],
            capture_output=True,
            text=True,
            check=True,
        )
        rows.append(json.loads(proc.stdout.strip().splitlines()[-1]))
        print(f"# {n:,}: {rows[-1]['total_after_warm_up']:.1f} s", flush=True)
    print(
        "| notes | import s | warm-up s | reduce s | hdbscan s | reassign s | describe s "
        "| total s (after warm-up) | peak RSS MB | clusters | unclustered |"
    )
    print("| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |")
    for r in rows:
        print(
            f"| {r['n']:,} ({r['reduction']}) | {r['import']:.1f} | {r['warm_up']:.1f} "
            f"| {r['reduce']:.1f} | {r['hdbscan']:.1f} | {r['reassign']:.2f} "
            f"| {r['describe']:.1f} | {r['total_after_warm_up']:.1f} | {r['peak_rss_mb']:.0f} "
            f"| {r['clusters']} | {r['unclustered']:.1%} |"
        )
    print(f"\nGrowth of total time: {growth(rows, 'total_after_warm_up')}")
    print(f"JSON: {write_json('scale', {'rows': rows})}")


if __name__ == "__main__":
    main()
