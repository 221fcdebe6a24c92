"""Seconds per stage of a run (embed, reduce, cluster, propose, store), end to end, peak RSS.

Runs the service's own pipeline (``service.runs.pipeline.execute_run``) on a fresh SQLite file for
each size, twice: with the embedding cache cold, then warm (same notes again). Each size runs
in its own subprocess so peak RSS is that size's alone.

    .venv/bin/python bench/pipeline.py [--sizes 1000 10000] [--datasets ../shared/datasets]

Prints a markdown table; writes bench/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SETS = ("banking77", "clinc150", "stackoverflow_titles")


def load_texts(datasets: Path, n: int) -> list[str]:
    """n texts drawn round-robin from the large shared sets (deterministic)."""
    pools = []
    for name in SETS:
        with (datasets / name / "notes.jsonl").open() as fh:
            pools.append([json.loads(line)["text"] for line in fh])
    texts: list[str] = []
    i = 0
    while len(texts) < n:
        pool = pools[i % len(pools)]
        texts.append(pool[(i // len(pools) * 7919) % len(pool)])
        i += 1
    return texts


def one_size(n: int, datasets: Path) -> dict[str, Any]:
    """Cold then warm run of n notes in this process."""
    sys.path.insert(0, str(REPO))
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    from service.context import Services
    from service.notes.batches import get_or_create_project, store_batch
    from service.notes.ingest import NoteIn
    from service.runs.create import create_run, get_run
    from service.runs.pipeline import execute_run
    from service.runs.worker import claim_run
    from service.settings import Settings

    texts = load_texts(datasets, n)
    out: dict[str, Any] = {"n": n}
    with tempfile.TemporaryDirectory() as tmp:
        svc = Services.build(Settings(database_url=f"sqlite:///{tmp}/bench.db", max_batch_notes=n))
        t0 = time.perf_counter()
        with svc.db.transaction() as session:
            project = get_or_create_project(session, "bench")
        batch = store_batch(
            svc.db,
            project.id,
            [NoteIn(text=t) for t in texts],
            source="bench",
            submitted_by="bench",
        )
        out["ingest_s"] = time.perf_counter() - t0
        for label in ("cold", "warm"):
            run = create_run(svc, project, batch_id=batch.batch_id, seed=0)
            t0 = time.perf_counter()
            assert claim_run(svc, run.id)
            execute_run(svc, run.id)
            wall = time.perf_counter() - t0
            done = get_run(svc, run.id)
            if done.status != "succeeded":
                raise RuntimeError(f"run failed: {done.error}")
            out[label] = {
                "timings": done.timings,
                "end_to_end_s": wall,
                "clusters": done.n_clusters,
                "unclustered": done.n_unclustered,
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
            }
        svc.db.dispose()
    return out


def row(n: int, label: str, r: dict[str, Any]) -> str:
    t = r["timings"]
    cells = [
        t.get("embed", 0),
        t.get("reduce", 0),
        t.get("hdbscan", 0),
        t.get("reassign", 0),
        t.get("judge", 0),
        t.get("store", 0),
        r["end_to_end_s"],
    ]
    return (
        f"| {n:,} | {label} | "
        + " | ".join(f"{c:.2f}" for c in cells)
        + f" | {r['peak_rss_mb']:.0f} | {r['clusters']} | {r['unclustered']} |"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument(
        "--datasets",
        type=Path,
        default=Path(os.environ.get("AXIAL_DATASETS", REPO.parent / "shared" / "datasets")),
    )
    parser.add_argument("--one", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.one:
        print(json.dumps(one_size(args.one, args.datasets)))
        return
    results = []
    for n in args.sizes:
        proc = subprocess.run(
            [sys.executable, __file__, "--one", str(n), "--datasets", str(args.datasets)],
            capture_output=True,
            text=True,
            check=True,
        )
        results.append(json.loads(proc.stdout.strip().splitlines()[-1]))
    print(
        "| notes | embedding cache | embed s | reduce s | HDBSCAN s | reassign s | propose s "
        "| store s | end to end s | peak RSS MB | clusters | unclustered |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for r in results:
        print(row(r["n"], "cold", r["cold"]))
        print(row(r["n"], "warm", r["warm"]))
    print(
        "\nreduce/HDBSCAN/reassign come from NoteClusterer.timings_ (a new process's first UMAP "
        "fit includes numba compiling); the warm run re-embeds nothing (cache keyed by model "
        "id + text sha256)."
    )
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "pipeline.json").write_text(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
