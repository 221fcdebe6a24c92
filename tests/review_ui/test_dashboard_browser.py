"""A lead opens the dashboard of the demo: "pending review" before the first run is reviewed,
then every chart and an interval that covers what the judge really got wrong.

The demo run comes from the real pipeline (``prepare_demo``: MiniLM, HDBSCAN, keyword judge) on
a server of this module's own (the review-flow tests own the shared one). The review is
scripted through the HTTP API from the demo's answer key: a blind audit first, in the
reviewer's own words (the answer key's slugs, "relative date arithmetic", not the names the
review confirms later), a lead double-coding a few notes; then the workflow (rename to the
intended name and confirm, move misplaced notes, assign unclustered notes, reject noise
proposals). It is the project's first run: the codebook is empty while the audit is labelled.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest
import uvicorn
from pydantic import SecretStr
from sqlalchemy import select

from clustering import Embedder
from judges import KeywordJudge
from service.app import create_app
from service.demo import DemoInfo, answer_key, prepare_demo
from service.settings import Settings
from service.storage.models import Note, Proposal, ProposalMember, RunNote
from tests.review_ui.conftest import screenshot, sign_in

pytestmark = pytest.mark.browser
CHARTS = ("outcomes", "weeks", "pareto", "saturation", "runs")


class Reviewer:
    """Scripted review of the demo run through the HTTP API, truth from the answer key."""

    def __init__(self, http: httpx.Client, demo: DemoInfo, truth: dict[int, str | None]) -> None:
        self.http, self.run, self.truth = http, demo.run_id, truth
        self.keys = {who: {"Authorization": f"Bearer {k}"} for who, k in demo.keys.items()}
        key = answer_key()["categories"]
        self.names = {slug: c["name"] for slug, c in key.items()}
        self.cats: dict[str, int] = {}

    def call(self, method: str, path: str, who: str = "reviewer", **body: Any) -> Any:
        resp = self.http.request(
            method, f"/api/v1{path}", headers=self.keys[who], json=body or None
        )
        assert resp.status_code < 300, resp.text
        return resp.json()

    def blind(self) -> None:
        self.call("POST", f"/runs/{self.run}/blind", "lead", enabled=True)
        notes = [n["note_id"] for n in self.call("GET", f"/runs/{self.run}/audit")["notes"]]
        for i, nid in enumerate(notes):
            slug = self.truth[nid]
            own_words = None if slug is None else slug.replace("-", " ")  # not the final name
            choice = {"noise": True} if slug is None else {"new_category_name": own_words}
            self.call("POST", f"/runs/{self.run}/audit/labels", note_id=nid, **choice)
            if i < 6:  # the lead double-codes six notes, disagreeing on the last one
                second = {"noise": True} if i == 5 else choice
                self.call("POST", f"/runs/{self.run}/audit/labels", "lead", note_id=nid, **second)

    def proposal(self, p: dict[str, Any]) -> None:
        """Settle one proposal as the answer key says: split it by true category until each
        part holds one, then confirm each part under its category's name (joining the category
        if an earlier part made it) or reject it as noise."""
        detail = self.call("GET", f"/proposals/{p['proposal_id']}")
        self.settle(detail["proposal_id"], detail["version"], detail["member_note_ids"])

    def settle(self, pid: int, version: int, ids: list[int]) -> None:
        by_slug: dict[str | None, list[int]] = {}
        for n in ids:
            by_slug.setdefault(self.truth[n], []).append(n)
        if len(by_slug) == 1:
            slug = next(iter(by_slug))
            if slug is None:
                self.call("POST", f"/proposals/{pid}/reject", version=version)
                return
            if self.call("GET", f"/proposals/{pid}")["name"] != self.names[slug]:
                self.call(
                    "POST", f"/proposals/{pid}/rename", version=version, name=self.names[slug]
                )
                version += 1
            confirmed = self.call("POST", f"/proposals/{pid}/confirm", version=version)
            self.cats[slug] = confirmed["category_id"]
            return
        parts = sorted(by_slug.items(), key=lambda kv: -len(kv[1]))
        rest = [n for _, g in parts[8:] for n in g]  # more than 9 kinds: split again later
        groups = [g for _, g in parts[:8]] + ([rest] if rest else [])
        split = self.call("POST", f"/proposals/{pid}/split", version=version, groups=groups)
        for child, group in zip(split["child_proposal_ids"], groups, strict=True):
            self.settle(child, 1, group)

    def where(self, slug: str | None) -> dict[str, Any] | None:
        if slug is None:
            return {"to_noise": True}
        return {"to_category_id": self.cats[slug]} if slug in self.cats else None

    def workflow(self) -> None:
        for p in self.call("GET", f"/runs/{self.run}/queue")["proposals"]:
            if p["status"] == "pending":
                self.proposal(p)
        for note in self.call("GET", f"/runs/{self.run}/unclustered"):
            where = self.where(self.truth[note["note_id"]])
            if where is not None:
                self.call(
                    "POST",
                    f"/runs/{self.run}/unclustered/assign",
                    note_ids=[note["note_id"]],
                    **where,
                )


class Demo:
    """The demo on a live server, blind-audited; :meth:`review` runs the workflow once."""

    def __init__(self, url: str, reviewer: Reviewer, app: Any) -> None:
        self.url, self.reviewer, self.app, self.reviewed = url, reviewer, app, False

    def review(self) -> dict[str, Any]:
        if not self.reviewed:
            self.reviewer.workflow()
            self.reviewed = True
        return self.agreement()

    def agreement(self) -> dict[str, Any]:
        found: dict[str, Any] = self.reviewer.call("GET", "/projects/demo/agreement", "lead")
        return found

    def judge_error(self) -> float:
        """What the judge really got wrong: the share of the run's notes whose judge label,
        mapped into the reviewed codebook, is not their answer-key category."""
        r = self.reviewer
        outcomes = self.agreement()["proposal_outcomes"]["runs"][0]["outcomes"]
        mapped = {o["proposal_id"]: o["mapped_to"] for o in outcomes}
        with self.app.state.services.db.transaction() as s:
            members = s.execute(
                select(ProposalMember.proposal_id, ProposalMember.note_id)
                .join(Proposal, Proposal.id == ProposalMember.proposal_id)
                .where(Proposal.run_id == r.run, Proposal.origin == "judge")
            ).all()
            run_notes = list(s.scalars(select(RunNote.note_id).where(RunNote.run_id == r.run)))
        judged = {int(n): mapped[int(p)] for p, n in members}  # the judge's noise: absent
        truth = {n: (None if s is None else r.cats.get(s, -1)) for n, s in r.truth.items()}
        return sum(judged.get(n) != truth[n] for n in run_notes) / len(run_notes)


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Demo]:
    db_file = tmp_path_factory.mktemp("dashboard") / "axial.db"
    settings = Settings(
        database_url=f"sqlite:///{db_file}", session_secret=SecretStr("dashboard-tests")
    )
    app = create_app(settings, embedder=embedder, judge=KeywordJudge(), start_worker=False)
    demo = prepare_demo(app.state.services)
    labels = answer_key()["labels"]
    with app.state.services.db.transaction() as s:
        rows = s.execute(select(Note.id, Note.external_id)).all()
    truth = {int(i): (None if labels[e] == "noise" else labels[e]) for i, e in rows}
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=0, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    port = server.servers[0].sockets[0].getsockname()[1]
    url = f"http://127.0.0.1:{port}"
    with httpx.Client(base_url=url, timeout=60) as http:
        reviewer = Reviewer(http, demo, truth)
        reviewer.blind()
        yield Demo(url, reviewer, app)
    server.should_exit = True
    thread.join(timeout=10)
    app.state.services.db.dispose()


@pytest.fixture(scope="module")
def reviewed_demo(demo: Demo) -> tuple[str, dict[str, Any]]:
    return demo.url, demo.review()


def _dashboard(browser: Any, url: str) -> tuple[Any, Any, list[str]]:
    context = browser.new_context(base_url=url)
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, "lead", "axial-lead")
    page.goto("/projects/demo/dashboard")
    return context, page, errors


def test_the_first_run_reads_pending_review_until_reviewed_then_an_interval(
    browser: Any, demo: Demo
) -> None:
    if demo.reviewed:
        pytest.skip("the module's demo was reviewed already (tests ran out of order)")
    context, page, errors = _dashboard(browser, demo.url)
    pending = page.text_content("[data-figure=judge-error]") or ""
    assert pending.startswith("Judge error: pending review"), pending
    assert "blind names the review has not linked yet" in (page.text_content(".headline") or "")
    api = demo.review()  # the reviewer reviews the run through the API
    page.reload()
    e = api["judge_error_rate"]
    assert e["status"] == "estimated" and e["n"] >= 20
    text = page.text_content("[data-figure=judge-error]") or ""
    assert text.startswith(f"Judge error {100 * e['value']:.0f}% (95% CI"), text
    truth = demo.judge_error()
    assert e["low"] <= truth <= e["high"], (truth, e)  # the interval covers the judge's real error
    assert errors == []
    context.close()


def test_a_lead_sees_every_chart_and_the_headline_after_the_demo(
    browser: Any, reviewed_demo: Any
) -> None:
    url, api = reviewed_demo
    context, page, errors = _dashboard(browser, url)
    page.wait_for_function(
        "[...document.querySelectorAll('[data-chart]')].every(e => e.dataset.rendered)"
    )
    for key in CHARTS:
        chart = page.locator(f'[data-chart="{key}"]')
        assert chart.get_attribute("data-rendered") == "true", key
        assert chart.locator("svg").count() == 1, key
        assert (
            chart.locator(
                "svg .mark-rect, svg .mark-line, svg .mark-symbol, svg .mark-rule"
            ).count()
            > 0
        )
    e = api["judge_error_rate"]
    assert e["n"] >= 20 and e["value"] is not None
    text = page.text_content("[data-figure=judge-error]") or ""
    assert f"Judge error {100 * e['value']:.0f}%" in text and "95% CI" in text
    assert f"blind audit n = {e['n']}" in (page.text_content(".headline") or "")
    assert page.locator("table.counts tbody tr").count() == len(
        api["corrected_counts"]["categories"]
    )
    assert api["saturation"]["message"] in (page.text_content("[data-figure=saturation]") or "")
    assert page.locator("table.reviewers tbody tr").count() == 2  # reviewer and lead
    screenshot(page, "dashboard")
    assert errors == []  # no CSP violation, no script error
    context.close()
