"""Role × route over every /api/v1 route (issue #15, point 6), on both databases.

Callers: no key, a client of project "demo" (that did not start the seeded run), a reviewer, a
lead, and "outsider" (a lead of another project). Each route is called with a well-formed body
that changes little (stale versions, blind mode off), so a refusal can only be the role check.
An outsider's answer for demo's project name and ids must be the answer for a project or id that
does not exist: same status, same keys, same field, same message but for the name or id.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import update

from service.auth import Role, add_user, create_key
from service.notes.batches import get_or_create_project
from service.storage.models import Run
from tests.conftest import auth
from tests.review_ui.seed import SeededRun, seed_run

OK = "ok"  # the role check passed: anything but 401, 403 or a 404 naming the path's thing
PROJECTS = "/api/v1/projects"
PATH_FIELDS = {"project", "run_id", "proposal_id", "batch_id"}
ROLES = ("client", "reviewer", "lead")
LEAD = dict.fromkeys(ROLES, 403) | {"lead": OK}
REVIEW = {"client": 403, "reviewer": OK, "lead": OK}
READ = dict.fromkeys(ROLES, OK)
# runs' notes: a client reads only the runs it started (the seeded one it did not)
RUN_NOTES = {"client": 403, "reviewer": OK, "lead": OK}
SUBMIT = {"client": OK, "reviewer": 403, "lead": OK}


def matrix(s: SeededRun, batch: int, category: int) -> list[tuple[str, str, Any, dict[str, Any]]]:
    big, mid, small = s.proposals
    p, run, note, loose = big, s.run_id, s.members[big][0], s.unclustered[0]
    halves = [list(h) for h in s.halves]
    return [
        ("POST", "/projects/demo/batches", {"notes": [{"text": "a"}, {"text": "b"}]}, SUBMIT),
        ("GET", f"/batches/{batch}", None, {"client": 403, "reviewer": OK, "lead": OK}),
        ("POST", "/projects/demo/runs", {"batch_id": batch}, SUBMIT),
        ("GET", "/projects/demo/runs", None, READ),
        ("GET", f"/runs/{run}", None, RUN_NOTES),
        ("POST", f"/runs/{run}/retry", None, {"client": 403, "reviewer": 403, "lead": OK}),
        ("GET", f"/runs/{run}/proposals", None, RUN_NOTES),
        ("GET", f"/runs/{run}/unclustered", None, RUN_NOTES),
        ("GET", "/projects/demo/categories", None, READ),
        ("POST", "/projects/demo/categories", {"name": "Matrix", "note_ids": [loose]}, REVIEW),
        ("GET", f"/projects/demo/categories/{category}/export", None, READ),
        ("GET", f"/proposals/{p}", None, RUN_NOTES),
        ("POST", f"/proposals/{p}/confirm", {"version": 999}, REVIEW),
        ("POST", f"/proposals/{p}/rename", {"version": 999, "name": "Renamed"}, REVIEW),
        ("POST", f"/proposals/{p}/reject", {"version": 999}, REVIEW),
        ("POST", f"/proposals/{p}/split", {"version": 999, "groups": halves}, REVIEW),
        ("GET", f"/proposals/{p}/suggested-split", None, REVIEW),
        ("POST", f"/proposals/{mid}/merge", {"version": 999, "into_proposal_id": small}, REVIEW),
        ("POST", f"/proposals/{p}/move", {"version": 999, "note_ids": [note], "to_noise": True},
         REVIEW),
        ("POST", f"/proposals/{small}/claim", None, REVIEW),
        ("POST", f"/proposals/{small}/release", None, REVIEW),
        ("GET", f"/runs/{run}/queue", None, RUN_NOTES),
        ("POST", f"/runs/{run}/carry-overs/confirm", {"proposals": [{"id": p, "version": 999}]},
         REVIEW),
        ("POST", f"/runs/{run}/unclustered/assign",
         {"note_ids": [s.unclustered[2]], "to_proposal_id": 999}, REVIEW),
        ("POST", f"/runs/{run}/notes/file",
         {"category_id": 999_999, "note_ids": [s.unclustered[2]]}, REVIEW),
        ("POST", f"/runs/{run}/undo", {"event_id": 999}, REVIEW),
        ("POST", f"/runs/{run}/blind", {"enabled": False}, LEAD),
        ("GET", f"/runs/{run}/audit", None, REVIEW),
        ("POST", f"/runs/{run}/audit/labels", {"note_id": note, "noise": True}, REVIEW),
        ("POST", "/projects/demo/rebuild", None, LEAD),
        ("GET", "/projects/demo/agreement", None, LEAD),
        ("GET", "/projects/demo/agreement/runs", None, LEAD),
        ("GET", "/projects/demo/agreement/batches", None, LEAD),
        ("GET", "/projects/demo/agreement/weeks", None, LEAD),
        ("GET", "/projects/demo/agreement/judge-versions", None, LEAD),
        ("GET", "/projects/demo/agreement/reviewers", None, LEAD),
        ("GET", "/projects/demo/agreement.csv", None, LEAD),
        ("GET", f"/runs/{run}/audit/gate", None, REVIEW),
        ("GET", f"/runs/{run}/audit/links", None, REVIEW),
        ("POST", f"/runs/{run}/audit/links", {"blind_name": "nothing", "noise": True}, LEAD),
        ("DELETE", "/projects/demo/users/nobody/sessions", None, LEAD),
    ]  # fmt: skip


ANY_PROJECT = [  # no project in the path: every caller with a key
    ("GET", "/projects", None, READ | {"outsider": 200}),
    ("POST", "/projects", {"name": "made-{who}"}, LEAD | {"outsider": 201}),
]


def template(path: str) -> str:
    """The route a concrete path was made from: /runs/7/queue → /runs/{run_id}/queue."""
    path = path.replace("/projects/demo", "/projects/{project}")
    for noun, field in (("runs", "run_id"), ("proposals", "proposal_id"),
                        ("batches", "batch_id"), ("categories", "category_id")):  # fmt: skip
        path = re.sub(rf"/{noun}/\d+", f"/{noun}/{{{field}}}", path)
    return path.replace("/users/nobody", "/users/{username}")


@pytest.fixture
def world(app: Any, keys: dict[str, str]) -> tuple[TestClient, SeededRun, int, int]:
    """The seeded run, a batch of the lead's and a confirmed category; the worker is off."""
    web = TestClient(app)  # no lifespan: no worker picks up the runs the matrix queues
    with app.state.services.db.transaction() as session:
        seeded = seed_run(session)
    batch = web.post("/api/v1/projects/demo/batches", headers=auth(keys["lead"]),
                     json={"notes": [{"text": "x"}, {"text": "y"}]}).json()["id"]  # fmt: skip
    category = web.post("/api/v1/projects/demo/categories", headers=auth(keys["lead"]),
                        json={"name": "Base", "note_ids": [seeded.unclustered[1]]})  # fmt: skip
    assert category.status_code == 201, category.text
    return web, seeded, batch, category.json()["id"]


def verdict(resp: Any) -> Any:
    if resp.status_code in (401, 403):
        return resp.status_code
    if resp.status_code == 404 and resp.json().get("field") in PATH_FIELDS:
        return 404
    return OK


def api_routes(app: Any) -> set[tuple[str, str]]:
    return {
        (method.upper(), path.removeprefix("/api/v1"))
        for path, ops in app.openapi()["paths"].items()
        if path.startswith("/api/v1/")
        for method in ops
    }


def present(app: Any, rows: list[tuple[str, str, Any, Any]]) -> list[tuple[str, str, Any, Any]]:
    """The matrix rows of routes this app has (a row may be written before its route lands)."""
    routes = api_routes(app)
    return [r for r in rows if (r[0], template(r[1])) in routes]


def test_every_api_route_is_in_the_matrix(app: Any, world: Any) -> None:
    _web, seeded, batch, category = world
    listed = {(m, template(p)) for m, p, _b, _w in matrix(seeded, batch, category) + ANY_PROJECT}
    assert api_routes(app) - listed == set()


def test_roles_by_route(app: Any, keys: dict[str, str], world: Any) -> None:
    web, seeded, batch, category = world
    wrong = []
    for method, path, body, want in present(app, matrix(seeded, batch, category) + ANY_PROJECT):
        for who in ("anonymous", *ROLES, "outsider"):
            headers = auth(keys[who]) if who != "anonymous" else {}
            data = {"name": body["name"].format(who=who)} if path == "/projects" and body else body
            resp = web.request(method, f"/api/v1{path}", json=data, headers=headers)
            expected = {"anonymous": 401, "outsider": 404, **want}[who]
            got = resp.status_code if isinstance(expected, int) and expected >= 200 and \
                expected < 300 else verdict(resp)  # fmt: skip
            if got != expected:
                wrong.append(f"{method} {path} as {who}: {resp.status_code} {resp.text[:100]}")
            if resp.status_code == 403:
                assert resp.json()["field"] in ("role", "run_id", "batch_id"), resp.text
    assert wrong == []


def _same_answer(a: Any, b: Any, a_token: str, b_token: str) -> None:
    assert a.status_code == b.status_code == 404, (a.text, b.text)
    ja, jb = a.json(), b.json()
    assert set(ja) == set(jb) and ja["field"] == jb["field"] and ja["error"] == jb["error"]
    assert ja["message"].replace(a_token, "?") == jb["message"].replace(b_token, "?")


def test_another_projects_things_answer_as_missing_ones(
    app: Any, keys: dict[str, str], world: Any
) -> None:
    web, seeded, batch, category = world
    outsider = auth(keys["outsider"])
    for method, path, body, _want in present(app, matrix(seeded, batch, category)):
        missing, swaps = path.replace("/projects/demo", "/projects/nowhere"), []
        for real in (seeded.run_id, batch, *seeded.proposals):
            if re.search(rf"/(runs|batches|proposals)/{real}(/|$)", missing):
                fake = str(10**9 + real)
                missing = re.sub(rf"/{real}(/|$)", rf"/{fake}\1", missing, count=1)
                swaps.append((str(real), fake))
        a = web.request(method, f"/api/v1{path}", json=body, headers=outsider)
        b = web.request(method, f"/api/v1{missing}", json=body, headers=outsider)
        real_token, fake_token = swaps[0] if swaps else ("'demo'", "'nowhere'")
        _same_answer(a, b, real_token, fake_token)


def test_a_client_reads_the_notes_of_its_own_runs_only(
    app: Any, keys: dict[str, str], world: Any
) -> None:
    web, seeded, _batch, category = world
    client = auth(keys["client"])
    run_url = f"/api/v1/runs/{seeded.run_id}"
    with app.state.services.db.transaction() as session:  # as if the client had started it
        session.execute(
            update(Run).where(Run.id == seeded.run_id).values(created_by_actor="key:nobody")
        )
    assert web.get(f"{run_url}/queue", headers=client).status_code == 403
    mine = web.post("/api/v1/projects/demo/batches", headers=client,
                    json={"notes": [{"text": "mine one"}, {"text": "mine two"}]}).json()  # fmt: skip
    started = web.post("/api/v1/projects/demo/runs", headers=client,
                       json={"batch_id": mine["id"]}).json()  # fmt: skip
    for tail in ("", "/queue", "/proposals", "/unclustered"):
        assert web.get(f"/api/v1/runs/{started['id']}{tail}", headers=client).status_code == 200
    assert web.get(f"/api/v1/batches/{mine['id']}", headers=client).status_code == 200
    # an export holds only the notes of the client's own batches (none in this category)
    url = f"/api/v1/projects/demo/categories/{category}/export"
    assert web.get(url, headers=auth(keys["lead"])).text.count("\n") == 1
    assert web.get(url, headers=client).text == ""


def test_two_keys_with_one_name_are_two_callers(app: Any, world: Any) -> None:
    web, seeded, _batch, _category = world
    with app.state.services.db.transaction() as session:
        demo = get_or_create_project(session, "demo")
        a, b = (create_key(session, demo, Role.client, "twin") for _ in range(2))
        r1, r2 = (create_key(session, demo, Role.reviewer, "twin-reviewer") for _ in range(2))
    made = web.post("/api/v1/projects/demo/batches", headers=auth(a),
                    json={"notes": [{"text": "twin one"}, {"text": "twin two"}]}).json()  # fmt: skip
    run = web.post("/api/v1/projects/demo/runs", headers=auth(a),
                   json={"batch_id": made["id"]}).json()  # fmt: skip
    assert (
        made["id"] and web.get(f"/api/v1/batches/{made['id']}", headers=auth(a)).status_code == 200
    )
    assert web.get(f"/api/v1/batches/{made['id']}", headers=auth(b)).status_code == 403
    assert web.get(f"/api/v1/runs/{run['id']}/queue", headers=auth(a)).status_code == 200
    assert web.get(f"/api/v1/runs/{run['id']}/queue", headers=auth(b)).status_code == 403
    # review: the second reviewer key cannot undo what the first did
    p = seeded.proposals[0]
    renamed = web.post(f"/api/v1/proposals/{p}/rename", headers=auth(r1),
                       json={"version": 1, "name": "Twin's name"})  # fmt: skip
    assert renamed.status_code == 200, renamed.text
    undo = f"/api/v1/runs/{seeded.run_id}/undo"
    assert web.post(undo, headers=auth(r2)).status_code == 409
    assert web.get(f"/api/v1/proposals/{p}", headers=auth(r2)).json()["name"] == "Twin's name"
    assert web.post(undo, headers=auth(r1)).status_code == 200


def test_a_lead_sees_the_projects_it_creates(app: Any, keys: dict[str, str], world: Any) -> None:
    web = world[0]
    with app.state.services.db.transaction() as session:
        add_user(session, "lena", "lena-password", get_or_create_project(session, "demo"),
                 Role.lead)  # fmt: skip
    made = web.post("/api/v1/projects", json={"name": "by-key"}, headers=auth(keys["lead"]))
    assert made.status_code == 201 and made.json()["lead_key"]
    names = {p["name"]: p["role"] for p in web.get(PROJECTS, headers=auth(keys["lead"])).json()}
    assert names == {"demo": "lead", "by-key": "lead"}
    assert web.get("/api/v1/projects/by-key/runs", headers=auth(keys["lead"])).status_code == 200
    new_key = made.json()["lead_key"]
    assert [p["name"] for p in web.get(PROJECTS, headers=auth(new_key)).json()] == ["by-key"]
    browser = TestClient(app)
    browser.post("/login", data={"username": "lena", "password": "lena-password"})
    assert browser.post("/api/v1/projects", json={"name": "by-user"}).status_code == 201
    assert {p["name"] for p in browser.get(PROJECTS).json()} == {"demo", "by-user"}
