"""What one review request costs in the server: SQL statements and CPU, read by read, action by action.

Seeds the run ``bench/load.py`` seeds (pending proposals of ``--notes`` notes, reviewer keys;
``--embed`` also stores a random unit vector per note, so merge suggestions and nearest
categories have centroids to compare, as after a real run) into a fresh SQLite file or the
PostgreSQL database ``axial_cost``, builds the app in this process (no worker) and sends
requests to it through ``httpx.ASGITransport``, in this thread (the sync handlers run inline,
not in a thread pool, so that a profile sees them): the queue, a proposal, and each review action
(move, rename, confirm, split, undo), ``--repeat`` times each, interleaved. For each it prints the
SQL statements per request (counted with a ``before_cursor_execute`` listener) and the median
CPU time (``time.process_time``) and wall time. ``--profile KIND`` writes a cProfile of that request kind to
``bench/results/review-cost-KIND.prof`` and prints its top functions by cumulative time.

    .venv/bin/python bench/review_cost.py [--db sqlite|postgresql] [--proposals 60] [--notes 10]
        [--repeat 30] [--embed] [--profile proposal|queue|move|rename|confirm|split|undo]

Writes bench/results/review-cost-<db>.json. Timings are noisy on a shared machine: read the
statement counts as exact and the milliseconds with the load average printed beside them.
"""

from __future__ import annotations

import argparse
import asyncio
import cProfile
import io
import json
import os
import pstats
import random
import statistics
import sys
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
from sqlalchemy import event, select

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import anyio.to_thread  # noqa: E402
import httpx  # noqa: E402

from bench.load import seed  # noqa: E402
from bench.workers import fresh_database  # noqa: E402
from service.app import create_app  # noqa: E402
from service.settings import Settings  # noqa: E402
from service.storage.db import Database  # noqa: E402
from service.storage.models import Embedding, Note, Run  # noqa: E402

KINDS = ("queue", "proposal", "move", "rename", "confirm", "split", "undo")
MODEL_ID = "bench-random"


class Counter:
    """SQL statements sent on the engine since the last reset."""

    def __init__(self) -> None:
        self.n = 0
        self.statements: list[str] = []

    def __call__(self, _conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        self.n += 1
        self.statements.append(statement.split("\n")[0][:120])


def store_vectors(db_url: str, run_id: int, dim: int = 384) -> None:
    """A random unit vector per note of the run, under the run's model id."""
    database = Database(db_url)
    rng = np.random.default_rng(0)
    with database.transaction() as session:
        run = session.get_one(Run, run_id)
        run.params = {**(run.params or {}), "embedding_model_id": MODEL_ID}
        notes = session.scalars(select(Note).where(Note.project_id == run.project_id)).all()
        for note in notes:
            v = rng.standard_normal(dim).astype(np.float32)
            v /= np.linalg.norm(v)
            session.add(Embedding(model_id=MODEL_ID, text_sha256=note.text_sha256, dim=dim,
                                  vector=v.tobytes()))  # fmt: skip
    database.dispose()


async def _inline(func: Callable[..., Any], *args: Any, **_kwargs: Any) -> Any:
    return func(*args)


class Client:
    """A synchronous client of the app, served in this thread (handlers inline)."""

    def __init__(self, app: Any, headers: dict[str, str]) -> None:
        anyio.to_thread.run_sync = _inline  # type: ignore[assignment]
        self.loop = asyncio.new_event_loop()
        transport = httpx.ASGITransport(app=app)
        self.client = httpx.AsyncClient(
            transport=transport, base_url="http://bench", headers=headers
        )

    def get(self, path: str) -> httpx.Response:
        return self.loop.run_until_complete(self.client.get(path))

    def post(self, path: str, json: dict[str, Any]) -> httpx.Response:
        return self.loop.run_until_complete(self.client.post(path, json=json))

    def close(self) -> None:
        self.loop.run_until_complete(self.client.aclose())
        self.loop.close()


class Requests:
    """One reviewer's requests, each built from a fresh read of the state it acts on."""

    def __init__(self, client: Client, run_id: int, rng: random.Random) -> None:
        self.client, self.run_id, self.rng = client, run_id, rng

    def live(self) -> list[dict[str, Any]]:
        rows = self.client.get(f"/api/v1/runs/{self.run_id}/queue").json()["proposals"]
        return [r for r in rows if r["status"] in ("pending", "confirmed")]

    def pending_state(self, min_size: int = 1) -> dict[str, Any]:
        rows = [r for r in self.live() if r["status"] == "pending" and r["size"] >= min_size]
        pid = self.rng.choice(rows)["proposal_id"]
        return dict(self.client.get(f"/api/v1/proposals/{pid}").json())

    def prepare(self, kind: str) -> Callable[[], Any]:
        """The request of ``kind``, ready to send (its reads done beforehand, not timed)."""
        base = "/api/v1/proposals"
        if kind == "queue":
            return lambda: self.client.get(f"/api/v1/runs/{self.run_id}/queue")
        if kind == "proposal":
            pid = self.rng.choice(self.live())["proposal_id"]
            return lambda: self.client.get(f"{base}/{pid}")
        if kind == "undo":
            return lambda: self.client.post(f"/api/v1/runs/{self.run_id}/undo", json={})
        state = self.pending_state(min_size=2)
        pid, version, members = state["proposal_id"], state["version"], state["member_note_ids"]
        if kind == "move":
            to = self.rng.choice([r for r in self.live() if r["proposal_id"] != pid])
            body = {
                "version": version,
                "note_ids": members[:1],
                "to_proposal_id": to["proposal_id"],
            }
        elif kind == "rename":
            body = {"version": version, "name": f"Kind {self.rng.randrange(10**6)}"}
        elif kind == "confirm":
            body = {"version": version, "into": "new"}
        else:
            body = {"version": version, "groups": [members[:1], members[1:]]}
        return lambda: self.client.post(f"{base}/{pid}/{kind}", json=body)


def measure(args: argparse.Namespace) -> dict[str, Any]:
    if args.db == "postgresql":
        db_url = fresh_database(args.admin_url, "axial_cost")
    else:
        db_url = f"sqlite:///{tempfile.mkdtemp(prefix='axial-cost-')}/cost.db"
    seeded = seed(db_url, args.proposals, args.notes, 1, dim=0)  # --embed stores its own
    if args.embed:
        store_vectors(db_url, seeded["run_id"])
    settings = Settings(database_url=db_url, blind_first=False)
    app = create_app(settings, start_worker=False, warm_up=False)
    counter = Counter()
    event.listen(app.state.services.db.engine, "before_cursor_execute", counter)
    headers = {"Authorization": f"Bearer {seeded['keys'][0]}"}
    samples: dict[str, dict[str, list[float]]] = defaultdict(lambda: defaultdict(list))
    statements: dict[str, list[str]] = {}
    profiler = cProfile.Profile() if args.profile else None
    client = Client(app, headers)
    try:
        reqs = Requests(client, seeded["run_id"], random.Random(args.seed))
        for kind in KINDS:  # one untimed round: the first request builds the route table
            reqs.prepare(kind)()
        for _ in range(args.repeat):
            for kind in KINDS:
                send = reqs.prepare(kind)
                counter.n, counter.statements = 0, []
                cpu, wall = time.process_time(), time.perf_counter()
                if profiler is not None and kind == args.profile:
                    profiler.enable()
                resp = send()
                if profiler is not None and kind == args.profile:
                    profiler.disable()
                cpu, wall = time.process_time() - cpu, time.perf_counter() - wall
                if resp.status_code != 200:
                    raise SystemExit(f"{kind}: {resp.status_code} {resp.text[:300]}")
                samples[kind]["statements"].append(counter.n)
                samples[kind]["cpu_ms"].append(cpu * 1000)
                samples[kind]["wall_ms"].append(wall * 1000)
                statements[kind] = list(counter.statements)
    finally:
        client.close()
    app.state.services.db.dispose()
    out = {
        kind: {
            "statements": int(statistics.median(v["statements"])),
            "statements_max": int(max(v["statements"])),
            "cpu_ms": round(statistics.median(v["cpu_ms"]), 2),
            "wall_ms": round(statistics.median(v["wall_ms"]), 2),
        }
        for kind, v in samples.items()
    }
    if args.verbose:
        for kind in KINDS:
            print(f"\n{kind}:")
            for line in statements[kind]:
                print("   ", line)
    if profiler is not None:
        path = REPO / "bench" / "results" / f"review-cost-{args.profile}.prof"
        path.parent.mkdir(exist_ok=True)
        profiler.dump_stats(path)
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("cumulative").print_stats(args.top)
        print(text.getvalue())
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--db", choices=("sqlite", "postgresql"), default="sqlite")
    parser.add_argument("--proposals", type=int, default=60)
    parser.add_argument("--notes", type=int, default=10, help="notes per proposal")
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--embed", action="store_true", help="store a vector per note")
    parser.add_argument("--profile", choices=KINDS)
    parser.add_argument("--top", type=int, default=40)
    parser.add_argument("--verbose", action="store_true", help="print each kind's statements")
    parser.add_argument(
        "--admin-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/postgres"
    )
    args = parser.parse_args()
    load_start = [round(x, 2) for x in os.getloadavg()]
    result = measure(args)
    load_end = [round(x, 2) for x in os.getloadavg()]
    print(f"\n{args.db}, {args.proposals} proposals x {args.notes} notes, embeddings "
          f"{'yes' if args.embed else 'no'}; load average {load_start} -> {load_end}")  # fmt: skip
    print(
        "\n| request | SQL statements | CPU ms (median) | wall ms (median) |\n|---|---:|---:|---:|"
    )
    for kind, row in result.items():
        print(f"| {kind} | {row['statements']} | {row['cpu_ms']} | {row['wall_ms']} |")
    out = REPO / "bench" / "results" / f"review-cost-{args.db}.json"
    out.parent.mkdir(exist_ok=True)
    payload = {"args": vars(args), "load_average": [load_start, load_end], "requests": result}
    out.write_text(json.dumps(payload, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
