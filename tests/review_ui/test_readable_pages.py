"""What the review pages say (issue #17): "N of M" counts, dates in words, a run's progress by
stage, one merge target per category, no default merge without a suggestion, and the judge's
confidence only with what it measures. Pages through the real app on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, select

from review_ui.humane import ago, human_date, run_progress, seconds, when
from service.auth import Role, add_user
from service.notes.batches import get_or_create_project
from service.review.vector_cache import vector_cache
from service.runs.read import RunRow
from service.storage.models import Embedding, Note, Proposal, ProposalState
from tests.conftest import auth
from tests.review_ui.seed import SeededRun, seed_run

HTML = {"accept": "text/html"}


@pytest.fixture
def seeded(app: Any, keys: dict[str, str]) -> SeededRun:
    with app.state.services.db.transaction() as session:
        project = get_or_create_project(session, "demo")
        add_user(session, "ann", "ann-password", project, Role.reviewer)
        return seed_run(session)


def sign_in(client: TestClient) -> None:
    resp = client.post("/login", data={"username": "ann", "password": "ann-password"},
                       headers=HTML, follow_redirects=False)  # fmt: skip
    assert resp.status_code == 303, resp.text


def row(**changes: Any) -> RunRow:
    base: dict[str, Any] = dict(
        run_id=1, project="p", status="succeeded", stage="done", done=1, total=1, n_notes=46,
        n_clusters=3, n_unclustered=4, n_judge_failed=0, blind_mode=False,
        created_at="2026-12-02T16:44:05", finished_at=None, error=None,
        timings={"load": 0.01, "embed": 2.5, "match": 0.2, "cluster": 0.4, "hdbscan": 0.3,
                 "judge": 0.05, "store": 0.1},
    )  # fmt: skip
    return RunRow(**{**base, **changes})


def test_dates_read_as_words_with_the_iso_form_kept() -> None:
    naive, aware = "2026-12-02T16:44:05", "2026-12-02T17:44:05+01:00"
    assert human_date(naive) == human_date(aware) == "2 Dec 2026, 16:44 UTC"
    assert human_date("2026-12-02T16:44:05.123456Z") == "2 Dec 2026, 16:44 UTC"  # the API's form
    tag = str(when(naive))
    assert tag.startswith('<time datetime="2026-12-02T16:44:05+00:00" title="2026-12-02T16:44:05')
    assert tag.endswith(">2 Dec 2026, 16:44 UTC</time>") and str(when(None)) == ""
    now = datetime(2026, 12, 2, 19, 44, tzinfo=UTC)
    assert ago(naive, now) == "3 h ago" and ago(now - timedelta(seconds=5), now) == "just now"
    assert ago(now - timedelta(days=3), now) == "3 days ago"
    assert [seconds(x) for x in (0.04, 2.46, 12.4, 185)] == ["40 ms", "2.5 s", "12 s", "3 min 5 s"]


def test_a_run_shows_its_progress_stage_by_stage() -> None:
    done = run_progress(row())
    assert done.headline == "done in 3.3 s" and done.percent is None  # not "1/1"
    assert done.stages == ["load 10 ms", "embed 2.5 s", "match 200 ms", "cluster 400 ms",
                           "judge 50 ms", "store 100 ms"]  # fmt: skip
    embedding = run_progress(
        row(status="running", stage="embed", done=12, total=46, timings={"load": 0.01})
    )
    assert embedding.headline == "stage 2 of 6, embed: 12 of 46 notes" and embedding.percent == 26
    assert embedding.stages == ["load 10 ms"]
    judging = run_progress(row(status="running", stage="judge", done=1, total=3))
    assert judging.headline == "stage 5 of 6, judge: 1 of 3 clusters"
    storing = run_progress(row(status="running", stage="store", done=0, total=1))
    assert storing.headline == "stage 6 of 6, store" and storing.percent is None
    assert run_progress(row(status="queued", stage="queued")).headline == "waiting for a worker"
    assert run_progress(row(status="failed", stage="cluster")).headline == "failed at cluster"


def test_counts_read_n_of_m_and_dates_read_as_words(client, keys, seeded) -> None:
    sign_in(client)
    empty = client.get("/projects/demo/categories", headers=HTML).text
    assert "0 categories · 0 of 17 notes labelled" in empty
    small = seeded.proposals[2]
    client.post(f"/api/v1/proposals/{small}/confirm", json={"version": 1},
                headers=auth(keys["reviewer"]))  # fmt: skip
    text = client.get("/projects/demo/categories", headers=HTML).text
    assert "1 category · 3 of 17 notes labelled" in text
    assert '<span class="cat-count">3</span> <span class="hint">of 17</span>' in text
    runs = client.get("/projects/demo/runs", headers=HTML).text
    assert "4 of 17" in runs and "1 of 3 proposals decided" in runs
    assert "<time datetime=" in runs and "17/17" not in runs
    assert re.search(r"\d{4}-\d\d-\d\dT", _cells(runs, "time")) is None  # no raw ISO shown
    queue = client.get(f"/runs/{seeded.run_id}", headers=HTML).text
    assert "2</strong> of 3 proposals pending" in queue and "13 of 17 notes in proposals" in queue
    proposal = client.get(f"/proposals/{seeded.proposals[0]}", headers=HTML).text
    assert "6</span> of the run's 17 notes" in proposal and "1 of 6 flagged as misfits" in proposal


def _cells(html: str, tag: str) -> str:
    """The text inside every <tag …>…</tag> of the page, joined."""
    parts = html.split(f"<{tag} ")[1:]
    return " ".join(p.split(">", 1)[1].split(f"</{tag}>", 1)[0] for p in parts)


def test_confidence_is_shown_only_with_what_it_measures(client, app, seeded) -> None:
    big, middle, _ = seeded.proposals
    with app.state.services.db.transaction() as session:
        session.get_one(Proposal, big).raw_output = {"coverage": {"notes": 5, "of": 6}}
        llm = session.get_one(Proposal, middle)
        llm.raw_output, llm.confidence = {"samples": [{}, {}, {}]}, 0.6667
    sign_in(client)
    keyword = client.get(f"/proposals/{big}", headers=HTML)
    assert keyword.context["page"].view.confidence_meaning == (
        "the name's words occur in 5 of 6 notes"
    )
    assert "the name&#39;s words occur in 5 of 6 notes" in keyword.text
    assert "confidence 0.80" not in keyword.text
    sampled = client.get(f"/proposals/{middle}", headers=HTML).text
    assert "2 of 3 name samples agreed" in sampled
    bare = client.get(f"/proposals/{seeded.proposals[2]}", headers=HTML)  # raw output: none
    assert bare.context["page"].view.confidence_meaning is None
    assert "confidence" not in bare.text.split('<p class="meta">', 1)[1].split("</p>", 1)[0]


def test_one_merge_target_per_category_and_no_default_without_a_suggestion(
    client, app, keys, seeded
) -> None:
    big, middle, small = seeded.proposals
    client.post(f"/api/v1/proposals/{small}/confirm", json={"version": 1},
                headers=auth(keys["reviewer"]))  # fmt: skip
    sign_in(client)
    page = client.get(f"/proposals/{big}", headers=HTML)
    view = page.context["page"].view
    category = next(c.category_id for c in view.categories)
    assert [t.proposal_id for t in view.targets] == [middle]  # the confirmed one is its category
    assert f'value="p:{small}"' not in page.text and page.text.count(f'value="c:{category}"') == 2
    with app.state.services.db.transaction() as session:  # no stored vectors: no suggestion
        shas = select(Note.text_sha256).where(Note.project_id == seeded.project_id)
        session.execute(delete(Embedding).where(Embedding.text_sha256.in_(shas)))
        vector_cache(session).clear()  # the server keeps vectors it read: never deleted by it
    page = client.get(f"/proposals/{big}", headers=HTML)
    assert page.context["page"].view.merge_suggestions == []
    assert '<option value="" selected disabled>' in page.text
    resp = client.post(f"/proposals/{big}/merge", data={"version": "1"}, headers=HTML)
    assert resp.status_code == 422 and "pick where the notes go" in resp.text
    with app.state.services.db.transaction() as session:
        state = session.get_one(ProposalState, big)
        assert (state.status, state.version) == ("pending", 1)


def test_rename_offers_the_keyword_judges_text_without_keeping_it(client, seeded) -> None:
    big = seeded.proposals[0]
    sign_in(client)
    text = client.get(f"/proposals/{big}", headers=HTML).text
    textarea = text.split('<textarea name="definition"', 1)[1].split("</textarea>", 1)[0]
    assert (
        'placeholder="Which notes belong here, in your words. The keyword judge wrote:' in textarea
    )
    assert textarea.endswith(">")  # empty: Enter in the name field does not keep the judge's text
    resp = client.post(f"/proposals/{big}/rename", data={"version": "1", "name": "Refunds wrong",
                       "definition": ""}, headers=HTML)  # fmt: skip
    assert resp.status_code == 200 and "Undo rename of “" in resp.text
    view = client.get(f"/proposals/{big}", headers=HTML).context["page"].view
    assert (view.row.name, view.definition) == ("Refunds wrong", "")
    text = client.get(f"/proposals/{big}", headers=HTML).text
    assert ">Refunds wrong</h1>" in text and 'placeholder="Which notes' not in text
