"""The codebook carries over: week 2's notes that fit a confirmed category arrive as its proposals.

Week 1 (``tests/weekly_notes.py``): 48 notes of four recurring failures, a run, then one category
per failure made from its notes (``POST /projects/{project}/categories``). Week 2: those failures
again, a failure the codebook lacks (rude tone) and a note from another world; its run matches
notes to the categories before clustering. The real MiniLM model and pipeline, SQLite and
PostgreSQL.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import pytest
from fastapi.testclient import TestClient

from tests.conftest import auth, wait_for_run
from tests.weekly_notes import TONE, second_week, week


def submit_and_run(
    client: TestClient, key: str, notes: list[tuple[str, str]], tag: str
) -> tuple[int, dict[int, str]]:
    """Submit (failure, text) notes as a batch and run it; returns the run and gold by note id."""
    body = {"notes": [{"external_id": f"{tag}-{i}", "text": t} for i, (_, t) in enumerate(notes)]}
    batch = client.post("/api/v1/projects/demo/batches", json=body, headers=auth(key))
    assert batch.status_code == 201, batch.text
    run = client.post(
        "/api/v1/projects/demo/runs", json={"batch_id": batch.json()["id"]}, headers=auth(key)
    )
    assert run.status_code == 202, run.text
    status = wait_for_run(client, run.json()["id"], key)
    assert status["status"] == "succeeded", status
    ids = batch.json()["note_ids"]
    return int(status["id"]), {ids[i]: failure for i, (failure, _) in enumerate(notes)}


@pytest.fixture
def two_weeks(client: TestClient, keys: dict[str, str]) -> dict[str, Any]:
    """Week 1 reviewed into one category per failure; week 2 run. Ids and gold labels."""
    run1, gold1 = submit_and_run(client, keys["lead"], week(12, seed=1), "w1")
    # week 1's proposals rejected (their notes become noise), then one category per failure
    # from its notes: a codebook whose every member is right
    for p in client.get(f"/api/v1/runs/{run1}/proposals", headers=auth(keys["lead"])).json():
        resp = client.post(
            f"/api/v1/proposals/{p['id']}/reject",
            json={"version": p["version"]},
            headers=auth(keys["reviewer"]),
        )
        assert resp.status_code == 200, resp.text
    by_failure: dict[str, list[int]] = defaultdict(list)
    for note_id, failure in gold1.items():
        by_failure[failure].append(note_id)
    categories = {}
    for failure, note_ids in sorted(by_failure.items()):
        made = client.post(
            "/api/v1/projects/demo/categories",
            json={"name": failure, "note_ids": note_ids},
            headers=auth(keys["reviewer"]),
        )
        assert made.status_code == 201, made.text
        categories[made.json()["id"]] = failure
    run2, gold = submit_and_run(client, keys["lead"], second_week(), "w2")
    return {"run": run2, "categories": categories, "gold": gold}


def test_notes_that_fit_a_confirmed_category_arrive_as_its_carry_over_proposals(
    client: TestClient, keys: dict[str, str], two_weeks: dict[str, Any]
) -> None:
    run_id, categories, gold = two_weeks["run"], two_weeks["categories"], two_weeks["gold"]
    reviewer = auth(keys["reviewer"])
    status = client.get(f"/api/v1/runs/{run_id}", headers=reviewer).json()
    carry = status["params"]["carry_over"]
    assert carry["calibrated"] and carry["categories"] == len(categories)
    assert carry["k"] in carry["params"]["k"]  # chosen on the project's decisions
    assert "match" in status["timings"]
    proposals = client.get(f"/api/v1/runs/{run_id}/proposals", headers=reviewer).json()
    carried = [p for p in proposals if p["kind"] == "carry_over"]
    assert carry["proposals"] == len(carried) == 4  # one per recurring failure
    names = {c["id"]: c["name"] for c in client.get("/api/v1/projects/demo/categories",
                                                     headers=reviewer).json()}  # fmt: skip
    right = total = 0
    for p in carried:
        assert p["origin"] == "carry_over" and p["matched_category_id"] in categories
        assert p["name"] == names[p["matched_category_id"]] and 0 < p["confidence"] <= 1
        assert p["judge_id"] == "carry-over" and p["status"] == "pending"
        assert len({p["matched_category_id"] for p in carried}) == len(carried)  # one each
        label = categories[p["matched_category_id"]]
        right += sum(gold[m["note_id"]] == label for m in p["members"])
        total += p["count"]
    assert total == carry["notes"] >= 20  # most of week 2's 24 recurring notes wait there
    assert right == total
    # only the rest was clustered: the new failure and the stranger fit nothing carried over
    assert status["n_notes"] == len(gold) == 31
    carried_notes = {m["note_id"] for p in carried for m in p["members"]}
    unknown = {n for n, failure in gold.items() if failure in (TONE, "stranger")}
    assert not unknown & carried_notes
    new = [p for p in proposals if p["kind"] == "new"]
    clustered = {m["note_id"] for p in new for m in p["members"]}
    assert not clustered & carried_notes
    loose = {n["note_id"] for n in client.get(f"/api/v1/runs/{run_id}/unclustered",
                                             headers=reviewer).json()}  # fmt: skip
    assert unknown <= clustered | loose
    assert clustered | loose | carried_notes == set(gold)


def test_confirming_a_carry_over_files_its_notes_into_the_same_category(
    client: TestClient, keys: dict[str, str], two_weeks: dict[str, Any]
) -> None:
    run_id = two_weeks["run"]
    reviewer = auth(keys["reviewer"])
    queue = client.get(f"/api/v1/runs/{run_id}/queue", headers=reviewer).json()
    rows = [p for p in queue["proposals"] if p["kind"] == "carry_over"]
    assert rows and all(r["matched_category_id"] is not None for r in rows)
    first = rows[0]
    before = {c["id"]: c for c in client.get("/api/v1/projects/demo/categories",
                                             headers=reviewer).json()}  # fmt: skip
    done = client.post(
        f"/api/v1/proposals/{first['proposal_id']}/confirm",
        json={"version": first["version"]},  # into=auto: the category it was matched to
        headers=reviewer,
    )
    assert done.status_code == 200, done.text
    assert done.json()["category_id"] == first["matched_category_id"]
    assert done.json()["new_category"] is False
    after = {c["id"]: c for c in client.get("/api/v1/projects/demo/categories",
                                            headers=reviewer).json()}  # fmt: skip
    assert set(after) == set(before)  # the same ids, week after week
    cid = first["matched_category_id"]
    assert after[cid]["count"] == before[cid]["count"] + first["size"]
    assert sum(w["count"] for w in after[cid]["weeks"]) == after[cid]["count"]


def test_pending_proposals_carry_merge_suggestions(
    client: TestClient, keys: dict[str, str], two_weeks: dict[str, Any]
) -> None:
    reviewer = auth(keys["reviewer"])
    proposals = client.get(f"/api/v1/runs/{two_weeks['run']}/proposals", headers=reviewer).json()
    carried = [p for p in proposals if p["kind"] == "carry_over"]
    for p in proposals:
        suggestions = p["merge_suggestions"]
        assert 1 <= len(suggestions) <= 3
        sims = [s["similarity"] for s in suggestions]
        assert sims == sorted(sims, reverse=True)
        for s in suggestions:
            assert (s["proposal_id"] is None) != (s["category_id"] is None)
            assert s["proposal_id"] != p["id"]
    # a carry-over proposal's closest category is the one it was matched to, mostly
    top = [
        p["merge_suggestions"][0].get("category_id") == p["matched_category_id"] for p in carried
    ]
    assert sum(top) >= 0.8 * len(top)
    detail = client.get(f"/api/v1/proposals/{carried[0]['id']}", headers=reviewer).json()
    assert detail["kind"] == "carry_over"
    assert detail["merge_suggestions"] == carried[0]["merge_suggestions"]


def test_from_the_third_batch_the_matcher_weighs_new_failures_by_the_projects_own_rate(
    client: TestClient, keys: dict[str, str], two_weeks: dict[str, Any]
) -> None:
    run_id, gold = two_weeks["run"], two_weeks["gold"]
    lead, reviewer = keys["lead"], auth(keys["reviewer"])
    carry = client.get(f"/api/v1/runs/{run_id}", headers=reviewer).json()["params"]["carry_over"]
    assert carry["novelty"] == carry["params"]["novelty"]  # one batch reviewed: the default
    # week 2 reviewed: its carry-over proposals accepted, its new failure made a category
    queue = client.get(f"/api/v1/runs/{run_id}/queue", headers=reviewer).json()["proposals"]
    rows = [p for p in queue if p["kind"] == "carry_over"]
    body = {"proposals": [{"id": r["proposal_id"], "version": r["version"]} for r in rows]}
    done = client.post(f"/api/v1/runs/{run_id}/carry-overs/confirm", json=body, headers=reviewer)
    assert done.status_code == 200, done.text
    tone = sorted(n for n, failure in gold.items() if failure == TONE)
    made = client.post(
        "/api/v1/projects/demo/categories",
        json={"name": TONE, "note_ids": tone},
        headers=reviewer,
    )
    assert made.status_code == 201, made.text
    later = sum(r["size"] for r in rows) + len(tone)  # week 2's confirmed notes
    run3, _ = submit_and_run(client, lead, week(3, seed=3), "w3")
    carry = client.get(f"/api/v1/runs/{run3}", headers=reviewer).json()["params"]["carry_over"]
    # week 2's new notes were the rude-tone ones: (new + 0.5) / (confirmed + 1)
    assert carry["novelty"] == round((len(tone) + 0.5) / (later + 1), 4)
    assert carry["novelty"] != carry["params"]["novelty"]
