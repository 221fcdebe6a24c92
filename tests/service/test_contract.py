"""The API's contract paths exist (API clients and our checks rely on them) and /docs serves."""

from __future__ import annotations

import re

import pytest
from fastapi.testclient import TestClient

CONTRACT = {
    ("post", "/api/v1/projects"),
    ("get", "/api/v1/projects"),
    ("post", "/api/v1/projects/{project}/batches"),
    ("get", "/api/v1/batches/{batch_id}"),
    ("post", "/api/v1/projects/{project}/runs"),
    ("get", "/api/v1/runs/{run_id}"),
    ("get", "/api/v1/runs/{run_id}/proposals"),
    ("post", "/api/v1/proposals/{proposal_id}/confirm"),
    ("post", "/api/v1/proposals/{proposal_id}/rename"),
    ("post", "/api/v1/proposals/{proposal_id}/reject"),
    ("post", "/api/v1/proposals/{proposal_id}/split"),
    ("post", "/api/v1/proposals/{proposal_id}/merge"),
    ("post", "/api/v1/proposals/{proposal_id}/move"),
    ("post", "/api/v1/runs/{run_id}/undo"),
    ("get", "/api/v1/runs/{run_id}/audit"),
    ("post", "/api/v1/runs/{run_id}/audit/labels"),
    ("get", "/api/v1/projects/{project}/categories"),
}


def shape(path: str) -> str:
    """The path with parameter names blanked: /runs/{run_id} and /runs/{id} are one route."""
    return re.sub(r"\{[^}]+\}", "{}", path)


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)  # routes, whatever the database
def test_contract_paths_are_in_the_openapi_schema(client: TestClient) -> None:
    schema = client.get("/openapi.json").json()
    found = {(method, shape(path)) for path, ops in schema["paths"].items() for method in ops}
    assert {(m, shape(p)) for m, p in CONTRACT} - found == set()
    assert client.get("/docs").status_code == 200
