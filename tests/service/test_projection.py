"""The projection: events applied one by one equal a rebuild from the event log."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from typing import Any

import pytest
from pydantic import ValidationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import review
from service.auth import Principal, Role
from service.domain import ReviewAction
from service.errors import Conflict, ServiceError, StaleVersion
from service.review import projection
from service.review.events import (
    AFTER,
    BEFORE,
    AuditLabelAfter,
    Footprint,
    MoveAfter,
    Naming,
    after_of,
    encode,
    footprint_of,
    prior_of,
)
from service.storage.db import Database
from service.storage.models import Category, NoteAssignment, ProposalState, ReviewEvent
from tests.review_ui.seed import SeededRun, seed_run


@pytest.fixture
def db(db_url: str) -> Iterator[Database]:
    database = Database(db_url)
    database.upgrade()
    yield database
    database.dispose()


@pytest.fixture
def seeded(db: Database) -> SeededRun:
    with db.transaction() as session:
        return seed_run(session)


def who(seeded: SeededRun, name: str, role: Role = Role.reviewer) -> Principal:
    return Principal(name=name, kind="user", roles={seeded.project_id: role})


def snapshot(session: Session, project_id: int) -> dict[str, Any]:
    """Every projection row of the project, claims aside."""
    session.expire_all()
    states = session.scalars(select(ProposalState).order_by(ProposalState.proposal_id)).all()
    cats = session.scalars(
        select(Category).where(Category.project_id == project_id).order_by(Category.id)
    ).all()
    notes = session.scalars(
        select(NoteAssignment)
        .where(NoteAssignment.project_id == project_id)
        .order_by(NoteAssignment.note_id)
    ).all()
    cols = ("status", "version", "name", "definition", "category_id", "member_note_ids")
    return {
        "states": [
            (s.proposal_id, *(getattr(s, c) for c in cols), s.last_event_id, s.updated_by,
             str(s.updated_at))
            for s in states
        ],
        "categories": [
            (c.id, c.name, c.definition, c.origin, c.origin_proposal_id, c.status,
             c.merged_into_id, str(c.created_at))
            for c in cats
        ],
        "assignments": [(a.note_id, a.category_id, a.is_noise, a.event_id) for a in notes],
    }  # fmt: skip


def version(session: Session, proposal_id: int) -> int:
    state = session.get(ProposalState, proposal_id)
    assert state is not None
    session.refresh(state)
    return state.version


def script_every_action(db: Database, s: SeededRun) -> dict[str, int]:
    """Split, rename, confirm, move, merge, assign, reject (no undo): returns the ids made."""
    ann, bob = who(s, "ann"), who(s, "bob")
    big, mid, small = s.proposals
    with db.transaction() as t:
        res = review.split(t, ann, big, 1, [s.halves[1], s.halves[0]])
    left, right = res.extra["child_proposal_ids"]
    with db.transaction() as t:
        review.rename(t, ann, left, 1, "Too casual tone", "Slang with an upset customer.")
        cat_tone = review.confirm(t, ann, left, 2).extra["category_id"]
        cat_status = review.confirm(t, bob, mid, 1, into="new").extra["category_id"]
        review.move(t, bob, mid, 2, [s.members[mid][0]], to_category_id=cat_tone)
        review.move(t, ann, small, 1, [s.members[small][0]], to_proposal_id=right)
        review.move(t, ann, right, 2, [s.halves[0][0]], to_noise=True)
        review.merge(t, bob, right, 3, into_proposal_id=small)
        review.assign(t, ann, s.run_id, [s.unclustered[0]], to_category_id=cat_status)
        review.assign(t, ann, s.run_id, [s.unclustered[1]], to_noise=True)
        review.assign(t, bob, s.run_id, [s.unclustered[2]], to_proposal_id=small)
        review.reject(t, bob, small, version(t, small), reason="not_a_failure")
    return {"left": left, "right": right, "cat_tone": cat_tone, "cat_status": cat_status}


def rebuilt_equals_incremental(db: Database, project_id: int) -> dict[str, Any]:
    with db.transaction() as t:
        before = snapshot(t, project_id)
    with db.transaction() as t:
        projection.rebuild(t, project_id)
    with db.transaction() as t:
        after = snapshot(t, project_id)
    assert after == before
    return before


def test_rebuild_reproduces_the_incremental_state(db: Database, seeded: SeededRun) -> None:
    ids = script_every_action(db, seeded)
    big, mid, small = seeded.proposals
    state = rebuilt_equals_incremental(db, seeded.project_id)  # events applied one by one
    statuses = {row[0]: row[1] for row in state["states"]}
    assert statuses[small] == "rejected"
    with db.transaction() as t:
        review.undo(t, who(seeded, "bob"), seeded.run_id)  # bob's reject of `small`
    with db.transaction() as t:
        review.rename(t, who(seeded, "ann"), small, version(t, small), "Language mismatch")
    before = rebuilt_equals_incremental(db, seeded.project_id)
    statuses = {row[0]: row[1] for row in before["states"]}
    assert statuses[big] == "split"
    assert statuses[ids["left"]] == "confirmed"
    assert statuses[ids["right"]] == "merged"
    assert statuses[mid] == "confirmed"
    assert statuses[small] == "pending"  # its reject was undone
    assignments = {a[0]: a[1:3] for a in before["assignments"]}
    assert assignments[seeded.members[mid][0]] == (ids["cat_tone"], False)
    assert assignments[seeded.unclustered[0]] == (ids["cat_status"], False)
    assert assignments[seeded.unclustered[1]] == (None, True)
    assert assignments[seeded.halves[0][0]] == (None, True)
    assert seeded.unclustered[2] not in assignments  # in a pending proposal: undecided
    assert {c[1] for c in before["categories"]} == {"Too casual tone", "Hallucinated order status"}


def test_versions_only_grow_even_through_undo(db: Database, seeded: SeededRun) -> None:
    ann = who(seeded, "ann")
    pid = seeded.proposals[1]
    with db.transaction() as t:
        review.rename(t, ann, pid, 1, "First name")
    with db.transaction() as t:
        state = review.undo(t, ann, seeded.run_id).state
    assert state is not None
    assert (state["name"], state["version"]) == ("Hallucinated order status", 3)
    with db.transaction() as t, pytest.raises(StaleVersion) as err:
        review.rename(t, ann, pid, 2, "Acting on the undone page")
    assert err.value.detail["changed_by"] == "ann"
    assert err.value.detail["current"]["version"] == 3


def test_undo_refuses_when_a_later_event_built_on_it(db: Database, seeded: SeededRun) -> None:
    ann, bob = who(seeded, "ann"), who(seeded, "bob")
    big = seeded.proposals[0]
    with db.transaction() as t:
        children = review.split(t, ann, big, 1, list(seeded.halves)).extra["child_proposal_ids"]
    with db.transaction() as t:
        review.rename(t, bob, children[0], 1, "Refund amount off")
    with db.transaction() as t, pytest.raises(Conflict, match="bob has since done rename"):
        review.undo(t, ann, seeded.run_id)
    with db.transaction() as t:
        review.undo(t, bob, seeded.run_id)
    with db.transaction() as t:
        review.undo(t, ann, seeded.run_id)
        assert t.get(ProposalState, children[0]) is None
        state = t.get(ProposalState, big)
        assert state is not None and state.status == "pending"
    with db.transaction() as t, pytest.raises(Conflict, match="nothing to undo"):
        review.undo(t, ann, seeded.run_id)


def test_undoing_a_confirm_removes_its_new_category(db: Database, seeded: SeededRun) -> None:
    ann = who(seeded, "ann")
    with db.transaction() as t:
        cid = review.confirm(t, ann, seeded.proposals[1], 1).extra["category_id"]
    with db.transaction() as t:
        review.undo(t, ann, seeded.run_id)
    with db.transaction() as t:
        assert t.get(Category, cid) is None
        assert t.scalars(select(NoteAssignment)).all() == []
        events = t.scalars(select(ReviewEvent).order_by(ReviewEvent.id)).all()
        assert [e.action for e in events] == ["confirm", "revert"]
        assert events[1].reverts_event_id == events[0].id


def test_two_reviewers_racing_on_one_version_one_wins(db: Database, seeded: SeededRun) -> None:
    barrier = threading.Barrier(2)
    outcomes: list[str] = []

    def act(name: str) -> None:
        barrier.wait()
        try:
            with db.transaction() as t:
                review.confirm(t, who(seeded, name), seeded.proposals[0], 1, into="new")
            outcomes.append("won")
        except ServiceError as exc:
            outcomes.append(exc.code)

    threads = [threading.Thread(target=act, args=(n,)) for n in ("ann", "bob")]
    for th in threads:
        th.start()
    for th in threads:
        th.join()
    assert sorted(outcomes) == ["stale_version", "won"]
    with db.transaction() as t:
        assert len(t.scalars(select(Category)).all()) == 1
        assert len(t.scalars(select(ReviewEvent)).all()) == 1


def test_claims_expire_and_survive_a_rebuild(db: Database, seeded: SeededRun) -> None:
    ann, bob = who(seeded, "ann"), who(seeded, "bob")
    pid = seeded.proposals[0]
    with db.transaction() as t:
        review.claim(t, ann, pid, ttl_s=600)
    with db.transaction() as t, pytest.raises(Conflict, match="claimed by ann"):
        review.claim(t, bob, pid, ttl_s=600)
    with db.transaction() as t:
        projection.rebuild(t, seeded.project_id)
    with db.transaction() as t:
        state = t.get(ProposalState, pid)
        assert state is not None and review.active_claim(state) == "ann"
        assert state.version == 1  # a claim is not an edit
        review.claim(t, ann, pid, ttl_s=0)  # renewing with no time left: expires at once
    with db.transaction() as t:
        assert review.claim(t, bob, pid, ttl_s=600)["claimed_by"] == "bob"


def test_typed_payloads_store_exactly_what_the_log_holds(db: Database, seeded: SeededRun) -> None:
    """Every event reads back as its action's model and encodes to the same JSON, key order
    included: old logs replay unchanged."""
    ids = script_every_action(db, seeded)
    with db.transaction() as t:
        review.undo(t, who(seeded, "bob"), seeded.run_id)
    with db.transaction() as t:
        events = t.scalars(select(ReviewEvent).order_by(ReviewEvent.id)).all()
        for e in events:
            action = ReviewAction(e.action)
            after = after_of(e, AFTER[action])
            before = BEFORE[action].model_validate(e.before) if action in BEFORE else None
            again = encode(action, after, footprint_of(e), before, prior_of(e))
            assert json.dumps(again) == json.dumps((e.after, e.before)), action
        by_action = {e.action: e for e in events}
    rename, revert = by_action["rename"], by_action["revert"]
    assert rename.after == {
        "name": "Too casual tone",
        "definition": "Slang with an upset customer.",
        "touched": {"proposals": [ids["left"]]},
        "prior": {  # what undo puts back: the child as the split made it
            "proposals": [{"proposal_id": ids["left"], "status": "pending",
                           "name": "Wrong refund amount (1/2)",
                           "definition": rename.after["prior"]["proposals"][0]["definition"],
                           "category_id": None, "member_note_ids": seeded.halves[1]}],
            "labels": [],
        },
    }  # fmt: skip
    assert "prior" not in revert.after  # a revert is not undone
    assert list(rename.before) == ["name", "definition"]
    assert revert.before == {"action": "reject"}
    assert list(revert.after["touched"]) == [
        "proposals", "created_proposals", "notes", "categories", "created_categories",
    ]  # fmt: skip
    assign = next(e for e in events if e.action == "assign")
    assert assign.after == {
        "to_proposal_id": None,
        "to_category_id": ids["cat_status"],
        "to_noise": False,
        "touched": {"proposals": [], "notes": [seeded.unclustered[0]],
                    "categories": [ids["cat_status"]]},
        "prior": {"proposals": [], "labels": []},
    }  # fmt: skip


def test_payloads_are_checked_when_recorded() -> None:
    footprint = Footprint(proposals=[1])
    with pytest.raises(TypeError, match="rename stores Naming"):
        encode(ReviewAction.rename, MoveAfter(to_noise=True), footprint, None)
    with pytest.raises(TypeError, match="rename stores before"):
        encode(ReviewAction.rename, Naming(name="a", definition=""), footprint, None)
    with pytest.raises(ValidationError, match="exactly one of"):
        AuditLabelAfter(position=0, inclusion_prob=0.5, category_id=3, noise=True)
    with pytest.raises(ValidationError):
        Naming.model_validate({"name": "a", "definition": "", "extra": 1})
    assert encode(ReviewAction.move, MoveAfter(to_noise=True), Footprint(notes=[2])) == (
        {"to_noise": True, "touched": {"notes": [2]}},
        {},
    )
