"""Review actions through the JSON API: effects, versions, conflicts, blind audit, claims."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.storage.models import NoteAssignment, ReviewEvent
from tests.conftest import auth
from tests.review_ui.seed import SeededRun, seed_run


@pytest.fixture
def seeded(app: Any, keys: dict[str, str]) -> SeededRun:
    with app.state.services.db.transaction() as session:
        return seed_run(session)


def post(client: TestClient, key: str, path: str, body: dict[str, Any] | None = None) -> Any:
    return client.post(f"/api/v1{path}", json=body or {}, headers=auth(key))


def get(client: TestClient, key: str, path: str) -> Any:
    return client.get(f"/api/v1{path}", headers=auth(key))


def categories(client: TestClient, key: str) -> dict[str, int]:
    resp = get(client, key, "/projects/demo/categories")
    assert resp.status_code == 200, resp.text
    return {c["name"]: c["count"] for c in resp.json()}


def assignments(app: Any) -> dict[int, tuple[int | None, bool]]:
    with app.state.services.db.transaction() as s:
        rows = s.scalars(select(NoteAssignment)).all()
        return {r.note_id: (r.category_id, r.is_noise) for r in rows}


def test_confirm_creates_a_counted_category(client, keys, seeded) -> None:
    pid = seeded.proposals[0]
    resp = post(client, keys["reviewer"], f"/proposals/{pid}/confirm", {"version": 1})
    assert resp.status_code == 200, resp.text
    body = resp.json()
    assert body["proposal"]["status"] == "confirmed"
    assert body["proposal"]["version"] == 2
    assert body["new_category"] is True
    assert categories(client, keys["reviewer"]) == {"Wrong refund amount": 6}
    again = post(client, keys["reviewer"], f"/proposals/{pid}/confirm", {"version": 2})
    assert again.status_code == 409
    assert again.json()["error"] == "already_decided"


def test_stale_version_says_who_changed_it_and_shows_the_new_state(client, keys, seeded):
    pid = seeded.proposals[1]
    first = post(client, keys["lead"], f"/proposals/{pid}/rename", {"version": 1, "name": "A"})
    assert first.status_code == 200, first.text
    late = post(client, keys["reviewer"], f"/proposals/{pid}/confirm", {"version": 1})
    assert late.status_code == 409
    body = late.json()
    assert body["error"] == "stale_version"
    assert body["changed_by"] == "key:test-lead"
    assert body["current"]["name"] == "A" and body["current"]["version"] == 2
    assert "key:test-lead" in body["message"]
    with client.app.state.services.db.transaction() as s:  # the losing action left no event
        assert [e.action for e in s.scalars(select(ReviewEvent))] == ["rename"]


def test_unknown_proposal_is_404_and_bad_input_422(client, keys, seeded) -> None:
    assert (
        post(client, keys["reviewer"], "/proposals/99999/confirm", {"version": 1}).status_code
        == 404
    )
    pid = seeded.proposals[0]
    assert post(client, keys["reviewer"], f"/proposals/{pid}/confirm", {}).status_code == 422
    blank = post(client, keys["reviewer"], f"/proposals/{pid}/rename", {"version": 1, "name": " "})
    assert blank.status_code == 422 and blank.json()["field"] == "name"


def test_rename_then_reject_makes_notes_noise(client, keys, seeded, app) -> None:
    pid = seeded.proposals[2]
    body = {"version": 1, "name": "Wrong language", "definition": "Replies in another language."}
    renamed = post(client, keys["reviewer"], f"/proposals/{pid}/rename", body).json()
    assert renamed["proposal"]["definition"] == "Replies in another language."
    resp = post(client, keys["reviewer"], f"/proposals/{pid}/reject",
                {"version": 2, "reason": "not_a_failure"})  # fmt: skip
    assert resp.json()["proposal"]["status"] == "rejected"
    got = assignments(app)
    assert all(got[n] == (None, True) for n in seeded.members[pid])


def test_suggested_split_finds_the_two_halves_and_split_makes_proposals(client, keys, seeded):
    pid = seeded.proposals[0]
    suggested = get(client, keys["reviewer"], f"/proposals/{pid}/suggested-split").json()
    assert sorted(map(sorted, suggested["groups"])) == sorted(map(sorted, seeded.halves))
    resp = post(client, keys["reviewer"], f"/proposals/{pid}/split",
                {"version": 1, "groups": suggested["groups"], "names": ["Refunds", "Tone"]})  # fmt: skip
    assert resp.status_code == 200, resp.text
    children = resp.json()["child_proposal_ids"]
    queue = get(client, keys["reviewer"], f"/runs/{seeded.run_id}/queue").json()
    by_id = {p["proposal_id"]: p for p in queue["proposals"]}
    assert by_id[pid]["status"] == "split"
    assert {by_id[c]["name"] for c in children} == {"Refunds", "Tone"}
    assert all(by_id[c]["origin"] == "split" and by_id[c]["size"] == 3 for c in children)
    assert queue["pending"] == 4
    bad = post(client, keys["reviewer"], f"/proposals/{children[0]}/split",
               {"version": 1, "groups": [[seeded.halves[0][0]]]})  # fmt: skip
    assert bad.status_code == 422


def test_merge_into_proposal_and_into_category(client, keys, seeded, app) -> None:
    big, mid, small = seeded.proposals
    cat = post(client, keys["reviewer"], f"/proposals/{mid}/confirm", {"version": 1}).json()
    resp = post(client, keys["reviewer"], f"/proposals/{small}/merge",
                {"version": 1, "into_proposal_id": big})  # fmt: skip
    assert resp.status_code == 200, resp.text
    detail = get(client, keys["reviewer"], f"/proposals/{big}").json()
    assert detail["size"] == 9 and detail["version"] == 2
    resp = post(client, keys["reviewer"], f"/proposals/{big}/merge",
                {"version": 2, "into_category_id": cat["category_id"]})  # fmt: skip
    assert resp.json()["proposal"]["status"] == "merged"
    assert categories(client, keys["reviewer"]) == {"Hallucinated order status": 13}
    both = post(client, keys["reviewer"], f"/proposals/{big}/merge",
                {"version": 3, "into_proposal_id": mid, "into_category_id": 1})  # fmt: skip
    assert both.status_code == 422


def test_move_notes_to_noise_category_and_proposal(client, keys, seeded, app) -> None:
    big, mid, small = seeded.proposals
    cat = post(client, keys["reviewer"], f"/proposals/{mid}/confirm", {"version": 1}).json()
    a, b, c = seeded.members[big][:3]
    r1 = post(client, keys["reviewer"], f"/proposals/{big}/move",
              {"version": 1, "note_ids": [a], "to_noise": True})  # fmt: skip
    r2 = post(client, keys["reviewer"], f"/proposals/{big}/move",
              {"version": 2, "note_ids": [b], "to_category_id": cat["category_id"]})  # fmt: skip
    r3 = post(client, keys["reviewer"], f"/proposals/{big}/move",
              {"version": 3, "note_ids": [c], "to_proposal_id": small})  # fmt: skip
    assert [r.status_code for r in (r1, r2, r3)] == [200, 200, 200]
    assert r3.json()["proposal"]["size"] == 3
    got = assignments(app)
    assert got[a] == (None, True) and got[b] == (cat["category_id"], False)
    assert c not in got
    assert c in get(client, keys["reviewer"], f"/proposals/{small}").json()["member_note_ids"]
    stranger = post(client, keys["reviewer"], f"/proposals/{big}/move",
                    {"version": 4, "note_ids": [a], "to_noise": True})  # fmt: skip
    assert stranger.status_code == 422


def test_assign_unclustered_and_undo(client, keys, seeded, app) -> None:
    u0, u1 = seeded.unclustered[:2]
    listed = get(client, keys["reviewer"], f"/runs/{seeded.run_id}/unclustered").json()
    assert [n["note_id"] for n in listed] == seeded.unclustered  # the read API's list
    resp = post(client, keys["reviewer"], f"/runs/{seeded.run_id}/unclustered/assign",
                {"note_ids": [u0, u1], "to_noise": True})  # fmt: skip
    assert resp.status_code == 200, resp.text
    assert assignments(app) == {u0: (None, True), u1: (None, True)}
    undone = post(client, keys["reviewer"], f"/runs/{seeded.run_id}/undo")
    assert undone.status_code == 200, undone.text
    assert undone.json()["undone_action"] == "assign"
    assert assignments(app) == {}
    nothing = post(client, keys["reviewer"], f"/runs/{seeded.run_id}/undo")
    assert nothing.status_code == 409


def test_the_run_list_the_queue_and_the_detail_show_a_proposal_alike(client, keys, seeded):
    """One read model per proposal: the three reads agree on every key they share."""
    big, mid, small = seeded.proposals
    post(client, keys["reviewer"], f"/proposals/{mid}/rename", {"version": 1, "name": "Renamed"})
    post(client, keys["reviewer"], f"/proposals/{big}/move",
         {"version": 1, "note_ids": seeded.members[big][:1], "to_proposal_id": small})  # fmt: skip
    post(client, keys["reviewer"], f"/proposals/{small}/claim")
    run = seeded.run_id
    listed = {p["id"]: p for p in get(client, keys["reviewer"], f"/runs/{run}/proposals").json()}
    queued = {
        p["proposal_id"]: p
        for p in get(client, keys["reviewer"], f"/runs/{run}/queue").json()["proposals"]
    }
    shared = ("name", "status", "version", "origin", "judge_id", "judge_failed", "confidence",
              "category_id", "updated_by", "claimed_by")  # fmt: skip
    for pid in seeded.proposals:
        detail = get(client, keys["reviewer"], f"/proposals/{pid}").json()
        item, row = listed[pid], queued[pid]
        assert {k: item[k] for k in shared} == {k: row[k] for k in shared}
        assert {k: item[k] for k in shared} == {k: detail[k] for k in shared}
        assert item["count"] == row["size"] == detail["size"] == len(detail["members"])
        assert item["claim_expires_at"] == detail["claim_expires_at"]
        for key in ("definition", "judge_name", "judge_definition", "judge_version",
                    "failure_reason", "keywords", "parent_proposal_id"):  # fmt: skip
            assert item[key] == detail[key], key
        assert [m["note_id"] for m in item["members"]] == detail["member_note_ids"]
        for shown, full in zip(item["members"], detail["members"], strict=True):
            assert shown == {k: full[k] for k in shown}
    assert listed[mid]["name"] == "Renamed" and listed[small]["claimed_by"] == "key:test-reviewer"
    members = [m for p in listed.values() for m in p["members"]]
    assert any(m["reassigned"] for m in members) and any(m["misfit"] for m in members)


def test_claims_show_and_expire_only_for_the_holder(client, keys, seeded) -> None:
    pid = seeded.proposals[0]
    assert post(client, keys["reviewer"], f"/proposals/{pid}/claim").status_code == 200
    taken = post(client, keys["lead"], f"/proposals/{pid}/claim")
    assert taken.status_code == 409 and taken.json()["claimed_by"] == "key:test-reviewer"
    queue = get(client, keys["lead"], f"/runs/{seeded.run_id}/queue").json()
    assert queue["proposals"][0]["claimed_by"] == "key:test-reviewer"
    assert post(client, keys["reviewer"], f"/proposals/{pid}/release").status_code == 200
    assert post(client, keys["lead"], f"/proposals/{pid}/claim").status_code == 200


def test_blind_audit_labels_are_a_separate_stream(client, keys, seeded, app) -> None:
    run = seeded.run_id
    sample = get(client, keys["reviewer"], f"/runs/{run}/audit").json()
    assert len(sample["notes"]) == 5 and sample["blind_mode"] is False
    assert set(sample["notes"][0]) == {
        "position",
        "note_id",
        "text",
        "author",
        "trace_url",
        "inclusion_prob",
        "my_label",
    }  # no judge labels
    assert sample["notes"][0]["inclusion_prob"] == pytest.approx(5 / 17)
    note = sample["notes"][0]["note_id"]
    early = post(
        client, keys["reviewer"], f"/runs/{run}/audit/labels", {"note_id": note, "noise": True}
    )
    assert early.status_code == 409
    assert (
        post(client, keys["reviewer"], f"/runs/{run}/blind", {"enabled": True}).status_code == 403
    )
    assert post(client, keys["lead"], f"/runs/{run}/blind", {"enabled": True}).status_code == 200
    resp = post(client, keys["reviewer"], f"/runs/{run}/audit/labels",
                {"note_id": note, "new_category_name": "Refund confusion"})  # fmt: skip
    assert resp.status_code == 201, resp.text
    outside = post(client, keys["reviewer"], f"/runs/{run}/audit/labels",
                   {"note_id": 99999, "noise": True})  # fmt: skip
    assert outside.status_code == 404
    again = get(client, keys["reviewer"], f"/runs/{run}/audit").json()
    assert again["notes"][0]["my_label"] == {"new_category_name": "Refund confusion"}
    with app.state.services.db.transaction() as s:
        event = s.scalars(select(ReviewEvent).where(ReviewEvent.action == "audit_label")).one()
        assert (event.mode, event.judge_visible, event.note_ids) == ("blind", False, [note])
    assert assignments(app) == {}


def test_rebuild_route_is_for_leads_and_keeps_state(client, keys, seeded) -> None:
    pid = seeded.proposals[0]
    post(client, keys["reviewer"], f"/proposals/{pid}/confirm", {"version": 1})
    before = get(client, keys["lead"], f"/runs/{seeded.run_id}/queue").json()
    assert post(client, keys["reviewer"], "/projects/demo/rebuild").status_code == 403
    assert post(client, keys["lead"], "/projects/demo/rebuild").status_code == 200
    assert get(client, keys["lead"], f"/runs/{seeded.run_id}/queue").json() == before
    assert categories(client, keys["lead"]) == {"Wrong refund amount": 6}


def test_review_routes_document_their_answers_and_errors(client) -> None:
    schema = client.get("/openapi.json").json()
    ops = {
        (method, path): op
        for path, item in schema["paths"].items()
        for method, op in item.items()
        if "review" in op.get("tags", [])
    }
    assert len(ops) == 19  # 18 + the notes filing route (service/http/filing.py)
    for (method, path), op in ops.items():
        answers = op["responses"]
        ok = answers.get("200") or answers["201"]
        assert ok["content"]["application/json"]["schema"]["$ref"], (method, path)
        assert {"401", "403", "404"} <= set(answers), (method, path)
        for code in set(answers) - {"200", "201"}:
            ref = answers[code]["content"]["application/json"]["schema"]["$ref"]
            assert ref.endswith("/ErrorOut"), (method, path, code)
    conflict = ops[("post", "/api/v1/proposals/{proposal_id}/confirm")]["responses"]["409"]
    for code in ("stale_version", "already_decided", "must_audit_first"):
        assert code in conflict["description"]
    models = schema["components"]["schemas"]
    assert models["ConfirmIn"]["properties"]["version"]["minimum"] == 1
    bulk = models["ConfirmCarryOversIn"]["properties"]["proposals"]
    assert (bulk["minItems"], bulk["maxItems"]) == (1, 1000)
    assert models["SplitIn"]["properties"]["groups"]["minItems"] == 2
    assert models["RenameIn"]["properties"]["name"]["maxLength"] == 300
    assert models["ProposalStateOut"]["properties"]["status"]["$ref"].endswith("ProposalStatus")


def test_the_schema_refuses_what_the_actions_refuse_naming_the_field(client, keys, seeded, app):
    pid = seeded.proposals[0]
    cases = [
        ("confirm", {"version": 0}, "version"),
        ("rename", {"version": 1, "name": "x" * 301}, "name"),
        ("rename", {"version": 1, "name": "ok", "definition": "d" * 4001}, "definition"),
        ("reject", {"version": 1, "reason": "boring"}, "reason"),
        ("split", {"version": 1, "groups": [[n] for n in range(10)]}, "groups"),
        ("split", {"version": 1, "groups": [[1], []]}, "groups.1"),
        ("move", {"version": 1, "note_ids": [], "to_noise": True}, "note_ids"),
    ]
    for action, body, field in cases:
        resp = post(client, keys["reviewer"], f"/proposals/{pid}/{action}", body)
        assert resp.status_code == 422, (action, resp.text)
        assert resp.json()["field"] == field and resp.json()["error"] == "invalid_input"
    with app.state.services.db.transaction() as s:
        assert s.scalars(select(ReviewEvent)).all() == []
