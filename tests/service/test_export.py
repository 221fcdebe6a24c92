"""A confirmed category exports as golden eval cases (JSONL and CSV)."""

from __future__ import annotations

import csv
import io
import json

from fastapi.testclient import TestClient

from tests.conftest import auth


def test_confirmed_category_exports_its_notes_as_cases(
    client: TestClient, keys: dict[str, str], demo_run: int
) -> None:
    lead = auth(keys["lead"])
    proposal = client.get(f"/api/v1/runs/{demo_run}/proposals", headers=lead).json()[0]
    done = client.post(
        f"/api/v1/proposals/{proposal['id']}/confirm",
        json={"version": proposal["version"]},
        headers=lead,
    )
    assert done.status_code == 200, done.text
    [category] = client.get("/api/v1/projects/demo/categories", headers=lead).json()
    url = f"/api/v1/projects/demo/categories/{category['id']}/export"
    resp = client.get(url, headers=auth(keys["client"]))
    assert resp.status_code == 200
    assert resp.headers["content-type"].startswith("application/x-ndjson")
    cases = [json.loads(line) for line in resp.text.splitlines()]
    assert len(cases) == category["count"] == proposal["count"]
    assert {c["external_id"] for c in cases} == {m["external_id"] for m in proposal["members"]}
    assert all(c["category"] == category["name"] and c["trace_id"] for c in cases)
    as_csv = client.get(url, params={"format": "csv"}, headers=lead)
    rows = list(csv.DictReader(io.StringIO(as_csv.text)))
    assert [r["note"] for r in rows] == [c["note"] for c in cases]
    assert client.get(url, params={"format": "xml"}, headers=lead).status_code == 422
    missing = client.get("/api/v1/projects/demo/categories/999/export", headers=lead)
    assert missing.status_code == 404
    assert client.get(url, headers=auth(keys["outsider"])).status_code == 403
