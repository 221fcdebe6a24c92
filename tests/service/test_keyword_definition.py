"""The keyword judge's phrase list is offered for naming, never kept as a category's definition."""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select, update

from service.storage.models import Category, Proposal
from tests.conftest import auth
from tests.review_ui.seed import SeededRun, seed_run


@pytest.fixture
def seeded(app: Any, keys: dict[str, str]) -> SeededRun:
    with app.state.services.db.transaction() as session:
        return seed_run(session)


def _definitions(app: Any) -> dict[str, str]:
    with app.state.services.db.transaction() as s:
        return {c.name: c.definition for c in s.scalars(select(Category))}


def _confirm(client: Any, key: str, pid: int) -> None:
    resp = client.post(f"/api/v1/proposals/{pid}/confirm", json={"version": 1}, headers=auth(key))
    assert resp.status_code == 200, resp.text


def test_an_untouched_keyword_proposal_confirms_without_the_phrase_list(
    app: Any, client: Any, keys: dict[str, str], seeded: SeededRun
) -> None:
    keyword, other = seeded.proposals[0], seeded.proposals[1]
    with app.state.services.db.transaction() as s:
        s.execute(update(Proposal).where(Proposal.id == other).values(judge_id="openai:gpt-x"))
        judged = {p.id: (p.name, p.definition) for p in s.scalars(select(Proposal))}
    assert judged[keyword][1] and judged[other][1]
    _confirm(client, keys["reviewer"], keyword)
    _confirm(client, keys["reviewer"], other)
    # an LLM's definition is a definition and is kept; the keyword judge's list is not
    expected = {judged[keyword][0]: "", judged[other][0]: judged[other][1]}
    assert _definitions(app) == expected
    listed = client.get("/api/v1/projects/demo/categories", headers=auth(keys["reviewer"]))
    assert {c["name"]: c["definition"] for c in listed.json()} == expected
    # the event log says the same: a rebuild makes the same categories
    rebuilt = client.post("/api/v1/projects/demo/rebuild", headers=auth(keys["lead"]))
    assert rebuilt.status_code == 200, rebuilt.text
    assert _definitions(app) == expected


def test_a_definition_the_reviewer_wrote_is_kept(
    app: Any, client: Any, keys: dict[str, str], seeded: SeededRun
) -> None:
    pid, key = seeded.proposals[0], keys["reviewer"]
    resp = client.post(
        f"/api/v1/proposals/{pid}/rename",
        json={
            "version": 1,
            "name": "Refund amount wrong",
            "definition": "Refunds of the wrong sum.",
        },
        headers=auth(key),
    )
    assert resp.status_code == 200, resp.text
    resp = client.post(f"/api/v1/proposals/{pid}/confirm", json={"version": 2}, headers=auth(key))
    assert resp.status_code == 200, resp.text
    assert _definitions(app) == {"Refund amount wrong": "Refunds of the wrong sum."}
