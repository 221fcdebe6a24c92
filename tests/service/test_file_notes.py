"""Filing notes of a run into a category from wherever they sit: one action, one undo.

Uses the two-week project of ``tests/service/test_carry_over.py`` (week 1 reviewed into one
category per failure, week 2 run: its recurring notes wait as carry-over proposals).
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import auth
from tests.service.test_carry_over import two_weeks  # noqa: F401  (the fixture)


def _pending(client: TestClient, run_id: int, headers: dict[str, str]) -> dict[int, list[int]]:
    """Members of the run's pending proposals, by proposal id."""
    rows = client.get(f"/api/v1/runs/{run_id}/proposals", headers=headers).json()
    return {
        p["id"]: sorted(m["note_id"] for m in p["members"])
        for p in rows
        if p["status"] == "pending"
    }


def _categories(client: TestClient, headers: dict[str, str]) -> dict[int, int]:
    rows = client.get("/api/v1/projects/demo/categories", headers=headers).json()
    return {c["id"]: c["count"] for c in rows}


def _loose(client: TestClient, run_id: int, headers: dict[str, str]) -> list[int]:
    rows = client.get(f"/api/v1/runs/{run_id}/unclustered", headers=headers).json()
    return sorted(n["note_id"] for n in rows if n.get("label") is None)


def test_notes_from_several_proposals_are_filed_in_one_action_and_undone_in_one(
    client: TestClient,
    keys: dict[str, str],
    two_weeks: dict[str, Any],  # noqa: F811
) -> None:
    run_id = two_weeks["run"]
    reviewer = auth(keys["reviewer"])
    pending = _pending(client, run_id, reviewer)
    sources = [pid for pid, members in pending.items() if len(members) >= 2][:3]
    assert len(sources) >= 2
    target = min(_categories(client, reviewer))
    picked = [pending[pid][0] for pid in sources]  # one note of each, never all of one
    loose = _loose(client, run_id, reviewer)
    picked += loose[:1]
    before = _categories(client, reviewer)

    done = client.post(
        f"/api/v1/runs/{run_id}/notes/file",
        json={"category_id": target, "note_ids": picked},
        headers=reviewer,
    )
    assert done.status_code == 200, done.text
    body = done.json()
    assert body["note_ids"] == picked and body["category_id"] == target
    assert body["taken_from"] == [
        {"proposal_id": pid, "note_ids": [pending[pid][0]]} for pid in sorted(sources)
    ]
    assert body["unclustered"] == loose[:1]
    assert len(body["event_ids"]) == len(sources) + (1 if loose else 0)
    after = _categories(client, reviewer)
    assert after[target] == before[target] + len(picked)
    now = _pending(client, run_id, reviewer)
    for pid in sources:  # each source kept its other notes and is still pending
        assert now[pid] == pending[pid][1:]
    cats = client.get("/api/v1/projects/demo/categories", headers=reviewer).json()
    assert after == {c["id"]: c["count"] for c in cats}

    undone = client.post(f"/api/v1/runs/{run_id}/undo", headers=reviewer)
    assert undone.status_code == 200, undone.text
    assert sorted(undone.json()["reverted_event_ids"]) == sorted(body["event_ids"])
    assert _categories(client, reviewer) == before
    assert _pending(client, run_id, reviewer) == pending
    assert _loose(client, run_id, reviewer) == loose
    # what undo restored equals a rebuild from the log
    rebuilt = client.post("/api/v1/projects/demo/rebuild", headers=auth(keys["lead"]))
    assert rebuilt.status_code == 200, rebuilt.text
    assert _categories(client, reviewer) == before
    assert _pending(client, run_id, reviewer) == pending


def test_filing_then_a_rebuild_keeps_the_filed_notes(
    client: TestClient,
    keys: dict[str, str],
    two_weeks: dict[str, Any],  # noqa: F811
) -> None:
    run_id = two_weeks["run"]
    reviewer = auth(keys["reviewer"])
    pending = _pending(client, run_id, reviewer)
    sources = [pid for pid, members in pending.items() if len(members) >= 2][:2]
    target = max(_categories(client, reviewer))
    picked = [pending[pid][-1] for pid in sources]
    done = client.post(
        f"/api/v1/runs/{run_id}/notes/file",
        json={"category_id": target, "note_ids": picked},
        headers=reviewer,
    )
    assert done.status_code == 200, done.text
    filed = _categories(client, reviewer)
    rebuilt = client.post("/api/v1/projects/demo/rebuild", headers=auth(keys["lead"]))
    assert rebuilt.status_code == 200, rebuilt.text
    assert _categories(client, reviewer) == filed
    now = _pending(client, run_id, reviewer)
    assert all(now[pid] == pending[pid][:-1] for pid in sources)


def test_filing_refuses_bad_input_and_changes_nothing(
    client: TestClient,
    keys: dict[str, str],
    two_weeks: dict[str, Any],  # noqa: F811
) -> None:
    run_id = two_weeks["run"]
    reviewer = auth(keys["reviewer"])
    pending = _pending(client, run_id, reviewer)
    before = _categories(client, reviewer)
    target = min(before)
    some = next(members for members in pending.values() if len(members) >= 2)
    url = f"/api/v1/runs/{run_id}/notes/file"

    def post(body: dict[str, Any], headers: dict[str, str] = reviewer) -> Any:
        return client.post(url, json=body, headers=headers)

    resp = post({"category_id": target, "note_ids": []})
    assert resp.status_code == 422 and "note_ids" in str(resp.json()["field"]), resp.text
    resp = post({"category_id": target, "note_ids": [some[0], some[0]]})
    assert resp.status_code == 422 and "note_ids" in str(resp.json()["field"]), resp.text
    # every note of a pending proposal: merge it instead
    whole = next(pid for pid, members in pending.items() if members)
    resp = post({"category_id": target, "note_ids": pending[whole]})
    assert resp.status_code == 422 and resp.json()["field"] == "note_ids", resp.text
    assert resp.json()["proposal_id"] == whole
    # a note of week 1 (already in a category), and an unknown note: not the run's to file
    week1 = client.get("/api/v1/projects/demo/categories", headers=reviewer).json()
    assert week1
    unknown = max(n for members in pending.values() for n in members) + 10_000
    resp = post({"category_id": target, "note_ids": [some[0], unknown]})
    assert resp.status_code == 422 and resp.json()["note_ids"] == [unknown], resp.text
    # an unknown category
    resp = post({"category_id": max(before) + 999, "note_ids": [some[0]]})
    assert resp.status_code == 404 and resp.json()["field"] == "category_id", resp.text
    # a client may not review; an unknown run is 404
    resp = post({"category_id": target, "note_ids": [some[0]]}, auth(keys["client"]))
    assert resp.status_code in (403, 404)
    resp = client.post(
        f"/api/v1/runs/{run_id + 999}/notes/file",
        json={"category_id": target, "note_ids": [some[0]]},
        headers=reviewer,
    )
    assert resp.status_code == 404

    assert _categories(client, reviewer) == before  # nothing stored by any refusal
    assert _pending(client, run_id, reviewer) == pending
