"""The cheaper paths of review requests (issue #15's latency goal) answer as the slow ones did.

A stale action is answered without waiting for the review lock, with the same 409; the
blind-first gate still answers before it; an API key is read fresh on every request (its
grants included), so a revoked key is refused at once.
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime
from typing import Any

from fastapi.testclient import TestClient
from sqlalchemy import update

from service.auth import Role, create_key, grant_key
from service.storage.db import Database, lock_review_state
from service.storage.models import ApiKey, Project
from tests.conftest import auth
from tests.review_ui.seed import SeededRun, seed_run


def _seed(app: Any) -> tuple[Database, SeededRun, dict[str, str]]:
    db: Database = app.state.services.db
    with db.transaction() as session:
        seeded = seed_run(session)
        project = session.get_one(Project, seeded.project_id)
        keys = {
            name: create_key(session, project, role, name)
            for name, role in (("ann", Role.reviewer), ("bob", Role.reviewer), ("lea", Role.lead))
        }
    return db, seeded, keys


def test_a_stale_action_is_answered_while_a_writer_holds_the_lock(
    client: TestClient, app: Any
) -> None:
    db, seeded, keys = _seed(app)
    big = seeded.proposals[0]
    renamed = client.post(
        f"/api/v1/proposals/{big}/rename",
        json={"version": 1, "name": "Refunds"},
        headers=auth(keys["ann"]),
    )
    assert renamed.status_code == 200 and renamed.json()["proposal"]["version"] == 2
    answers: list[Any] = []
    with db.transaction() as holder:  # another writer, mid-action, holds the project's lock
        lock_review_state(holder, seeded.project_id)

        def stale() -> None:
            answers.append(
                client.post(
                    f"/api/v1/proposals/{big}/rename",
                    json={"version": 1, "name": "Late"},
                    headers=auth(keys["bob"]),
                )
            )

        thread = threading.Thread(target=stale)
        thread.start()
        thread.join(timeout=10)  # before: it waited for the lock (30 s on SQLite, then 409 busy)
        assert not thread.is_alive(), "the stale action waited for the review lock"
    resp = answers[0]
    assert resp.status_code == 409, resp.text
    body = resp.json()
    assert body["error"] == "stale_version"
    assert body["current"]["version"] == 2 and body["current"]["name"] == "Refunds"
    # an action on the current version still takes the lock and goes through
    ok = client.post(
        f"/api/v1/proposals/{big}/rename",
        json={"version": 2, "name": "Late"},
        headers=auth(keys["bob"]),
    )
    assert ok.status_code == 200 and ok.json()["proposal"]["version"] == 3


def test_the_blind_gate_answers_before_a_stale_version(client: TestClient, app: Any) -> None:
    _, seeded, keys = _seed(app)
    big = seeded.proposals[0]
    lead = auth(keys["lea"])
    assert (
        client.post(
            f"/api/v1/proposals/{big}/rename",
            json={"version": 1, "name": "Refunds"},
            headers=lead,
        ).status_code
        == 200
    )
    blind = client.post(f"/api/v1/runs/{seeded.run_id}/blind", json={"enabled": True}, headers=lead)
    assert blind.status_code == 200, blind.text
    resp = client.post(
        f"/api/v1/proposals/{big}/rename",
        json={"version": 1, "name": "Late"},
        headers=auth(keys["bob"]),
    )
    assert resp.status_code == 409 and resp.json()["error"] == "must_audit_first", resp.text


def test_a_key_is_read_fresh_on_every_request(client: TestClient, app: Any) -> None:
    db, seeded, keys = _seed(app)
    with db.transaction() as session:
        other = Project(name="other")
        session.add(other)
        session.flush()
        key_id = session.query(ApiKey.id).filter(ApiKey.name == "ann").scalar()
        grant_key(session, key_id, other, Role.lead)
    queue = f"/api/v1/runs/{seeded.run_id}/queue"
    assert client.get(queue, headers=auth(keys["ann"])).status_code == 200
    assert client.get("/api/v1/projects/other/runs", headers=auth(keys["ann"])).status_code == 200
    with db.transaction() as session:
        session.execute(
            update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=datetime.now(UTC))
        )
    for path in (queue, "/api/v1/projects/other/runs"):
        resp = client.get(path, headers=auth(keys["ann"]))
        assert resp.status_code == 401 and resp.json()["error"] == "unauthenticated", resp.text
    assert client.get(queue, headers=auth(keys["bob"])).status_code == 200
