"""UI sessions live on the server (issue #15, point 5): a random token in the cookie, its hash at
rest; logout, a password change and a lead end them; they expire; sign-ins are throttled and an
unknown username costs the same scrypt work as a known one. Both databases."""

from __future__ import annotations

import hashlib
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update

from service.app import create_app
from service.auth import Role, add_user
from service.notes.batches import get_or_create_project
from service.settings import Settings
from service.storage.models import ApiKey, UiSession
from tests.conftest import auth

HTML = {"accept": "text/html"}
PROJECTS = "/api/v1/projects"


@pytest.fixture
def users(app: Any) -> None:
    with app.state.services.db.transaction() as session:
        demo = get_or_create_project(session, "demo")
        add_user(session, "ann", "ann-password", demo, Role.reviewer)
        add_user(session, "olga", "olga-password", get_or_create_project(session, "other"),
                 Role.reviewer)  # fmt: skip


def browser(app: Any, base_url: str = "http://testserver") -> TestClient:
    return TestClient(app, base_url=base_url)


def sign_in(web: TestClient, username: str = "ann", password: str = "ann-password") -> str:
    resp = web.post("/login", data={"username": username, "password": password},
                    headers=HTML, follow_redirects=False)  # fmt: skip
    assert resp.status_code == 303, resp.text
    token = web.cookies.get("axial_session")
    assert token
    return token


def signed_in(app: Any, token: str) -> int:
    """The status of an API read made with nothing but this session cookie."""
    return browser(app).get(PROJECTS, cookies={"axial_session": token}).status_code


def rows(app: Any) -> list[UiSession]:
    with app.state.services.db.transaction() as session:
        found = list(session.scalars(select(UiSession)))
        session.expunge_all()
        return found


def test_the_cookie_carries_a_random_token_kept_hashed(app: Any, users: None) -> None:
    web = browser(app)
    resp = web.post("/login", data={"username": "ann", "password": "ann-password"},
                    headers=HTML, follow_redirects=False)  # fmt: skip
    header = resp.headers["set-cookie"].lower()
    assert "httponly" in header and "samesite=lax" in header and "secure" not in header
    assert "max-age=43200" in header
    token = web.cookies["axial_session"]
    stored = rows(app)
    assert len(stored) == 1 and stored[0].token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert token not in stored[0].token_hash and stored[0].user_id is not None
    assert web.get(PROJECTS).status_code == 200
    again = sign_in(browser(app))  # every sign-in is a session of its own
    assert again != token and len(rows(app)) == 2


def test_logout_ends_the_session_for_every_copy_of_the_cookie(app: Any, users: None) -> None:
    web = browser(app)
    token = sign_in(web)
    assert signed_in(app, token) == 200
    assert web.post("/logout", headers=HTML, follow_redirects=False).status_code == 303
    assert signed_in(app, token) == 401  # a copy of the old cookie is refused
    assert rows(app) == []
    assert browser(app).get("/", headers=HTML, cookies={"axial_session": token},
                            follow_redirects=False).status_code == 303  # fmt: skip


def test_a_password_change_ends_the_other_sessions(app: Any, users: None) -> None:
    here, there = browser(app), browser(app)
    sign_in(here)
    other = sign_in(there)
    wrong = here.post("/account/password", headers=HTML,
                      data={"current_password": "nope-nope", "new_password": "brand-new-pw"})  # fmt: skip
    assert wrong.status_code == 422 and "current password is wrong" in wrong.text
    assert signed_in(app, other) == 200  # a refused change ends nothing
    short = here.post("/account/password", headers=HTML,
                      data={"current_password": "ann-password", "new_password": "short"})  # fmt: skip
    assert short.status_code == 422 and "8 characters" in short.text
    done = here.post("/account/password", headers=HTML, follow_redirects=False,
                     data={"current_password": "ann-password", "new_password": "brand-new-pw"})  # fmt: skip
    assert done.status_code == 303
    assert here.get(PROJECTS).status_code == 200  # the browser that changed it stays
    assert signed_in(app, other) == 401
    assert browser(app).post("/login", headers=HTML, data={"username": "ann",
                             "password": "ann-password"}).status_code == 401  # fmt: skip
    sign_in(browser(app), "ann", "brand-new-pw")


def test_a_key_session_has_no_password_and_ends_with_its_key(
    app: Any, keys: dict[str, str]
) -> None:
    web = browser(app)
    web.post("/login", data={"api_key": keys["reviewer"]}, headers=HTML)
    refused = web.post("/account/password", headers=HTML,
                       data={"current_password": "x" * 8, "new_password": "y" * 8})  # fmt: skip
    assert refused.status_code == 422 and "API key" in refused.text
    assert web.get(PROJECTS).status_code == 200
    with app.state.services.db.transaction() as session:
        session.execute(update(ApiKey).values(revoked_at=datetime.now(UTC)))
    assert web.get(PROJECTS).status_code == 401


def test_users_add_with_a_new_password_ends_every_session(app: Any, users: None) -> None:
    token = sign_in(browser(app))
    with app.state.services.db.transaction() as session:  # same password: nothing changes
        add_user(session, "ann", "ann-password", get_or_create_project(session, "demo"),
                 Role.reviewer)  # fmt: skip
    assert signed_in(app, token) == 200
    with app.state.services.db.transaction() as session:
        add_user(session, "ann", "another-pw", get_or_create_project(session, "demo"),
                 Role.reviewer)  # fmt: skip
    assert signed_in(app, token) == 401


def test_a_lead_revokes_a_members_sessions(app: Any, users: None, keys: dict[str, str]) -> None:
    token, olga = sign_in(browser(app)), sign_in(browser(app), "olga", "olga-password")
    url = "/api/v1/projects/demo/users/{}/sessions"
    refused = browser(app).delete(url.format("ann"), headers=auth(keys["reviewer"]))
    assert refused.status_code == 403 and refused.json()["field"] == "role"
    elsewhere = browser(app).delete(
        "/api/v1/projects/elsewhere/users/ann/sessions", headers=auth(keys["lead"])
    )
    nowhere = browser(app).delete(
        "/api/v1/projects/nowhere/users/ann/sessions", headers=auth(keys["lead"])
    )
    assert elsewhere.status_code == nowhere.status_code == 404
    assert elsewhere.json()["field"] == nowhere.json()["field"] == "project"
    for stranger in ("olga", "nobody"):  # a user of another project, a user who does not exist
        resp = browser(app).delete(url.format(stranger), headers=auth(keys["lead"]))
        assert resp.status_code == 404 and resp.json()["field"] == "username"
    assert signed_in(app, token) == 200
    done = browser(app).delete(url.format("ann"), headers=auth(keys["lead"]))
    assert done.status_code == 200 and done.json() == {"username": "ann", "sessions_ended": 1}
    assert signed_in(app, token) == 401
    assert signed_in(app, olga) == 200


def test_sessions_expire(app: Any, users: None) -> None:
    token = sign_in(browser(app))
    with app.state.services.db.transaction() as session:
        session.execute(
            update(UiSession).values(expires_at=datetime.now(UTC) - timedelta(seconds=1))
        )
    assert signed_in(app, token) == 401
    sign_in(browser(app))  # a sign-in sweeps expired rows
    assert len(rows(app)) == 1


@contextmanager
def custom_app(settings: Settings, embedder: Any, **changes: Any) -> Iterator[Any]:
    application = create_app(
        settings.model_copy(update=changes), embedder=embedder, start_worker=False, warm_up=False
    )
    with application.state.services.db.transaction() as session:
        add_user(session, "ann", "ann-password", get_or_create_project(session, "demo"),
                 Role.reviewer)  # fmt: skip
    yield application
    application.state.services.db.dispose()


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
@pytest.mark.parametrize(
    ("mode", "base", "secure"),
    [("auto", "https://testserver", True), ("auto", "http://testserver", False),
     ("true", "http://testserver", True), ("false", "https://testserver", False)],
)  # fmt: skip
def test_the_secure_flag_follows_the_setting(
    settings: Settings, embedder: Any, mode: str, base: str, secure: bool
) -> None:
    with custom_app(settings, embedder, cookie_secure=mode) as application:
        resp = browser(application, base).post(
            "/login", data={"username": "ann", "password": "ann-password"},
            headers=HTML, follow_redirects=False,
        )  # fmt: skip
        assert resp.status_code == 303
        assert ("; secure" in resp.headers["set-cookie"].lower()) is secure


def test_wrong_passwords_are_throttled_per_user_and_per_address(
    settings: Settings, embedder: Any
) -> None:
    changes = {"login_max_failures": 3, "login_max_failures_per_address": 5, "session_ttl_s": 600}
    with custom_app(settings, embedder, **changes) as application:
        web = browser(application)

        def attempt(username: str, password: str = "wrong-password") -> Any:
            return web.post("/login", data={"username": username, "password": password},
                            headers=HTML, follow_redirects=False)  # fmt: skip

        assert [attempt("ann").status_code for _ in range(3)] == [401, 401, 401]
        blocked = attempt("ann", "ann-password")  # even the right password waits
        assert blocked.status_code == 429 and 0 < int(blocked.headers["retry-after"]) <= 300
        assert "Too many failed sign-ins" in blocked.text
        assert attempt("bob").status_code == 401  # another name: 4th failure of this address
        assert attempt("carol").status_code == 401  # 5th
        assert attempt("dave").status_code == 429  # the address is throttled now


def test_an_unknown_user_costs_the_same_scrypt_work(
    app: Any, users: None, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[int] = []
    real = hashlib.scrypt

    def counting(*args: Any, **kwargs: Any) -> bytes:
        calls.append(kwargs["n"])
        return real(*args, **kwargs)

    browser(app).post("/login", data={"username": "warm-up", "password": "x"}, headers=HTML)
    monkeypatch.setattr(hashlib, "scrypt", counting)  # after the dummy hash is made, once
    answers = []
    for username in ("ann", "no-such-user"):
        calls.clear()
        resp = browser(app).post("/login", data={"username": username, "password": "wrong-pw"},
                                 headers=HTML)  # fmt: skip
        answers.append((resp.status_code, list(calls)))
    assert answers[0][0] == answers[1][0] == 401
    assert answers[0][1] == answers[1][1] == [2**14]  # one scrypt each, same cost


def test_migration_0004_records_who_made_old_batches_and_runs(tmp_path: Any) -> None:
    """Old rows get the id of the one key (of their project) or user their name names; a name
    two keys share stays NULL, so neither twin reads the other's batch or run."""
    from alembic import command
    from sqlalchemy import create_engine, text

    from service.storage.db import alembic_config

    engine = create_engine(f"sqlite:///{tmp_path / 'old.db'}")

    def upgrade(revision: str) -> None:
        cfg = alembic_config(str(engine.url))
        with engine.begin() as conn:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, revision)

    upgrade("0003")
    now = "2026-12-01 12:00:00"
    with engine.begin() as conn:
        conn.execute(text(f"INSERT INTO project (id, name, created_at) VALUES (1, 'p', '{now}')"))
        conn.execute(text("INSERT INTO app_user (id, username, password_hash, created_at) "
                          f"VALUES (7, 'maya', 'x', '{now}')"))  # fmt: skip
        for kid, name in ((3, "solo"), (4, "twin"), (5, "twin")):
            conn.execute(text(
                "INSERT INTO api_key (id, project_id, name, role, prefix, key_hash, created_at)"
                f" VALUES ({kid}, 1, '{name}', 'client', 'axk_', 'h{kid}', '{now}')"
            ))  # fmt: skip
        for bid, who in enumerate(("key:solo", "key:twin", "maya", "gone"), start=1):
            conn.execute(text(
                "INSERT INTO batch (id, project_id, payload_sha256, source, submitted_by, "
                f"n_received, n_stored, n_duplicates, created_at) VALUES ({bid}, 1, 'x', 'json', "
                f"'{who}', 1, 1, 0, '{now}')"
            ))  # fmt: skip
            conn.execute(text(
                "INSERT INTO run (id, project_id, scope, seed, params, config_hash, status, stage,"
                " done, total, timings, n_notes, n_clusters, n_unclustered, n_judge_failed, "
                f"blind_mode, created_by, created_at) VALUES ({bid}, 1, 'batch', 0, '{{}}', 'h', "
                f"'succeeded', 'done', 0, 0, '{{}}', 0, 0, 0, 0, 0, '{who}', '{now}')"
            ))  # fmt: skip
    upgrade("head")
    with engine.begin() as conn:
        batches = dict(
            conn.execute(text("SELECT submitted_by, submitted_by_actor FROM batch")).all()
        )
        runs = dict(conn.execute(text("SELECT created_by, created_by_actor FROM run")).all())
    want = {"key:solo": "key:3", "key:twin": None, "maya": "user:7", "gone": None}
    assert batches == runs == want
    engine.dispose()
