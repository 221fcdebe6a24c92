"""Errors on the review pages (issues #15, #17): a page answers with the HTML error page, keeps
the signed-in header and its 4xx status, while /api/v1 answers JSON ``{error, message, field}``;
another project's project, run or proposal answers exactly like a missing one (404), as the API
does. Real app, SQLite and PostgreSQL."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient

from service.auth import Role, add_user
from service.notes.batches import get_or_create_project
from tests.conftest import auth
from tests.review_ui.seed import SeededRun, seed_run

HTML = {"accept": "text/html"}
MISSING = 9_999_999


@pytest.fixture
def seeded(app: Any, keys: dict[str, str]) -> SeededRun:
    """Project demo's run, led by ann."""
    with app.state.services.db.transaction() as session:
        add_user(session, "ann", "ann-password", get_or_create_project(session, "demo"), Role.lead)
        return seed_run(session)


@pytest.fixture
def other(app: Any, seeded: SeededRun) -> SeededRun:
    """A run of project "elsewhere", where ann has no role."""
    with app.state.services.db.transaction() as session:
        return seed_run(session, "elsewhere")


def sign_in(client: TestClient) -> None:
    resp = client.post("/login", data={"username": "ann", "password": "ann-password"},
                       headers=HTML, follow_redirects=False)  # fmt: skip
    assert resp.status_code == 303, resp.text


def _signed_in_header(text: str) -> bool:
    return '<span class="who">ann</span>' in text and "Sign out" in text


def test_a_bad_path_id_on_a_page_is_the_html_error_page(client, keys, seeded) -> None:
    sign_in(client)
    page = client.get("/proposals/abc", headers=HTML)
    assert page.status_code == 422 and page.headers["content-type"].startswith("text/html")
    assert page.context["page"].field == "proposal_id" and "proposal_id" in page.text
    assert _signed_in_header(page.text)
    api = client.get("/api/v1/proposals/abc", headers=auth(keys["lead"]))
    assert api.status_code == 422 and api.headers["content-type"] == "application/json"
    assert api.json()["error"] == "invalid_input" and api.json()["field"] == "proposal_id"


def test_a_bad_form_field_re_shows_the_proposal_with_the_message(client, seeded) -> None:
    sign_in(client)
    pid = seeded.proposals[0]
    resp = client.post(f"/proposals/{pid}/rename", data={"version": "x", "name": "N"}, headers=HTML)
    assert resp.status_code == 422 and resp.headers["content-type"].startswith("text/html")
    assert "version" in resp.context["page"].error and _signed_in_header(resp.text)
    query = client.get(f"/proposals/{pid}?suggest=oops", headers=HTML)  # a bad query field
    assert query.status_code == 422 and query.context["page"].field == "suggest"
    assert _signed_in_header(query.text)


def test_service_errors_on_pages_keep_the_signed_in_header(client, seeded) -> None:
    sign_in(client)
    missing = client.get(f"/proposals/{MISSING}", headers=HTML)
    assert missing.status_code == 404 and _signed_in_header(missing.text)
    client.post("/logout", headers=HTML)
    signed_out = client.get("/proposals/abc", headers=HTML, follow_redirects=False)
    assert signed_out.status_code == 303  # sign in first: who asks comes before what
    assert signed_out.headers["location"] == "/login?next=/proposals/abc"


@pytest.mark.parametrize(
    "url",
    ["/runs/{run}", "/runs/{run}/unclustered", "/runs/{run}/audit", "/proposals/{proposal}",
     "/projects/{project}/runs", "/projects/{project}/categories",
     "/projects/{project}/dashboard"],
)  # fmt: skip
def test_another_projects_page_is_a_404_like_a_missing_one(client, seeded, other, url) -> None:
    sign_in(client)
    elsewhere = url.format(run=other.run_id, proposal=other.proposals[0], project="elsewhere")
    nowhere = url.format(run=MISSING, proposal=MISSING, project="nowhere")
    there, gone = client.get(elsewhere, headers=HTML), client.get(nowhere, headers=HTML)
    assert there.status_code == gone.status_code == 404, (there.text, gone.text)
    a, b = there.context["page"], gone.context["page"]
    assert (a.code, a.field) == (b.code, b.field)
    assert a.message.replace(str(other.run_id), "N").replace(str(other.proposals[0]), "N").replace(
        "'elsewhere'", "'X'"
    ) == b.message.replace(str(MISSING), "N").replace("'nowhere'", "'X'")


@pytest.mark.parametrize(
    "url", ["/proposals/{proposal}/claim", "/proposals/{proposal}/confirm", "/runs/{run}/undo"]
)
def test_another_projects_form_post_is_a_404_like_a_missing_one(client, seeded, other, url):
    sign_in(client)
    elsewhere = url.format(run=other.run_id, proposal=other.proposals[0])
    nowhere = url.format(run=MISSING, proposal=MISSING)
    there = client.post(elsewhere, data={"version": "1"}, headers=HTML)
    gone = client.post(nowhere, data={"version": "1"}, headers=HTML)
    assert there.status_code == gone.status_code == 404, (there.text, gone.text)
    assert there.context["page"].field == gone.context["page"].field


def test_an_unknown_path_is_the_error_page_for_a_browser_and_our_json_for_clients(
    client, keys, seeded
) -> None:
    sign_in(client)
    page = client.get("/no-such-page", headers=HTML)
    assert page.status_code == 404 and page.headers["content-type"].startswith("text/html")
    assert "no page or route at this path" in page.text and _signed_in_header(page.text)
    api = client.get("/api/v1/no-such-route", headers=auth(keys["lead"]))
    assert api.status_code == 404
    assert api.json() == {
        "error": "not_found", "message": "no page or route at this path", "field": "path",
    }  # fmt: skip
    wrong = client.delete("/api/v1/projects", headers=auth(keys["lead"]))
    assert wrong.status_code == 405 and wrong.json()["error"] == "method_not_allowed"
    assert wrong.headers["allow"]  # what the path does take
