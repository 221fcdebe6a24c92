"""Two reviewers at once, claims, blind mode and hostile note text, in a real browser."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from service.auth import Role, add_user
from service.notes.batches import get_or_create_project
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
    sign_in(second, "lead", "axial-lead")
    second.goto(f"/runs/{lab.run_id}")
    with second.expect_navigation():
        second.get_by_role("button", name="Turn blind mode on").click()
    assert "Blind mode is on" in str(second.text_content(".flash"))
    sign_in(page, "reviewer", "axial-reviewer")
    page.goto(f"/runs/{lab.run_id}")
    assert page.url.endswith(f"/runs/{lab.run_id}/audit")
    content = page.content()
    for name in ("Wrong refund amount", "Hallucinated order status", "Ignored user language"):
        assert name not in content
    forms = page.locator("form.label-form")
    total = forms.count()
    assert total == 5
    for i in range(total):
        form = page.locator("form.label-form").nth(i)
        if i == 0:
            form.locator("input[name=new_category_name]").fill("Refund confusion")
        with page.expect_navigation():
            form.locator("select").focus()
            page.keyboard.press("Enter")
    assert page.url.endswith(f"/runs/{lab.run_id}")  # sample done: the queue opens
    assert "Blind audit done" in str(page.text_content(".flash"))
    page.goto(f"/runs/{lab.run_id}/audit")
    assert page.text_content("#labelled-count") == str(total)


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
