"""Claims belong to an identity (key or user id), never to a display name (issue #15 point 5).

Two keys created with one ``--name`` are two claimers: the second gets 409 while the first
holds the claim and cannot release it; a lapsed claim shows as no claim in every list.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from alembic import command
from fastapi.testclient import TestClient
from sqlalchemy import create_engine, select, text, update

from service.auth import Role, create_key, project_by_name
from service.storage.db import alembic_config
from service.storage.models import ProposalState, utcnow
from tests.conftest import auth
from tests.review_ui.seed import SeededRun, seed_run


@pytest.fixture
def seeded(app: Any, keys: dict[str, str]) -> SeededRun:
    with app.state.services.db.transaction() as session:
        return seed_run(session)


@pytest.fixture
def twins(app: Any, keys: dict[str, str]) -> tuple[str, str]:
    """Two reviewer keys of project demo, both created with the name "twin"."""
    with app.state.services.db.transaction() as session:
        project = project_by_name(session, "demo")
        return tuple(create_key(session, project, Role.reviewer, "twin") for _ in range(2))  # type: ignore[return-value]


def _post(client: TestClient, key: str, path: str) -> Any:
    return client.post(f"/api/v1{path}", json={}, headers=auth(key))


def test_two_keys_with_one_name_are_two_claimers(client, keys, seeded, twins) -> None:
    first, second = twins
    pid = seeded.proposals[0]
    assert _post(client, first, f"/proposals/{pid}/claim").status_code == 200
    taken = _post(client, second, f"/proposals/{pid}/claim")
    assert taken.status_code == 409, taken.text
    assert taken.json()["claimed_by"] == "key:twin"  # the name is still what people read
    refused = _post(client, second, f"/proposals/{pid}/release")
    assert refused.status_code == 403 and refused.json()["field"] == "proposal_id"
    renewed = _post(client, first, f"/proposals/{pid}/claim")  # one's own claim renews
    assert renewed.status_code == 200 and renewed.json()["claimed_by"] == "key:twin"
    assert _post(client, keys["lead"], "/projects/demo/rebuild").status_code == 200
    assert _post(client, second, f"/proposals/{pid}/release").status_code == 403  # kept
    assert _post(client, first, f"/proposals/{pid}/release").status_code == 200
    assert _post(client, second, f"/proposals/{pid}/claim").status_code == 200


def test_the_page_offers_release_only_to_the_holder(client, seeded, twins) -> None:
    first, second = twins
    pid = seeded.proposals[0]
    assert _post(client, first, f"/proposals/{pid}/claim").status_code == 200
    html = {"Accept": "text/html"}
    mine = client.get(f"/proposals/{pid}", headers={**auth(first), **html})
    theirs = client.get(f"/proposals/{pid}", headers={**auth(second), **html})
    assert mine.status_code == theirs.status_code == 200
    assert "Claimed by <strong>key:twin</strong>" in theirs.text
    assert f'action="/proposals/{pid}/release"' in mine.text
    assert f'action="/proposals/{pid}/claim"' in theirs.text
    assert f'action="/proposals/{pid}/release"' not in theirs.text


def test_a_lapsed_claim_is_listed_as_no_claim(client, app, keys, seeded) -> None:
    pid, run = seeded.proposals[0], seeded.run_id
    assert _post(client, keys["reviewer"], f"/proposals/{pid}/claim").status_code == 200
    with app.state.services.db.transaction() as session:
        session.execute(
            update(ProposalState)
            .where(ProposalState.proposal_id == pid)
            .values(claim_expires_at=utcnow() - timedelta(seconds=5))
        )
    key = auth(keys["lead"])
    listed = {p["id"]: p for p in client.get(f"/api/v1/runs/{run}/proposals", headers=key).json()}
    queued = client.get(f"/api/v1/runs/{run}/queue", headers=key).json()["proposals"]
    detail = client.get(f"/api/v1/proposals/{pid}", headers=key).json()
    assert (listed[pid]["claimed_by"], listed[pid]["claim_expires_at"]) == (None, None)
    assert next(p for p in queued if p["proposal_id"] == pid)["claimed_by"] is None
    assert (detail["claimed_by"], detail["claim_expires_at"]) == (None, None)
    page = client.get(f"/runs/{run}", headers={**key, "Accept": "text/html"})
    assert page.status_code == 200 and "claimed by" not in page.text
    assert _post(client, keys["lead"], f"/proposals/{pid}/claim").status_code == 200
    with app.state.services.db.transaction() as session:
        state = session.scalars(select(ProposalState).where(ProposalState.proposal_id == pid)).one()
        assert state.claimed_by == "key:test-lead" and state.claimed_by_actor.startswith("key:")


def test_migration_0005_releases_claims_known_only_by_name(tmp_path) -> None:
    """Claims taken before 0005 name their holder only by a display name: released."""
    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")

    def upgrade_to(revision: str) -> None:
        cfg = alembic_config(str(engine.url))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    upgrade_to("0004")
    with engine.begin() as conn:  # foreign keys are not enforced on this bare connection
        conn.execute(
            text(
                "INSERT INTO proposal_state (proposal_id, run_id, status, version, name, "
                "definition, member_note_ids, claimed_by, claim_expires_at) VALUES (1, 1, "
                "'pending', 1, 'n', '', '[]', 'key:twin', '2999-01-01 00:00:00')"
            )
        )
    upgrade_to("head")
    with engine.begin() as conn:
        row = conn.execute(
            text("SELECT claimed_by, claimed_by_actor, claim_expires_at FROM proposal_state")
        ).one()
    assert tuple(row) == (None, None, None)
    engine.dispose()
