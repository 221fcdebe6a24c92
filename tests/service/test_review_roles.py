"""Who may call each review route: 401 without a key, 403 for the wrong role, 404 for a key of
another project (as for a run or proposal that does not exist)."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from service.storage.models import ReviewEvent
from tests.conftest import auth
from tests.review_ui.seed import seed_run


def routes(
    p: int, other: int, run: int, note: int, loose: int, halves: Any
) -> list[tuple[str, str, Any, str]]:
    """(method, path, body, permission) for every review route."""
    return [
        ("GET", f"/proposals/{p}", None, "read"),
        ("GET", f"/runs/{run}/queue", None, "read"),
        ("GET", f"/proposals/{p}/suggested-split", None, "review"),
        ("POST", f"/proposals/{p}/claim", None, "review"),
        ("POST", f"/proposals/{p}/release", None, "review"),
        ("POST", f"/proposals/{p}/rename", {"version": 1, "name": "Renamed"}, "review"),
        ("POST", f"/proposals/{p}/move", {"version": 2, "note_ids": [note], "to_noise": True},
         "review"),
        ("POST", f"/proposals/{other}/merge", {"version": 1, "into_proposal_id": p}, "review"),
        ("POST", f"/proposals/{p}/split", {"version": 4, "groups": halves}, "review"),
        ("POST", f"/proposals/{other + 1}/confirm", {"version": 1}, "review"),
        ("POST", f"/proposals/{other + 1}/reject", {"version": 2}, "review"),
        ("POST", f"/runs/{run}/unclustered/assign", {"note_ids": [loose], "to_noise": True},
         "review"),
        ("POST", f"/runs/{run}/undo", None, "review"),
        ("GET", f"/runs/{run}/audit", None, "review"),
        ("POST", f"/runs/{run}/blind", {"enabled": True}, "lead"),
        ("POST", f"/runs/{run}/audit/labels", {"note_id": note, "noise": True}, "review"),
        ("POST", "/projects/demo/rebuild", None, "lead"),
    ]  # fmt: skip


ALLOWED = {
    # a client reads only the runs it started; the seeded run was not (403 naming run_id)
    "read": {"reviewer", "lead"},
    "review": {"reviewer", "lead"},
    "lead": {"lead"},
}


@pytest.mark.parametrize("db_url", ["sqlite"], indirect=True)
def test_every_review_route_checks_the_role(client, keys, app) -> None:
    with app.state.services.db.transaction() as session:
        s = seed_run(session)
    big, mid, _small = s.proposals
    halves = [list(h) for h in s.halves]
    table = routes(big, mid, s.run_id, s.members[big][0], s.unclustered[0], halves)
    failures = []
    for method, path, body, permission in table:
        url = f"/api/v1{path}"
        for who in ("anonymous", "client", "outsider", "reviewer", "lead"):
            headers = auth(keys[who]) if who != "anonymous" else {}
            resp = client.request(method, url, json=body, headers=headers)
            if who == "anonymous":
                want: set[int] | str = {401}
            elif who == "outsider":
                want = {404}
            elif who in ALLOWED[permission]:
                want = "allowed"
            else:
                want = {403}
            ok = (
                resp.status_code not in (401, 403)
                if want == "allowed"
                else resp.status_code in want
            )
            if not ok:
                failures.append(f"{method} {path} as {who}: {resp.status_code} {resp.text[:120]}")
            if resp.status_code in (401, 403):
                assert resp.json()["message"], (path, who)
            if resp.status_code == 403:  # the documented error shape: the field it concerns
                field = "run_id" if permission == "read" else "role"
                assert resp.json()["field"] == field, (path, who, resp.text)
    assert failures == []
    with app.state.services.db.transaction() as session:  # only permitted callers left events
        actors = set(session.scalars(select(ReviewEvent.actor)))
    assert actors <= {"key:test-reviewer", "key:test-lead"}
    assert "key:test-reviewer" in actors
