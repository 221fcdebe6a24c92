"""Two reviewers at once, claims, blind mode and hostile note text, in a real browser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select

from service.auth import Role, add_user
from service.notes.batches import get_or_create_project
from service.storage.models import ReviewEvent, Run
from tests.review_ui.conftest import LiveServer, sign_in
from tests.review_ui.seed import SeededRun, seed_run

pytestmark = pytest.mark.browser

XSS = (
    "<script>window.__xss = 'script'</script>"
    "<img src=x onerror=\"window.__xss = 'img'\"> the bot replied with markup"
)


@pytest.fixture(scope="module")
def lab(live: LiveServer) -> SeededRun:
    """Project "lab": three known proposals, one with a hostile note; demo users get roles."""
    with live.db().transaction() as session:
        project = get_or_create_project(session, "lab")
        add_user(session, "reviewer", "axial-reviewer", project, Role.reviewer)
        add_user(session, "lead", "axial-lead", project, Role.lead)
        add_user(session, "second", "second-reviewer", project, Role.reviewer)
        add_user(session, "fresh", "fresh-reviewer", project, Role.reviewer)  # never sees proposals
        return seed_run(session, "lab", xss=XSS)


@pytest.fixture
def second(browser: Any, live: LiveServer) -> Iterator[Any]:
    """Another reviewer's browser."""
    context = browser.new_context(base_url=live.url)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def test_hostile_note_text_renders_as_text_and_runs_nothing(page, live, lab) -> None:
    dialogs: list[str] = []
    page.on("dialog", lambda d: (dialogs.append(d.message), d.dismiss()))
    sign_in(page, "reviewer", "axial-reviewer")
    response = page.goto(f"/proposals/{lab.proposals[2]}")
    csp = response.headers["content-security-policy"]
    assert "script-src 'self'" in csp and "unsafe-inline" not in csp
    hostile = page.locator("li.note .text", has_text="the bot replied with markup")
    assert hostile.text_content() == XSS + " [lab]"
    assert page.locator("li.note img, li.note script").count() == 0
    assert page.evaluate("window.__xss") is None
    assert dialogs == []
    page.goto("/projects/lab/categories")  # no categories yet, but the page renders
    assert page.evaluate("window.__xss") is None


def test_two_reviewers_cannot_overwrite_each_other(page, second, live, lab) -> None:
    pid = lab.proposals[1]
    sign_in(page, "reviewer", "axial-reviewer")
    sign_in(second, "second", "second-reviewer")
    page.goto(f"/proposals/{pid}")
    second.goto(f"/proposals/{pid}")
    # the second reviewer claims it: the first sees who has it after a reload
    with second.expect_navigation():
        second.keyboard.press("l")
    assert "Claimed by second" in str(second.text_content(".claim"))
    # ... and renames it, while the first still looks at version 1
    second.keyboard.press("r")
    second.keyboard.type("Invented delivery status")
    with second.expect_navigation():
        second.keyboard.press("Enter")
    with page.expect_navigation():
        page.keyboard.press("c")
    conflict = str(page.text_content("#conflict"))
    assert "changed by second" in conflict and "version 2" in conflict
    assert page.text_content("#proposal-name") == "Invented delivery status"
    assert page.text_content("#proposal-status").strip() == "pending"
    assert "Claimed by second" in str(page.text_content(".claim"))
    with page.expect_navigation():  # now acting on the current version works
        page.keyboard.press("c")
    page.goto(f"/runs/{lab.run_id}")
    row = page.locator("#queue tbody tr", has_text="Invented delivery status")
    assert "confirmed by reviewer" in str(row.text_content())


def test_blind_mode_hides_the_judge_until_the_sample_is_labelled(page, second, live, lab) -> None:
    sign_in(page, "reviewer", "axial-reviewer")
    page.goto(f"/proposals/{lab.proposals[0]}")  # the reviewer has seen the judge's work
    sign_in(second, "lead", "axial-lead")
    second.goto(f"/runs/{lab.run_id}")
    with second.expect_navigation():
        second.get_by_role("button", name="Turn blind mode on").click()
    assert "Blind mode is on" in str(second.text_content(".flash"))
    sign_in(second, "fresh", "fresh-reviewer")  # a reviewer who never saw a proposal
    second.goto(f"/runs/{lab.run_id}")
    assert second.url.endswith(f"/runs/{lab.run_id}/audit")
    content = second.content()
    for name in ("Wrong refund amount", "Hallucinated order status", "Ignored user language"):
        assert name not in content
    assert "5 of 17 notes" in str(second.text_content("#audit-size"))
    forms = second.locator("form.label-form")
    total = forms.count()
    assert total == 5
    for i in range(total):
        form = second.locator("form.label-form").nth(i)
        name = "Refund confusion" if i == 0 else "noise"  # typed "noise" is noise
        form.locator("input[name=new_category_name]").fill(name)
        with second.expect_navigation():
            second.keyboard.press("Enter")
    assert second.url.endswith(f"/runs/{lab.run_id}")  # sample done: the queue opens
    assert "Blind audit done" in str(second.text_content(".flash"))
    second.goto(f"/runs/{lab.run_id}/audit")
    assert second.text_content("#labelled-count") == str(total)


def test_after_the_reveal_the_audit_page_takes_only_revisions(page, live, lab) -> None:
    """A reviewer who has seen the proposals is not held by the gate, and whatever they label
    on the audit page is a revision that leaves their blind labels (and the headline) alone."""
    with live.db().transaction() as session:  # on, as the test above left it
        run = session.get(Run, lab.run_id)
        assert run is not None
        run.blind_mode = True
    sign_in(page, "second", "second-reviewer")
    page.goto(f"/proposals/{lab.proposals[1]}")  # the judge's work is shown: the reveal
    page.goto(f"/runs/{lab.run_id}")
    if "/audit" in page.url:  # blind mode held a reviewer who had not seen it: not this one
        pytest.fail("a reviewer who has seen the proposals is held by the blind-first gate")
    page.goto(f"/runs/{lab.run_id}/audit")
    assert "Your blind labels are closed" in str(page.text_content("#audit-revealed"))
    assert page.locator("form.label-form").count() == 0
    form = page.locator("form.revision-form").first
    assert "revision" in str(form.locator("button").text_content()).lower()
    form.locator("input[name=new_category_name]").fill("Changed my mind")
    with page.expect_navigation():
        form.locator("button").click()
    assert "Revision recorded" in str(page.text_content(".flash"))
    assert "your revision: Changed my mind" in str(page.text_content("li.note"))
    with live.db().transaction() as session:
        events = session.scalars(
            select(ReviewEvent).where(
                ReviewEvent.run_id == lab.run_id, ReviewEvent.action == "audit_label"
            )
        ).all()
        modes = {(e.actor, e.mode, e.judge_visible) for e in events}
    assert ("second", "revised", True) in modes
    assert ("fresh", "blind", False) in modes
    assert not any(actor == "second" and mode == "blind" for actor, mode, _ in modes)


def test_unclustered_notes_are_labelled_with_the_keyboard(page, live, lab) -> None:
    sign_in(page, "reviewer", "axial-reviewer")
    page.goto(f"/runs/{lab.run_id}/unclustered")
    assert page.text_content("#unclustered-count") == str(len(lab.unclustered))
    page.keyboard.press("j")
    page.keyboard.press(" ")
    page.keyboard.press("j")
    page.keyboard.press(" ")
    page.keyboard.press("a")
    assert page.evaluate("document.activeElement.id") == "assign-to"
    with page.expect_navigation():
        page.keyboard.press("Enter")
    labels = [str(b.text_content()) for b in page.locator("li.note .badge").all()]
    assert labels == ["noise", "noise", "unlabelled", "unlabelled"]
    with page.expect_navigation():
        page.keyboard.press("u")
    labels = [str(b.text_content()) for b in page.locator("li.note .badge").all()]
    assert labels == ["unlabelled"] * 4
