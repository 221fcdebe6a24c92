"""SQL statements per review request: a fixed number, whatever the run's size (no N+1).

Reads of the queue and of a proposal, and the actions, are counted with a
``before_cursor_execute`` listener on the app's engine, on a small run and on one four times
its size, with a category confirmed in an earlier run and stored vectors: the counts must be
the same, and stay within what the batched reads send here (issue #15's latency work; on
``bench/review_cost.py``'s 60 proposals of 10 notes the queue went from 19 statements to 9,
a proposal from 29 to 14, a confirm of 10 notes from 36 to 16). Counts, not time: exact on
any machine.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import event

from service.app import create_app
from service.auth import Role, create_key
from service.review.projection import init_run_states
from service.settings import Settings
from service.storage.models import (
    Batch,
    Embedding,
    Note,
    Project,
    Proposal,
    ProposalMember,
    Run,
    RunNote,
    utcnow,
)

MODEL_ID = "test-random-vectors"
# Upper bounds: what the batched reads send (a category or label query more is a regression).
MOST = {"queue": 11, "proposal": 16, "move": 14, "rename": 10, "confirm": 16, "undo": 14}


def seed_run(session: Any, project: Project, n_proposals: int, n_notes: int, seed: int) -> int:
    """A finished run of ``n_proposals`` pending proposals of ``n_notes`` notes, each note with
    a stored unit vector under the run's model."""
    rng = np.random.default_rng(seed)
    total = n_proposals * n_notes
    batch = Batch(
        project_id=project.id, payload_sha256=f"{seed:064d}", source="test", n_received=total,
        n_stored=total, n_duplicates=0,
    )  # fmt: skip
    session.add(batch)
    session.flush()
    run = Run(
        project_id=project.id, batch_id=batch.id, scope="batch", seed=0,
        params={"embedding_model_id": MODEL_ID}, config_hash="x" * 64, status="succeeded",
        stage="done", done=1, total=1, n_notes=total, n_clusters=n_proposals, n_unclustered=0,
        judge_id="keyword-not-an-llm", judge_version="kw-1", started_at=utcnow(),
        finished_at=utcnow(),
    )  # fmt: skip
    session.add(run)
    session.flush()
    for label in range(n_proposals):
        ids = []
        for j in range(n_notes):
            sha = f"{seed:016d}{label:024d}{j:024d}"
            note = Note(project_id=project.id, batch_id=batch.id, text=f"kind {label} note {j}",
                        text_sha256=sha, external_id=f"s{seed}-{label}-{j}")  # fmt: skip
            vector = rng.standard_normal(8).astype(np.float32)
            vector /= np.linalg.norm(vector)
            session.add(Embedding(model_id=MODEL_ID, text_sha256=sha, dim=8,
                                  vector=vector.tobytes()))  # fmt: skip
            session.add(note)
            session.flush()
            session.add(RunNote(run_id=run.id, note_id=note.id, cluster_label=label,
                                raw_label=label, probability=0.9))  # fmt: skip
            ids.append(note.id)
        proposal = Proposal(
            run_id=run.id, origin="judge", name=f"Kind {seed}-{label}", definition="",
            keywords=[], judge_id="keyword-not-an-llm", judge_version="kw-1", confidence=0.5,
            misfit_note_ids=[],
        )  # fmt: skip
        session.add(proposal)
        session.flush()
        session.add_all(
            ProposalMember(proposal_id=proposal.id, note_id=n, rank=r) for r, n in enumerate(ids)
        )
    session.flush()
    init_run_states(session, run.id)
    return int(run.id)


class Statements:
    def __init__(self) -> None:
        self.n = 0

    def __call__(self, *_args: Any) -> None:
        self.n += 1


@pytest.fixture
def served(db_url: str) -> Iterator[tuple[TestClient, Statements, dict[str, Any]]]:
    app = create_app(
        Settings(database_url=db_url, blind_first=False), start_worker=False, warm_up=False
    )
    with app.state.services.db.transaction() as session:
        project = Project(name="counted")
        session.add(project)
        session.flush()
        runs = {
            "history": seed_run(session, project, 2, 5, 0),
            "small": seed_run(session, project, 3, 5, 1),
            "large": seed_run(session, project, 12, 20, 2),
        }
        key = create_key(session, project, Role.reviewer, "counter")
    counter = Statements()
    event.listen(app.state.services.db.engine, "before_cursor_execute", counter)
    with TestClient(app, headers={"Authorization": f"Bearer {key}"}) as client:
        yield client, counter, runs
    app.state.services.db.dispose()


def counted(
    client: TestClient, counter: Statements, path: str, body: dict[str, Any] | None = None
) -> tuple[int, Any]:
    """Statements sent by one request (a GET, or a POST of ``body``), and its answer."""
    counter.n = 0
    resp = client.get(path) if body is None else client.post(path, json=body)
    assert resp.status_code == 200, resp.text
    return counter.n, resp.json()


def pending(client: TestClient, run_id: int) -> list[dict[str, Any]]:
    rows = client.get(f"/api/v1/runs/{run_id}/queue").json()["proposals"]
    return [r for r in rows if r["status"] == "pending"]


def review_once(client: TestClient, counter: Statements, run_id: int) -> dict[str, int]:
    """Statements of a queue read, a proposal read, a move, a rename, a confirm and an undo."""
    counts: dict[str, int] = {}
    pending(
        client, run_id
    )  # the caller's first read of the run records that it saw the judge's work
    counts["queue"], queue = counted(client, counter, f"/api/v1/runs/{run_id}/queue")
    assert any(r["merge_suggestions"] for r in queue["proposals"]), "vectors were scored"
    a, b, c = pending(client, run_id)[:3]
    counts["proposal"], detail = counted(client, counter, f"/api/v1/proposals/{a['proposal_id']}")
    assert detail["nearest"] and detail["merge_suggestions"]
    move = {"version": a["version"], "note_ids": detail["member_note_ids"][:2],
            "to_proposal_id": b["proposal_id"]}  # fmt: skip
    counts["move"], _ = counted(client, counter, f"/api/v1/proposals/{a['proposal_id']}/move", move)
    rename = {"version": c["version"], "name": f"Renamed {run_id}"}
    path = f"/api/v1/proposals/{c['proposal_id']}"
    counts["rename"], _ = counted(client, counter, f"{path}/rename", rename)
    confirm = {"version": c["version"] + 1, "into": "new"}
    counts["confirm"], confirmed = counted(client, counter, f"{path}/confirm", confirm)
    assert confirmed["proposal"]["size"] == c["size"]
    counts["undo"], undone = counted(client, counter, f"/api/v1/runs/{run_id}/undo", {})
    assert undone["undone_action"] == "confirm"
    return counts


def test_reads_and_actions_send_as_many_statements_on_a_large_run_as_on_a_small_one(
    served: tuple[TestClient, Statements, dict[str, Any]],
) -> None:
    client, counter, runs = served
    # A category confirmed in an earlier run, so that reads also score categories (whose notes
    # are not the run's) and show labels.
    first = pending(client, runs["history"])[0]
    resp = client.post(
        f"/api/v1/proposals/{first['proposal_id']}/confirm",
        json={"version": first["version"], "into": "new"},
    )
    assert resp.status_code == 200, resp.text
    small = review_once(client, counter, runs["small"])
    large = review_once(client, counter, runs["large"])
    assert large == small, {"small": small, "large": large}
    over = {k: n for k, n in large.items() if n > MOST[k]}
    assert not over, f"more statements than the batched reads send: {over} (at most {MOST})"
