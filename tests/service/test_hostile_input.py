"""Issue #15's hostile inputs, each a probe of the issue's table: every one is a 4xx naming the
field (never a 500), the same on SQLite and PostgreSQL, and nothing is stored."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from pydantic import ValidationError
from sqlalchemy import func, select

from service.settings import Settings
from service.storage.models import Batch, Category, Note
from tests.conftest import auth

BATCHES = "/api/v1/projects/demo/batches"
BIG = 2**63
DEEP = "[" * 5000 + "]" * 5000


def stored(app: Any) -> tuple[int, int, int]:
    """Notes, batches and categories in the database."""
    with app.state.services.db.transaction() as session:
        return tuple(  # type: ignore[return-value]
            session.scalar(select(func.count()).select_from(m)) for m in (Note, Batch, Category)
        )


def post(client: TestClient, key: str, body: str | bytes, ctype: str, url: str = BATCHES) -> Any:
    return client.post(url, content=body, headers={**auth(key), "Content-Type": ctype})


def refused(resp: Any, field: str, words: str, status: int = 422) -> None:
    assert resp.status_code == status, resp.text
    body = resp.json()
    assert body["field"] == field, body
    assert words.lower() in body["message"].lower(), body
    assert body["error"] in ("invalid_input", "too_large")


def test_deep_json_is_refused_at_parse_time(
    client: TestClient, keys: dict[str, str], app: Any
) -> None:
    before = stored(app)
    jsn, client_key = "application/json", keys["client"]
    refused(post(client, client_key, '{"notes":' + DEEP + "}", jsn), "body", "deeper than 64")
    line = '{"text": "a", "metadata": {"x": ' + DEEP + "}}"
    refused(post(client, client_key, line, "application/x-ndjson"), "line 1", "deeper than 64")
    runs = "/api/v1/projects/demo/runs"
    refused(post(client, client_key, '{"seed":' + DEEP + "}", jsn, runs), "body", "deeper")
    projects = "/api/v1/projects"
    refused(post(client, keys["lead"], '{"name":' + DEEP + "}", jsn, projects), "body", "deeper")

    # 64 levels in all are fine, 65 are not: {notes: [{metadata: {x: <n levels>}}]} is 4 + n
    def nested(n: int) -> str:
        return '{"notes": [{"text": "a", "metadata": {"x": ' + "[" * n + "]" * n + "}}]}"

    refused(post(client, client_key, nested(61), jsn), "body", "deeper than 64")
    shallow = post(client, client_key, nested(60), jsn)
    assert shallow.status_code == 201, shallow.text
    assert stored(app)[0] == before[0] + 1


@pytest.mark.parametrize(
    ("note", "field", "words"),
    [
        ('{"text": "a\\ud800b"}', "notes[0].text", "surrogate"),
        ('{"text": "ab", "author": "\\ud800"}', "notes[0].author", "surrogate"),
        ('{"text": "ab", "metadata": {"k\\udfff": 1}}', "notes[0].metadata.k\\udfff", "surrogate"),
        ('{"text": "ab", "author": "x\\u0000y"}', "notes[0].author", "NUL"),
        ('{"text": "ab", "external_id": "x\\u0000"}', "notes[0].external_id", "NUL"),
        ('{"text": "ab", "trace_id": "\\u0000"}', "notes[0].trace_id", "NUL"),
        ('{"text": "ab", "metadata": {"k": ["\\u0000"]}}', "notes[0].metadata.k[0]", "NUL"),
        ('{"text": "ab", "metadata": {"k": 1e400}}', "notes[0].metadata.k", "out of range"),
        ('{"text": "ab", "metadata": {"k": NaN}}', "body", "NaN"),
        ('{"text": "ab", "trace_url": "javascript:alert(1)"}', "notes[0].trace_url", "http"),
        ('{"text": "ab", "trace_url": "data:text/html,x"}', "notes[0].trace_url", "http"),
        ('{"text": "ab", "trace_url": "http://"}', "notes[0].trace_url", "http"),
    ],
)
def test_hostile_note_fields_are_refused(
    client: TestClient, keys: dict[str, str], app: Any, note: str, field: str, words: str
) -> None:
    before = stored(app)
    resp = post(client, keys["client"], '{"notes": [' + note + "]}", "application/json")
    refused(resp, field, words)
    jsonl = post(client, keys["client"], note, "application/x-ndjson")
    assert jsonl.status_code == 422 and jsonl.json()["field"].startswith("line 1"), jsonl.text
    assert stored(app) == before


def test_nul_in_csv_and_good_urls(client: TestClient, keys: dict[str, str], app: Any) -> None:
    before = stored(app)
    csv_body = "text,author\nfine,ann\nbad,x\x00y\n"
    refused(post(client, keys["client"], csv_body, "text/csv"), "line 3.author", "NUL")
    refused(post(client, keys["client"], "text,a\x00b\nx,y\n", "text/csv"), "line 1", "NUL")
    assert stored(app) == before
    good = [
        {"text": "one", "trace_url": "https://traces.example/t/1"},
        {"text": "two", "trace_url": "HTTP://traces.example:8080/t?id=2"},
    ]
    resp = client.post(BATCHES, json={"notes": good}, headers=auth(keys["client"]))
    assert resp.status_code == 201, resp.text


@pytest.mark.parametrize(
    ("method", "url", "body", "field"),
    [
        ("GET", f"/api/v1/runs/{BIG}", None, "run_id"),
        ("GET", f"/api/v1/batches/{BIG}", None, "batch_id"),
        ("GET", "/api/v1/batches/" + "9" * 5000, None, "batch_id"),
        ("POST", f"/api/v1/proposals/{BIG}/confirm", {"version": 1}, "proposal_id"),
        ("POST", "/api/v1/proposals/1/confirm", {"version": BIG}, "version"),
        ("POST", "/api/v1/proposals/1/rename", {"version": 1, "name": "a\x00"}, "name"),
        ("POST", "/api/v1/proposals/1/rename", {"version": 1, "name": "\ud800"}, "name"),
        ("POST", "/api/v1/projects/demo/runs", {"batch_id": BIG}, "batch_id"),
        ("POST", "/api/v1/projects/demo/runs", {"seed": -BIG - 1}, "seed"),
        (
            "POST",
            "/api/v1/projects/demo/categories",
            {"name": "x", "note_ids": [BIG]},
            "note_ids.0",
        ),
        ("POST", "/api/v1/projects/demo/categories", {"name": "a\x00", "note_ids": [1]}, "name"),
        ("GET", f"/api/v1/projects/demo/agreement?run_id={BIG}", None, "run_id"),
        ("GET", "/api/v1/projects/de%00mo/runs", None, "project"),
        ("GET", f"/runs/{BIG}", None, "run_id"),
        ("GET", f"/projects/demo/dashboard?run_id={BIG}", None, "run_id"),
    ],
)
def test_out_of_range_ids_and_bad_text_name_the_field(
    client: TestClient,
    keys: dict[str, str],
    app: Any,
    method: str,
    url: str,
    body: Any,
    field: str,
) -> None:
    before = stored(app)
    content = None if body is None else json.dumps(body)  # ensure_ascii: \ud800 as an escape
    headers = {**auth(keys["lead"]), "Content-Type": "application/json"}
    resp = client.request(method, url, content=content, headers=headers)
    refused(resp, field, "")
    assert stored(app) == before


def test_form_posts_out_of_range(client: TestClient, keys: dict[str, str]) -> None:
    headers = {**auth(keys["lead"]), "Content-Type": "application/x-www-form-urlencoded"}
    cases = [
        ("/proposals/1/confirm", f"version={BIG}", "version"),
        (f"/proposals/{BIG}/confirm", "version=1", "proposal_id"),
        ("/proposals/1/move", f"version=1&to=p:{BIG}&note_ids=1", "to"),
        ("/proposals/1/split", f"version=1&g{BIG}=1&g2=2", f"g{BIG}"),
        ("/proposals/1/rename", "version=1&name=a%00b", "name"),
    ]
    for url, form, field in cases:
        resp = client.post(url, content=form, headers=headers)
        refused(resp, field, "")


def test_numeric_bounds_of_runs_and_settings(client: TestClient, keys: dict[str, str]) -> None:
    runs = "/api/v1/projects/demo/runs"
    for body, field in (
        ({"min_cluster_size": 10**12}, "min_cluster_size"),
        ({"seed": 2**31}, "seed"),
    ):
        refused(client.post(runs, json=body, headers=auth(keys["client"])), field, "")
    for bad in ({"min_cluster_size": 10**6}, {"seed": -1}, {"max_json_body_bytes": 0}):
        with pytest.raises(ValidationError):
            Settings(**bad)  # type: ignore[arg-type]
