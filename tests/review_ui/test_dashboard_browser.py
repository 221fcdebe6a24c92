"""A lead opens the dashboard after the demo is reviewed: every chart renders under the CSP.

The demo run comes from the real pipeline (``prepare_demo``: MiniLM, HDBSCAN, keyword judge) on
a server of this module's own (the review-flow tests own the shared one). The review is
scripted through the HTTP API from the demo's answer key: a blind audit first (a reviewer,
and a lead double-coding a few notes), then the workflow (rename to the intended name and
confirm, move misplaced notes, assign unclustered notes, reject noise proposals).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
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
from service.storage.models import Note
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
            choice = {"noise": True} if slug is None else {"new_category_name": self.names[slug]}
            self.call("POST", f"/runs/{self.run}/audit/labels", note_id=nid, **choice)
            if i < 6:  # the lead double-codes six notes, disagreeing on the last one
                second = {"noise": True} if i == 5 else choice
                self.call("POST", f"/runs/{self.run}/audit/labels", "lead", note_id=nid, **second)

    def proposal(self, p: dict[str, Any]) -> None:
        pid, members = p["proposal_id"], self.call("GET", f"/proposals/{p['proposal_id']}")
        ids = members["member_note_ids"]
        slug, _ = Counter(self.truth[n] for n in ids).most_common(1)[0]
        version = members["version"]
        if slug is None:
            self.call("POST", f"/proposals/{pid}/reject", version=version)
            return
        if members["name"] != self.names[slug]:
            self.call("POST", f"/proposals/{pid}/rename", version=version, name=self.names[slug])
            version += 1
        self.cats[slug] = self.call("POST", f"/proposals/{pid}/confirm", version=version + 0)[
            "category_id"
        ]
        version += 1
        misplaced = [n for n in ids if self.truth[n] != slug][: len(ids) - 1]
        for n in misplaced:
            where = self.where(self.truth[n])
            if where is not None:
                self.call("POST", f"/proposals/{pid}/move", version=version, note_ids=[n], **where)
                version += 1

    def where(self, slug: str | None) -> dict[str, Any] | None:
        if slug is None:
            return {"to_noise": True}
        return {"to_category_id": self.cats[slug]} if slug in self.cats else None

    def workflow(self) -> None:
        for p in self.call("GET", f"/runs/{self.run}/queue")["proposals"]:
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


@pytest.fixture(scope="module")
def reviewed_demo(tmp_path_factory: pytest.TempPathFactory, embedder: Embedder) -> Iterator[Any]:
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
        reviewer.workflow()
        api = reviewer.call("GET", "/projects/demo/agreement", "lead")
    yield url, api
    server.should_exit = True
    thread.join(timeout=10)
    app.state.services.db.dispose()


def test_a_lead_sees_every_chart_and_the_headline_after_the_demo(
    browser: Any, reviewed_demo: Any
) -> None:
    url, api = reviewed_demo
    context = browser.new_context(base_url=url)
    context.set_default_timeout(20_000)
    page = context.new_page()
    errors: list[str] = []
    page.on("console", lambda msg: errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: errors.append(str(exc)))
    sign_in(page, "lead", "axial-lead")
    page.goto("/projects/demo/dashboard")
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
