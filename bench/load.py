"""Concurrent reviewers against a real server: no 5xx, no lost update, rebuild equals incremental.

Seeds one finished run (``--proposals`` pending proposals of ``--notes`` notes each, every note
with a stored ``--dim`` vector under the run's embedding model, as a real run has) straight
into a fresh database, starts ``axial serve --no-worker`` on it, and lets ``--reviewers``
threads, each with its own reviewer key, review it through the HTTP API for ``--seconds``:
open a proposal (``GET /proposals/{id}``), then move notes to another proposal, rename,
confirm, split, or undo their last action, in realistic proportions. A 409 ``stale_version``
is retried (up to 3 times) with the version its body names, as the review UI does; any other
409 (already decided, undo blocked) is an honest answer and counted.

Afterwards it checks, straight in the database, that every acknowledged (2xx) action is in the
event log (its ``event_id``, action and actor: no lost update), that a rebuild
(``POST /projects/load/rebuild``, twice at once) leaves the projection exactly as the
incremental state was (claims aside), and prints the answers by status code, p50/p95/p99 of the
review actions (POSTs, whatever their answer: a 409 is an answered action) per action and in
all, and of the acknowledged (2xx) actions alone, the load average at start and end, and the
CPU seconds the server (all its processes) and this process (the reviewers' threads) used.
Each reviewer keeps one keep-alive connection (``http.client``: a fraction of httpx's client
CPU, which shares the machine's cores with the server).

    .venv/bin/python bench/load.py --db sqlite|postgresql [--reviewers 20] [--seconds 60]
        [--think 0] [--admin-url postgresql+psycopg://postgres@127.0.0.1:5432/postgres]
        [--db-name axial_load] [--processes 1]

Exit status 1 when any answer was a 5xx, an acknowledged action is missing from the log, or the
rebuild differs. Writes bench/results/load-<db>.json.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import httpx
import numpy as np
from sqlalchemy import create_engine, select
from sqlalchemy.orm import Session

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

from bench.workers import free_port, fresh_database, percentile, wait_ready  # noqa: E402
from service.auth import Role, create_key  # noqa: E402
from service.review.projection import init_run_states  # noqa: E402
from service.storage.db import Database  # noqa: E402
from service.storage.models import (  # noqa: E402
    Batch,
    Category,
    Embedding,
    Note,
    NoteAssignment,
    Project,
    Proposal,
    ProposalMember,
    ProposalState,
    ReviewEvent,
    Run,
    RunNote,
    utcnow,
)

PROJECT = "load"
# Actions and their weights: mostly moving notes and renaming, as reviewers do.
WEIGHTS = {"move": 40, "rename": 25, "confirm": 10, "split": 10, "undo": 15}
STALE_RETRIES = 3
MODEL_ID = "load-random-vectors"  # the seeded run's embedding model (random vectors)
DIM = 384  # all-MiniLM-L6-v2's


def seed(
    db_url: str, n_proposals: int, n_notes: int, n_reviewers: int, dim: int = DIM
) -> dict[str, Any]:
    """One finished run with pending proposals, plus reviewer keys and a lead key.

    As a real run, it names its embedding model and every note has a stored vector under it
    (``dim`` floats: its proposal's direction plus noise; ``dim=0``: none stored).
    """
    database = Database(db_url)
    database.upgrade()
    with database.transaction() as session:
        project = Project(name=PROJECT)
        session.add(project)
        session.flush()
        batch = Batch(
            project_id=project.id, payload_sha256="0" * 64, source="bench",
            n_received=n_proposals * n_notes, n_stored=n_proposals * n_notes, n_duplicates=0,
        )  # fmt: skip
        session.add(batch)
        session.flush()
        run = Run(
            project_id=project.id, batch_id=batch.id, scope="batch", seed=0,
            params={"embedding_model_id": MODEL_ID},
            config_hash="x" * 64, status="succeeded", stage="done", done=1, total=1,
            n_notes=n_proposals * n_notes, n_clusters=n_proposals, n_unclustered=0,
            judge_id="keyword-not-an-llm", judge_version="kw-1", started_at=utcnow(),
            finished_at=utcnow(),
        )  # fmt: skip
        session.add(run)
        session.flush()
        _seed_proposals(session, project, batch, run, n_proposals, n_notes, dim)
        init_run_states(session, run.id)
        keys = [
            create_key(session, project, Role.reviewer, f"reviewer-{i:02d}")
            for i in range(n_reviewers)
        ]
        lead = create_key(session, project, Role.lead, "lead")
        run_id = run.id
    database.dispose()
    return {"run_id": run_id, "keys": keys, "lead": lead}


def _seed_proposals(
    session: Session,
    project: Project,
    batch: Batch,
    run: Run,
    n_proposals: int,
    n_notes: int,
    dim: int,
) -> None:
    rng = np.random.default_rng(0)
    for label in range(n_proposals):
        notes = []
        centre = rng.standard_normal(dim)
        for j in range(n_notes):
            text = f"failure kind {label} example {j}"
            sha = f"{label:032d}{j:032d}"
            note = Note(
                project_id=project.id, batch_id=batch.id, text=text,
                text_sha256=sha, external_id=f"n{label}-{j}",
            )  # fmt: skip
            if dim:
                vector = (centre + rng.standard_normal(dim)).astype(np.float32)
                vector /= np.linalg.norm(vector)
                session.add(Embedding(model_id=MODEL_ID, text_sha256=sha, dim=dim,
                                      vector=vector.tobytes()))  # fmt: skip
            session.add(note)
            session.flush()
            session.add(RunNote(run_id=run.id, note_id=note.id, cluster_label=label,
                                raw_label=label, probability=0.9))  # fmt: skip
            notes.append(note.id)
        proposal = Proposal(
            run_id=run.id, origin="judge", name=f"Failure kind {label}", definition="",
            keywords=[], judge_id="keyword-not-an-llm", judge_version="kw-1", confidence=0.5,
            misfit_note_ids=[],
        )  # fmt: skip
        session.add(proposal)
        session.flush()
        session.add_all(
            ProposalMember(proposal_id=proposal.id, note_id=n, rank=r) for r, n in enumerate(notes)
        )


@dataclass
class Tally:
    """What the reviewers saw: every answer, the review actions' latencies, acknowledged events."""

    statuses: Counter[int] = field(default_factory=Counter)
    by_action: dict[str, Counter[int]] = field(default_factory=lambda: defaultdict(Counter))
    latencies: dict[str, list[float]] = field(default_factory=lambda: defaultdict(list))
    conflicts: Counter[str] = field(default_factory=Counter)  # 409s by error code
    acked: list[tuple[int, str, str]] = field(default_factory=list)  # event id, action, actor
    acked_ms: list[float] = field(default_factory=list)  # latencies of the 2xx actions alone
    errors: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def answer(self, action: str, resp: Answer, ms: float | None, actor: str) -> None:
        with self.lock:
            self.statuses[resp.status_code] += 1
            self.by_action[action][resp.status_code] += 1
            if ms is not None:
                self.latencies[action].append(ms)
            if resp.status_code == 409:
                self.conflicts[f"{action}: {resp.json().get('error')}"] += 1
            if resp.status_code >= 500 and len(self.errors) < 20:
                self.errors.append(f"{action} {resp.status_code}: {resp.text[:300]}")
            if ms is not None and 200 <= resp.status_code < 300:
                event = resp.json()["event_id"]
                self.acked.append((int(event), "revert" if action == "undo" else action, actor))
                self.acked_ms.append(ms)


@dataclass(frozen=True)
class Answer:
    """A response as the reviewers read it: status, body text, the body as JSON."""

    status_code: int
    text: str

    def json(self) -> Any:
        return json.loads(self.text)


class Connection:
    """One reviewer's keep-alive HTTP/1.1 connection (``http.client``): far less client CPU per
    request than httpx, whose share of the two cores the server would otherwise compete with.
    A request on a connection the server closed is sent again once on a new one."""

    def __init__(self, base: str, headers: dict[str, str], timeout: float = 60) -> None:
        url = urlsplit(base)
        self.host, self.port, self.timeout = url.hostname or "127.0.0.1", url.port, timeout
        self.headers = {**headers, "Content-Type": "application/json"}
        self.conn: http.client.HTTPConnection | None = None

    def request(self, method: str, path: str, body: dict[str, Any] | None = None) -> Answer:
        payload = json.dumps(body).encode() if body is not None else None
        for attempt in range(2):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=self.timeout)
            try:
                self.conn.request(method, path, body=payload, headers=self.headers)
                resp = self.conn.getresponse()
                return Answer(resp.status, resp.read().decode())
            except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
                self.close()
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()
            self.conn = None


class Reviewer:
    """One reviewer's loop: open a proposal of the run, act on it, retry a stale version."""

    def __init__(self, base: str, key: str, name: str, run_id: int, tally: Tally, seed: int):
        self.client = Connection(base, {"Authorization": f"Bearer {key}"})
        self.name, self.run_id, self.tally = name, run_id, tally
        self.rng = random.Random(seed)

    def get(self, path: str) -> Answer:
        resp = self.client.request("GET", path)
        self.tally.answer("read", resp, None, self.name)
        return resp

    def post(self, action: str, path: str, body: dict[str, Any]) -> Answer:
        started = time.perf_counter()
        resp = self.client.request("POST", path, body)
        self.tally.answer(action, resp, (time.perf_counter() - started) * 1000, self.name)
        return resp

    def loop(self, until: float, think_s: float = 0.0) -> None:
        while time.monotonic() < until:
            if think_s:
                time.sleep(self.rng.uniform(0, 2 * think_s))  # reading the proposal
            try:
                self.step()
            except (OSError, http.client.HTTPException) as exc:
                self.client.close()
                with self.tally.lock:
                    self.tally.statuses[-1] += 1
                    if len(self.tally.errors) < 20:
                        self.tally.errors.append(f"transport: {exc!r}")
        self.client.close()

    def step(self) -> None:
        action = self.rng.choices(list(WEIGHTS), weights=list(WEIGHTS.values()))[0]
        if action == "undo":
            self.post("undo", f"/api/v1/runs/{self.run_id}/undo", {})
            return
        queue = self.get(f"/api/v1/runs/{self.run_id}/queue")
        if queue.status_code != 200:
            return
        rows = queue.json()["proposals"]
        live = [r for r in rows if r["status"] in ("pending", "confirmed")]
        pending = [r for r in live if r["status"] == "pending"]
        pool = live if action == "move" else pending
        if not pool:
            return
        row = self.rng.choice(pool)
        detail = self.get(f"/api/v1/proposals/{row['proposal_id']}")
        if detail.status_code != 200:
            return
        state = detail.json()
        others = [r["proposal_id"] for r in live if r["proposal_id"] != state["proposal_id"]]
        for _ in range(STALE_RETRIES + 1):
            request = self.intent(action, state, others)
            if request is None:
                return
            resp = self.post(action, *request)
            if resp.status_code != 409 or resp.json().get("error") != "stale_version":
                return
            state = resp.json()["current"]  # the new state: act on it, as a reviewer would
            if state["status"] not in ("pending", "confirmed"):
                return

    def intent(
        self, action: str, state: dict[str, Any], others: list[int]
    ) -> tuple[str, dict[str, Any]] | None:
        pid, members, version = state["proposal_id"], state["member_note_ids"], state["version"]
        path = f"/api/v1/proposals/{pid}/{action}"
        if action == "move":
            if len(members) < 2 or not others:
                return None
            moved = self.rng.sample(members, self.rng.randint(1, min(3, len(members) - 1)))
            return path, {"version": version, "note_ids": moved,
                          "to_proposal_id": self.rng.choice(others)}  # fmt: skip
        if state["status"] != "pending":
            return None
        if action == "rename":
            return path, {"version": version, "name": f"Kind {self.rng.randrange(10**6)}"}
        if action == "confirm":
            return path, {"version": version, "into": "new"}
        if len(members) < 2:
            return None
        cut = self.rng.randint(1, len(members) - 1)
        return path, {"version": version, "groups": [members[:cut], members[cut:]]}


def projection_snapshot(db_url: str, run_id: int) -> dict[str, Any]:
    """Every projection row of the run's project (claims aside), straight from the database."""
    engine = create_engine(db_url)
    with Session(engine) as session:
        run = session.get_one(Run, run_id)
        cols = ("status", "version", "name", "definition", "category_id", "member_note_ids")
        states = session.scalars(select(ProposalState).order_by(ProposalState.proposal_id))
        cats = session.scalars(
            select(Category).where(Category.project_id == run.project_id).order_by(Category.id)
        )
        notes = session.scalars(
            select(NoteAssignment)
            .where(NoteAssignment.project_id == run.project_id)
            .order_by(NoteAssignment.note_id)
        )
        out = {
            "states": [[s.proposal_id, *(getattr(s, c) for c in cols), s.last_event_id,
                        s.updated_by] for s in states],
            "categories": [[c.id, c.name, c.definition, c.origin, c.status] for c in cats],
            "assignments": [[a.note_id, a.category_id, a.is_noise, a.event_id] for a in notes],
        }  # fmt: skip
    engine.dispose()
    return out


def lost_updates(db_url: str, acked: list[tuple[int, str, str]]) -> list[tuple[int, str, str]]:
    """Acknowledged actions whose event is not in the log (or is another action or actor)."""
    engine = create_engine(db_url)
    with Session(engine) as session:
        logged = {e.id: (e.action, e.actor) for e in session.scalars(select(ReviewEvent)).all()}
    engine.dispose()
    return [a for a in acked if not _logged_as(logged.get(a[0]), a[1], a[2])]


def _logged_as(logged: tuple[str, str] | None, action: str, name: str) -> bool:
    """The event is the action, by the reviewer (``actor`` is the key's name or ``key:<name>``)."""
    return logged is not None and logged[0] == action and logged[1].split(":")[-1] == name


def rebuild_twice(base: str, lead: str) -> list[int]:
    """Two concurrent ``POST /projects/load/rebuild``; their status codes."""
    codes: list[int] = []

    def one() -> None:
        with httpx.Client(base_url=base, timeout=120) as client:
            resp = client.post(
                f"/api/v1/projects/{PROJECT}/rebuild", headers={"Authorization": f"Bearer {lead}"}
            )
            codes.append(resp.status_code)

    threads = [threading.Thread(target=one) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    return codes


def database_url(args: argparse.Namespace) -> str:
    if args.db == "postgresql":
        return fresh_database(args.admin_url, args.db_name)
    return f"sqlite:///{tempfile.mkdtemp(prefix='axial-load-')}/load.db"


def serve(db_url: str, port: int, log: Path, processes: int = 1) -> subprocess.Popen[bytes]:
    env = {**os.environ, "AXIAL_BLIND_FIRST": "false", "HF_HUB_OFFLINE": "1"}
    cmd = [sys.executable, "-m", "service", "--db", db_url, "serve", "--no-worker",
           "--port", str(port), "--processes", str(processes)]  # fmt: skip
    return subprocess.Popen(cmd, env=env, stdout=subprocess.DEVNULL, stderr=log.open("wb"))


def _tree(pid: int) -> list[int]:
    """The process and its descendants (``/proc``)."""
    found, stack = [], [pid]
    while stack:
        current = stack.pop()
        found.append(current)
        for task in Path(f"/proc/{current}/task").glob("*/children"):
            stack.extend(int(c) for c in task.read_text().split())
    return found


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds the processes have used so far (those still there)."""
    ticks = os.sysconf("SC_CLK_TCK")
    total = 0.0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except FileNotFoundError:
            continue
        total += (int(fields[11]) + int(fields[12])) / ticks  # utime, stime
    return total


def summary(tally: Tally, seconds: float) -> dict[str, Any]:
    actions = {a: v for a, v in tally.latencies.items()}
    every = [ms for v in actions.values() for ms in v]

    def pct(values: list[float]) -> dict[str, float | None]:
        return {
            f"p{q}": round(percentile(values, q / 100), 1) if values else None for q in (50, 95, 99)
        }

    return {
        "statuses": dict(sorted(tally.statuses.items())),
        "conflicts": dict(sorted(tally.conflicts.items())),
        "by_action": {a: dict(sorted(c.items())) for a, c in sorted(tally.by_action.items())},
        "actions": {a: {"n": len(v), **pct(v)} for a, v in sorted(actions.items())},
        "all_actions": {"n": len(every), "per_s": round(len(every) / seconds, 1), **pct(every)},
        "acknowledged_actions": {"n": len(tally.acked_ms), **pct(tally.acked_ms)},
    }


def report(args: argparse.Namespace, result: dict[str, Any]) -> None:
    s = result["summary"]
    load = result["load_average"]
    cpu = result["cpu"]
    print(f"\n{args.db}: {args.reviewers} reviewers (think {args.think} s) for {args.seconds:.0f} s; "
          f"load average (1/5/15 min) {load['start']} -> {load['end']}")  # fmt: skip
    print(f"CPU over {cpu['elapsed_s']} s: server {cpu['server_s']} s "
          f"({cpu['server_processes']} processes), this bench process (the reviewers) "
          f"{cpu['bench_s']} s")  # fmt: skip
    print("\n| status | answers |\n|---|---|")
    for code, n in s["statuses"].items():
        print(f"| {code if code != -1 else 'transport error'} | {n} |")
    print(
        "\n| review action | n | p50 ms | p95 ms | p99 ms | answers by status |\n|---|---|---|---|---|---|"
    )
    for action, row in {**s["actions"], "all": s["all_actions"]}.items():
        codes = s["by_action"].get(action, {})
        codes_text = ", ".join(f"{c}: {n}" for c, n in codes.items())
        print(
            f"| {action} | {row['n']} | {row['p50']} | {row['p95']} | {row['p99']} | {codes_text} |"
        )
    acked = s["acknowledged_actions"]
    print(f"\nacknowledged (2xx) actions alone: n {acked['n']}, p50 / p95 / p99 {acked['p50']} / "
          f"{acked['p95']} / {acked['p99']} ms")  # fmt: skip
    print("\n409 answers by action and code:", s["conflicts"])
    print(f"\nacknowledged actions: {result['acked']}, missing from the log: {result['lost']}")
    print(f"rebuild (2 at once): {result['rebuild_codes']}, equals incremental: "
          f"{result['rebuild_equal']}")  # fmt: skip
    for line in result["errors"]:
        print("  ", line)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--reviewers", type=int, default=20)
    parser.add_argument("--seconds", type=float, default=60.0)
    parser.add_argument("--proposals", type=int, default=3)
    parser.add_argument("--notes", type=int, default=30, help="notes per proposal")
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    parser.add_argument("--db-name", default="axial_load")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--processes", type=int, default=1, help="web processes (axial serve --processes N)"
    )
    parser.add_argument(
        "--dim", type=int, default=DIM,
        help="floats per seeded note vector (0: the run names its model but stores no vectors)",
    )  # fmt: skip
    parser.add_argument(
        "--think", type=float, default=0.0,
        help="mean seconds a reviewer pauses before each action (uniform 0..2x; default none)",
    )  # fmt: skip
    args = parser.parse_args()

    db_url = database_url(args)
    seeded = seed(db_url, args.proposals, args.notes, args.reviewers, args.dim)
    port, log = free_port(), Path(tempfile.mkdtemp(prefix="axial-load-log-")) / "web.log"
    base = f"http://127.0.0.1:{port}"
    proc = serve(db_url, port, log, args.processes)
    try:
        with httpx.Client(base_url=base) as probe:
            wait_ready(probe, proc)
        tally = Tally()
        server_pids = _tree(proc.pid)
        server_cpu, bench_cpu = cpu_s(server_pids), sum(os.times()[:2])
        started = time.monotonic()
        load_start = [round(x, 2) for x in os.getloadavg()]
        until = time.monotonic() + args.seconds
        reviewers = [
            Reviewer(base, key, f"reviewer-{i:02d}", seeded["run_id"], tally, args.seed * 1000 + i)
            for i, key in enumerate(seeded["keys"])
        ]
        threads = [threading.Thread(target=r.loop, args=(until, args.think)) for r in reviewers]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        load_end = [round(x, 2) for x in os.getloadavg()]
        elapsed = time.monotonic() - started
        cpu = {
            "server_s": round(cpu_s(server_pids) - server_cpu, 1),
            "bench_s": round(sum(os.times()[:2]) - bench_cpu, 1),
            "elapsed_s": round(elapsed, 1),
            "server_processes": len(server_pids),
        }
        incremental = projection_snapshot(db_url, seeded["run_id"])
        codes = rebuild_twice(base, seeded["lead"])
        rebuilt = projection_snapshot(db_url, seeded["run_id"])
        lost = lost_updates(db_url, tally.acked)
    finally:
        proc.terminate()
        proc.wait(timeout=30)
    result = {
        "db": args.db, "reviewers": args.reviewers, "seconds": args.seconds, "think": args.think, "dim": args.dim,
        "processes": args.processes,
        "load_average": {"start": load_start, "end": load_end}, "cpu": cpu,
        "summary": summary(tally, args.seconds), "acked": len(tally.acked), "lost": len(lost),
        "rebuild_codes": sorted(codes), "rebuild_equal": incremental == rebuilt,
        "errors": tally.errors, "server_log": str(log),
    }  # fmt: skip
    report(args, result)
    suffix = f"-think{args.think:g}" if args.think else ""
    out = REPO / "bench" / "results" / f"load-{args.db}{suffix}.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps(result, indent=2) + "\n")
    failed = (
        any(code >= 500 for code in tally.statuses)
        or lost
        or incremental != rebuilt
        or any(c != 200 for c in codes)
    )
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main())
