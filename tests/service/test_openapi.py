"""The OpenAPI document types every /api/v1 answer, documents its errors, declares its limits.

Every operation answers a typed 2xx body (a model, a list of models or, for file downloads, a
string of a named media type: never a free-form object) and documents each error status it can
answer with the one error shape, ``ErrorOut``. The limits the code enforces are in the schema,
and a request breaking one answers 422 naming the field, changing nothing.
"""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select

from service.auth import Role
from service.domain import ProposalStatus, RunStatus
from service.notes.ingest import FIELDS
from service.storage.models import Project, Run
from tests.conftest import auth

ERROR_REF = "#/components/schemas/ErrorOut"
METHODS = ("get", "post", "put", "patch", "delete")


def operations(schema: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [
        (method, path, op)
        for path, ops in schema["paths"].items()
        if path.startswith("/api/v1/")
        for method, op in ops.items()
        if method in METHODS
    ]


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    ref = node.get("$ref")
    if ref is None:
        return node
    found: dict[str, Any] = schema["components"]["schemas"][ref.rsplit("/", 1)[1]]
    return found


def untyped(
    schema: dict[str, Any], node: dict[str, Any], seen: frozenset[str] = frozenset()
) -> list[str]:
    """Where ``node`` (recursively) is a free-form object or has no type at all."""
    if "$ref" in node:
        if node["$ref"] in seen:
            return []
        return untyped(schema, resolve(schema, node), seen | {node["$ref"]})
    if "anyOf" in node:
        return [p for option in node["anyOf"] for p in untyped(schema, option, seen)]
    kind = node.get("type")
    if kind == "array":
        if "items" in node:
            return untyped(schema, node["items"], seen)
        return [p for item in node.get("prefixItems", []) for p in untyped(schema, item, seen)]
    if kind == "object" or "properties" in node:
        if not node.get("properties"):
            extra = node.get("additionalProperties")
            if isinstance(extra, dict) and extra:
                return untyped(schema, extra, seen)
            return [node.get("title", "an object without properties")]
        return []  # a model: its free-form fields (metadata, params) are allowed
    if kind in ("string", "integer", "number", "boolean", "null") or "enum" in node:
        return []
    return [node.get("title", "a schema without a type")]


@pytest.fixture
def schema(app: Any) -> dict[str, Any]:
    found: dict[str, Any] = app.openapi()
    return found


# The document is built from the routes, whatever the database: read once, on SQLite.
one_document = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@one_document
def test_every_answer_is_typed(schema: dict[str, Any]) -> None:
    problems = []
    for method, path, op in operations(schema):
        ok = [s for s in op["responses"] if s.startswith("2")]
        if len(ok) != 1:
            problems.append(f"{method} {path}: {len(ok)} success statuses")
            continue
        content = op["responses"][ok[0]].get("content") or {}
        if not content:
            problems.append(f"{method} {path}: {ok[0]} has no body schema")
        for media, body in content.items():
            for where in untyped(schema, body.get("schema", {})):
                problems.append(f"{method} {path} {ok[0]} {media}: untyped {where}")
    assert problems == []


@one_document
def test_every_error_status_is_documented_with_the_error_shape(schema: dict[str, Any]) -> None:
    problems = []
    for method, path, op in operations(schema):
        statuses = {s for s in op["responses"] if s[0] in "45"}
        needs = {"401"} | ({"422"} if op.get("parameters") or op.get("requestBody") else set())
        if needs - statuses:
            problems.append(f"{method} {path}: {sorted(needs - statuses)} not documented")
        for status in sorted(statuses):
            content = op["responses"][status].get("content", {})
            if set(content) != {"application/json"}:
                problems.append(f"{method} {path} {status}: content {sorted(content)}")
            elif content["application/json"]["schema"].get("$ref") != ERROR_REF:
                problems.append(f"{method} {path} {status}: not ErrorOut")
    assert problems == []
    assert "HTTPValidationError" not in str(schema["paths"])


def responses_of(schema: dict[str, Any], method: str, path: str) -> set[str]:
    return set(schema["paths"][path][method]["responses"])


@one_document
def test_the_statuses_routes_really_answer_are_documented(schema: dict[str, Any]) -> None:
    batches = responses_of(schema, "post", "/api/v1/projects/{project}/batches")
    assert batches >= {"201", "401", "403", "404", "409", "413", "422"}
    for path in ("/api/v1/runs/{run_id}/proposals", "/api/v1/runs/{run_id}/unclustered"):
        assert responses_of(schema, "get", path) >= {"200", "401", "403", "404", "409"}
    assert responses_of(schema, "post", "/api/v1/projects") >= {"201", "403", "409", "422"}
    assert responses_of(schema, "post", "/api/v1/projects/{project}/runs") >= {"202", "404"}


@one_document
def test_files_and_enums_are_declared(schema: dict[str, Any]) -> None:
    export = schema["paths"]["/api/v1/projects/{project}/categories/{category_id}/export"]["get"]
    assert set(export["responses"]["200"]["content"]) == {"application/x-ndjson", "text/csv"}
    [fmt] = [p for p in export["parameters"] if p["name"] == "format"]
    assert resolve(schema, fmt["schema"])["enum"] == ["jsonl", "csv"]
    csv = schema["paths"]["/api/v1/projects/{project}/agreement.csv"]["get"]
    assert set(csv["responses"]["200"]["content"]) == {"text/csv"}
    components = schema["components"]["schemas"]
    run_status = resolve(schema, components["RunOut"]["properties"]["status"])
    assert run_status["enum"] == [s.value for s in RunStatus]
    proposal_status = resolve(schema, components["ProposalOut"]["properties"]["status"])
    assert proposal_status["enum"] == [s.value for s in ProposalStatus]
    role = resolve(schema, components["ProjectOut"]["properties"]["role"])
    assert role["enum"] == [r.value for r in Role]


@one_document
def test_the_batch_body_is_documented_with_the_fields_we_parse(schema: dict[str, Any]) -> None:
    body = schema["paths"]["/api/v1/projects/{project}/batches"]["post"]["requestBody"]
    assert set(body["content"]) == {
        "application/json",
        "application/x-ndjson",
        "text/csv",
        "multipart/form-data",
    }
    note = body["content"]["application/json"]["schema"]["properties"]["notes"]["items"]
    assert set(note["properties"]) == set(FIELDS) and note["required"] == ["text"]


def number_limits(schema: dict[str, Any], model: str, field: str) -> tuple[Any, Any]:
    node = schema["components"]["schemas"][model]["properties"][field]
    [typed] = [o for o in node.get("anyOf", [node]) if o.get("type") == "integer"]
    return typed.get("minimum"), typed.get("maximum")


@one_document
def test_declared_limits(schema: dict[str, Any]) -> None:
    assert number_limits(schema, "RunIn", "min_cluster_size") == (2, 10_000)
    assert number_limits(schema, "RunIn", "seed") == (0, 2**31 - 1)
    name = schema["components"]["schemas"]["ProjectIn"]["properties"]["name"]
    assert (name["minLength"], name["maxLength"]) == (1, 100) and name["pattern"].startswith("^")
    agreement = schema["paths"]["/api/v1/projects/{project}/agreement"]["get"]
    [week] = [p for p in agreement["parameters"] if p["name"] == "week"]
    [pattern] = [o["pattern"] for o in week["schema"]["anyOf"] if "pattern" in o]
    assert pattern == r"^\d{4}-W\d{2}$"


def count(app: Any, model: Any) -> int:
    with app.state.services.db.transaction() as session:
        return session.scalar(select(func.count()).select_from(model)) or 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"min_cluster_size": 1}, "min_cluster_size"),
        ({"min_cluster_size": 10_001}, "min_cluster_size"),
        ({"seed": -1}, "seed"),
        ({"seed": 2**31}, "seed"),
    ],
)
def test_run_limits_are_enforced(
    client: TestClient, keys: dict[str, str], app: Any, body: dict[str, int], field: str
) -> None:
    client.post(
        "/api/v1/projects/demo/batches",
        json={"notes": [{"text": "first note"}, {"text": "second note"}]},
        headers=auth(keys["lead"]),
    )
    resp = client.post("/api/v1/projects/demo/runs", json=body, headers=auth(keys["lead"]))
    assert resp.status_code == 422, resp.text
    assert resp.json()["field"] == field and resp.json()["message"].startswith(f"{field}: ")
    assert count(app, Run) == 0


@pytest.mark.parametrize("name", ["", "x" * 101, "-leading-dash", "trailing\n", "no spaces"])
def test_project_name_limits_are_enforced(
    client: TestClient, keys: dict[str, str], app: Any, name: str
) -> None:
    before = count(app, Project)
    resp = client.post("/api/v1/projects", json={"name": name}, headers=auth(keys["lead"]))
    assert resp.status_code == 422 and resp.json()["field"] == "name"
    assert count(app, Project) == before


def test_query_limits_are_enforced(client: TestClient, keys: dict[str, str]) -> None:
    lead = auth(keys["lead"])
    week = client.get("/api/v1/projects/demo/agreement", params={"week": "W48"}, headers=lead)
    assert week.status_code == 422 and week.json()["field"] == "week"
    fmt = client.get("/api/v1/projects/demo/categories/1/export?format=xml", headers=lead)
    assert fmt.status_code == 422 and fmt.json()["field"] == "format"
    mark = client.get("/api/v1/projects/demo/agreement", params={"watermark": -1}, headers=lead)
    assert mark.status_code == 422 and mark.json()["field"] == "watermark"
