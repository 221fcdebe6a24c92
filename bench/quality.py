"""Clustering quality: axial's pipeline vs BERTopic's defaults vs k-means told the true k.

For each set, the texts are embedded once (cached under bench/results/cache/), then every
method clusters the same vectors with each seed. Reported per set and method (median over
seeds): B-cubed precision/recall/F1 and ARI/AMI with unclustered texts as singletons, the
share unclustered (and, for axial, the share softly reassigned), clusters found vs true
labels, seed stability (mean pairwise ARI between the seeds' labelings, unclustered as
singletons) and wall seconds of clustering after embedding.

axial runs exactly as the service does: `NoteClusterer(random_state=seed)` with its defaults,
then c-TF-IDF keywords, representatives, boundary notes and nearest clusters.

Usage:
    .venv/bin/python bench/quality.py [--sets NAME|PATH ...] [--seeds 3] [--backend torch|onnx]
        [--methods axial bertopic kmeans] [--merge results/OTHER.json]
    .venv/bin/python bench/quality.py --small-tasks 30 [--sets banking77 clinc150 ...]
    .venv/bin/python bench/quality.py --render results/A.json results/B.json [--out NAME]

`--merge` adds, per set, the methods of an earlier results JSON that this run did not run
(same set, size, backend and seeds; checked), so the baselines, which do not depend on
axial's settings, need not be rerun after every change to axial. Merged methods are
marked in the JSON (`merged_from`) and with a dagger in the table: their seconds were
measured in that earlier run, not interleaved with this one. `--render` runs nothing: it
merges finished results JSONs the same way (the first file's methods first) and prints the
table.

`--small-tasks N` is the many-small-tasks mode (``bench/_tasks.py``): N random tasks per large
set (5–30 labels, 100, 300 or 1,000 notes), every method on each; median and 10th percentile
of F1 and AMI per set and size, and the share of lumped tasks (fewer clusters than a third of
the labels).
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import _tasks
import numpy as np
from _data import SETS, UNSCORED, NoteSet, embed_cached, load_set, write_json
from numpy.typing import NDArray

from clustering import (
    NoteClusterer,
    boundary_indices,
    ctfidf_keywords,
    nearest_clusters,
    representative_indices,
    warm_up,
)
from judges.agreement import label_ari_ami, label_bcubed, seed_stability

Labels = NDArray[np.int64]
RunResult = tuple[Labels, dict[str, float]]


def run_axial(texts: list[str], X: NDArray[np.float32], seed: int, k: int) -> RunResult:
    """axial's clustering stage as the service runs it."""
    model = NoteClusterer(random_state=seed).fit(X)
    labels = model.labels_
    ctfidf_keywords(texts, labels, top_n=8)
    representative_indices(X, labels, k=5)
    boundary_indices(X, labels, model.probabilities_, k=3)
    nearest_clusters(X, labels, k=2)
    extra = {
        "reassigned": float(model.reassigned_.mean()),
        "min_cluster_size": float(model.min_cluster_size_),
    }
    return labels, extra


def run_bertopic(texts: list[str], X: NDArray[np.float32], seed: int, k: int) -> RunResult:
    """BERTopic's defaults on precomputed embeddings, with its default UMAP seeded."""
    from bertopic import BERTopic
    from umap import UMAP

    umap_model = UMAP(
        n_neighbors=15, n_components=5, min_dist=0.0, metric="cosine", random_state=seed
    )
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        topics, _ = BERTopic(umap_model=umap_model).fit_transform(texts, embeddings=X)
    return np.asarray(topics, dtype=np.int64), {}


def run_kmeans(texts: list[str], X: NDArray[np.float32], seed: int, k: int) -> RunResult:
    """k-means told the true number of categories."""
    from sklearn.cluster import KMeans

    model = KMeans(n_clusters=min(k, len(texts)), n_init=10, random_state=seed).fit(X)
    return np.asarray(model.labels_, dtype=np.int64), {}


METHODS: dict[str, Callable[[list[str], NDArray[np.float32], int, int], RunResult]] = {
    "axial": run_axial,
    "bertopic": run_bertopic,
    "kmeans": run_kmeans,
}


def run_once(note_set: NoteSet, method: str, seed: int, X: NDArray[np.float32]) -> RunResult:
    """Run one method with one seed; return its labels and scores."""
    t0 = time.perf_counter()
    labels, extra = METHODS[method](note_set.texts, X, seed, note_set.n_true)
    seconds = time.perf_counter() - t0
    p, r, f1 = label_bcubed(note_set.labels, labels)
    ari, ami = label_ari_ami(note_set.labels, labels)
    scores = {
        "precision": p,
        "recall": r,
        "f1": f1,
        "ari": ari,
        "ami": ami,
        "unclustered": float((labels < 0).mean()),
        "clusters": float(labels.max() + 1) if (labels >= 0).any() else 0.0,
        "seconds": seconds,
        **extra,
    }
    return labels, scores


def score_set(
    note_set: NoteSet, methods: list[str], seeds: list[int], X: NDArray[np.float32]
) -> dict[str, dict[str, Any]]:
    """Run every method with every seed (interleaved, so load on the machine hits all
    methods alike) and summarize each method: medians over seeds, seed stability."""
    runs: dict[str, list[RunResult]] = {m: [] for m in methods}
    for seed in seeds:
        for method in methods:
            runs[method].append(run_once(note_set, method, seed, X))
    out: dict[str, dict[str, Any]] = {}
    for method, results in runs.items():
        scores = [r[1] for r in results]
        summary: dict[str, Any] = {k: statistics.median(s[k] for s in scores) for k in scores[0]}
        labelings = [r[0] for r in results]
        summary["stability"] = seed_stability(labelings) if len(labelings) > 1 else None
        summary["runs"] = scores
        out[method] = summary
    return out


def warm_up_all(methods: list[str]) -> float:
    """Pay numba compile costs of the pipelines before anything is timed."""
    t0 = time.perf_counter()
    warm_up()
    if "bertopic" not in methods:
        return time.perf_counter() - t0
    rng = np.random.default_rng(0)
    X = rng.normal(size=(4200, 48)).astype(np.float32)  # > 4,096: UMAP's NNDescent path
    texts = [f"note {i % 97} about topic {i % 13}" for i in range(X.shape[0])]
    run_bertopic(texts, X, 0, 13)
    return time.perf_counter() - t0


def _fmt(value: float | None, spec: str = ".3f") -> str:
    return "–" if value is None else format(value, spec)


def markdown(results: list[dict[str, Any]]) -> str:
    """Render the results as one markdown table."""
    head = (
        "| set (texts, true k) | method | B³ P | B³ R | B³ F1 | ARI | AMI | unclustered "
        "| reassigned | clusters (true k) | seed stability | seconds |\n"
        "| --- | --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"
    )
    lines = [head]
    for res in results:
        tag = f"{res['set']} ({res['n']:,}, {res['n_true']})" + (
            " *not scored*" if res["set"] in UNSCORED else ""
        )
        for method, s in res["methods"].items():
            reassigned = s.get("reassigned")
            mark = "†" if s.get("merged_from") else ""
            lines.append(
                f"| {tag} | {method} | {_fmt(s['precision'])} | {_fmt(s['recall'])} "
                f"| **{_fmt(s['f1'])}** | {_fmt(s['ari'])} | {_fmt(s['ami'])} "
                f"| {s['unclustered']:.1%} | {'' if reassigned is None else f'{reassigned:.1%}'} "
                f"| {s['clusters']:.0f} ({res['n_true']}) | {_fmt(s['stability'])} "
                f"| {s['seconds']:.1f}{mark} |"
            )
            tag = ""
    return "\n".join(lines)


def merge_methods(entry: dict[str, Any], seeds: list[int], path: Path) -> None:
    """Add to `entry` the methods of an earlier run (same set, n, backend, seeds) it lacks.

    Raises:
        ValueError: If the earlier run used other seeds.
    """
    earlier = json.loads(path.read_text())
    if earlier["seeds"] != seeds:
        raise ValueError(f"{path} used seeds {earlier['seeds']}, this run {seeds}")
    for res in earlier["results"]:
        same = (res["set"], res["n"], res["backend"]) == (
            entry["set"],
            entry["n"],
            entry["backend"],
        )
        if not same:
            continue
        for method, summary in res["methods"].items():
            if method not in entry["methods"]:
                entry["methods"][method] = {**summary, "merged_from": str(path)}


def render(paths: list[Path], out: str) -> None:
    """Merge finished results JSONs (no new runs), print the table, write the merged JSON."""
    first = json.loads(paths[0].read_text())
    seeds, results = first["seeds"], first["results"]
    for entry in results:
        for path in paths[1:]:
            merge_methods(entry, seeds, path)
    print(markdown(results))
    print(f"\nJSON: {write_json(out, {'seeds': seeds, 'results': results})}")


def small_tasks(
    sets: list[str], methods: list[str], n_tasks: int, backend: str, out: str | None
) -> None:
    """The many-small-tasks mode: every method on N random tasks of each set."""
    warm_up_all(methods)
    rows: list[dict[str, Any]] = []
    for name in sets:
        note_set = load_set(name)
        X, _ = embed_cached(note_set, backend)
        tasks = _tasks.draw_tasks(note_set.name, note_set.labels, n_tasks, seed=0)
        scores: dict[tuple[int, str], list[dict[str, float]]] = {}
        for task in tasks:
            texts = [note_set.texts[i] for i in task.rows]
            for method in methods:  # interleaved, so load hits every method alike
                pred = METHODS[method](texts, X[task.rows], 0, task.n_labels)[0]
                result = _tasks.score_task(task, note_set.labels, pred)
                scores.setdefault((task.rows.size, method), []).append(result)
        for (n, method), per in sorted(scores.items()):
            rows.append(
                {
                    "set": name,
                    "n": n,
                    "method": method,
                    "summary": _tasks.summarise(per),
                    "tasks": per,
                }
            )
        print(f"# {name}: {len(tasks)} tasks", flush=True)
    print(_tasks.markdown(rows))
    print(f"\nJSON: {write_json(out or f'small-tasks-{backend}', rows)}")


def main() -> None:
    """Parse arguments, run every set and method, print the table and write JSON."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--sets", nargs="+", default=list(SETS), help="set names or JSONL paths")
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--backend", choices=["torch", "torch-bf16", "onnx"], default="torch")
    parser.add_argument("--methods", nargs="+", choices=list(METHODS), default=list(METHODS))
    parser.add_argument("--out", default=None, help="results name (default quality-<backend>)")
    parser.add_argument(
        "--merge", type=Path, default=None, help="earlier results JSON to take other methods from"
    )
    parser.add_argument("--render", type=Path, nargs="+", default=None, help="results JSONs")
    parser.add_argument(
        "--small-tasks", type=int, default=0, metavar="N", help="N random small tasks per set"
    )
    args = parser.parse_args()
    if args.render:
        render(args.render, args.out or "quality-merged")
        return
    if args.small_tasks:
        sets = [s for s in args.sets if s not in ("llm_code_bug_notes", *UNSCORED)]
        small_tasks(sets, args.methods, args.small_tasks, args.backend, args.out)
        return
    seeds = list(range(args.seeds))
    print(
        f"# warm-up (numba compile of UMAP/NNDescent): {warm_up_all(args.methods):.1f} s",
        flush=True,
    )
    results = []
    for name in args.sets:
        note_set = load_set(name)
        X, embed_s = embed_cached(note_set, args.backend)
        entry: dict[str, Any] = {
            "set": note_set.name,
            "n": len(note_set.texts),
            "n_true": note_set.n_true,
            "backend": args.backend,
            "embed_seconds": embed_s or None,
            "methods": {},
        }
        entry["methods"] = score_set(note_set, args.methods, seeds, X)
        if args.merge is not None:
            merge_methods(entry, seeds, args.merge)
        for method, s in entry["methods"].items():
            print(
                f"# {note_set.name} {method}: F1 {s['f1']:.3f} in {s['seconds']:.1f} s", flush=True
            )
        results.append(entry)
        write_json(args.out or f"quality-{args.backend}", {"seeds": seeds, "results": results})
    table = markdown(results)
    print(table)
    path = write_json(args.out or f"quality-{args.backend}", {"seeds": seeds, "results": results})
    print(f"\nJSON: {path}")


if __name__ == "__main__":
    main()
