"""Concurrent reviewers (issue #15): no 5xx, no deadlock, rebuild exclusive and idempotent, and
the incremental state after actions and undos under concurrency equals a full rebuild.

Small on purpose (8 reviewers for about two seconds); ``bench/load.py`` is the long run against
a real server.
"""

from __future__ import annotations

import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, func, select, text
from sqlalchemy.orm import Session

from service import review
from service.auth import Principal, Role, create_key
from service.review import projection
from service.storage.db import Database, is_retryable, retrying
from service.storage.models import Project, ProposalState, ReviewEvent
from tests.conftest import auth
from tests.review_ui.seed import SeededRun, seed_run
from tests.service.test_projection import snapshot

REVIEWERS = 8
SECONDS = 1.5
CAP_SECONDS = 30.0  # on a busy machine: go on past SECONDS until an undo has gone through


def _keys(db: Database, project_id: int) -> list[str]:
    with db.transaction() as session:
        project = session.get_one(Project, project_id)
        return [create_key(session, project, Role.reviewer, f"r{i}") for i in range(REVIEWERS)]


def _intent(rng: random.Random, state: dict[str, Any], others: list[int]) -> tuple[str, dict]:
    pid, members, version = state["proposal_id"], state["member_note_ids"], state["version"]
    action = rng.choice(["move", "move", "rename", "confirm", "split"])
    if state["status"] != "pending" or len(members) < 2:
        action = "move" if len(members) >= 2 and others else "rename"
    body: dict[str, Any] = {"version": version}
    if action == "move" and others:
        body |= {"note_ids": members[:1], "to_proposal_id": rng.choice(others)}
    elif action == "split":
        body |= {"groups": [members[:1], members[1:]]}
    elif action == "confirm":
        body |= {"into": "new"}
    else:
        action, body = "rename", body | {"name": f"Name {rng.randrange(10**6)}"}
    return f"/api/v1/proposals/{pid}/{action}", body


def _review(
    client: TestClient, key: str, run_id: int, seed: int, until: float, undone: threading.Event
) -> Counter[int]:
    """One reviewer: act on a random live proposal of the run, or undo; statuses seen.

    Acts until ``until``, and past it (up to ``CAP_SECONDS``) until some reviewer's undo has
    gone through (``undone``): on a loaded machine 1.5 s may hold too few actions for one."""
    rng, seen = random.Random(seed), Counter[int]()
    cap = until - SECONDS + CAP_SECONDS
    while time.monotonic() < until or (not undone.is_set() and time.monotonic() < cap):
        if rng.random() < 0.25:
            status = client.post(f"/api/v1/runs/{run_id}/undo", headers=auth(key)).status_code
            seen[status] += 1
            if status == 200:
                undone.set()
            continue
        rows = client.get(f"/api/v1/runs/{run_id}/queue", headers=auth(key)).json()["proposals"]
        live = [r["proposal_id"] for r in rows if r["status"] in ("pending", "confirmed")]
        if not live:
            continue
        pid = rng.choice(live)
        state = client.get(f"/api/v1/proposals/{pid}", headers=auth(key)).json()
        if "member_note_ids" not in state:
            continue  # gone since the queue was read (an undone split's child)
        path, body = _intent(rng, state, [p for p in live if p != pid])
        status = client.post(path, json=body, headers=auth(key)).status_code
        seen[status] += 1
        if status == 200 and rng.random() < 0.5:  # a second thought, before others build on it
            status = client.post(f"/api/v1/runs/{run_id}/undo", headers=auth(key)).status_code
            seen[status] += 1
            if status == 200:
                undone.set()
    return seen


def test_concurrent_reviewers_leave_what_a_rebuild_makes(client: TestClient, app: Any) -> None:
    db: Database = app.state.services.db
    with db.transaction() as session:
        seeded: SeededRun = seed_run(session)
    keys = _keys(db, seeded.project_id)
    until = time.monotonic() + SECONDS
    undone = threading.Event()
    results: list[Counter[int]] = []
    threads = [
        threading.Thread(
            target=lambda k=key, i=i: results.append(
                _review(client, k, seeded.run_id, i, until, undone)
            )
        )
        for i, key in enumerate(keys)
    ]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = sum(results, Counter[int]())
    assert len(results) == REVIEWERS
    assert not [s for s in statuses if s >= 500], statuses
    assert statuses[200] > 0 and set(statuses) <= {200, 404, 409, 422}, statuses
    with db.transaction() as session:
        undone = session.scalar(select(func.count()).where(ReviewEvent.action == "revert"))
        assert undone, "no undo went through: the comparison below would not test undo"
        incremental = snapshot(session, seeded.project_id)
    with db.transaction() as session:
        projection.rebuild(session, seeded.project_id)
    with db.transaction() as session:
        assert snapshot(session, seeded.project_id) == incremental


def test_concurrent_rebuilds_leave_the_versions_one_leaves(client: TestClient, app: Any) -> None:
    db: Database = app.state.services.db
    with db.transaction() as session:
        seeded = seed_run(session)
        project = session.get_one(Project, seeded.project_id)
        lead = create_key(session, project, Role.lead, "lead")
    big, mid, _ = seeded.proposals
    for path, body in [
        (f"/api/v1/proposals/{big}/rename", {"version": 1, "name": "Refunds"}),
        (f"/api/v1/proposals/{mid}/move", {"version": 1, "note_ids": seeded.members[mid][:1],
                                           "to_proposal_id": big}),
        (f"/api/v1/proposals/{mid}/confirm", {"version": 2, "into": "new"}),
        (f"/api/v1/runs/{seeded.run_id}/undo", {}),
    ]:  # fmt: skip
        assert client.post(path, json=body, headers=auth(lead)).status_code == 200
    with db.transaction() as session:
        once = snapshot(session, seeded.project_id)
    codes: list[int] = []

    def rebuild() -> None:
        codes.append(client.post("/api/v1/projects/demo/rebuild", headers=auth(lead)).status_code)

    threads = [threading.Thread(target=rebuild) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert codes == [200] * 4
    with db.transaction() as session:
        assert snapshot(session, seeded.project_id) == once  # versions 3 and 4, as before


@pytest.mark.parametrize("db_url", ["postgresql"], indirect=True)  # SQLite: one writer
def test_a_real_deadlock_is_retryable_and_retried(db_url: str) -> None:
    """Two transactions locking two rows in opposite orders: PostgreSQL kills one (40P01),
    :func:`is_retryable` recognises it and :func:`retrying` runs it again to success."""
    engine = create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE pair (id int primary key, n int)"))
        conn.execute(text("INSERT INTO pair VALUES (1, 0), (2, 0)"))
    barrier, failures, attempts = threading.Barrier(2), [], Counter[str]()

    def cross(name: str, first: int, second: int) -> None:
        attempts[name] += 1
        with engine.begin() as conn:
            conn.execute(text("UPDATE pair SET n = n + 1 WHERE id = :i"), {"i": first})
            if attempts[name] == 1:
                barrier.wait()
            conn.execute(text("UPDATE pair SET n = n + 1 WHERE id = :i"), {"i": second})

    def run(name: str, first: int, second: int) -> None:
        try:
            retrying(lambda: cross(name, first, second))
        except Exception as exc:  # pragma: no cover - the assertion below reports it
            failures.append(exc)

    threads = [threading.Thread(target=run, args=a) for a in (("a", 1, 2), ("b", 2, 1))]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert failures == []
    assert sorted(attempts.values()) == [1, 2]  # the deadlock victim ran twice
    with engine.begin() as conn:
        assert conn.execute(text("SELECT sum(n) FROM pair")).scalar_one() == 4
    engine.dispose()
    assert not is_retryable(ValueError("not a database error"))


def test_every_action_undone_by_its_inverse_equals_a_rebuild(app: Any) -> None:
    """Each kind of action, then its undo: the inverse leaves what a rebuild leaves, and what
    the proposals and notes were before the action (versions aside: they only grow)."""
    db: Database = app.state.services.db
    with db.transaction() as session:
        s = seed_run(session)
    ann = Principal(name="ann", kind="user", roles={s.project_id: Role.reviewer})
    big, mid, small = s.proposals

    def v(pid: int) -> int:
        with db.transaction() as session:
            return session.get_one(ProposalState, pid).version

    with db.transaction() as session:  # kept: a category and a confirmed proposal to move into
        kept = review.confirm(session, ann, mid, 1, into="new").extra["category_id"]
    steps: list[Callable[[Session], object]] = [
        lambda t: review.split(t, ann, big, v(big), list(s.halves)),
        lambda t: review.rename(t, ann, small, v(small), "Language"),
        lambda t: review.confirm(t, ann, small, v(small), into="new"),
        lambda t: review.move(t, ann, big, v(big), s.members[big][:2], to_proposal_id=small),
        lambda t: review.move(t, ann, big, v(big), s.members[big][:1], to_proposal_id=mid),
        lambda t: review.move(t, ann, mid, v(mid), s.members[mid][:1], to_noise=True),
        lambda t: review.merge(t, ann, small, v(small), into_proposal_id=mid),
        lambda t: review.reject(t, ann, big, v(big)),
        lambda t: review.assign(t, ann, s.run_id, s.unclustered[:2], to_category_id=kept),
        lambda t: review.create_category(
            t, ann, "demo", "Odd ones", [s.unclustered[2], s.members[big][0]]
        ),
    ]
    for step in steps:
        with db.transaction() as session:
            before = _unversioned(snapshot(session, s.project_id))
        with db.transaction() as session:
            step(session)
        with db.transaction() as session:
            review.undo(session, ann, s.run_id)
        with db.transaction() as session:
            incremental = snapshot(session, s.project_id)
        assert _unversioned(incremental) == before
        with db.transaction() as session:
            projection.rebuild(session, s.project_id)
        with db.transaction() as session:
            assert snapshot(session, s.project_id) == incremental


def _unversioned(snap: dict[str, Any]) -> dict[str, Any]:
    """A snapshot without versions and last-change columns (an undo bumps them)."""
    return {**snap, "states": [row[:2] + row[3:7] for row in snap["states"]]}
