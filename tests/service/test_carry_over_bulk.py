"""Accepting carry-over proposals at once: one call, all or nothing, one undo reverts them all.

Uses the two-week project of ``tests/service/test_carry_over.py`` (week 1 reviewed into one
category per failure, week 2 run: its recurring notes wait as carry-over proposals).
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from tests.conftest import auth
from tests.service.test_carry_over import two_weeks  # noqa: F401  (the fixture)


def _carried(client: TestClient, run_id: int, headers: dict[str, str]) -> list[dict[str, Any]]:
    queue = client.get(f"/api/v1/runs/{run_id}/queue", headers=headers).json()
    return [p for p in queue["proposals"] if p["kind"] == "carry_over" and p["status"] == "pending"]


def _counts(client: TestClient, headers: dict[str, str]) -> dict[int, int]:
    rows = client.get("/api/v1/projects/demo/categories", headers=headers).json()
    return {c["id"]: c["count"] for c in rows}


def test_bulk_confirm_files_every_carry_over_and_one_undo_reverts_them(
    client: TestClient,
    keys: dict[str, str],
    two_weeks: dict[str, Any],  # noqa: F811
) -> None:
    run_id = two_weeks["run"]
    reviewer = auth(keys["reviewer"])
    rows = _carried(client, run_id, reviewer)
    assert len(rows) >= 2
    before = _counts(client, reviewer)
    body = {"proposals": [{"id": r["proposal_id"], "version": r["version"]} for r in rows]}
    done = client.post(f"/api/v1/runs/{run_id}/carry-overs/confirm", json=body, headers=reviewer)
    assert done.status_code == 200, done.text
    confirmed = done.json()["confirmed"]
    assert [c["proposal_id"] for c in confirmed] == [r["proposal_id"] for r in rows]
    assert [c["category_id"] for c in confirmed] == [r["matched_category_id"] for r in rows]
    after = _counts(client, reviewer)
    for r in rows:
        cid = r["matched_category_id"]
        assert after[cid] == before[cid] + r["size"]
    assert not _carried(client, run_id, reviewer)  # none left pending

    undone = client.post(f"/api/v1/runs/{run_id}/undo", headers=reviewer)
    assert undone.status_code == 200, undone.text
    assert sorted(undone.json()["reverted_event_ids"]) == sorted(c["event_id"] for c in confirmed)
    assert _counts(client, reviewer) == before
    back = _carried(client, run_id, reviewer)
    assert {r["proposal_id"] for r in back} == {r["proposal_id"] for r in rows}
    # what undo restored equals a rebuild from the log
    lead = auth(keys["lead"])
    rebuilt = client.post("/api/v1/projects/demo/rebuild", headers=lead)
    assert rebuilt.status_code == 200, rebuilt.text
    assert _counts(client, reviewer) == before
    again = {r["proposal_id"] for r in _carried(client, run_id, reviewer)}
    assert again == {r["proposal_id"] for r in rows}


def test_bulk_confirm_is_all_or_nothing(
    client: TestClient,
    keys: dict[str, str],
    two_weeks: dict[str, Any],  # noqa: F811
) -> None:
    run_id = two_weeks["run"]
    reviewer = auth(keys["reviewer"])
    rows = _carried(client, run_id, reviewer)
    before = _counts(client, reviewer)
    items = [{"id": r["proposal_id"], "version": r["version"]} for r in rows]
    url = f"/api/v1/runs/{run_id}/carry-overs/confirm"

    stale = [*items[:-1], {**items[-1], "version": items[-1]["version"] + 1}]
    resp = client.post(url, json={"proposals": stale}, headers=reviewer)
    assert resp.status_code == 409 and resp.json()["error"] == "stale_version", resp.text

    twice = [*items, items[0]]
    resp = client.post(url, json={"proposals": twice}, headers=reviewer)
    assert resp.status_code == 422 and resp.json()["field"] == f"proposals[{len(items)}]"

    queue = client.get(f"/api/v1/runs/{run_id}/queue", headers=reviewer).json()["proposals"]
    new = next((p for p in queue if p["kind"] == "new" and p["status"] == "pending"), None)
    if new is not None:
        mixed = [*items, {"id": new["proposal_id"], "version": new["version"]}]
        resp = client.post(url, json={"proposals": mixed}, headers=reviewer)
        assert resp.status_code == 422 and "not a carry-over" in resp.json()["message"]

    resp = client.post(url, json={"proposals": []}, headers=reviewer)
    assert resp.status_code == 422 and "proposals" in resp.json()["field"]
    resp = client.post(url, json={"proposals": items}, headers=auth(keys["client"]))
    assert resp.status_code in (403, 404)
    resp = client.post(
        f"/api/v1/runs/{run_id + 999}/carry-overs/confirm", json={"proposals": items},
        headers=reviewer,
    )  # fmt: skip
    assert resp.status_code == 404

    assert _counts(client, reviewer) == before  # nothing stored by any refusal
    assert len(_carried(client, run_id, reviewer)) == len(rows)
