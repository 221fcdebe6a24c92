"""Every timestamp of every API answer carries its UTC offset, the same way, on both databases.

SQLite hands datetimes back without their offset, PostgreSQL with the session's: the answers
must not show either. A demo-like flow (create a project, submit notes, run, claim, review,
label the blind audit, read the agreement figures) is walked and every string that looks like
a timestamp, under any key and at any depth, must end in ``Z`` and parse as UTC.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.http.schemas import utc_timestamp
from tests.conftest import auth

LOOKS_LIKE_TIME = re.compile(r"^\d{4}-\d{2}-\d{2}[T ]\d{2}:\d{2}")


def timestamps(value: Any, path: str = "$") -> Iterator[tuple[str, str]]:
    """Every (path, string) in a JSON value that looks like a date and time."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from timestamps(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from timestamps(item, f"{path}[{i}]")
    elif isinstance(value, str) and LOOKS_LIKE_TIME.match(value):
        yield path, value


def keys_ending_at(value: Any, path: str = "$") -> Iterator[tuple[str, Any]]:
    """Every (path, value) under a key named like ``created_at``."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key.endswith("_at"):
                yield f"{path}.{key}", item
            yield from keys_ending_at(item, f"{path}.{key}")
    elif isinstance(value, list):
        for i, item in enumerate(value):
            yield from keys_ending_at(item, f"{path}[{i}]")


class Walk:
    """Calls the API and keeps every JSON answer."""

    def __init__(self, client: TestClient, key: str) -> None:
        self.client, self.key = client, key
        self.answers: dict[str, Any] = {}

    def call(self, method: str, url: str, key: str | None = None, **kwargs: Any) -> Any:
        resp = self.client.request(method, url, headers=auth(key or self.key), **kwargs)
        assert resp.status_code < 300, f"{method} {url}: {resp.status_code} {resp.text}"
        self.answers[f"{method} {url}"] = body = resp.json()
        return body


def test_utc_timestamp_gives_one_form_for_naive_aware_and_strings() -> None:
    naive = datetime(2026, 12, 2, 16, 44, 5, 123456)
    expected = "2026-12-02T16:44:05.123456Z"
    assert utc_timestamp(naive) == expected  # SQLite: stored UTC, read back without offset
    assert utc_timestamp(naive.replace(tzinfo=UTC)) == expected
    plus_one = naive.replace(tzinfo=UTC).astimezone(timezone(timedelta(hours=1)))
    assert utc_timestamp(plus_one) == expected  # PostgreSQL in another session time zone
    assert utc_timestamp("2026-12-02T16:44:05.123456") == expected
    assert utc_timestamp("2026-12-02T17:44:05.123456+01:00") == expected
    with pytest.raises(ValueError):
        utc_timestamp("last tuesday")


def test_every_timestamp_of_a_demo_flow_is_utc_with_z(
    client: TestClient, keys: dict[str, str], demo_run: int
) -> None:
    lead = Walk(client, keys["lead"])
    run = demo_run
    lead.call("POST", "/api/v1/projects", json={"name": "stamps"})
    lead.call("GET", "/api/v1/projects")
    batch_id = lead.call("GET", "/api/v1/projects/demo/runs")[0]["batch_id"]
    lead.call("GET", f"/api/v1/batches/{batch_id}")
    lead.call("GET", f"/api/v1/runs/{run}")
    lead.call("POST", f"/api/v1/runs/{run}/blind", json={"enabled": True})
    reviewer = keys["reviewer"]
    audit = lead.call("GET", f"/api/v1/runs/{run}/audit", key=reviewer)
    label = {"note_id": audit["notes"][0]["note_id"], "new_category_name": "Date arithmetic"}
    lead.call("POST", f"/api/v1/runs/{run}/audit/labels", key=reviewer, json=label)
    lead.call("GET", f"/api/v1/runs/{run}/audit/gate")
    lead.call("GET", f"/api/v1/runs/{run}/audit/links")
    lead.call("GET", f"/api/v1/runs/{run}/audit")  # the lead sees the judge's work: revealed_at
    first = lead.call("GET", f"/api/v1/runs/{run}/proposals")[0]
    pid = first["id"]
    lead.call("POST", f"/api/v1/proposals/{pid}/claim")
    lead.call("GET", f"/api/v1/runs/{run}/queue")
    detail = lead.call("GET", f"/api/v1/proposals/{pid}")
    lead.call("POST", f"/api/v1/proposals/{pid}/confirm", json={"version": detail["version"]})
    lead.call("GET", f"/api/v1/proposals/{pid}")
    lead.call("GET", f"/api/v1/runs/{run}/unclustered")
    lead.call("GET", "/api/v1/projects/demo/categories")
    for part in ("", "/runs", "/batches", "/weeks", "/judge-versions", "/reviewers"):
        lead.call("GET", f"/api/v1/projects/demo/agreement{part}")
    lead.call("POST", f"/api/v1/runs/{run}/undo")
    csv_text = client.get("/api/v1/projects/demo/agreement.csv", headers=auth(keys["lead"])).text
    in_csv = re.findall(r"\d{4}-\d{2}-\d{2}T[\d:.]+[^,\n]*", csv_text)
    assert in_csv and all(v.endswith("Z") for v in in_csv), in_csv  # the CSV, as the JSON

    found = [
        (f"{call} {path}", v) for call, body in lead.answers.items() for path, v in timestamps(body)
    ]
    named = {p for call, body in lead.answers.items() for p, _ in keys_ending_at(body)}
    assert len(found) >= 15, found  # the walk does reach timestamps
    assert any(".created_at" in p for p in named) and any(".expires_at" in p for p in named)
    wrong = [(where, v) for where, v in found if not v.endswith("Z") or "+" in v]
    assert wrong == [], wrong
    now = datetime.now(UTC)
    for where, v in found:
        moment = datetime.fromisoformat(v)
        assert moment.utcoffset() == timedelta(0), where
        assert abs(now - moment) < timedelta(hours=1), (where, v)  # UTC, not local wall time
    for call, body in lead.answers.items():
        for where, v in keys_ending_at(body):
            assert v is None or LOOKS_LIKE_TIME.match(str(v)), (call, where, v)
