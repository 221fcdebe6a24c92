"""Blind means blind (issue #18): first runs in the reviewer's own words, revisions, identity.

A first run of 20 notes, worked by hand. Truth: D (dates) notes 0–7, F (follow-ups) 8–13,
T (tone) 14–17, noise 18–19. The judge: P1 "Date handling" = notes 0–9 (2 follow-ups wrong),
P2 "Reminders" = 10–15 (2 tone notes wrong), P3 "Tone" = 16–17, its noise 18–19. The audit is a
census (``audit_max_share = 1``). The reviewer labels blind in their own words, then reviews
the run perfectly: P1 → "Relative dates & scheduling" (notes 8, 9 moved out), P2 → "Missed
follow-ups" (14, 15 moved out), P3 → "Preachy tone", 18–19 noise. ``m(P1) = D``, ``m(P2) = F``,
``m(P3) = T``; the judge misplaces notes 8, 9, 14 and 15: 4 of 20 = 20%, whatever the blind
names are. Matching names by wording instead would read 18 of 20 wrong.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from judges.agreement import wilson
from service.auth import Role, create_key
from service.notes.batches import get_or_create_project
from service.storage.models import JudgeReveal, Note, Proposal, ReviewEvent
from tests.conftest import auth
from tests.replay import RecordedProposal, store_judge_output

TRUTH = ["D"] * 8 + ["F"] * 6 + ["T"] * 4 + [None] * 2
OWN_WORDS = {"D": "date arithmetic", "F": "missed follow up", "T": "preachy tone"}
OTHER_WORDS = {"D": "Arithmetic of dates!", "F": "no reminder sent", "T": "lecturing the parent"}
FINAL = {"D": "Relative dates & scheduling", "F": "Missed follow-ups", "T": "Preachy tone"}


@dataclass
class FirstRun:
    client: TestClient
    keys: dict[str, str]
    run: int
    notes: list[int]
    proposals: dict[str, int]  # judge name -> proposal id
    cats: dict[str, int] = field(default_factory=dict)  # truth -> category id

    def call(self, method: str, path: str, who: str = "reviewer", **body: Any) -> Any:
        resp = self.client.request(
            method, f"/api/v1{path}", json=body or None, headers=auth(self.keys[who])
        )
        assert resp.status_code < 300, resp.text
        return resp.json()

    def agreement(self) -> dict[str, Any]:
        resp = self.client.get("/api/v1/projects/demo/agreement", headers=auth(self.keys["lead"]))
        assert resp.status_code == 200, resp.text
        return resp.json()  # type: ignore[no-any-return]

    def error(self) -> dict[str, Any]:
        return self.agreement()["judge_error_rate"]  # type: ignore[no-any-return]

    def label(self, i: int, who: str = "reviewer", **choice: Any) -> dict[str, Any]:
        return self.call(  # type: ignore[no-any-return]
            "POST", f"/runs/{self.run}/audit/labels", who, note_id=self.notes[i], **choice
        )

    def blind_in_words(self, words: dict[str, str], who: str = "reviewer") -> None:
        for i, truth in enumerate(TRUTH):
            if truth is None:
                self.label(i, who, noise=True)
            else:
                self.label(i, who, new_category_name="Date maths" if i == 7 else words[truth])

    def review(self, who: str = "reviewer") -> None:
        """The perfect review of the module docs, through the API."""
        p1, p2, p3 = (self.proposals[n] for n in ("Date handling", "Reminders", "Tone"))
        self.call("GET", f"/runs/{self.run}/queue", who)
        for pid, truth in ((p1, "D"), (p2, "F"), (p3, "T")):
            version = self.call("POST", f"/proposals/{pid}/rename", who, version=1,
                                name=FINAL[truth])["proposal"]["version"]  # fmt: skip
            self.cats[truth] = self.call("POST", f"/proposals/{pid}/confirm", who, version=version)[
                "category_id"
            ]
        n = self.notes
        self.call("POST", f"/proposals/{p1}/move", who, version=3, note_ids=n[8:10],
                  to_category_id=self.cats["F"])  # fmt: skip
        self.call("POST", f"/proposals/{p2}/move", who, version=3, note_ids=n[14:16],
                  to_category_id=self.cats["T"])  # fmt: skip
        self.call("POST", f"/runs/{self.run}/unclustered/assign", who, note_ids=n[18:20],
                  to_noise=True)  # fmt: skip


@pytest.fixture
def first(app: Any, client: TestClient, keys: dict[str, str]) -> FirstRun:
    app.state.services.settings.audit_max_share = 1.0  # a census audit of the 20 notes
    lines = "\n".join(json.dumps({"external_id": f"b{i}", "text": f"blind {i}"}) for i in range(20))
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
    judged = [("Date handling", ids[0:10]), ("Reminders", ids[10:16]), ("Tone", ids[16:18])]
    run = store_judge_output(
        app.state.services, project_id, batch,
        [RecordedProposal(name, tuple(g)) for name, g in judged],
        judge_id="replay", judge_version="replay/1", seed=11,
    )  # fmt: skip
    world = FirstRun(client, keys, run, ids, {})
    world.call("POST", f"/runs/{run}/blind", "lead", enabled=True)
    with app.state.services.db.transaction() as s:
        rows = s.execute(select(Proposal.name, Proposal.id).where(Proposal.run_id == run)).all()
    world.proposals = {str(name): int(pid) for name, pid in rows}
    return world


def _bounds(x: int, n: int) -> tuple[float, float]:
    w = wilson(x, n)
    return round(w.low, 4), round(w.high, 4)


@pytest.mark.parametrize("words", [OWN_WORDS, OTHER_WORDS], ids=["own-words", "other-words"])
def test_a_first_run_in_own_words_is_pending_then_an_interval_that_ignores_wording(
    first: FirstRun, words: dict[str, str]
) -> None:
    first.blind_in_words(words)
    pending = first.error()
    assert pending["status"] == "pending_review"
    assert (pending["awaiting_links"], pending["n"], pending["disagreements"]) == (18, 2, 0)
    links = first.call("GET", f"/runs/{first.run}/audit/links")
    assert links["reviewed"] is False and {x["status"] for x in links["links"]} == {"pending"}

    first.review()
    error = first.error()
    assert error["status"] == "estimated" and error["runs_reviewed"] == 1
    assert (error["n"], error["disagreements"], error["value"]) == (20, 4, 0.2)
    assert (error["low"], error["high"]) == _bounds(4, 20)
    links = first.call("GET", f"/runs/{first.run}/audit/links")["links"]
    by_name = {x["name_key"]: x for x in links}
    assert len(links) == 4 and links[0]["reviewer"] == "key:test-reviewer"
    dates = by_name[" ".join(words["D"].lower().replace("!", "").split())]
    assert (dates["status"], dates["source"], dates["category_id"]) == (
        "linked", "automatic", first.cats["D"],
    )  # fmt: skip
    assert dates["evidence"] == [{"category_id": first.cats["D"], "name": FINAL["D"], "notes": 7}]
    assert by_name["date maths"]["category_id"] == first.cats["D"]  # a second name, same category
    counts = {r["name"]: r for r in first.agreement()["corrected_counts"]["categories"]}
    assert set(counts) == {*FINAL.values(), "noise"}  # no "new: <blind name>" rows left
    assert counts[FINAL["D"]]["estimate"] == 8 and counts[FINAL["F"]]["estimate"] == 6


def test_labels_after_the_reveal_are_revisions_that_leave_the_headline_alone(
    first: FirstRun,
) -> None:
    first.blind_in_words(OWN_WORDS)
    first.review()  # the reviewer has seen the proposals now
    before = first.error()
    d, f = first.cats["D"], first.cats["F"]
    moved = first.label(8, category_id=d)  # the judge said D: persuaded
    assert moved["mode"] == "revised" and moved["counts_in_headline"] is False
    assert moved["replaces_event_id"] is not None
    first.label(9, category_id=d)
    first.label(0, noise=True)  # away from the judge's D
    first.label(10, category_id=f)  # unchanged
    after = first.agreement()
    assert after["judge_error_rate"] == before
    persuasion = after["judge_persuasion"]
    assert (persuasion["revisions"], persuasion["changed"]) == (4, 3)
    assert (persuasion["toward_judge"], persuasion["away_from_judge"]) == (2, 1)
    assert persuasion["rate"]["value"] == 0.5 and persuasion["rate"]["n"] == 4
    audit = first.call("GET", f"/runs/{first.run}/audit")
    assert audit["revealed"] is True and audit["accepts"] == "revision"
    note8 = next(n for n in audit["notes"] if n["note_id"] == first.notes[8])
    assert note8["my_label"] == {"new_category_name": OWN_WORDS["F"]}  # the blind one counts
    assert note8["my_revision"] == {"category_id": d}
    rows = {r["reviewer"]: r for r in first.call(
        "GET", "/projects/demo/agreement/reviewers", "lead")["reviewers"]}  # fmt: skip
    assert (rows["key:test-reviewer"]["revisions"], rows["key:test-reviewer"]["toward_judge"]) == (
        4, 2,
    )  # fmt: skip


def test_reading_the_proposals_reveals_the_run_and_the_gate_lets_go(
    app: Any, first: FirstRun
) -> None:
    first.call("GET", f"/runs/{first.run}/proposals", "lead")  # a lead reads them ...
    label = first.label(0, "lead", noise=True)  # ... so the lead's audit label is a revision
    assert label["mode"] == "revised" and label["replaces_event_id"] is None
    first.label(0, new_category_name=OWN_WORDS["D"])  # the reviewer has seen nothing: blind
    with app.state.services.db.transaction() as s:
        modes = {
            (e.actor, e.mode, e.judge_visible)
            for e in s.scalars(select(ReviewEvent).where(ReviewEvent.action == "audit_label"))
        }
        reveals = {(r.actor, r.run_id) for r in s.scalars(select(JudgeReveal))}
    assert modes == {("key:test-lead", "revised", True), ("key:test-reviewer", "blind", False)}
    assert reveals == {("key:test-lead", first.run)}
    gate = first.call("GET", f"/runs/{first.run}/audit/gate")
    assert gate["must_audit_first"] is True and gate["revealed"] is False
    assert first.error()["labelled"] == 1
    assert first.agreement()["judge_persuasion"]["unblinded"] == 1


def test_two_keys_with_one_name_have_a_blind_gate_each(app: Any, first: FirstRun) -> None:
    with app.state.services.db.transaction() as s:
        project = get_or_create_project(s, "demo")
        twins = [create_key(s, project, Role.reviewer, "twin") for _ in range(2)]
    first.keys |= {"twin1": twins[0], "twin2": twins[1]}
    for i in range(20):
        first.label(i, "twin1", noise=True)
    assert first.call("GET", f"/runs/{first.run}/queue", "twin1")["proposals"]
    refused = first.client.get(f"/api/v1/runs/{first.run}/queue", headers=auth(twins[1]))
    assert refused.status_code == 409 and refused.json()["error"] == "must_audit_first"
    assert refused.json()["pending"] == 20
    mine = first.call("GET", f"/runs/{first.run}/audit/gate", "twin2")
    assert mine["reviewer"] == "key:twin" and mine["labelled"] == 0
    ambiguous = first.client.get(
        f"/api/v1/runs/{first.run}/audit/gate",
        params={"reviewer": "key:twin"},
        headers=auth(first.keys["lead"]),
    )
    assert ambiguous.status_code == 422 and ambiguous.json()["field"] == "reviewer"
    assert mine["actor"].startswith("key:") and mine["actor"] != "key:twin"
    twin2 = first.client.get(
        f"/api/v1/runs/{first.run}/audit/gate",
        params={"reviewer": mine["actor"]},
        headers=auth(first.keys["lead"]),
    ).json()
    assert twin2["pending_note_ids"] == mine["pending_note_ids"] and twin2["labelled"] == 0
    rows = first.call("GET", "/projects/demo/agreement/reviewers", "lead")["reviewers"]
    assert [(r["reviewer"], r["blind_labelled"]) for r in rows] == [("key:twin", 20)]


def test_a_lead_links_a_blind_name_by_hand_and_hands_it_back(first: FirstRun) -> None:
    first.blind_in_words(OWN_WORDS)
    first.review()
    path = f"/runs/{first.run}/audit/links"
    refused = first.client.post(
        f"/api/v1{path}", json={"blind_name": "preachy tone", "noise": True},
        headers=auth(first.keys["reviewer"]),
    )  # fmt: skip
    assert refused.status_code == 403
    unknown = first.client.post(
        f"/api/v1{path}", json={"blind_name": "never written", "noise": True},
        headers=auth(first.keys["lead"]),
    )  # fmt: skip
    assert unknown.status_code == 404 and unknown.json()["field"] == "blind_name"
    both = first.client.post(
        f"/api/v1{path}", json={"blind_name": "preachy tone", "noise": True, "category_id": 1},
        headers=auth(first.keys["lead"]),
    )  # fmt: skip
    assert both.status_code == 422 and both.json()["field"] == "link"
    # "Preachy  TONE" is the same name; to noise: notes 16, 17 (judge: T) now disagree too
    body = first.call("POST", path, "lead", blind_name="Preachy  TONE", noise=True)
    link = next(x for x in body["links"] if x["name_key"] == "preachy tone")
    assert (link["source"], link["noise"], link["overridden_by"]) == ("lead", True, "key:test-lead")
    assert link["automatic_category_id"] == first.cats["T"]
    assert (first.error()["disagreements"], first.error()["n"]) == (6, 20)
    first.call("POST", path, "lead", blind_name="preachy tone", automatic=True)
    assert first.error()["disagreements"] == 4
    first.call("POST", path, "lead", blind_name="date arithmetic", category_id=first.cats["F"])
    assert first.error()["disagreements"] == 4 + 7  # D's seven notes now read F


def test_the_audit_of_a_small_run_takes_a_quarter_with_the_width_it_buys(
    app: Any, client: TestClient, keys: dict[str, str]
) -> None:
    lines = "\n".join(json.dumps({"external_id": f"s{i}", "text": f"small {i}"}) for i in range(46))
    resp = client.post(
        "/api/v1/projects/demo/batches",
        content=lines,
        headers={**auth(keys["lead"]), "Content-Type": "application/x-ndjson"},
    )
    batch = int(resp.json()["id"])
    with app.state.services.db.transaction() as s:
        ids = list(s.scalars(select(Note.id).where(Note.batch_id == batch).order_by(Note.id)))
        project_id = get_or_create_project(s, "demo").id
    run = store_judge_output(
        app.state.services, project_id, batch, [RecordedProposal("All", tuple(ids[:40]))],
        judge_id="replay", judge_version="replay/1",
    )  # fmt: skip
    audit = client.get(f"/api/v1/runs/{run}/audit", headers=auth(keys["reviewer"])).json()
    assert len(audit["notes"]) == 12  # not 30 of 46: a quarter, rounded up
    sample = audit["sample"]
    assert (sample["size"], sample["run_notes"]) == (12, 46)
    assert "at most 25% of the run" in sample["rule"] and "at least 10" in sample["rule"]
    assert sample["expected_half_width"] == pytest.approx(0.195, abs=0.001)
    error = client.get("/api/v1/projects/demo/agreement", headers=auth(keys["lead"])).json()
    assert error["judge_error_rate"]["expected_half_width"] == sample["expected_half_width"]
