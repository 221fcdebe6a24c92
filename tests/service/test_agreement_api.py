"""Agreement figures through the API change as each kind of review event says they should.

A replayed judge output over 24 notes: proposals A (8 notes), B (8), C (4) and the judge's
noise (4 notes). The audit takes up to the whole run here (``audit_max_share = 1``) and its
size setting (30) exceeds the batch, so the audit is a census (π = 1) and every expected figure
below is worked by hand. Workflow actions are a lead's and blind labels the reviewers': a
reviewer who saw the proposals would give revisions, not blind labels.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from judges.agreement import wilson
from service.auth import Role, create_key
from service.notes.batches import get_or_create_project
from service.storage.models import Note
from tests.conftest import auth
from tests.replay import RecordedProposal, store_judge_output


@dataclass
class World:
    """A replayed run in blind mode. Workflow actions are a lead's (a lead is never held by the
    blind-first gate); blind labels are the reviewers' (``blind``)."""

    client: TestClient
    keys: dict[str, str]
    run: int
    batch: int
    a: int
    b: int
    c: int
    notes: list[int]

    def agreement(self, **params: Any) -> dict[str, Any]:
        resp = self.client.get(
            "/api/v1/projects/demo/agreement", params=params, headers=auth(self.keys["lead"])
        )
        assert resp.status_code == 200, resp.text
        body: dict[str, Any] = resp.json()
        return body

    def act(self, pid: int, action: str, who: str = "lead", **body: Any) -> dict[str, Any]:
        state = self.client.get(f"/api/v1/proposals/{pid}", headers=auth(self.keys[who]))
        version = state.json()["version"]
        resp = self.client.post(
            f"/api/v1/proposals/{pid}/{action}",
            json={"version": version, **body},
            headers=auth(self.keys[who]),
        )
        assert resp.status_code == 200, resp.text
        result: dict[str, Any] = resp.json()
        return result

    def post(self, path: str, body: dict[str, Any], who: str = "lead") -> dict[str, Any]:
        resp = self.client.post(f"/api/v1{path}", json=body, headers=auth(self.keys[who]))
        assert resp.status_code in (200, 201), resp.text
        result: dict[str, Any] = resp.json()
        return result

    def blind(self, note: int, who: str = "reviewer", **label: Any) -> None:
        self.post(f"/runs/{self.run}/audit/labels", {"note_id": note, **label}, who)

    def outcome(self, body: dict[str, Any], pid: int) -> dict[str, Any] | None:
        """The outcome of proposal ``pid`` (``None`` while it is not fully decided)."""
        run = body["proposal_outcomes"]["runs"][0]
        return next((o for o in run.get("outcomes", []) if o["proposal_id"] == pid), None)


@pytest.fixture
def world(app: Any, client: TestClient, keys: dict[str, str]) -> World:
    app.state.services.settings.audit_max_share = 1.0  # a census audit of the 24 notes
    lines = "\n".join(
        json.dumps({"external_id": f"w{i}", "text": f"agreement note {i}"}) for i in range(24)
    )
    resp = client.post(
        "/api/v1/projects/demo/batches",
        content=lines,
        headers={**auth(keys["lead"]), "Content-Type": "application/x-ndjson"},
    )
    assert resp.status_code == 201, resp.text
    batch = int(resp.json()["id"])
    with app.state.services.db.transaction() as s:
        ids = list(s.scalars(select(Note.id).where(Note.batch_id == batch).order_by(Note.id)))
        project_id = get_or_create_project(s, "demo").id
    groups = [("A", ids[0:8]), ("B", ids[8:16]), ("C", ids[16:20])]
    run = store_judge_output(
        app.state.services, project_id, batch,
        [RecordedProposal(name, tuple(g)) for name, g in groups],
        judge_id="replay", judge_version="replay/1", seed=5,
    )  # fmt: skip
    pids = [p["id"] for p in _queue(client, keys, run)]
    a, b, c = sorted(pids)
    world = World(client, keys, run, batch, a, b, c, ids)
    world.post(f"/runs/{run}/blind", {"enabled": True}, "lead")
    return world


def _queue(client: TestClient, keys: dict[str, str], run: int) -> list[dict[str, Any]]:
    body = client.get(f"/api/v1/runs/{run}/queue", headers=auth(keys["lead"])).json()
    return [{"id": p["proposal_id"], **p} for p in body["proposals"]]


def test_before_any_review_every_figure_is_there_and_empty(world: World) -> None:
    body = world.agreement()
    assert body["watermark"] > 0  # turning blind mode on is an event
    assert body["judge_error_rate"]["n"] == 0 and body["judge_error_rate"]["value"] is None
    assert body["judge_error_rate"]["drawn"] == 24  # census: 24 <= the setting of 30
    assert body["workflow_disagreement"] is None
    outcomes = body["proposal_outcomes"]
    assert (outcomes["decided"], outcomes["pending"]) == (0, 3)
    rows = {r["name"]: r for r in body["corrected_counts"]["categories"]}
    assert rows["not reviewed yet: A"]["raw"] == 8 and rows["noise"]["raw"] == 4
    assert {r["tier"] for r in rows.values()} == {"C"}
    assert body["saturation"]["saturated"] is False


def test_confirm_maps_the_proposal_and_counts_it_accepted(world: World) -> None:
    event = world.act(world.a, "confirm")
    body = world.agreement()
    assert body["watermark"] == event["event_id"]
    a = world.outcome(body, world.a)
    assert a is not None and a["primary"] == "accepted" and a["precision"] == 1.0
    outcomes = body["proposal_outcomes"]
    assert (outcomes["decided"], outcomes["pending"]) == (1, 2)
    assert outcomes["mix_by_proposal"]["accepted"] == 1
    assert body["workflow_disagreement"] == {"value": 0.0, **_bounds(0, 8)}
    rows = {r["name"]: r for r in body["corrected_counts"]["categories"]}
    assert rows["A"]["kind"] == "category" and rows["A"]["raw"] == 8


def _bounds(x: int, n: int) -> dict[str, Any]:
    w = wilson(x, n)
    return {"low": round(w.low, 4), "high": round(w.high, 4), "n": n}


def test_blind_labels_drive_the_headline_error(world: World) -> None:
    cat_a = world.act(world.a, "confirm")["category_id"]
    cat_b = world.act(world.b, "confirm")["category_id"]
    n = world.notes
    for note in n[0:4]:
        world.blind(note, category_id=cat_a)  # agree
    world.blind(n[4], noise=True)  # judge says A: disagree
    world.blind(n[8], category_id=cat_b)  # agree
    world.blind(n[9], category_id=cat_a)  # judge says B: disagree
    world.blind(n[16], noise=True)  # proposal C has no workflow decision: awaiting
    world.blind(n[20], noise=True)  # judge's noise, human noise: agree
    world.blind(n[21], new_category_name="Something new")  # judge noise vs a new label ...
    pending = world.agreement()["judge_error_rate"]
    assert (pending["n"], pending["awaiting_links"], pending["status"]) == (8, 1, "pending_review")
    # ... which the final review links: the lead puts the note in A, so "Something new" is A
    world.post(
        f"/runs/{world.run}/unclustered/assign", {"note_ids": [n[21]], "to_category_id": cat_a}
    )
    error = world.agreement()["judge_error_rate"]
    assert (error["n"], error["disagreements"], error["awaiting_workflow"]) == (9, 3, 1)
    assert error["value"] == round(3 / 9, 4) and error["weighted"] is False
    assert {k: error[k] for k in ("low", "high")} == {
        k: v for k, v in _bounds(3, 9).items() if k != "n"
    }
    assert error["indicative"] is True and error["labelled"] == 10


def test_a_blind_new_name_matching_a_category_counts_as_that_category(world: World) -> None:
    world.act(world.a, "rename", name="Wrong Dates!")
    world.act(world.a, "confirm")
    world.blind(world.notes[0], new_category_name="wrong   dates")
    body = world.agreement()
    assert (body["judge_error_rate"]["n"], body["judge_error_rate"]["disagreements"]) == (1, 0)
    a = world.outcome(body, world.a)
    assert a is not None and a["primary"] == "renamed"


def test_reject_maps_the_proposal_to_noise(world: World) -> None:
    world.act(world.c, "reject", reason="noise")
    body = world.agreement()
    c = world.outcome(body, world.c)
    assert c is not None and c["primary"] == "rejected_noise" and c["spurious"] is True
    assert body["workflow_disagreement"]["value"] == 0.0  # m(C) = noise: the notes agree
    world.blind(world.notes[16], noise=True)
    assert world.agreement()["judge_error_rate"]["disagreements"] == 0


def test_moves_and_assignments_are_membership_edits_and_disagreements(world: World) -> None:
    cat_a = world.act(world.a, "confirm")["category_id"]
    world.act(world.c, "confirm")
    # one note out (two would make A "split": 2 >= max(2, 0.2·8) notes in a second category)
    world.act(world.a, "move", note_ids=world.notes[0:1], to_proposal_id=world.c)
    body = world.agreement()
    a, c = world.outcome(body, world.a), world.outcome(body, world.c)
    assert a is not None and a["primary"] == "membership_edited" and a["precision"] == 0.875
    assert c is not None and "membership_edited" in c["flags"] and c["human_size"] == 5
    assert body["workflow_disagreement"]["value"] == round(1 / 12, 4)
    loose = world.notes[20:22]
    world.post(
        f"/runs/{world.run}/unclustered/assign", {"note_ids": loose, "to_category_id": cat_a}
    )
    body = world.agreement()
    assert body["workflow_disagreement"]["value"] == round(3 / 14, 4)  # 2 false noise more
    assert world.outcome(body, world.a)["human_size"] == 9  # type: ignore[index]


def test_a_split_counts_as_split_and_its_children_as_missed_categories(world: World) -> None:
    halves = [world.notes[8:12], world.notes[12:16]]
    split = world.act(world.b, "split", groups=halves, names=["B one", "B two"])
    for child in split["child_proposal_ids"]:
        world.act(child, "confirm")
    run = world.agreement()["proposal_outcomes"]["runs"][0]
    b = world.outcome({"proposal_outcomes": {"runs": [run]}}, world.b)
    assert b is not None and b["primary"] == "split"
    assert len(run["missed_categories"]) == 2  # categories born of split children
    assert run["category_recall"]["value"] == 0.0


def test_a_split_merged_back_is_no_split(world: World) -> None:
    halves = [world.notes[8:12], world.notes[12:16]]
    one, two = world.act(world.b, "split", groups=halves)["child_proposal_ids"]
    world.act(two, "merge", into_proposal_id=one)
    world.act(one, "confirm")
    b = world.outcome(world.agreement(), world.b)
    assert b is not None and b["primary"] != "split" and "split" not in b["flags"]
    assert b["precision"] == 1.0 and b["recall"] == 1.0


def test_merging_two_proposals_flags_merged(world: World) -> None:
    world.act(world.a, "confirm")
    world.act(world.c, "merge", into_proposal_id=world.a)
    body = world.agreement()
    c = world.outcome(body, world.c)
    assert c is not None and c["primary"] == "merged" and c["mapped_name"] == "A"
    assert body["proposal_outcomes"]["mix_by_proposal"]["merged"] == 2  # A absorbed C


def _figures(body: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in body.items() if k not in ("watermark", "computed_at")}


def test_undo_restores_the_figures_and_a_watermark_recomputes_the_past(world: World) -> None:
    world.act(world.a, "confirm")
    world.blind(world.notes[8], noise=True)
    before = world.agreement()
    world.act(world.b, "reject")
    after_reject = world.agreement()
    assert world.outcome(after_reject, world.b)["primary"] == "rejected_noise"  # type: ignore[index]
    assert after_reject["judge_error_rate"]["disagreements"] == 0  # B maps to noise now
    undo = world.post(f"/runs/{world.run}/undo", {})
    assert undo["undone_action"] == "reject"
    now = world.agreement()
    assert now["watermark"] == undo["event_id"] > after_reject["watermark"]
    assert _figures(now) == _figures(before)
    past = world.agreement(watermark=after_reject["watermark"])
    assert past["watermark"] == after_reject["watermark"]
    assert _figures(past) == _figures(after_reject)


def test_the_fold_of_the_log_equals_the_projection(app: Any, world: World) -> None:
    from service.agreement.log import fold
    from service.storage.models import NoteAssignment

    world.act(world.a, "confirm")
    halves = [world.notes[8:12], world.notes[12:16]]
    one, two = world.act(world.b, "split", groups=halves)["child_proposal_ids"]
    world.act(two, "merge", into_proposal_id=world.a)
    world.act(one, "reject")
    world.post(f"/runs/{world.run}/undo", {})
    world.act(world.a, "move", note_ids=world.notes[0:1], to_noise=True)
    world.post(
        f"/runs/{world.run}/unclustered/assign",
        {"note_ids": world.notes[20:21], "to_proposal_id": world.c},
    )
    world.act(world.c, "confirm")
    with app.state.services.db.transaction() as s:
        rows = s.scalars(select(NoteAssignment)).all()
        projected = {r.note_id: (None if r.is_noise else r.category_id) for r in rows}
        folded = fold(s, 1).workflow
    assert folded == projected and len(folded) == 8 + 4 + 4 + 1


def test_a_category_made_from_selected_notes_is_folded_like_the_projection(
    app: Any, world: World
) -> None:
    from service.agreement.log import fold
    from service.storage.models import NoteAssignment

    world.blind(world.notes[20], new_category_name="made by hand, blind")
    made = world.post(
        "/projects/demo/categories", {"name": "Made by hand", "note_ids": world.notes[20:22]}
    )
    with app.state.services.db.transaction() as s:
        rows = s.scalars(select(NoteAssignment)).all()
        projected = {r.note_id: (None if r.is_noise else r.category_id) for r in rows}
        state = fold(s, 1)
    assert state.workflow == projected == {n: made["id"] for n in world.notes[20:22]}
    assert state.label_name(made["id"]) == "Made by hand"
    error = world.agreement()["judge_error_rate"]  # the blind name links to it: judge noise
    assert (error["n"], error["disagreements"], error["awaiting_links"]) == (1, 1, 0)


def test_a_census_audit_gives_exact_tier_a_counts(world: World) -> None:
    cats = {pid: world.act(pid, "confirm")["category_id"] for pid in (world.a, world.b, world.c)}
    truth = {n: cats[world.a] for n in world.notes[0:6]}  # two notes of A are really B
    truth |= {n: cats[world.b] for n in world.notes[6:16]}
    truth |= {n: None for n in world.notes[16:20]}  # C is noise
    truth |= {n: cats[world.c] for n in world.notes[20:24]}  # the judge's noise is C
    for note, label in truth.items():
        world.blind(note, **({"noise": True} if label is None else {"category_id": label}))
    counts = world.agreement()["corrected_counts"]
    rows = {r["name"]: r for r in counts["categories"]}
    assert {r["tier"] for r in rows.values()} == {"A"}
    assert (rows["A"]["raw"], rows["A"]["estimate"], rows["A"]["low"], rows["A"]["high"]) == (
        8,
        6,
        6,
        6,
    )
    assert (rows["B"]["raw"], rows["B"]["estimate"]) == (8, 10)
    assert (rows["C"]["raw"], rows["C"]["estimate"]) == (4, 4)
    assert (rows["noise"]["raw"], rows["noise"]["estimate"]) == (4, 4)
    assert rows["A"]["precision"]["value"] == 0.75  # 6 of the judge's 8 are A
    assert counts["audited"] == 24 and counts["unaudited_strata"] == []
    assert counts["categories"][0]["name"] == "B"  # Pareto order


def test_double_coding_gives_human_noise_and_reviewer_agreement(app: Any, world: World) -> None:
    with app.state.services.db.transaction() as s:
        project = get_or_create_project(s, "demo")
        world.keys["second"] = create_key(s, project, Role.reviewer, "second")
    cat_a = world.act(world.a, "confirm")["category_id"]
    for note in world.notes[0:4]:
        world.blind(note, category_id=cat_a)
    world.blind(world.notes[0], who="second", category_id=cat_a)
    world.blind(world.notes[1], who="second", noise=True)
    noise = world.agreement()["human_noise"]
    assert noise["double_coded"] == 2 and noise["e_hh"]["value"] == 0.5
    assert noise["excess"]["at_parity"] is True  # 0 of 4 vs 1 of 2: nothing to tell apart
    resp = world.client.get(
        "/api/v1/projects/demo/agreement/reviewers", headers=auth(world.keys["lead"])
    )
    rows = {r["reviewer"]: r for r in resp.json()["reviewers"]}
    first, second = rows["key:test-reviewer"], rows["key:second"]
    assert (first["blind_labelled"], second["blind_labelled"]) == (4, 2)
    assert (
        second["agreement_with_others"]["value"] == 0.5
        and second["agreement_with_others"]["n"] == 2
    )
    assert first["workflow_actions"] == 0 and rows["key:test-lead"]["workflow_actions"] == 1
    assert second["judge_disagreement"]["value"] == 0.5
