"""Review routes run each request in one thread-pool call (issue #15's latency goal), with the
same answers and the same order of refusals as when the caller was checked by dependencies.

The caller's unit of work, authentication, the check that hides other projects' ids, the
handler, the commit and the answer's JSON all happen in one call of the thread pool
(``service.http.deps.in_one_thread``); a body that fails validation still answers 401 without a
valid key and 404 for another project's ids before 422; a route of the review router that is
not built that way still gets the caller's checks from the router's dependency.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import anyio.to_thread
import pytest
from fastapi import APIRouter, Depends
from fastapi.testclient import TestClient

from service.auth import Role, create_key, principal_for_key
from service.http.deps import CallerDep, SessionDep, checked_in_unit
from service.http.retry import RetryingRoute
from service.http.schemas_review import QueueOut
from service.review import views
from service.storage.db import Database
from service.storage.models import Project
from tests.conftest import auth
from tests.review_ui.seed import SeededRun, seed_run


def _seed(app: Any) -> tuple[SeededRun, SeededRun, dict[str, str]]:
    db: Database = app.state.services.db
    with db.transaction() as session:
        ours = seed_run(session)
        theirs = seed_run(session, project_name="other")
        project = session.get_one(Project, ours.project_id)
        keys = {
            name: create_key(session, project, role, name)
            for name, role in (("ann", Role.reviewer), ("lea", Role.lead))
        }
    return ours, theirs, keys


@pytest.fixture
def hops(monkeypatch: pytest.MonkeyPatch) -> Iterator[list[str]]:
    """The names of the functions sent to the thread pool (every hop goes through
    ``anyio.to_thread.run_sync``: Starlette's ``run_in_threadpool`` and FastAPI's exits)."""
    sent: list[str] = []
    real = anyio.to_thread.run_sync

    async def counting(func: Any, *args: Any, **kwargs: Any) -> Any:
        sent.append(getattr(func, "__qualname__", repr(func)))
        return await real(func, *args, **kwargs)

    monkeypatch.setattr(anyio.to_thread, "run_sync", counting)
    yield sent


def test_each_review_request_is_one_thread_pool_call(
    client: TestClient, app: Any, hops: list[str]
) -> None:
    ours, _, keys = _seed(app)
    big, small = ours.proposals[0], ours.proposals[2]
    ann = auth(keys["ann"])
    requests: list[tuple[str, str, dict[str, Any] | None]] = [
        ("GET", f"/api/v1/runs/{ours.run_id}/queue", None),
        ("GET", f"/api/v1/proposals/{big}", None),
        ("POST", f"/api/v1/proposals/{big}/rename", {"version": 1, "name": "Refunds"}),
        ("POST", f"/api/v1/proposals/{big}/rename", {"version": 1, "name": "Stale"}),  # 409
        (
            "POST",
            f"/api/v1/proposals/{big}/move",
            {"version": 2, "note_ids": ours.members[big][:1], "to_proposal_id": small},
        ),
        ("POST", f"/api/v1/runs/{ours.run_id}/undo", {}),
        ("POST", f"/api/v1/proposals/{ours.proposals[1]}/confirm", {"version": 1, "into": "new"}),
    ]
    statuses = []
    for method, path, body in requests:
        hops.clear()
        answer = client.request(method, path, json=body, headers=ann)
        statuses.append(answer.status_code)
        assert len(hops) == 1, (path, hops)
    assert statuses == [200, 200, 200, 409, 200, 200, 200]


def test_answers_are_what_the_read_models_say(client: TestClient, app: Any) -> None:
    """The JSON built in the handler's thread is the route's response model, key for key."""
    ours, _, keys = _seed(app)
    db: Database = app.state.services.db
    queue = client.get(f"/api/v1/runs/{ours.run_id}/queue", headers=auth(keys["ann"]))
    assert queue.headers["content-type"] == "application/json"
    with db.transaction() as session:
        caller = principal_for_key(session, keys["ann"])
        expected = QueueOut.model_validate(views.queue(session, caller, ours.run_id).to_json())
    assert queue.json() == expected.model_dump(mode="json")


def test_refusals_come_before_invalid_input(client: TestClient, app: Any) -> None:
    ours, theirs, keys = _seed(app)
    big, elsewhere = ours.proposals[0], theirs.proposals[0]
    bad_body = {"version": 0, "name": ""}  # two invalid fields
    no_key = client.post(f"/api/v1/proposals/{big}/rename", json=bad_body)
    assert no_key.status_code == 401
    wrong_key = client.post(
        f"/api/v1/proposals/{big}/rename", json=bad_body, headers=auth("axk_not-a-key")
    )
    assert wrong_key.status_code == 401
    other = client.post(
        f"/api/v1/proposals/{elsewhere}/rename", json=bad_body, headers=auth(keys["ann"])
    )
    unknown = client.post(
        "/api/v1/proposals/987654/rename", json=bad_body, headers=auth(keys["ann"])
    )
    assert other.status_code == unknown.status_code == 404
    assert other.json()["field"] == unknown.json()["field"] == "proposal_id"
    invalid = client.post(
        f"/api/v1/proposals/{big}/rename", json=bad_body, headers=auth(keys["ann"])
    )
    assert invalid.status_code == 422
    assert invalid.json()["field"] in {"version", "name"}


def test_a_review_route_not_built_for_one_thread_still_checks_the_caller(app: Any) -> None:
    """The review router's dependency checks the caller for a route that does not do it in its
    own thread (a plain ``SessionDep``/``CallerDep`` handler)."""
    ours, theirs, keys = _seed(app)
    router = APIRouter(prefix="/api/v1", route_class=RetryingRoute)

    @router.get("/proposals/{proposal_id}/plain")
    def plain(proposal_id: int, session: SessionDep, caller: CallerDep) -> dict[str, Any]:
        return {"proposal_id": proposal_id, "caller": caller.name}

    app.include_router(router, dependencies=[Depends(checked_in_unit)])
    with TestClient(app) as client:
        mine = client.get(f"/api/v1/proposals/{ours.proposals[0]}/plain", headers=auth(keys["ann"]))
        assert mine.status_code == 200 and mine.json()["caller"] == "key:ann"
        other = client.get(
            f"/api/v1/proposals/{theirs.proposals[0]}/plain", headers=auth(keys["ann"])
        )
        assert other.status_code == 404 and other.json()["field"] == "proposal_id"
        assert client.get(f"/api/v1/proposals/{ours.proposals[0]}/plain").status_code == 401
