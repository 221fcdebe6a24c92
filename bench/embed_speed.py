"""Embedding speed and the choice of the default backend.

Speed (default mode): embeds the same sample of real texts (drawn from every shared set) with
a plain ``SentenceTransformer.encode`` (the reference every goal is stated against), with
each backend of ``clustering.make_embedder`` (torch, torch-bf16 where the CPU computes
bfloat16 natively, int8 ONNX), and through axial's embed stage as a run does it
(``service.runs.embedding_cache.embed_with_cache`` on a fresh SQLite file: sorting, chunks,
the writer thread), interleaved over ``--repeats`` rounds in one process (every path warmed
up first, the order reversed every other round) so that load from other processes hits them
alike; reports the median texts/s, the speed-up over ``encode`` (of the medians, and per
round: each path against the ``encode`` of its own round), the median CPU seconds, the ONNX
export time (into a fresh folder) and each one's cosine to torch's vectors. "stage torch,
before" is the torch stage as it was before it sorted by tokens: a plain ``encode`` of each
chunk, the chunks cut from the texts sorted by characters.

Decision (``--decide``): reads the many-small-tasks results (``bench/quality.py --small-tasks
30 --methods axial --backend B``) and the review-effort results (``bench/effort.py --no-axial
--no-bertopic --library --streams 3 --backend B``) of each backend and prints, against torch,
the paired differences with 95% bootstrap intervals: mean F1 and AMI over the same tasks, and
the total effort over the same streams (as a ratio). The rule (README, "Embedding"): the
default is the fastest backend at least 2× ``encode`` whose intervals all contain zero (or
favour it); else torch.

Usage:
    .venv/bin/python bench/embed_speed.py [--n 2000] [--batch-size 64] [--repeats 3]
        [--backends torch onnx torch-bf16] [--torch-threads 1]
    .venv/bin/python bench/embed_speed.py --decide onnx torch-bf16
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np
from _data import RESULTS, SETS, load_set, write_json
from numpy.typing import NDArray

from clustering import make_embedder
from clustering.embedder import cpu_has_bf16, resolve_model_path

BOOTSTRAP = 10_000


def sample_texts(n: int, seed: int = 0) -> list[str]:
    """A seeded sample of n texts from all shared sets together."""
    pool = [t for name in SETS for t in load_set(name).texts]
    return random.Random(seed).sample(pool, min(n, len(pool)))


def stage(embedder: Any, texts: list[str]) -> NDArray[np.float32]:
    """axial's embed stage as a run does it: the cache on a fresh SQLite file, all texts new."""
    from service.notes.batches import sha256
    from service.runs.embedding_cache import embed_with_cache
    from service.storage.db import Database

    with tempfile.TemporaryDirectory() as tmp:
        db = Database(f"sqlite:///{tmp}/stage.db")
        db.upgrade()
        try:
            return embed_with_cache(db, embedder, texts, [sha256(t) for t in texts])
        finally:
            db.dispose()


class EncodeChunks:
    """The torch path before issue #16's token sort: a plain ``encode`` of each chunk the stage
    hands it (the stage sorts by characters for it, as it did for every backend)."""

    def __init__(self, st: Any, batch_size: int) -> None:
        self.st, self.batch_size = st, batch_size
        self.model_id = "encode-chunks"

    def embed_batch(self, texts: list[str]) -> NDArray[np.float32]:
        vectors: NDArray[np.float32] = self.st.encode(
            texts, batch_size=self.batch_size, normalize_embeddings=True, show_progress_bar=False
        )
        return vectors


def timed(fn: Any) -> tuple[Any, float, float]:
    """fn()'s result, wall seconds and this process's CPU seconds."""
    w0, c0 = time.perf_counter(), time.process_time()
    out = fn()
    return out, time.perf_counter() - w0, time.process_time() - c0


def speed(n: int, batch_size: int, repeats: int, backends: list[str]) -> dict[str, Any]:
    """texts/s of plain encode, of each backend and of axial's embed stage, interleaved.

    Every path is warmed up first (model loaded, one call on 64 texts); each round runs them
    all on the same texts, in reverse order every other round.
    """
    from sentence_transformers import SentenceTransformer

    texts = sample_texts(n)
    st = SentenceTransformer(resolve_model_path("all-MiniLM-L6-v2"), device="cpu")
    load = [os.getloadavg()]
    with tempfile.TemporaryDirectory() as tmp:
        embedders = {
            b: make_embedder(b, "all-MiniLM-L6-v2", batch_size, Path(tmp))  # type: ignore[arg-type]
            for b in backends
        }
        export_s = None
        if "onnx" in embedders:
            t0 = time.perf_counter()
            embedders["onnx"].embed_batch(["export"])
            export_s = time.perf_counter() - t0
        paths: dict[str, Any] = {
            "encode": lambda: st.encode(texts, batch_size=batch_size, normalize_embeddings=True)
        }
        for b, e in embedders.items():
            paths[b] = lambda e=e: e.embed_batch(texts)
            if b in ("torch", "onnx"):  # the cache path of a run
                paths[f"stage {b}"] = lambda e=e: stage(e, texts)
        if "torch" in embedders:
            before = EncodeChunks(st, batch_size)
            paths["stage torch, before (encode per chunk)"] = lambda: stage(before, texts)
        st.encode(texts[:64])
        for e in embedders.values():
            e.embed_batch(texts[:64])  # load + warm
        wall: dict[str, list[float]] = {k: [] for k in paths}
        cpu: dict[str, list[float]] = {k: [] for k in paths}
        vectors: dict[str, NDArray[np.float32]] = {}
        for r in range(repeats):
            for name in list(paths) if r % 2 == 0 else list(paths)[::-1]:
                vectors[name], w, c = timed(paths[name])
                wall[name].append(w)
                cpu[name].append(c)
            load.append(os.getloadavg())
        model_ids = {b: e.model_id for b, e in embedders.items()}
    reference = "torch" if "torch" in vectors else "encode"
    rows = []
    for name in paths:
        cos = (vectors[name] * vectors[reference]).sum(axis=1) if name != reference else None
        rate = len(texts) / statistics.median(wall[name])
        rows.append(
            {
                "backend": name,
                "model_id": model_ids.get(
                    name.removeprefix("stage "), "SentenceTransformer.encode"
                ),
                "texts_per_s": rate,
                "vs_encode": statistics.median(wall["encode"]) / statistics.median(wall[name]),
                "round_ratios": [a / b for a, b in zip(wall["encode"], wall[name], strict=True)],
                "cpu_s": statistics.median(cpu[name]),
                "cosine": None
                if cos is None
                else [float(cos.mean()), float(np.quantile(cos, 0.01)), float(cos.min())],
            }
        )
    import torch

    return {
        "n": len(texts),
        "torch_threads": torch.get_num_threads(),
        "batch_size": batch_size,
        "export_s": export_s,
        "reference": reference,
        "load": load,
        "rows": rows,
    }


def print_speed(result: dict[str, Any]) -> None:
    loads = " → ".join(f"{a[0]:.1f}" for a in result["load"])
    print(
        f"{result['n']:,} texts, torch threads {result['torch_threads']}, load average (1 min) "
        f"at the start and after each round: {loads}"
    )
    print(
        f"| path | texts/s | vs encode (of medians) | per round: median [min, max] "
        f"| CPU s | cosine to {result['reference']} (mean / 1% / min) |"
    )
    print("| --- | ---: | ---: | --- | ---: | --- |")
    for r in result["rows"]:
        cos = "–" if r["cosine"] is None else " / ".join(f"{c:.4f}" for c in r["cosine"])
        rr = r["round_ratios"]
        print(
            f"| {r['backend']} | {r['texts_per_s']:.0f} | {r['vs_encode']:.2f}× "
            f"| {statistics.median(rr):.2f}× [{min(rr):.2f}, {max(rr):.2f}] "
            f"| {r['cpu_s']:.1f} | {cos} |"
        )
    if result["export_s"] is not None:
        print(f"\nONNX export + int8 quantization into a fresh folder: {result['export_s']:.1f} s")


def interval(values: NDArray[np.float64], stat: Any, seed: int = 0) -> tuple[float, float, float]:
    """The statistic and its 95% percentile-bootstrap interval (resampling the rows)."""
    rng = np.random.default_rng(seed)
    picks = rng.integers(0, len(values), size=(BOOTSTRAP, len(values)))
    boot = np.array([stat(values[p]) for p in picks])
    low, high = np.quantile(boot, [0.025, 0.975])
    return float(stat(values)), float(low), float(high)


def small_task_scores(backend: str) -> dict[tuple[str, int, int], dict[str, float]]:
    """Per task of bench/quality.py --small-tasks: (set, size, index) -> scores."""
    rows = json.loads((RESULTS / f"small-tasks-{backend}.json").read_text())
    out = {}
    for row in rows:
        for i, task in enumerate(row["tasks"]):
            out[(row["set"], row["n"], i)] = task
    return out


def stream_efforts(backend: str) -> dict[str, float]:
    data = json.loads((RESULTS / f"effort-{backend}.json").read_text())
    return {s["stream"]: s["total"]["library"]["effort"] for s in data["streams"]}


def decide(backends: list[str]) -> dict[str, Any]:
    """Paired differences to torch, with intervals, for each backend."""
    base_tasks, base_effort = small_task_scores("torch"), stream_efforts("torch")
    out: dict[str, Any] = {}
    for backend in backends:
        tasks, effort = small_task_scores(backend), stream_efforts(backend)
        keys = sorted(base_tasks.keys() & tasks.keys())
        streams = sorted(base_effort.keys() & effort.keys())
        entry: dict[str, Any] = {"tasks": len(keys), "streams": len(streams)}
        for metric in ("f1", "ami"):
            diff = np.array([tasks[k][metric] - base_tasks[k][metric] for k in keys])
            entry[metric] = interval(diff, np.mean)
            entry[f"{metric}_torch"] = statistics.mean(base_tasks[k][metric] for k in keys)
        pairs = np.array([[effort[s], base_effort[s]] for s in streams])
        entry["effort_ratio"] = interval(pairs, lambda p: p[:, 0].sum() / p[:, 1].sum())
        entry["within"] = (
            entry["f1"][2] >= 0 and entry["ami"][2] >= 0 and entry["effort_ratio"][1] <= 1
        )
        out[backend] = entry
    return out


def print_decision(result: dict[str, Any]) -> None:
    print(
        "| backend | small tasks | mean F1 − torch [95%] | mean AMI − torch [95%] "
        "| streams | effort / torch [95%] | within torch's intervals |"
    )
    print("| --- | ---: | --- | --- | ---: | --- | --- |")
    for backend, e in result.items():
        f1, ami, eff = e["f1"], e["ami"], e["effort_ratio"]
        print(
            f"| {backend} | {e['tasks']} | {f1[0]:+.4f} [{f1[1]:+.4f}, {f1[2]:+.4f}] "
            f"| {ami[0]:+.4f} [{ami[1]:+.4f}, {ami[2]:+.4f}] | {e['streams']} "
            f"| {eff[0]:.3f} [{eff[1]:.3f}, {eff[2]:.3f}] | {'yes' if e['within'] else 'no'} |"
        )
    first = next(iter(result.values()))
    print(
        f"\ntorch's own mean over the same tasks: F1 {first['f1_torch']:.4f}, "
        f"AMI {first['ami_torch']:.4f}"
    )


def main() -> None:
    """Measure speed, or decide the default from finished quality and effort runs."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--n", type=int, default=2000)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument(
        "--backends", nargs="+", default=None, help="default: torch, onnx, torch-bf16 if native"
    )
    parser.add_argument(
        "--torch-threads",
        type=int,
        default=None,
        help="torch's intra-op threads (default: torch's own); 1 makes CPU seconds a steady "
        "measure of work on a busy machine",
    )
    parser.add_argument("--decide", nargs="+", metavar="BACKEND", default=None)
    args = parser.parse_args()
    if args.decide:
        decision = decide(args.decide)
        print_decision(decision)
        print(f"\nJSON: {write_json('embed_decision', decision)}")
        return
    if args.torch_threads:
        import torch

        torch.set_num_threads(args.torch_threads)
    backends = args.backends or ["torch", "onnx"] + (["torch-bf16"] if cpu_has_bf16() else [])
    result = speed(args.n, args.batch_size, args.repeats, backends)
    print_speed(result)
    print(f"JSON: {write_json('embed_speed', result)}")


if __name__ == "__main__":
    main()
