"""Vectors and centroids kept across requests (``service.review.vector_cache.VectorCache``).

A second app on the same database starts with nothing kept, so its answers are what the
database says now: the first app's answers, read with what it kept, must be the same after
notes moved between proposals and into a category (kept centroids are of member lists, never
of a proposal id).
"""

from __future__ import annotations

from typing import Any

from fastapi.testclient import TestClient

from service.app import create_app
from service.auth import Role, create_key
from service.review.vector_cache import VectorCache, vector_cache
from service.settings import Settings
from service.storage.models import Project
from tests.service.test_review_statements import seed_run


def _reads(client: TestClient, run_id: int, proposal_id: int) -> tuple[Any, Any]:
    queue = client.get(f"/api/v1/runs/{run_id}/queue")
    detail = client.get(f"/api/v1/proposals/{proposal_id}")
    assert queue.status_code == 200 and detail.status_code == 200, (queue.text, detail.text)
    rows = {r["proposal_id"]: r["merge_suggestions"] for r in queue.json()["proposals"]}
    body = detail.json()
    return rows, (body["merge_suggestions"], body["nearest"])


def test_kept_vectors_answer_as_a_fresh_read_after_moves_and_a_confirm(db_url: str) -> None:
    settings = Settings(database_url=db_url, blind_first=False)
    warm = create_app(settings, start_worker=False, warm_up=False)
    with warm.state.services.db.transaction() as session:
        project = Project(name="kept")
        session.add(project)
        session.flush()
        run_id = seed_run(session, project, 6, 5, 3)
        key = create_key(session, project, Role.reviewer, "keeper")
    headers = {"Authorization": f"Bearer {key}"}
    with TestClient(warm, headers=headers) as client:
        rows = client.get(f"/api/v1/runs/{run_id}/queue").json()["proposals"]
        a, b, c = rows[:3]
        first = _reads(client, run_id, a["proposal_id"])  # keeps vectors and centroids
        moved = client.get(f"/api/v1/proposals/{a['proposal_id']}").json()["member_note_ids"][:2]
        resp = client.post(f"/api/v1/proposals/{a['proposal_id']}/move", json={
            "version": a["version"], "note_ids": moved, "to_proposal_id": b["proposal_id"]})  # fmt: skip
        assert resp.status_code == 200, resp.text
        resp = client.post(f"/api/v1/proposals/{c['proposal_id']}/confirm",
                           json={"version": c["version"], "into": "new"})  # fmt: skip
        assert resp.status_code == 200, resp.text
        kept = _reads(client, run_id, a["proposal_id"])
        with warm.state.services.db.transaction() as session:
            cache = vector_cache(session)
    assert isinstance(cache, VectorCache) and cache._centroids, "centroids were kept"
    assert kept != first, "the move and the confirm changed the suggestions"
    cold = create_app(settings, start_worker=False, warm_up=False)
    with TestClient(cold, headers=headers) as client:
        assert _reads(client, run_id, a["proposal_id"]) == kept
    warm.state.services.db.dispose()
    cold.state.services.db.dispose()
