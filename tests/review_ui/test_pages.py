"""Review pages through the real app (no browser): sign-in, roles, CSRF, CSP, escaping, 409."""

from __future__ import annotations

from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from service.auth import Role, add_user
from service.notes.batches import get_or_create_project
from service.storage.models import Run, User
from tests.conftest import auth
from tests.review_ui.seed import SeededRun, seed_run

HTML = {"accept": "text/html"}
pytestmark = pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)


@pytest.fixture
def seeded(app: Any, keys: dict[str, str]) -> SeededRun:
    with app.state.services.db.transaction() as session:
        project = get_or_create_project(session, "demo")
        add_user(session, "ann", "ann-password", project, Role.reviewer)
        add_user(session, "carl", "carl-password", project, Role.client)
        return seed_run(session, xss="<script>alert(1)</script>")


def sign_in(client: TestClient, username: str, password: str) -> None:
    resp = client.post("/login", data={"username": username, "password": password},
                       headers=HTML, follow_redirects=False)  # fmt: skip
    assert resp.status_code == 303, resp.text


def test_pages_need_a_sign_in_and_come_back_after_it(client, seeded) -> None:
    resp = client.get(f"/runs/{seeded.run_id}", headers=HTML, follow_redirects=False)
    assert (
        resp.status_code == 303 and resp.headers["location"] == f"/login?next=/runs/{seeded.run_id}"
    )
    bad = client.post("/login", data={"username": "ann", "password": "nope"}, headers=HTML)
    assert bad.status_code == 401 and "wrong username or password" in bad.text
    resp = client.post("/login", headers=HTML, follow_redirects=False,
                       data={"username": "ann", "password": "ann-password", "next": "//evil.example"})  # fmt: skip
    assert resp.headers["location"] == "/"
    queue = client.get(f"/runs/{seeded.run_id}", headers=HTML)
    page = queue.context["page"]
    assert page.queue.pending == 3 and [p.size for p in page.queue.proposals] == [6, 4, 3]
    assert "set-cookie" not in queue.headers or "httponly" in queue.headers["set-cookie"].lower()
    client.post("/logout", headers=HTML)
    again = client.get(f"/runs/{seeded.run_id}", headers=HTML, follow_redirects=False)
    assert again.status_code == 303


def test_sign_in_with_an_api_key(client, keys, seeded) -> None:
    resp = client.post("/login", data={"api_key": keys["reviewer"]}, headers=HTML,
                       follow_redirects=False)  # fmt: skip
    assert resp.status_code == 303
    cookie = resp.headers["set-cookie"].lower()
    assert "axial_session=" in cookie and "httponly" in cookie and "samesite=lax" in cookie
    page = client.get(f"/proposals/{seeded.proposals[0]}", headers=HTML).context["page"]
    assert page.chrome.user == "key:test-reviewer" and page.can_review


def test_pages_carry_a_csp_without_inline_scripts(client, seeded) -> None:
    sign_in(client, "ann", "ann-password")
    for url in ("/login", f"/runs/{seeded.run_id}", f"/proposals/{seeded.proposals[0]}",
                f"/runs/{seeded.run_id}/unclustered", "/projects/demo/categories",
                f"/runs/{seeded.run_id}/audit", "/projects/demo/runs"):  # fmt: skip
        resp = client.get(url, headers=HTML)
        assert resp.status_code == 200, (url, resp.text[:300])
        csp = resp.headers["content-security-policy"]
        assert "script-src 'self'" in csp and "unsafe-inline" not in csp
        assert "frame-ancestors 'none'" in csp and "object-src 'none'" in csp
        assert "<script>" not in resp.text.replace(
            '<script src="/static/review.js" defer></script>', ""
        )
        assert " style=" not in resp.text and " onclick=" not in resp.text


def test_note_and_name_markup_is_escaped(client, keys, seeded) -> None:
    pid = seeded.proposals[2]
    client.post(f"/api/v1/proposals/{pid}/rename", headers=auth(keys["reviewer"]),
                json={"version": 1, "name": '<img src=x onerror="alert(2)">'})  # fmt: skip
    sign_in(client, "ann", "ann-password")
    for url in (f"/proposals/{pid}", f"/runs/{seeded.run_id}"):
        text = client.get(url, headers=HTML).text
        assert "<img src=x" not in text and "&lt;img src=x onerror=&#34;alert(2)&#34;&gt;" in text
    text = client.get(f"/proposals/{pid}", headers=HTML).text
    assert "<script>alert(1)" not in text and "&lt;script&gt;alert(1)&lt;/script&gt;" in text


def test_cross_site_posts_are_refused(client, keys, seeded) -> None:
    sign_in(client, "ann", "ann-password")
    url = f"/proposals/{seeded.proposals[0]}/confirm"
    for headers in ({"origin": "https://evil.example"}, {"sec-fetch-site": "cross-site"},
                    {"sec-fetch-site": "same-site", "origin": "http://testserver"}):  # fmt: skip
        resp = client.post(url, data={"version": "1"}, headers={**HTML, **headers})
        assert resp.status_code == 403 and "cross-site" in resp.text
        api = client.post(f"/api/v1{url}", json={"version": 1}, headers=headers)
        assert api.status_code == 403 and api.json()["error"] == "forbidden"
    bearer = client.post(f"/api/v1{url}", json={"version": 1},
                         headers={**auth(keys["reviewer"]), "origin": "https://evil.example"})  # fmt: skip
    assert bearer.status_code == 200  # not cookie-borne: a script elsewhere cannot forge it
    ok = client.post(f"/proposals/{seeded.proposals[1]}/confirm", data={"version": "1"},
                     headers={**HTML, "sec-fetch-site": "same-origin", "origin": "http://testserver"},
                     follow_redirects=False)  # fmt: skip
    assert ok.status_code == 303


def test_a_client_reads_its_own_runs_but_cannot_review(client, app, seeded) -> None:
    sign_in(client, "carl", "carl-password")
    for url in (f"/proposals/{seeded.proposals[0]}", f"/runs/{seeded.run_id}",
                f"/runs/{seeded.run_id}/unclustered"):  # fmt: skip
        refused = client.get(url, headers=HTML)  # a run carl did not start: no note text
        assert refused.status_code == 403 and "runs they started" in refused.text
    with app.state.services.db.transaction() as session:  # as if carl had started it
        carl = session.scalar(select(User.id).where(User.username == "carl"))
        session.execute(update(Run).values(created_by_actor=f"user:{carl}"))
    page = client.get(f"/proposals/{seeded.proposals[0]}", headers=HTML)
    assert page.status_code == 200 and not page.context["page"].can_review
    assert 'id="confirm-form"' not in page.text
    resp = client.post(f"/proposals/{seeded.proposals[0]}/confirm", data={"version": "1"},
                       headers=HTML)  # fmt: skip
    assert resp.status_code == 403 and "may not review" in resp.text


def test_a_stale_form_post_answers_409_with_the_new_state(client, keys, seeded) -> None:
    pid = seeded.proposals[0]
    sign_in(client, "ann", "ann-password")
    client.post(f"/api/v1/proposals/{pid}/reject", json={"version": 1},
                headers=auth(keys["lead"]))  # fmt: skip
    resp = client.post(f"/proposals/{pid}/rename", data={"version": "1", "name": "Mine"},
                       headers=HTML)  # fmt: skip
    assert resp.status_code == 409
    page = resp.context["page"]
    assert "changed by key:test-lead" in page.error
    assert page.view.row.status == "rejected" and page.view.row.version == 2
    assert 'id="conflict"' in resp.text


def test_split_form_groups_and_the_suggestion(client, seeded) -> None:
    pid = seeded.proposals[0]
    sign_in(client, "ann", "ann-password")
    page = client.get(f"/proposals/{pid}?suggest=1", headers=HTML).context["page"]
    groups = page.groups
    assert {n for n, g in groups.items() if g == groups[seeded.halves[0][0]]} == set(
        seeded.halves[0]
    )
    form = {"version": "1", **{f"g{n}": str(g) for n, g in groups.items()}}
    resp = client.post(f"/proposals/{pid}/split", data=form, headers=HTML, follow_redirects=False)
    assert resp.status_code == 303
    child = client.get(resp.headers["location"], headers=HTML).context["page"]
    assert child.view.parent_proposal_id == pid and child.view.row.size == 3
    one_group = {"version": "1", **{f"g{n}": "1" for n in seeded.members[seeded.proposals[1]]}}
    resp = client.post(f"/proposals/{seeded.proposals[1]}/split", data=one_group, headers=HTML)
    assert resp.status_code == 422 and "2 to 9 groups" in resp.text


def test_a_client_sees_category_counts_but_only_its_own_notes(client, keys, seeded) -> None:
    made = client.post("/api/v1/projects/demo/categories", headers=auth(keys["lead"]),
                       json={"name": "Loose", "note_ids": [seeded.unclustered[0]]})  # fmt: skip
    assert made.status_code == 201
    sign_in(client, "carl", "carl-password")
    [mine] = client.get("/projects/demo/categories", headers=HTML).context["page"].categories
    assert mine.count == 1 and mine.notes == []  # the lead's note, not carl's
    client.post("/logout", headers=HTML)
    sign_in(client, "ann", "ann-password")
    [theirs] = client.get("/projects/demo/categories", headers=HTML).context["page"].categories
    assert [n.note_id for n in theirs.notes] == [seeded.unclustered[0]]
