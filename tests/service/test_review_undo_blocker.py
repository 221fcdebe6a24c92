"""Undo is refused by the first later event that built on the undone one, read up to it: later
events that share nothing, and later events already reverted, do not block."""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from service.auth import Role, create_key
from service.storage.db import Database
from service.storage.models import Project
from tests.conftest import auth
from tests.review_ui.seed import seed_run


def test_undo_names_the_first_later_event_on_the_same_proposals(
    client: TestClient, app: Any
) -> None:
    db: Database = app.state.services.db
    with db.transaction() as session:
        seeded = seed_run(session)
        project = session.get_one(Project, seeded.project_id)
        ann, bob = (create_key(session, project, Role.reviewer, n) for n in ("ann", "bob"))
    big, mid, small = seeded.proposals
    moved = client.post(
        f"/api/v1/proposals/{big}/move",
        json={"version": 1, "note_ids": seeded.members[big][:1], "to_proposal_id": mid},
        headers=auth(ann),
    )
    assert moved.status_code == 200
    unrelated = client.post(
        f"/api/v1/proposals/{small}/rename", json={"version": 1, "name": "Elsewhere"},
        headers=auth(bob),
    )  # fmt: skip
    on_mid = client.post(
        f"/api/v1/proposals/{mid}/rename", json={"version": 2, "name": "Built on it"},
        headers=auth(bob),
    )  # fmt: skip
    again = client.post(
        f"/api/v1/proposals/{mid}/rename", json={"version": 3, "name": "And again"},
        headers=auth(bob),
    )  # fmt: skip
    assert unrelated.status_code == on_mid.status_code == again.status_code == 200
    refused = client.post(f"/api/v1/runs/{seeded.run_id}/undo", json={}, headers=auth(ann))
    assert refused.status_code == 409
    body = refused.json()
    assert body["event_id"] == moved.json()["event_id"]
    assert body["blocked_by_event_id"] == on_mid.json()["event_id"]  # the first, not the last
    assert body["blocked_by"] == "key:bob"
    assert "rename" in body["message"]
    for _ in range(2):  # bob undoes both renames of mid: nothing builds on ann's move any more
        assert (
            client.post(
                f"/api/v1/runs/{seeded.run_id}/undo", json={}, headers=auth(bob)
            ).status_code
            == 200
        )
    undone = client.post(f"/api/v1/runs/{seeded.run_id}/undo", json={}, headers=auth(ann))
    assert undone.status_code == 200
    assert undone.json()["reverted_event_id"] == moved.json()["event_id"]
