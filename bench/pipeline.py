"""Side by side, in one script: axial from ingest to proposals against BERTopic's defaults.

For each size (1,000, 10,000 and 50,000 distinct notes, drawn with a fixed seed from banking77,
clinc150 and stackoverflow_titles together), every measurement is a fresh process (cold: its
imports, model load and numba compiles included) whose peak RSS is read with ``wait4``:

- **BERTopic's defaults**: ``SentenceTransformer("all-MiniLM-L6-v2").encode(texts,
  batch_size=64)``, then ``BERTopic().fit_transform(texts, embeddings)``: seconds to import and
  load, to embed, to fit.
- **axial**, per embedding backend (the default, and torch): ``axial ingest notes.jsonl`` then
  ``axial run --json`` on a fresh SQLite file (embedding cache cold), then ``axial run --json``
  again over the same notes (cache warm); the run's own stage seconds beside each process's
  wall time.

Then, once: **the weekly batch** (100 new notes a week through the HTTP API of an app whose
worker is warm: seconds from ``POST …/runs`` to its proposals read back; and the first run of a
worker started without warm-up), and **the CLI's start** (median wall time of five fresh
``axial`` processes per read-only command, wall and CPU seconds; ``--cli-only`` measures
only this, on a file of 1,000 notes and one run). Ratios are within this one run of the script; the
load average is printed beside the figures.

    .venv/bin/python bench/pipeline.py [--sizes 1000 10000 50000] [--backends onnx torch]

Prints markdown tables; writes bench/results/pipeline.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
SETS = ("banking77", "clinc150", "stackoverflow_titles")
ENV = {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
CLI = [sys.executable, "-m", "service"]


def load_texts(datasets: Path, n: int) -> list[str]:
    """n distinct texts of the three large sets, in a seeded random order."""
    pool: dict[str, None] = {}
    for name in SETS:
        with (datasets / name / "notes.jsonl").open() as fh:
            pool.update((json.loads(line)["text"].strip(), None) for line in fh if line.strip())
    texts = sorted(t for t in pool if t)
    random.Random(0).shuffle(texts)
    if n > len(texts):
        raise SystemExit(f"only {len(texts)} distinct texts; ask for fewer")
    return texts[:n]


def measured(cmd: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    """Run a process to the end: its wall seconds, peak RSS (MB), exit code and stdout."""
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        t0 = time.perf_counter()
        proc = subprocess.Popen(cmd, cwd=REPO, env=env or ENV, stdout=out, stderr=err, text=True)
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - t0
        proc.returncode = os.waitstatus_to_exitcode(status)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read(), err.read()
    if proc.returncode not in (0, 2):
        raise RuntimeError(f"{' '.join(cmd[:6])} failed ({proc.returncode}):\n{stderr[-3000:]}")
    return {
        "wall_s": wall,
        "cpu_s": usage.ru_utime + usage.ru_stime,
        "rss_mb": usage.ru_maxrss / 1024,
        "code": proc.returncode,
        "out": stdout,
    }


def bertopic_child(path: Path) -> None:
    """In the child: BERTopic's defaults on the texts of ``path``; prints the seconds as JSON."""
    t0 = time.perf_counter()
    from bertopic import BERTopic
    from sentence_transformers import SentenceTransformer

    from clustering.embedder import resolve_model_path

    model = SentenceTransformer(resolve_model_path("all-MiniLM-L6-v2"), device="cpu")
    load_s = time.perf_counter() - t0
    texts = [json.loads(line)["text"] for line in path.read_text().splitlines()]
    t0 = time.perf_counter()
    embeddings = model.encode(texts, batch_size=64, show_progress_bar=False)
    embed_s = time.perf_counter() - t0
    t0 = time.perf_counter()
    topics, _ = BERTopic().fit_transform(texts, embeddings)
    fit_s = time.perf_counter() - t0
    clusters = len({t for t in topics if t >= 0})
    unclustered = sum(1 for t in topics if t < 0)
    print(json.dumps({"load_s": load_s, "embed_s": embed_s, "fit_s": fit_s,
                      "clusters": clusters, "unclustered": unclustered}))  # fmt: skip


def run_bertopic(path: Path) -> dict[str, Any]:
    proc = measured([sys.executable, __file__, "--bertopic-child", str(path)])
    return {**json.loads(proc["out"].strip().splitlines()[-1]), **_without_out(proc)}


def _without_out(proc: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in proc.items() if k not in ("out", "code")}


def run_axial(path: Path, backend: str, workdir: Path) -> dict[str, Any]:
    """Ingest, a cold run, a warm run: each an ``axial`` process on a fresh SQLite file."""
    db = ["--db", f"sqlite:///{workdir / f'axial-{backend}.db'}"]
    env = {**ENV, "AXIAL_EMBEDDING_BACKEND": backend}
    out: dict[str, Any] = {"backend": backend}
    out["ingest"] = _without_out(measured([*CLI, *db, "ingest", str(path), "-p", "bench"], env))
    for label in ("cold", "warm"):
        proc = measured([*CLI, *db, "run", "-p", "bench", "--json"], env)
        body = json.loads(proc["out"][proc["out"].index("{") :])
        run = body["run"]
        if run["status"] != "succeeded":
            raise RuntimeError(f"axial run failed: {run['error']}")
        out[label] = {
            **_without_out(proc),
            "timings": run["timings"],
            "clusters": run["n_clusters"],
            "unclustered": run["n_unclustered"],
        }
    return out


def weekly_child(backend: str, warm: bool, weeks: int) -> None:
    """In the child: weeks of 100 new notes through the API of an app with a worker thread."""
    sys.path.insert(0, str(REPO))
    from fastapi.testclient import TestClient

    from service.app import create_app
    from service.auth import Role, create_key
    from service.notes.batches import get_or_create_project
    from service.settings import Settings

    texts = load_texts(Path(os.environ["AXIAL_DATASETS"]), 100 * weeks)
    with tempfile.TemporaryDirectory() as tmp:
        settings = Settings(
            database_url=f"sqlite:///{tmp}/weekly.db",
            embedding_backend=backend,  # type: ignore[arg-type]
            session_secret="bench",
        )
        t0 = time.perf_counter()
        app = create_app(settings, warm_up=warm)
        with TestClient(app) as client:
            app.state.worker.ready.wait()
            ready_s = time.perf_counter() - t0
            with app.state.services.db.transaction() as session:
                key = create_key(session, get_or_create_project(session, "w"), Role.lead, "b")
            headers = {"Authorization": f"Bearer {key}"}
            seconds = []
            for week in range(weeks):
                notes = [{"text": t} for t in texts[week * 100 : (week + 1) * 100]]
                batch = client.post("/api/v1/projects/w/batches", json={"notes": notes},
                                    headers=headers).json()  # fmt: skip
                t1 = time.perf_counter()
                run_id = client.post("/api/v1/projects/w/runs", json={"batch_id": batch["id"]},
                                     headers=headers).json()["id"]  # fmt: skip
                while client.get(f"/api/v1/runs/{run_id}", headers=headers).json()["status"] in (
                    "queued",
                    "running",
                ):
                    time.sleep(0.01)
                proposals = client.get(f"/api/v1/runs/{run_id}/proposals", headers=headers)
                assert proposals.status_code == 200, proposals.text
                seconds.append(time.perf_counter() - t1)
        print(json.dumps({"ready_s": ready_s, "warm_up_s": app.state.worker.warm_up_s,
                          "weeks_s": seconds}))  # fmt: skip


def run_weekly(backend: str, warm: bool, weeks: int, datasets: Path) -> dict[str, Any]:
    args = ["--weekly-child", backend, "--warm" if warm else "--no-warm", "--weeks", str(weeks)]
    env = {**ENV, "AXIAL_DATASETS": str(datasets)}
    proc = measured([sys.executable, __file__, *args], env)
    return {**json.loads(proc["out"].strip().splitlines()[-1]), **_without_out(proc)}


def cli_starts(workdir: Path, backend: str) -> dict[str, dict[str, float]]:
    """Median wall and CPU seconds of five fresh ``axial`` processes per database-only command.

    CPU seconds (user + system, from ``wait4``) move less than wall time when the machine is
    busy; both are reported.
    """
    db = ["--db", f"sqlite:///{workdir / f'axial-{backend}.db'}"]
    commands = {
        "axial --help": ["--help"],
        "axial db upgrade": [*db, "db", "upgrade"],
        "axial categories": [*db, "categories", "-p", "bench"],
        "axial keys create": [*db, "keys", "create", "-p", "bench", "--role", "client"],
        "axial users add": [*db, "users", "add", "ana", "-p", "bench", "--password", "pw"],
        "axial export": [*db, "export", "-p", "bench", "--category", "1"],
    }
    found: dict[str, dict[str, float]] = {}
    for name, args in commands.items():
        runs = [measured([*CLI, *args]) for _ in range(5)]
        found[name] = {
            "wall_s": statistics.median(r["wall_s"] for r in runs),
            "cpu_s": statistics.median(r["cpu_s"] for r in runs),
        }
    return found


def cli_only(datasets: Path, backend: str) -> dict[str, dict[str, float]]:
    """The CLI's start alone: a SQLite file with 1,000 notes and one run, then the commands."""
    with tempfile.TemporaryDirectory() as tmp:
        workdir = Path(tmp)
        path = workdir / "notes.jsonl"
        path.write_text("".join(json.dumps({"text": t}) + "\n" for t in load_texts(datasets, 1000)))
        db = ["--db", f"sqlite:///{workdir / f'axial-{backend}.db'}"]
        env = {**ENV, "AXIAL_EMBEDDING_BACKEND": backend}
        measured([*CLI, *db, "ingest", str(path), "-p", "bench"], env)
        measured([*CLI, *db, "run", "-p", "bench", "--json"], env)
        return cli_starts(workdir, backend)


def loadavg() -> str:
    return " / ".join(f"{x:.1f}" for x in os.getloadavg())


def axial_row(n: int, r: dict[str, Any], label: str) -> str:
    run, t = r[label], r[label]["timings"]
    stages = sum(t.get(k, 0.0) for k in ("load", "embed", "match", "cluster", "judge", "store"))
    end_to_end = r["ingest"]["wall_s"] + run["wall_s"]
    cells = [
        f"{r['ingest']['wall_s']:.1f}",
        f"{run['wall_s'] - stages:.1f}",
        f"{t.get('embed', 0):.1f}",
        f"{t.get('cluster', 0):.1f}",
        f"{t.get('load', 0) + t.get('match', 0) + t.get('judge', 0) + t.get('store', 0):.1f}",
        f"{end_to_end:.1f}",
        f"{max(run['rss_mb'], r['ingest']['rss_mb']):.0f}",
        f"{run['clusters']}",
        f"{run['unclustered']}",
    ]
    return f"| {n:,} | axial {r['backend']}, cache {label} | " + " | ".join(cells) + " |"


def bertopic_row(n: int, b: dict[str, Any]) -> str:
    start = b["wall_s"] - b["embed_s"] - b["fit_s"]
    cells = ["–", f"{start:.1f}", f"{b['embed_s']:.1f}", f"{b['fit_s']:.1f}", "–"]
    cells += [f"{b['wall_s']:.1f}", f"{b['rss_mb']:.0f}", f"{b['clusters']}", f"{b['unclustered']}"]
    return f"| {n:,} | BERTopic defaults | " + " | ".join(cells) + " |"


def ratio_rows(size: dict[str, Any]) -> list[str]:
    b = size["bertopic"]
    embed_fit = b["embed_s"] + b["fit_s"]
    rows = []
    for r in size["axial"]:
        cold = r["ingest"]["wall_s"] + r["cold"]["wall_s"]
        warm = r["ingest"]["wall_s"] + r["warm"]["wall_s"]
        rows.append(
            f"| {size['n']:,} | {r['backend']} | {b['embed_s'] / r['cold']['timings']['embed']:.2f}× "
            f"| {cold / embed_fit:.2f} | {cold / b['wall_s']:.2f} | {warm / embed_fit:.2f} "
            f"| {r['cold']['rss_mb'] / b['rss_mb']:.2f} |"
        )
    return rows


def growth(results: list[dict[str, Any]], backend: str) -> str:
    """How time grows with n between consecutive sizes: seconds ∝ n^k."""
    import itertools
    import math

    parts = []
    for a, b in itertools.pairwise(results):
        ra = next(r for r in a["axial"] if r["backend"] == backend)
        rb = next(r for r in b["axial"] if r["backend"] == backend)
        k_axial = math.log(
            (rb["ingest"]["wall_s"] + rb["cold"]["wall_s"])
            / (ra["ingest"]["wall_s"] + ra["cold"]["wall_s"])
        ) / math.log(b["n"] / a["n"])
        k_bt = math.log(b["bertopic"]["wall_s"] / a["bertopic"]["wall_s"]) / math.log(
            b["n"] / a["n"]
        )
        parts.append(
            f"{a['n']:,}→{b['n']:,}: axial {backend} n^{k_axial:.2f}, BERTopic n^{k_bt:.2f}"
        )
    return "; ".join(parts)


def report(
    results: list[dict[str, Any]], weekly: list[dict[str, Any]], cli: dict[str, dict[str, float]]
) -> None:
    print(
        "| notes | pipeline | ingest s | start s (imports, load, compile) | embed s "
        "| cluster / fit s | load, match, judge, store s | end to end s | peak RSS MB | clusters "
        "| unclustered |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
    for size in results:
        print(bertopic_row(size["n"], size["bertopic"]))
        for r in size["axial"]:
            print(axial_row(size["n"], r, "cold"))
            print(axial_row(size["n"], r, "warm"))
    print(
        "\n| notes | axial backend | embed stage vs plain encode | cold end to end / BERTopic "
        "embed + fit | cold / BERTopic process | warm / BERTopic embed + fit | peak RSS / "
        "BERTopic |"
    )
    print("|---:|---|---:|---:|---:|---:|---:|")
    for size in results:
        for line in ratio_rows(size):
            print(line)
    if len(results) > 1:
        for backend in (r["backend"] for r in results[0]["axial"]):
            print(f"\nGrowth, end to end cold: {growth(results, backend)}")
    print("\nLoad average (1 / 5 / 15 min) at each measurement:")
    for size in results:
        print(f"- {size['n']:,} notes: {size['load']}")
    if weekly:
        print(
            "\n| weekly batch (100 notes, POST runs → proposals read) | backend | worker ready s "
            "| first run s | later runs: median / max s |"
        )
        print("|---|---|---:|---:|---|")
        for w in weekly:
            later = w["weeks_s"][1:]
            print(
                f"| {'warm worker' if w['warm'] else 'worker without warm-up'} | {w['backend']} "
                f"| {w['ready_s']:.1f} | {w['weeks_s'][0]:.2f} "
                f"| {statistics.median(later):.2f} / {max(later):.2f} |"
            )
    if cli:
        print()
        report_cli(cli)


def report_cli(cli: dict[str, dict[str, float]]) -> None:
    print(f"| command (fresh process), load {loadavg()} | wall s | CPU s |\n|---|---:|---:|")
    for name, seconds in cli.items():
        print(f"| `{name}` | {seconds['wall_s']:.2f} | {seconds['cpu_s']:.2f} |")


def prepare_child(backend: str) -> None:
    """In the child: build the service's embedder and embed one text (the ONNX export, once)."""
    sys.path.insert(0, str(REPO))
    from service.context import build_embedder
    from service.settings import Settings

    settings = Settings(database_url="sqlite://", embedding_backend=backend)  # type: ignore[arg-type]
    build_embedder(settings).embed_batch(["prepare"])


def prepare(backend: str) -> float:
    """Seconds of the one-off preparation of a backend on this machine (ONNX: its export)."""
    return float(measured([sys.executable, __file__, "--prepare-child", backend])["wall_s"])


def default_backend() -> str:
    sys.path.insert(0, str(REPO))
    from service.settings import Settings

    return str(Settings.model_fields["embedding_backend"].default)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--backends", nargs="+", default=None, help="default: the default, torch")
    parser.add_argument("--weeks", type=int, default=6, help="weekly batches of 100 notes")
    parser.add_argument("--no-weekly", action="store_true")
    parser.add_argument("--no-cli", action="store_true")
    parser.add_argument("--cli-only", action="store_true", help="only the CLI's start")
    parser.add_argument(
        "--datasets",
        type=Path,
        default=Path(os.environ.get("AXIAL_DATASETS", REPO.parent / "shared" / "datasets")),
    )
    parser.add_argument("--bertopic-child", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--weekly-child", help=argparse.SUPPRESS)
    parser.add_argument("--prepare-child", help=argparse.SUPPRESS)
    parser.add_argument("--warm", action=argparse.BooleanOptionalAction, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.bertopic_child:
        bertopic_child(args.bertopic_child)
        return
    if args.weekly_child:
        weekly_child(args.weekly_child, bool(args.warm), args.weeks)
        return
    if args.prepare_child:
        prepare_child(args.prepare_child)
        return
    backends = args.backends or list(dict.fromkeys([default_backend(), "torch"]))
    if args.cli_only:
        report_cli(cli_only(args.datasets, backends[0]))
        return
    prepared = {b: prepare(b) for b in backends}  # not in the figures: once per machine
    results: list[dict[str, Any]] = []
    weekly: list[dict[str, Any]] = []
    cli: dict[str, dict[str, float]] = {}
    with tempfile.TemporaryDirectory() as tmp:
        for n in args.sizes:
            workdir = Path(tmp) / str(n)
            workdir.mkdir()
            path = workdir / "notes.jsonl"
            lines = (json.dumps({"text": t}) for t in load_texts(args.datasets, n))
            path.write_text("\n".join(lines) + "\n")
            size: dict[str, Any] = {"n": n, "load": loadavg()}
            print(f"# {n:,} notes, load {size['load']}", file=sys.stderr, flush=True)
            size["bertopic"] = run_bertopic(path)
            size["axial"] = [run_axial(path, b, workdir) for b in backends]
            size["load"] += f" → {loadavg()}"
            results.append(size)
            if not args.no_cli and not cli:
                cli = cli_starts(workdir, backends[0])
        if not args.no_weekly:
            for warm in (True, False):
                w = run_weekly(backends[0], warm, args.weeks, args.datasets)
                weekly.append({**w, "backend": backends[0], "warm": warm})
    report(results, weekly, cli)
    print(
        "\nPrepared before measuring (a process each, once per machine; the ONNX export is "
        "made on the first use ever): " + ", ".join(f"{b} {s:.1f} s" for b, s in prepared.items())
    )
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    payload = {
        "sizes": results,
        "weekly": weekly,
        "cli": cli,
        "prepared_s": prepared,
        "cpus": os.cpu_count(),
    }
    (out / "pipeline.json").write_text(json.dumps(payload, indent=2))
    print("\nJSON: bench/results/pipeline.json")


if __name__ == "__main__":
    main()
