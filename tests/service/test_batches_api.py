"""Submitting notes: formats, idempotency, duplicates, and every bad input changing nothing."""

from __future__ import annotations

import json
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service.storage.models import Batch
from tests.conftest import auth

URL = "/api/v1/projects/demo/batches"


def snapshot(client: TestClient, app: Any) -> dict[str, int]:
    """Row counts of every table that submitting could touch."""
    from sqlalchemy import func, select

    from service.storage.models import Batch, Note, Project

    with app.state.services.db.transaction() as session:
        return {
            model.__tablename__: session.scalar(select(func.count()).select_from(model)) or 0
            for model in (Project, Batch, Note)
        }


def post_json(client: TestClient, key: str, notes: Any, **headers: str) -> Any:
    return client.post(URL, json={"notes": notes}, headers={**auth(key), **headers})


def test_json_batch_is_stored_with_all_fields(client: TestClient, keys: dict[str, str]) -> None:
    notes = [
        {
            "text": "booked the follow-up from the wrong anchor date",
            "external_id": "a1",
            "trace_id": "tr_1",
            "trace_url": "https://t.example/tr_1",
            "author": "maya",
            "metadata": {"week": 12},
        },
        {"text": "  tone was preachy  "},
    ]
    resp = post_json(client, keys["client"], notes)
    assert resp.status_code == 201, resp.text
    body = resp.json()
    assert (body["n_received"], body["n_stored"], body["n_duplicates"]) == (2, 2, 0)
    assert resp.headers["location"] == f"/api/v1/batches/{body['id']}"
    batch = client.get(f"/api/v1/batches/{body['id']}", headers=auth(keys["client"])).json()
    first, second = batch["notes"]
    assert first["external_id"] == "a1" and first["author"] == "maya"
    assert first["trace_url"] == "https://t.example/tr_1" and first["metadata"] == {"week": 12}
    assert second["text"] == "tone was preachy"


def test_jsonl_and_csv_bodies(client: TestClient, keys: dict[str, str]) -> None:
    jsonl = b'{"text": "first note", "id": "j1"}\n\n{"text": "second note", "id": "j2"}\n'
    resp = client.post(
        URL, content=jsonl, headers={**auth(keys["lead"]), "Content-Type": "application/x-ndjson"}
    )
    assert resp.status_code == 201 and resp.json()["n_stored"] == 2
    csv_body = 'id,text,author,severity\nc1,"quoted, with comma",li,high\nc2,plain note,tom,\n'
    resp = client.post(
        URL, content=csv_body.encode(), headers={**auth(keys["lead"]), "Content-Type": "text/csv"}
    )
    assert resp.status_code == 201, resp.text
    batch = client.get(f"/api/v1/batches/{resp.json()['id']}", headers=auth(keys["lead"])).json()
    assert [n["text"] for n in batch["notes"]] == ["quoted, with comma", "plain note"]
    assert batch["notes"][0]["metadata"] == {"severity": "high"}
    assert batch["notes"][1]["author"] == "tom"


def test_multipart_upload(client: TestClient, keys: dict[str, str]) -> None:
    files = {"file": ("notes.csv", b"text\nuploaded note one\nuploaded note two\n", "text/csv")}
    resp = client.post(URL, files=files, headers=auth(keys["client"]))
    assert resp.status_code == 201, resp.text
    assert resp.json()["n_stored"] == 2


def test_idempotency_key_replays_the_original_batch(
    client: TestClient, keys: dict[str, str], app: Any
) -> None:
    notes = [{"text": "forgot the twins constraint"}, {"text": "invented a hotline number"}]
    first = post_json(client, keys["client"], notes, **{"Idempotency-Key": "wk12"})
    before = snapshot(client, app)
    again = post_json(client, keys["client"], notes, **{"Idempotency-Key": "wk12"})
    assert again.status_code == 201
    assert again.json()["id"] == first.json()["id"]
    assert again.json()["replayed"] is True and again.headers["idempotent-replayed"] == "true"
    assert again.json()["note_ids"] == first.json()["note_ids"]
    assert snapshot(client, app) == before
    other = post_json(
        client, keys["client"], [{"text": "different"}], **{"Idempotency-Key": "wk12"}
    )
    assert other.status_code == 409
    assert other.json()["field"] == "Idempotency-Key"
    assert snapshot(client, app) == before


def test_duplicate_external_ids_are_skipped(client: TestClient, keys: dict[str, str]) -> None:
    post_json(client, keys["client"], [{"text": "one", "external_id": "x1"}])
    resp = post_json(
        client,
        keys["client"],
        [
            {"text": "one", "external_id": "x1"},
            {"text": "two", "external_id": "x2"},
            {"text": "two", "external_id": "x2"},
        ],
    )
    body = resp.json()
    assert resp.status_code == 201
    assert (body["n_received"], body["n_stored"], body["n_duplicates"]) == (3, 1, 2)
    assert [d["external_id"] for d in body["duplicates"]] == ["x1"]


def test_a_resend_of_known_notes_makes_no_empty_batch(
    client: TestClient, keys: dict[str, str], app: Any
) -> None:
    notes = [{"text": "one", "external_id": "r1"}, {"text": "two", "external_id": "r2"}]
    first = post_json(client, keys["client"], notes)
    assert first.status_code == 201
    with app.state.services.db.transaction() as session:
        before = session.scalar(select(func.count()).select_from(Batch))
    again = post_json(client, keys["client"], notes)  # no Idempotency-Key
    assert again.status_code == 409
    body = again.json()
    assert body["field"] == "notes" and "already stored" in body["message"]
    assert sorted(d["external_id"] for d in body["duplicates"]) == ["r1", "r2"]
    with app.state.services.db.transaction() as session:
        assert session.scalar(select(func.count()).select_from(Batch)) == before


BAD_INPUTS: list[tuple[str, Any, str, int, str, str]] = [
    # (case, body, content type, status, field, words in the message)
    (
        "empty note",
        {"notes": [{"text": "ok"}, {"text": ""}]},
        "json",
        422,
        "notes[1].text",
        "empty",
    ),
    ("whitespace note", {"notes": [{"text": " \n\t "}]}, "json", 422, "notes[0].text", "empty"),
    ("huge note", {"notes": [{"text": "x" * 4001}]}, "json", 422, "notes[0].text", "4000"),
    ("text missing", {"notes": [{"author": "li"}]}, "json", 422, "notes[0].text", "required"),
    ("not a list", {"notes": "hello"}, "json", 422, "notes", "notes"),
    ("no notes", {"notes": []}, "json", 422, "notes", "no notes"),
    (
        "bad metadata",
        {"notes": [{"text": "a", "metadata": [1]}]},
        "json",
        422,
        "notes[0].metadata",
        "object",
    ),
    (
        "conflicting ids",
        {"notes": [{"text": "a", "external_id": "d"}, {"text": "b", "external_id": "d"}]},
        "json",
        422,
        "notes[1].external_id",
        "twice",
    ),
    ("malformed json", b'{"notes": [{"text": "a"}', "json", 422, "body", "malformed JSON"),
    (
        "malformed jsonl",
        b'{"text": "ok"}\n{"text": "ok"}\n{"text": broken}\n',
        "jsonl",
        422,
        "line 3",
        "line 3",
    ),
    ("jsonl not object", b'{"text": "ok"}\n[1, 2]\n', "jsonl", 422, "line 2", "line 2"),
    ("csv no text column", b"body,author\nhello,li\n", "csv", 422, "line 1", "text"),
    ("csv ragged row", b"text,author\nfine,li\ntoo,many,fields\n", "csv", 422, "line 3", "line 3"),
    ("csv bad quote", b'text\n"unterminated\n', "csv", 422, "line", "malformed CSV"),
    ("not utf-8", b'{"notes": [{"text": "caf\xe9"}]}', "json", 422, "body", "UTF-8"),
    ("unknown type", b"hello", "text/plain", 422, "content-type", "unsupported"),
]
TYPES = {"json": "application/json", "jsonl": "application/x-ndjson", "csv": "text/csv"}


@pytest.mark.parametrize(
    ("case", "body", "ctype", "status", "field", "words"),
    BAD_INPUTS,
    ids=[c[0] for c in BAD_INPUTS],
)
def test_bad_input_is_refused_and_changes_nothing(
    client: TestClient,
    keys: dict[str, str],
    app: Any,
    case: str,
    body: Any,
    ctype: str,
    status: int,
    field: str,
    words: str,
) -> None:
    post_json(client, keys["client"], [{"text": "already stored", "external_id": "keep"}])
    before = snapshot(client, app)
    content = json.dumps(body).encode() if isinstance(body, dict) else body
    resp = client.post(
        URL,
        content=content,
        headers={**auth(keys["client"]), "Content-Type": TYPES.get(ctype, ctype)},
    )
    assert resp.status_code == status, resp.text
    error = resp.json()
    assert error["field"].startswith(field)
    assert words.lower() in error["message"].lower()
    assert snapshot(client, app) == before


def test_batch_over_the_maximum_size(client: TestClient, keys: dict[str, str], app: Any) -> None:
    app.state.services.settings.max_batch_notes = 3
    before = snapshot(client, app)
    resp = post_json(client, keys["client"], [{"text": f"note {i}"} for i in range(4)])
    assert resp.status_code == 413
    assert resp.json()["field"] == "notes" and "3" in resp.json()["message"]
    assert snapshot(client, app) == before


def test_unknown_project_and_batch(client: TestClient, keys: dict[str, str]) -> None:
    resp = client.post(
        "/api/v1/projects/nope/batches", json={"notes": [{"text": "a"}]}, headers=auth(keys["lead"])
    )
    assert resp.status_code == 404 and resp.json()["field"] == "project"
    resp = client.get("/api/v1/batches/999999", headers=auth(keys["lead"]))
    assert resp.status_code == 404


def test_roles_on_batches(client: TestClient, keys: dict[str, str]) -> None:
    note = {"notes": [{"text": "a note"}]}
    assert client.post(URL, json=note).status_code == 401
    assert client.post(URL, json=note, headers={"Authorization": "Bearer nope"}).status_code == 401
    forbidden = client.post(URL, json=note, headers=auth(keys["reviewer"]))
    assert forbidden.status_code == 403 and "reviewer" in forbidden.json()["message"]
    # another project's key: the same 404 as a project that does not exist (no oracle)
    assert client.post(URL, json=note, headers=auth(keys["outsider"])).status_code == 404
    made = client.post(URL, json=note, headers=auth(keys["lead"])).json()["id"]
    assert client.get(f"/api/v1/batches/{made}", headers=auth(keys["client"])).status_code == 403
    assert client.get(f"/api/v1/batches/{made}", headers=auth(keys["reviewer"])).status_code == 200


def test_projects(client: TestClient, keys: dict[str, str]) -> None:
    resp = client.post("/api/v1/projects", json={"name": "weekly-ea"}, headers=auth(keys["lead"]))
    assert resp.status_code == 201, resp.text
    new_key = resp.json()["lead_key"]
    names = [p["name"] for p in client.get("/api/v1/projects", headers=auth(new_key)).json()]
    assert names == ["weekly-ea"]
    again = client.post("/api/v1/projects", json={"name": "weekly-ea"}, headers=auth(keys["lead"]))
    assert again.status_code == 409
    bad = client.post("/api/v1/projects", json={"name": "no spaces"}, headers=auth(keys["lead"]))
    assert bad.status_code == 422 and bad.json()["field"] == "name"
    assert (
        client.post(
            "/api/v1/projects", json={"name": "x"}, headers=auth(keys["reviewer"])
        ).status_code
        == 403
    )
    assert (
        client.post("/api/v1/projects", json={}, headers=auth(keys["lead"])).json()["field"]
        == "name"
    )


def test_a_concurrent_replay_is_answered_in_the_same_transaction(
    app: Any, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """Two submissions with one Idempotency-Key: the one that loses the race on the unique key
    rolls back to its savepoint and answers the winner's batch, in its own transaction."""
    from sqlalchemy import func, select

    from service.notes import batches
    from service.notes.ingest import NoteIn
    from service.storage.models import Batch, Project

    db = app.state.services.db
    with db.transaction() as session:
        project_id = session.scalar(select(Project.id).where(Project.name == "demo"))
    notes = [NoteIn("forgot the twins constraint"), NoteIn("invented a hotline number")]
    first = batches.store_batch(
        db, project_id, notes, source="json", submitted_by="a", idempotency_key="race"
    )
    real, looks = batches._replay, []

    def too_early(session: Any, pid: int, key: str, digest: str) -> Any:
        looks.append(key)  # the first look runs before the winner committed: nothing yet
        return None if len(looks) == 1 else real(session, pid, key, digest)

    monkeypatch.setattr(batches, "_replay", too_early)
    with db.transaction() as session:
        again = batches.add_batch(
            session, project_id, notes, source="json", submitted_by="b", idempotency_key="race"
        )
        assert session.scalar(select(func.count()).select_from(Batch)) == 1  # still usable
    assert len(looks) == 2 and again.replayed
    assert (again.batch_id, again.note_ids) == (first.batch_id, first.note_ids)


def test_the_upload_is_parsed_and_stored_off_the_event_loop(
    client: TestClient, keys: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The handler reads the body on the loop; parsing and the database run in the threadpool."""
    import asyncio

    from service.http import api

    where: list[str] = []

    def spy(name: str, real: Any) -> Any:
        def call(*args: Any, **kwargs: Any) -> Any:
            try:
                asyncio.get_running_loop()
                where.append(f"{name} on the loop")
            except RuntimeError:
                where.append(f"{name} in a thread")
            return real(*args, **kwargs)

        return call

    monkeypatch.setattr(api, "_parse", spy("parse", api._parse))
    monkeypatch.setattr(api, "add_batch", spy("store", api.add_batch))
    resp = post_json(client, keys["client"], [{"text": "parsed off the loop"}])
    assert resp.status_code == 201, resp.text
    assert where == ["parse in a thread", "store in a thread"]
