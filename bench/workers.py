"""Workers as their own processes, on PostgreSQL: one web process, two workers, six runs.

Starts ``axial serve --no-worker`` and two ``axial worker`` processes on a fresh PostgreSQL
database, submits six batches and queues one run over each through the HTTP API (with a lead
key): first a 10,000-note run (banking77), then five of 500 notes. While the runs execute it
times ``GET /api/v1/runs/{id}`` of the big run against the web process, sequentially, tagging each
request with the stage the answer reports; before the workers start and after every run has
finished it times the same request with no run executing. Then it checks that every run was
executed exactly once: one claim per run across both workers' logs, and stored rows that are one
execution's (clusters and proposals = ``n_clusters``, run notes = ``n_notes``).

    .venv/bin/python bench/workers.py [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--db-name axial_bench] [--big 10000] [--small 500] [--gap 0.05]

Heavy: two workers embed and cluster on a 2-core machine for a few minutes. The database named
by ``--db-name`` is dropped and created again. Prints markdown tables (with the load average);
writes bench/results/workers.json.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

import httpx
from sqlalchemy import create_engine, func, select, text

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from service.storage.models import Cluster, Proposal, Run, RunNote  # noqa: E402

TERMINAL = {"succeeded", "failed"}
WORKERS = ("worker-a", "worker-b")


def datasets_dir() -> Path:
    return Path(os.environ.get("AXIAL_DATASETS", REPO.parent / "shared" / "datasets"))


def fresh_database(admin_url: str, name: str) -> str:
    """Drop and create database ``name``; return its URL."""
    admin = create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.execute(text(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))
        conn.execute(text(f'CREATE DATABASE "{name}"'))
    admin.dispose()
    return admin_url.rsplit("/", 1)[0] + f"/{name}"


def axial(db_url: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "service", "--db", db_url, *args]


def env() -> dict[str, str]:
    return {**os.environ, "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def batches(big: int, small: int, n_small: int) -> list[list[dict[str, str]]]:
    """The big batch, then the small ones: disjoint banking77 notes in a seeded order."""
    rows = [
        json.loads(line)
        for line in (datasets_dir() / "banking77" / "notes.jsonl").read_text().splitlines()
    ]
    random.Random(0).shuffle(rows)
    sizes = [big] + [small] * n_small
    if sum(sizes) > len(rows):
        raise SystemExit(f"banking77 has {len(rows)} notes; asked for {sum(sizes)}")
    out, start = [], 0
    for size in sizes:
        out.append(
            [{"text": r["text"], "external_id": r["id"]} for r in rows[start : start + size]]
        )
        start += size
    return out


def wait_ready(client: httpx.Client, proc: subprocess.Popen[bytes], timeout: float = 120) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit("the web process exited; see its log")
        try:
            client.get("/api/v1/projects")
            return
        except httpx.TransportError:
            time.sleep(0.3)
    raise SystemExit("the web process did not start")


def timed_get(client: httpx.Client, path: str) -> tuple[float, dict[str, Any]]:
    started = time.perf_counter()
    resp = client.get(path)
    elapsed = (time.perf_counter() - started) * 1000
    resp.raise_for_status()
    return elapsed, resp.json()


def sample_idle(client: httpx.Client, path: str, n: int, gap: float) -> list[float]:
    out = []
    for _ in range(n):
        out.append(timed_get(client, path)[0])
        time.sleep(gap)
    return out


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def worker_id(log: Path, timeout: float = 120) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        found = re.search(r"^worker (\S+) on ", log.read_text(), flags=re.M)
        if found:
            return found.group(1)
        time.sleep(0.2)
    raise SystemExit(f"no worker id in {log}")


def stored_counts(db_url: str, run_ids: list[int]) -> dict[int, dict[str, Any]]:
    """Per run: its worker and the rows its execution stored (read straight from the database)."""
    engine = create_engine(db_url)
    out: dict[int, dict[str, Any]] = {}
    with engine.connect() as conn:
        for run_id in run_ids:
            run = conn.execute(select(Run).where(Run.id == run_id)).one()
            out[run_id] = {
                "worker": run.worker,
                "n_notes": run.n_notes,
                "n_clusters": run.n_clusters,
                "clusters": conn.scalar(
                    select(func.count()).select_from(Cluster).where(Cluster.run_id == run_id)
                ),
                "proposals": conn.scalar(
                    select(func.count()).select_from(Proposal).where(Proposal.run_id == run_id)
                ),
                "run_notes": conn.scalar(
                    select(func.count()).select_from(RunNote).where(RunNote.run_id == run_id)
                ),
            }
    engine.dispose()
    return out


def seconds(run: dict[str, Any], start: str, end: str) -> float:
    from datetime import datetime

    return (datetime.fromisoformat(run[end]) - datetime.fromisoformat(run[start])).total_seconds()


class Scenario:
    """The processes of one bench run: a web process, then two workers, and their logs."""

    def __init__(self, db_url: str, key: str, gap: float) -> None:
        self.db_url, self.gap = db_url, gap
        self.logs = Path(tempfile.mkdtemp(prefix="axial-workers-"))
        self.port = free_port()
        self.procs: dict[str, subprocess.Popen[bytes]] = {}
        self.client = httpx.Client(
            base_url=f"http://127.0.0.1:{self.port}",
            headers={"Authorization": f"Bearer {key}"},
            timeout=60,
        )
        self.worker_ids: dict[str, str] = {}

    def spawn(self, name: str, *args: str) -> subprocess.Popen[bytes]:
        self.procs[name] = subprocess.Popen(
            axial(self.db_url, *args),
            env=env(),
            stdout=subprocess.DEVNULL,
            stderr=(self.logs / f"{name}.log").open("wb"),
        )
        return self.procs[name]

    def serve(self) -> None:
        wait_ready(self.client, self.spawn("web", "serve", "--no-worker", "--port", str(self.port)))

    def queue(self, notes_per_batch: list[list[dict[str, str]]]) -> list[int]:
        """One batch and one run over it per list of notes, through the API."""
        run_ids = []
        for notes in notes_per_batch:
            made = self.client.post("/api/v1/projects/bench/batches", json={"notes": notes})
            made.raise_for_status()
            run = self.client.post(
                "/api/v1/projects/bench/runs", json={"batch_id": made.json()["id"]}
            )
            run.raise_for_status()
            run_ids.append(int(run.json()["id"]))
        return run_ids

    def start_workers(self) -> None:
        for name in WORKERS:
            self.spawn(name, "worker")
        self.worker_ids = {name: worker_id(self.logs / f"{name}.log") for name in WORKERS}

    def watch(self, run_ids: list[int]) -> tuple[dict[str, list[float]], dict[int, Any], float]:
        """Time GETs of the first run until every run is done; samples by its stage."""
        started, last_poll = time.monotonic(), 0.0
        by_stage: dict[str, list[float]] = {}
        status: dict[int, dict[str, Any]] = {}
        while True:
            elapsed, big = timed_get(self.client, f"/api/v1/runs/{run_ids[0]}")
            if big["status"] == "running":
                by_stage.setdefault(big["stage"], []).append(elapsed)
            if time.monotonic() - last_poll > 2:
                last_poll = time.monotonic()
                listed = self.client.get("/api/v1/projects/bench/runs").json()
                status = {r["id"]: r for r in listed if r["id"] in run_ids}
                states = dict(Counter(r["status"] for r in status.values()))
                print(f"# {last_poll - started:5.0f} s: {states}, load {os.getloadavg()[0]:.1f}")
                if len(status) == len(run_ids) and all(
                    r["status"] in TERMINAL for r in status.values()
                ):
                    return by_stage, status, time.monotonic() - started
            time.sleep(self.gap)

    def stop_workers(self) -> dict[str, int]:
        for name in WORKERS:
            self.procs[name].send_signal(signal.SIGTERM)
        return {name: self.procs[name].wait(60) for name in WORKERS}

    def claims(self) -> Counter[int]:
        """How often each run was claimed, from both workers' logs."""
        found: Counter[int] = Counter()
        for name in WORKERS:
            log = (self.logs / f"{name}.log").read_text()
            found.update(int(m) for m in re.findall(r"claimed run (\d+)", log))
        return found

    def close(self) -> None:
        for proc in self.procs.values():
            if proc.poll() is None:
                proc.terminate()
                proc.wait(30)


def report(
    samples: dict[str, list[float]],
    load: dict[str, tuple[float, float, float]],
    runs: dict[int, dict[str, Any]],
    worker_names: dict[str, str],
) -> None:
    print(
        f"\nLoad average (1 / 5 / 15 min): at the start {fmt_load(load['start'])}, after the "
        f"idle timing {fmt_load(load['idle'])}, when every run had finished "
        f"{fmt_load(load['busy'])}, at the end {fmt_load(load['end'])}.\n"
    )
    print("| web process: GET /api/v1/runs/{id} | requests | p50 ms | p95 ms | max ms |")
    print("|---|---:|---:|---:|---:|")
    for label, values in samples.items():
        print(
            f"| {label} | {len(values)} | {percentile(values, 0.5):.1f} "
            f"| {percentile(values, 0.95):.1f} | {max(values):.1f} |"
        )
    print(
        "\n| run | notes | worker | claims in the logs | clusters / proposals / n_clusters "
        "| run notes / n_notes | queued → started s | started → finished s | status |"
    )
    print("|---:|---:|---|---:|---|---|---:|---:|---|")
    for run_id, r in runs.items():
        print(
            f"| {run_id} | {r['n_notes']:,} | {worker_names.get(r['worker'], r['worker'])} "
            f"| {r['claims']} | {r['clusters']} / {r['proposals']} / {r['n_clusters']} "
            f"| {r['run_notes']:,} / {r['n_notes']:,} "
            f"| {seconds(r, 'created_at', 'started_at'):.0f} "
            f"| {seconds(r, 'started_at', 'finished_at'):.0f} | {r['status']} |"
        )


def executed_once(run: dict[str, Any]) -> bool:
    """One claim, success, and exactly one execution's rows stored."""
    return bool(
        run["claims"] == 1
        and run["status"] == "succeeded"
        and run["clusters"] == run["proposals"] == run["n_clusters"]
        and run["run_notes"] == run["n_notes"]
    )


def fmt_load(values: tuple[float, float, float]) -> str:
    return " / ".join(f"{v:.1f}" for v in values)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--db-name", default="axial_bench")
    parser.add_argument("--big", type=int, default=10_000)
    parser.add_argument("--small", type=int, default=500)
    parser.add_argument("--n-small", type=int, default=5)
    parser.add_argument("--idle", type=int, default=200, help="requests per idle timing")
    parser.add_argument("--gap", type=float, default=0.05, help="seconds between requests")
    args = parser.parse_args()

    load = {"start": os.getloadavg()}
    db_url = fresh_database(args.admin_url, args.db_name)
    subprocess.run(axial(db_url, "db", "upgrade"), env=env(), check=True, capture_output=True)
    key = subprocess.run(
        axial(db_url, "keys", "create", "--project", "bench", "--role", "lead"),
        env=env(),
        check=True,
        capture_output=True,
        text=True,
    ).stdout.strip()
    scenario = Scenario(db_url, key, args.gap)
    print(f"# database {args.db_name}; logs in {scenario.logs}", flush=True)
    try:
        scenario.serve()
        run_ids = scenario.queue(batches(args.big, args.small, args.n_small))
        big_path = f"/api/v1/runs/{run_ids[0]}"
        print(f"# {len(run_ids)} runs queued; timing GET {big_path}", flush=True)
        samples = {
            "idle, no worker running": sample_idle(scenario.client, big_path, args.idle, args.gap)
        }
        load["idle"] = os.getloadavg()
        scenario.start_workers()
        by_stage, status, all_done_s = scenario.watch(run_ids)
        load["busy"] = os.getloadavg()
        big = f"{args.big:,}-note run"
        for stage, doing in (("embed", "embedding"), ("cluster", "clustering")):
            if stage in by_stage:
                samples[f"{big} {doing}, 2 workers busy"] = by_stage[stage]
        samples["idle, 2 workers polling"] = sample_idle(
            scenario.client, big_path, args.idle, args.gap
        )
        load["end"] = os.getloadavg()
        exits = scenario.stop_workers()
    finally:
        scenario.close()

    claims = scenario.claims()
    stored = stored_counts(db_url, run_ids)
    runs = {r: {**status[r], **stored[r], "claims": claims[r]} for r in run_ids}
    names = {v: k for k, v in scenario.worker_ids.items()}
    report(samples, load, runs, names)
    once = all(executed_once(r) for r in runs.values())
    print(
        f"\nEvery run executed exactly once: {'yes' if once else 'NO'}. The {len(run_ids)} runs "
        f"finished {all_done_s:.0f} s after the workers started (their warm-up included); on "
        f"SIGTERM the workers exited with {exits}."
    )
    out = REPO / "bench" / "results"
    out.mkdir(parents=True, exist_ok=True)
    (out / "workers.json").write_text(
        json.dumps(
            {
                "load": load,
                "samples_ms": samples,
                "runs": runs,
                "workers": scenario.worker_ids,
                "exactly_once": once,
            },
            indent=2,
            default=str,
        )
    )
    if not once:
        raise SystemExit(1)


if __name__ == "__main__":
    main()
