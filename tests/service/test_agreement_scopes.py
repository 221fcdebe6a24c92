"""Agreement per run, batch, ISO week and judge version; drift alarms; CSV; access rules."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.agreement.data import iso_week
from service.notes.batches import get_or_create_project
from service.storage.models import Note, Run
from tests.conftest import auth
from tests.replay import RecordedProposal, store_judge_output

LAST_WEEK = datetime.now(UTC) - timedelta(days=7)


@dataclass
class Audited:
    run: int
    batch: int


def _audited_run(
    app: Any, client: TestClient, keys: dict[str, str], tag: str, version: str, wrong: int
) -> Audited:
    """12 notes in one proposal, confirmed by a lead; a census audit (``audit_max_share = 1``)
    where a reviewer who never saw the proposal labels ``wrong`` notes noise."""
    app.state.services.settings.audit_max_share = 1.0
    lines = "\n".join(
        json.dumps({"external_id": f"{tag}{i}", "text": f"{tag} {i}"}) for i in range(12)
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
    run = store_judge_output(
        app.state.services,
        project_id,
        batch,
        [RecordedProposal("Same", tuple(ids))],
        judge_id="replay",
        judge_version=version,
        seed=1,
    )
    h, lead = auth(keys["reviewer"]), auth(keys["lead"])
    proposal = client.get(f"/api/v1/runs/{run}/queue", headers=lead).json()["proposals"][0]
    confirm = f"/api/v1/proposals/{proposal['proposal_id']}/confirm"
    category = client.post(confirm, json={"version": proposal["version"]}, headers=lead).json()
    client.post(f"/api/v1/runs/{run}/blind", json={"enabled": True}, headers=auth(keys["lead"]))
    for i, nid in enumerate(ids):
        label = {"noise": True} if i < wrong else {"category_id": category["category_id"]}
        body = {"note_id": nid, **label}
        assert (
            client.post(f"/api/v1/runs/{run}/audit/labels", json=body, headers=h).status_code == 201
        )
    return Audited(run, batch)


@pytest.fixture
def three_runs(app: Any, client: TestClient, keys: dict[str, str]) -> list[Audited]:
    """v1 last week (0 of 12 wrong), v1 this week (10 of 12 wrong), v2 this week (3 of 12)."""
    runs = [
        _audited_run(app, client, keys, "a", "v1", 0),
        _audited_run(app, client, keys, "b", "v1", 10),
        _audited_run(app, client, keys, "c", "v2", 3),
    ]
    with app.state.services.db.transaction() as s:
        first = s.get(Run, runs[0].run)
        assert first is not None
        first.created_at = LAST_WEEK
    return runs


def get(client: TestClient, key: str, path: str, **params: Any) -> Any:
    return client.get(f"/api/v1/projects/demo/agreement{path}", params=params, headers=auth(key))


def test_figures_per_run_batch_week_and_judge_version(
    client: TestClient, keys: dict[str, str], three_runs: list[Audited]
) -> None:
    lead = keys["lead"]
    runs = get(client, lead, "/runs").json()["runs"]
    assert [r["judge_error_rate"]["value"] for r in runs] == [0.0, round(10 / 12, 4), 0.25]
    assert [r["judge_error_rate"]["n"] for r in runs] == [12, 12, 12]
    batches = get(client, lead, "/batches").json()["batches"]
    assert {b["batch_id"]: b["judge_error_rate"]["disagreements"] for b in batches} == {
        three_runs[0].batch: 0,
        three_runs[1].batch: 10,
        three_runs[2].batch: 3,
    }
    weeks = get(client, lead, "/weeks").json()["weeks"]
    points = {(w["week"], w["judge_version"]): w["judge_error_rate"]["value"] for w in weeks}
    this_week = iso_week(datetime.now(UTC))
    assert points == {
        (iso_week(LAST_WEEK), "v1"): 0.0,
        (this_week, "v1"): round(10 / 12, 4),
        (this_week, "v2"): 0.25,
    }
    body = get(client, lead, "", week=this_week, judge_version="v1").json()
    assert body["window"]["runs"] == [three_runs[1].run]
    assert body["judge_error_rate"]["disagreements"] == 10
    pooled = get(client, lead, "", judge_version="v1").json()["judge_error_rate"]
    assert (pooled["disagreements"], pooled["n"]) == (10, 24)
    one = get(client, lead, "", run_id=three_runs[2].run).json()
    assert one["scope"]["run_id"] == three_runs[2].run and one["judge_error_rate"]["value"] == 0.25


def test_a_jump_in_the_error_raises_the_drift_alarm_of_that_version_only(
    client: TestClient, keys: dict[str, str], three_runs: list[Audited]
) -> None:
    versions = get(client, keys["lead"], "/judge-versions").json()["judge_versions"]
    by = {v["judge_version"]: v for v in versions}
    v1, v2 = by["v1"]["drift"], by["v2"]["drift"]
    assert v1["jump"]["worse"] is True and v1["jump"]["difference"]["low"] > 0.05
    assert v1["jump"]["baseline_runs"] == [three_runs[0].run]
    assert v1["alarm"] is True and v1["audited_runs"] == 2
    assert v1["cusum"]["alarm"] is True  # 10 errors in 12 notes against p0 = 1%
    assert v2["alarm"] is False and v2["jump"]["difference"] is None  # no earlier v2 run


def test_csv_export_has_every_scope_at_one_watermark(
    client: TestClient, keys: dict[str, str], three_runs: list[Audited]
) -> None:
    resp = client.get("/api/v1/projects/demo/agreement.csv", headers=auth(keys["lead"]))
    assert resp.status_code == 200 and resp.headers["content-type"].startswith("text/csv")
    rows = list(csv.DictReader(io.StringIO(resp.text)))
    kinds = {r["scope_kind"] for r in rows}
    assert kinds == {"project", "run", "batch", "week", "judge_version", "reviewer"}
    assert len({r["watermark"] for r in rows}) == 1
    head = next(
        r for r in rows if (r["scope_kind"], r["metric"]) == ("project", "judge_error_rate")
    )
    assert head["value"] == str(round(13 / 36, 4)) and head["n"] == "36"
    run_rows = [r for r in rows if (r["scope_kind"], r["metric"]) == ("run", "judge_error_rate")]
    assert [r["scope_key"] for r in run_rows] == [str(a.run) for a in three_runs]
    assert any(r["metric"] == "drift_alarm" and r["value"] == "1" for r in rows)


def test_only_leads_read_agreement_and_bad_scopes_are_refused(
    client: TestClient, keys: dict[str, str], three_runs: list[Audited]
) -> None:
    assert get(client, keys["reviewer"], "").status_code == 403
    assert get(client, keys["client"], "/runs").status_code == 403
    assert get(client, keys["outsider"], "/weeks").status_code == 404  # as if no project
    assert client.get("/api/v1/projects/demo/agreement").status_code == 401
    assert get(client, keys["lead"], "", week="2026-48").status_code == 422
    assert get(client, keys["lead"], "", week="2026-W54").status_code == 422
    assert get(client, keys["lead"], "", run_id=999).status_code == 404
    assert get(client, keys["lead"], "", batch_id=999).status_code == 404
    assert get(client, keys["lead"], "", watermark=-1).status_code == 422


def _run_of(
    app: Any, client: TestClient, keys: dict[str, str], tag: str, sizes: list[int]
) -> tuple[int, list[list[int]]]:
    """A batch cut into proposals "A", "B", … of ``sizes`` notes (no judge noise), confirmed
    by a lead (the reviewer, who labels the audit, never sees them); the audit may take the
    whole run (``audit_max_share = 1``)."""
    app.state.services.settings.audit_max_share = 1.0
    total = sum(sizes)
    lines = "\n".join(
        json.dumps({"external_id": f"{tag}{i}", "text": f"{tag} {i}"}) for i in range(total)
    )
    resp = client.post(
        "/api/v1/projects/demo/batches",
        content=lines,
        headers={**auth(keys["lead"]), "Content-Type": "application/x-ndjson"},
    )
    batch = int(resp.json()["id"])
    with app.state.services.db.transaction() as s:
        ids = list(s.scalars(select(Note.id).where(Note.batch_id == batch).order_by(Note.id)))
        project_id = get_or_create_project(s, "demo").id
    groups, start = [], 0
    for size in sizes:
        groups.append(ids[start : start + size])
        start += size
    proposals = [RecordedProposal(chr(65 + k), tuple(g)) for k, g in enumerate(groups)]
    run = store_judge_output(
        app.state.services,
        project_id,
        batch,
        proposals,
        judge_id="replay",
        judge_version="v1",
        seed=4,
    )
    lead = auth(keys["lead"])
    for p in client.get(f"/api/v1/runs/{run}/queue", headers=lead).json()["proposals"]:
        confirm = f"/api/v1/proposals/{p['proposal_id']}/confirm"
        assert client.post(confirm, json={"version": p["version"]}, headers=lead).status_code == 200
    return run, groups


def test_a_run_without_its_own_audit_gets_transported_counts(
    app: Any, client: TestClient, keys: dict[str, str]
) -> None:
    first, groups = _run_of(app, client, keys, "cal", [15, 15])
    h, lead = auth(keys["reviewer"]), auth(keys["lead"])
    client.post(f"/api/v1/runs/{first}/blind", json={"enabled": True}, headers=lead)
    cats = {
        p["name"]: p["category_id"]
        for p in client.get(f"/api/v1/runs/{first}/queue", headers=lead).json()["proposals"]
    }  # a lead reads them: blind mode holds the reviewer until the audit is labelled
    for k, group in enumerate(groups):
        for i, nid in enumerate(group):
            truth = "B" if (k == 0 and i == 0) else chr(65 + k)  # one of A's notes is really B
            body = {"note_id": nid, "category_id": cats[truth]}
            assert (
                client.post(f"/api/v1/runs/{first}/audit/labels", json=body, headers=h).status_code
                == 201
            )
    second, _ = _run_of(app, client, keys, "new", [10, 10])  # confirmed, never audited
    rows = {
        r["name"]: r
        for r in get(client, keys["lead"], "", run_id=second).json()["corrected_counts"][
            "categories"
        ]
    }
    assert {rows["A"]["tier"], rows["B"]["tier"]} == {"B"}
    for name in ("A", "B"):
        assert rows[name]["raw"] == 10 and rows[name]["reasons"] == []
        assert rows[name]["low"] <= rows[name]["estimate"] <= rows[name]["high"]
    assert rows["A"]["estimate"] < 10 < rows["B"]["estimate"]  # the judge over-counts A
    calibrated = get(client, keys["lead"], "", run_id=first).json()["corrected_counts"]
    assert {r["tier"] for r in calibrated["categories"]} == {"A"}
