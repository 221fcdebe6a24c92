"""``POST /projects/{project}/categories``: a confirmed category from selected notes, undoable.

On the seeded run of tests/review_ui/seed.py (three pending proposals of 6, 4 and 3 notes, four
unclustered notes), SQLite and PostgreSQL. Every refused request changes nothing stored.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service.storage.models import (
    Category,
    NoteAssignment,
    Proposal,
    ProposalState,
    ReviewEvent,
)
from tests.conftest import auth
from tests.review_ui.seed import SeededRun, seed_run


@pytest.fixture
def seeded(app: Any, keys: dict[str, str]) -> SeededRun:
    with app.state.services.db.transaction() as session:
        return seed_run(session)


def create(client: TestClient, key: str, body: dict[str, Any], project: str = "demo") -> Any:
    return client.post(f"/api/v1/projects/{project}/categories", json=body, headers=auth(key))


def stored(app: Any) -> dict[str, Any]:
    """Everything a refused request must leave as it was."""
    with app.state.services.db.transaction() as s:
        return {
            "events": s.scalar(select(func.count()).select_from(ReviewEvent)),
            "categories": sorted((c.id, c.name, c.status) for c in s.scalars(select(Category))),
            "assignments": sorted(
                (a.note_id, a.category_id, a.is_noise) for a in s.scalars(select(NoteAssignment))
            ),
            "states": sorted(
                (st.proposal_id, st.status, st.version, tuple(st.member_note_ids))
                for st in s.scalars(select(ProposalState))
            ),
        }


def test_a_category_from_unclustered_notes_is_confirmed_and_counted(client, keys, seeded, app):
    notes = seeded.unclustered[:3]
    resp = create(client, keys["reviewer"], {"name": "One-off oddities", "note_ids": notes,
                                             "definition": "Rare, unrelated slips."})  # fmt: skip
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert body["name"] == "One-off oddities" and body["definition"] == "Rare, unrelated slips."
    assert body["count"] == 3 and body["note_ids"] == notes and body["taken_from"] == []
    assert body["origin"] == "human" and body["run_id"] == seeded.run_id
    assert [w["count"] for w in body["weeks"]] == [3]
    listed = client.get("/api/v1/projects/demo/categories", headers=auth(keys["reviewer"])).json()
    assert [(c["id"], c["count"]) for c in listed] == [(body["id"], 3)]
    with app.state.services.db.transaction() as s:
        event = s.get_one(ReviewEvent, body["event_id"])
        assert event.action == "create_category" and event.run_id == seeded.run_id
        assert event.note_ids == notes and event.category_id == body["id"]
        labels = {a.note_id: a.category_id for a in s.scalars(select(NoteAssignment))}
    assert labels == dict.fromkeys(notes, body["id"])
    loose = client.get(f"/api/v1/runs/{seeded.run_id}/unclustered", headers=auth(keys["lead"]))
    assert {n["note_id"]: n["category_id"] for n in loose.json()}[notes[0]] == body["id"]


def test_notes_are_taken_out_of_the_pending_proposals_that_held_them(client, keys, seeded):
    big, mid, _ = seeded.proposals
    picked = [*seeded.members[big][3:], seeded.members[mid][0], seeded.unclustered[0]]
    resp = create(client, keys["reviewer"], {"name": "Too casual", "note_ids": picked})
    assert resp.status_code == 201, resp.text
    assert resp.json()["taken_from"] == [
        {"proposal_id": big, "note_ids": seeded.members[big][3:]},
        {"proposal_id": mid, "note_ids": seeded.members[mid][:1]},
    ]
    detail = client.get(f"/api/v1/proposals/{big}", headers=auth(keys["reviewer"])).json()
    assert detail["member_note_ids"] == seeded.members[big][:3]
    assert detail["version"] == 2 and detail["status"] == "pending"
    mid_now = client.get(f"/api/v1/proposals/{mid}", headers=auth(keys["reviewer"])).json()
    assert mid_now["member_note_ids"] == seeded.members[mid][1:] and mid_now["version"] == 2


def test_undo_removes_the_category_and_puts_the_notes_back(client, keys, seeded, app):
    big = seeded.proposals[0]
    before = stored(app)
    picked = [*seeded.members[big][3:], *seeded.unclustered[:2]]
    made = create(client, keys["reviewer"], {"name": "Too casual", "note_ids": picked}).json()
    undo = client.post(f"/api/v1/runs/{made['run_id']}/undo", headers=auth(keys["reviewer"]))
    assert undo.status_code == 200, undo.text
    assert undo.json()["undone_action"] == "create_category"
    assert undo.json()["reverted_event_id"] == made["event_id"]
    after = stored(app)
    assert after["categories"] == [] and after["assignments"] == []
    states = {pid: (status, members) for pid, status, _, members in after["states"]}
    assert states == {pid: (status, m) for pid, status, _, m in before["states"]}
    versions = {pid: v for pid, _, v, _ in after["states"]}
    assert versions[big] == 3  # 1 + the event and its revert: a stale page can never win
    assert client.get("/api/v1/projects/demo/categories",
                      headers=auth(keys["reviewer"])).json() == []  # fmt: skip


def test_a_rebuild_reproduces_a_category_made_from_notes(client, keys, seeded, app):
    big = seeded.proposals[0]
    picked = [*seeded.members[big][3:], seeded.unclustered[0]]
    made = create(client, keys["reviewer"], {"name": "Too casual", "note_ids": picked}).json()
    assign = client.post(
        f"/api/v1/runs/{seeded.run_id}/unclustered/assign",
        json={"note_ids": [seeded.unclustered[1]], "to_category_id": made["id"]},
        headers=auth(keys["reviewer"]),
    )
    assert assign.status_code == 200, assign.text
    live = stored(app)
    rebuilt = client.post("/api/v1/projects/demo/rebuild", headers=auth(keys["lead"]))
    assert rebuilt.status_code == 200, rebuilt.text
    assert stored(app) == live
    # the assign built on the new category: undoing the category is refused until it is undone
    refused = client.post(
        f"/api/v1/runs/{seeded.run_id}/undo",
        json={"event_id": made["event_id"]},
        headers=auth(keys["lead"]),
    )
    assert refused.status_code == 409 and refused.json()["blocked_by_event_id"] > made["event_id"]


@pytest.mark.parametrize(
    ("case", "status", "field"),
    [
        ("unknown note", 404, "note_ids"),
        ("note of another project", 404, "note_ids"),
        ("empty list", 422, "note_ids"),
        ("note twice", 422, "note_ids"),
        ("blank name", 422, "name"),
        ("name clash", 409, "name"),
        ("note in a confirmed category", 409, "note_ids"),
        ("every note of a pending proposal", 422, "note_ids"),
        ("unknown project", 404, "project"),
    ],
)
def test_refused_requests_change_nothing(client, keys, seeded, app, case, status, field):
    mid, small = seeded.proposals[1], seeded.proposals[2]
    confirmed = client.post(
        f"/api/v1/proposals/{mid}/confirm", json={"version": 1}, headers=auth(keys["reviewer"])
    )
    assert confirmed.status_code == 200, confirmed.text
    with app.state.services.db.transaction() as s:
        other = seed_run(s, "elsewhere")
    loose = seeded.unclustered[0]
    body: dict[str, Any] = {"name": "Fresh", "note_ids": [loose]}
    project = "demo"
    if case == "unknown note":
        body["note_ids"] = [loose, 999_999]
    elif case == "note of another project":
        body["note_ids"] = [loose, other.unclustered[0]]
    elif case == "empty list":
        body["note_ids"] = []
    elif case == "note twice":
        body["note_ids"] = [loose, loose]
    elif case == "blank name":
        body["name"] = "   "
    elif case == "name clash":
        body["name"] = "HALLUCINATED order STATUS"  # the confirmed category, case aside
    elif case == "note in a confirmed category":
        body["note_ids"] = [loose, seeded.members[mid][0]]
    elif case == "every note of a pending proposal":
        body["note_ids"] = seeded.members[small]
    elif case == "unknown project":
        project = "nowhere"
    before = stored(app)
    resp = create(client, keys["reviewer"], body, project)
    assert resp.status_code == status, resp.text
    assert resp.json()["field"] == field and resp.json()["message"]
    assert stored(app) == before


def test_unknown_notes_and_other_projects_notes_get_the_same_answer(client, keys, seeded, app):
    with app.state.services.db.transaction() as s:
        other = seed_run(s, "elsewhere")
    theirs = other.unclustered[0]
    with app.state.services.db.transaction() as s:
        unknown = (s.scalar(select(func.max(ReviewEvent.id))) or 0) + 10_000 + theirs
    a = create(client, keys["reviewer"], {"name": "X", "note_ids": [theirs]}).json()
    b = create(client, keys["reviewer"], {"name": "X", "note_ids": [unknown]}).json()
    assert a == {**b, "message": b["message"].replace(str(unknown), str(theirs)),
                 "note_ids": [theirs]}  # fmt: skip


def test_only_reviewers_and_leads_create_categories(client, keys, seeded, app):
    before = stored(app)
    body = {"name": "Fresh", "note_ids": [seeded.unclustered[0]]}
    assert create(client, keys["client"], body).status_code == 403
    assert create(client, keys["outsider"], body).status_code == 404  # as if no project
    assert client.post("/api/v1/projects/demo/categories", json=body).status_code == 401
    assert stored(app) == before
    assert create(client, keys["lead"], body).status_code == 201


def test_confirm_auto_follows_only_a_carry_over_match(client, keys, seeded, app):
    """A new proposal with a (wrong) judge match: ``auto`` makes a new category, ``matched``
    still follows the guess; a carry-over proposal's ``auto`` files into its category."""
    big, mid, small = seeded.proposals
    made = create(client, keys["reviewer"],
                  {"name": "Refund policy", "note_ids": seeded.unclustered[:2]}).json()  # fmt: skip
    with app.state.services.db.transaction() as s:
        for pid, origin in ((big, "judge"), (mid, "judge"), (small, "carry_over")):
            proposal = s.get_one(Proposal, pid)
            proposal.matched_category_id, proposal.origin = made["id"], origin
    reviewer = auth(keys["reviewer"])
    auto = client.post(f"/api/v1/proposals/{big}/confirm", json={"version": 1}, headers=reviewer)
    assert auto.status_code == 200, auto.text
    assert auto.json()["new_category"] is True and auto.json()["category_id"] != made["id"]
    matched = client.post(
        f"/api/v1/proposals/{mid}/confirm", json={"version": 1, "into": "matched"}, headers=reviewer
    )
    assert matched.json()["category_id"] == made["id"]
    row = client.get(f"/api/v1/proposals/{small}", headers=reviewer).json()
    assert row["kind"] == "carry_over" and row["matched_category_id"] == made["id"]
    carried = client.post(f"/api/v1/proposals/{small}/confirm", json={"version": 1},
                          headers=reviewer)  # fmt: skip
    assert carried.json()["category_id"] == made["id"] and not carried.json()["new_category"]


def test_merge_suggestions_name_the_closest_targets(client, keys, seeded):
    big, mid, small = seeded.proposals
    made = create(client, keys["reviewer"],
                  {"name": "Shipping", "note_ids": seeded.members[mid][:2]}).json()  # fmt: skip
    rows = client.get(f"/api/v1/runs/{seeded.run_id}/proposals", headers=auth(keys["lead"])).json()
    by_id = {p["id"]: p for p in rows}
    # the rest of the shipping proposal is closest to the category its first notes went to
    first = by_id[mid]["merge_suggestions"][0]
    assert first["category_id"] == made["id"] and first["proposal_id"] is None
    assert first["name"] == "Shipping" and first["similarity"] > 0.9
    for p in rows:
        sims = [s["similarity"] for s in p["merge_suggestions"]]
        assert len(sims) <= 3 and sims == sorted(sims, reverse=True)
        assert all(s["proposal_id"] != p["id"] for s in p["merge_suggestions"])
    assert {p["kind"] for p in rows} == {"new"}
    queue = client.get(f"/api/v1/runs/{seeded.run_id}/queue", headers=auth(keys["lead"])).json()
    assert {q["proposal_id"]: q["merge_suggestions"] for q in queue["proposals"]} == {
        p["id"]: p["merge_suggestions"] for p in rows
    }
    decided = client.post(f"/api/v1/proposals/{small}/reject", json={"version": 1},
                          headers=auth(keys["reviewer"]))  # fmt: skip
    assert decided.status_code == 200
    detail = client.get(f"/api/v1/proposals/{small}", headers=auth(keys["lead"])).json()
    assert detail["merge_suggestions"] == []  # decided: nothing to merge
    assert big in by_id


def test_the_route_is_documented(client):
    op = client.get("/openapi.json").json()["paths"]["/api/v1/projects/{project}/categories"]
    assert set(op["post"]["responses"]) >= {"201", "401", "403", "404", "409", "422"}
