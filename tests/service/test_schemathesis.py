"""Property-based probing of the whole /api/v1 surface from its OpenAPI document: no 5xx.

schemathesis generates requests for every operation the app documents (valid ones and ones
that break the schema: wrong types, missing fields, huge integers, odd strings) and sends them
in-process to the real app on a real database, as a lead of project "demo" that holds the demo
notes and a finished run, so small generated ids reach real batches, runs and proposals. Any
5xx fails the test and names the operation and the request that caused it. Bounded: a fixed
number of examples per operation (``AXIAL_SCHEMATHESIS_EXAMPLES``, default 12), derandomised so
that a failure reproduces.
"""

from __future__ import annotations

import os
from typing import Any

import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, given, settings

from tests.conftest import auth

EXAMPLES = int(os.environ.get("AXIAL_SCHEMATHESIS_EXAMPLES", "12"))


def _operations(app: Any) -> list[Any]:
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    found = []
    for result in schema.get_all_operations():
        operation = result.ok()
        if operation.path.startswith("/api/v1/"):
            found.append(operation)
    return found


def _probe(operation: Any, headers: dict[str, str], failures: list[str]) -> None:
    """Send EXAMPLES generated requests to one operation; record every 5xx."""

    @settings(
        max_examples=EXAMPLES,
        deadline=None,
        derandomize=True,
        database=None,
        suppress_health_check=list(HealthCheck),
    )
    @given(case=operation.as_strategy())
    def probe(case: Any) -> None:
        where = f"{operation.method.upper()} {operation.path}"
        try:
            response = case.call(headers={**headers, **(case.headers or {})})
        except Exception as exc:  # the in-process transport re-raises what would be a 500
            failures.append(f"{where} -> {type(exc).__name__}: {exc}\n{case.as_curl_command()}")
            return
        if response.status_code >= 500:
            failures.append(
                f"{where} -> {response.status_code}: {case.as_curl_command()}\n"
                f"{response.text[:300]}"
            )

    probe()


def test_no_operation_answers_5xx(
    client: TestClient, keys: dict[str, str], demo_run: int, app: Any
) -> None:
    operations = _operations(app)
    assert len(operations) >= 30, "the OpenAPI document lost its routes"
    failures: list[str] = []
    for operation in operations:
        _probe(operation, auth(keys["lead"]), failures)
    assert not failures, "\n\n".join(failures[:20])
