"""A reviewer's second week, with the keyboard: carry-over proposals confirmed with ``c``.

Project "weekly" on the live server (the real pipeline): week 1's notes (tests/weekly_notes.py)
were run and reviewed into one category per failure; week 2's run carried most of its notes over
into those categories. The reviewer confirms each carry-over proposal from the queue with ``j``,
Enter and ``c`` (the last with ``m`` and Enter: merged into its first merge suggestion, the same
category), and makes a new category from an unclustered note with ``space``, ``t``, a name and
Enter.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from sqlalchemy import select

from service import review
from service.audit import labels as audit_labels
from service.auth import Role, add_user, principal_for_user
from service.notes.batches import get_or_create_project, store_batch
from service.notes.ingest import NoteIn
from service.runs.create import create_run
from service.runs.pipeline import execute_run
from service.runs.worker import claim_run
from service.storage.models import Category, Proposal, ProposalState, User
from tests.review_ui.conftest import LiveServer, screenshot, sign_in
from tests.weekly_notes import second_week, week

pytestmark = pytest.mark.browser

PASSWORD = "weekly-reviewer"


def run_week(
    live: LiveServer, notes: list[tuple[str, str]], tag: str, lead_id: int
) -> tuple[int, list[int]]:
    """Submit a week's notes, execute its run here, turn its blind mode off (as the lead);
    returns the run and the notes' ids."""
    services = live.app.state.services
    with live.db().transaction() as s:
        project = get_or_create_project(s, "weekly")
        project_id = project.id
    batch = store_batch(
        live.db(), project_id,
        [NoteIn(text, external_id=f"{tag}-{i}") for i, (_, text) in enumerate(notes)],
        source="json", submitted_by="test",
    )  # fmt: skip
    with live.db().transaction() as s:
        project = get_or_create_project(s, "weekly")
    run = create_run(services, project, batch_id=batch.batch_id, seed=0, created_by="test")
    assert claim_run(services, run.id)
    execute_run(services, run.id, echo=lambda *_: None)
    with live.db().transaction() as s:
        lead = principal_for_user(s, lead_id)
        audit_labels.set_blind(s, lead, run.id, False, 0)
    return int(run.id), list(batch.note_ids)


@pytest.fixture(scope="module")
def weekly(live: LiveServer) -> dict[str, Any]:
    with live.db().transaction() as s:
        project = get_or_create_project(s, "weekly")
        add_user(s, "weekly-reviewer", PASSWORD, project, Role.reviewer)
        lead_id = add_user(s, "weekly-lead", "weekly-lead-password", project, Role.lead).id
    first = week(12, seed=1)
    run1, note_ids = run_week(live, first, "w1", lead_id)
    by_failure: dict[str, list[int]] = {}
    for note_id, (failure, _) in zip(note_ids, first, strict=True):
        by_failure.setdefault(failure, []).append(note_id)
    categories = {}
    with live.db().transaction() as s:  # week 1 reviewed: its proposals rejected, then one
        lead = principal_for_user(s, lead_id)  # category per failure from its notes
        for state in s.scalars(select(ProposalState).where(ProposalState.run_id == run1)).all():
            review.reject(s, lead, state.proposal_id, state.version)
        for failure, ids in by_failure.items():
            categories[failure] = review.create_category(
                s, lead, "weekly", failure, ids
            ).category_id
    run2, _ = run_week(live, second_week(), "w2", lead_id)
    return {"run": run2, "categories": categories}


def keys(page: Any, *pressed: str, navigates: bool = True) -> None:
    if not navigates:
        for key in pressed:
            page.keyboard.press(key)
        return
    with page.expect_navigation():
        for key in pressed:
            page.keyboard.press(key)


def rows(page: Any) -> list[tuple[int, bool, str]]:
    """(proposal id, carry-over, status) per queue row, in queue order."""
    out = []
    for row in page.locator("#queue tbody tr").all():
        pid = int(str(row.locator("a[data-open]").get_attribute("href")).rsplit("/", 1)[1])
        status = str(row.get_attribute("class")).removeprefix("status-")
        out.append((pid, row.locator(".badge.carry").count() == 1, status))
    return out


def test_a_second_week_is_reviewed_with_the_keyboard(
    page: Any, live: LiveServer, weekly: dict[str, Any]
) -> None:
    run_id = weekly["run"]
    sign_in(page, "weekly-reviewer", PASSWORD)
    page.goto(f"/runs/{run_id}")
    carried = [pid for pid, carry, _ in rows(page) if carry]
    assert len(carried) == 4  # one per recurring failure: week 2 starts in its categories
    badges = page.locator("#queue .badge.carry").all_text_contents()
    assert sorted(b.removeprefix("carry-over → ") for b in badges) == sorted(weekly["categories"])
    screenshot(page, "queue-carry-over")

    for n, _ in enumerate(carried):  # from the queue: j to the first pending carry-over, Enter
        page.goto(f"/runs/{run_id}")
        order = rows(page)
        index = next(i for i, (_, c, status) in enumerate(order) if c and status == "pending")
        keys(page, *["j"] * (index + 1), "Enter")
        assert page.locator("#carry-over").count() == 1
        note = str(page.text_content("#carry-over-note"))
        assert "These notes fit the confirmed category" in note
        if n < len(carried) - 1:
            keys(page, "c")  # confirm: into the category it was matched to
            continue
        # the last one: m opens the merge panel on the closest suggestion, Enter merges into it
        keys(page, "m", navigates=False)
        assert page.evaluate("document.activeElement.id") == "merge-into"
        first = page.eval_on_selector("#merge-into option", "o => o.value")
        assert page.input_value("#merge-into") == first
        assert page.locator("#merge-suggestions").count() == 1
        keys(page, "Enter")
        merged = order[index][0]
    with live.db().transaction() as s:
        for pid in carried:
            state, proposal = s.get_one(ProposalState, pid), s.get_one(Proposal, pid)
            assert state.status == ("merged" if pid == merged else "confirmed")
            assert state.category_id == proposal.matched_category_id  # the same category ids
        assert first == f"c:{s.get_one(Proposal, merged).matched_category_id}"
        project = get_or_create_project(s, "weekly")
        ids = s.scalars(select(Category.id).where(Category.project_id == project.id))
        assert sorted(ids) == sorted(weekly["categories"].values())
    page.goto(f"/runs/{run_id}")
    assert not any(c and status == "pending" for _, c, status in rows(page))

    # an unclustered note: space selects it, t names a new category, Enter makes it
    page.goto(f"/runs/{run_id}/unclustered")
    assert page.locator("li.note").count() >= 1
    keys(page, "j", " ", "t", navigates=False)
    assert page.evaluate("document.activeElement.id") == "new-category-name"
    page.keyboard.type("Accounting exports")
    keys(page, "Enter")
    assert page.url.endswith(f"/runs/{run_id}/unclustered")
    assert "New category “Accounting exports” from 1 note(s)." in str(page.text_content(".flash"))

    page.goto("/projects/weekly/categories")
    names = page.locator("#categories .cat-name").all_text_contents()
    assert "Accounting exports" in names and set(weekly["categories"]) <= set(names)
    year, number, _ = datetime.now(UTC).isocalendar()
    assert f"{year}-W{number:02d}" in str(page.text_content("#categories .cat-weeks"))
    keys(page, "?", navigates=False)
    assert "new category from the selected notes" in str(page.text_content("#help"))
    assert page.console_errors == []


def test_a_week_of_carry_overs_is_accepted_with_one_key_and_undone_with_one(
    page: Any, live: LiveServer, weekly: dict[str, Any]
) -> None:
    with live.db().transaction() as s:
        project = get_or_create_project(s, "weekly")
        lead_id = next(u for u in s.scalars(select(User)) if u.username == "weekly-lead").id
    run_id, _ = run_week(live, second_week(), "w3", lead_id)  # the same failures again
    sign_in(page, "weekly-reviewer", PASSWORD)
    page.goto(f"/runs/{run_id}")
    carried = [pid for pid, carry, status in rows(page) if carry and status == "pending"]
    assert len(carried) >= 3
    button = str(page.text_content("#accept-carry-overs-form button"))
    assert f"Accept all {len(carried)} carry-over proposals" in button
    keys(page, "A")  # every pending carry-over into its category, in one action
    assert "Accepted" in str(page.text_content(".flash"))
    assert not any(c and status == "pending" for _, c, status in rows(page))
    assert page.locator("#accept-carry-overs-form").count() == 0
    with live.db().transaction() as s:
        for pid in carried:
            state, proposal = s.get_one(ProposalState, pid), s.get_one(Proposal, pid)
            assert state.status == "confirmed"
            assert state.category_id == proposal.matched_category_id
        assert project.id == get_or_create_project(s, "weekly").id
    page.goto(f"/runs/{run_id}")
    keys(page, "u")  # one undo puts them all back
    page.goto(f"/runs/{run_id}")
    again = [pid for pid, carry, status in rows(page) if carry and status == "pending"]
    assert sorted(again) == sorted(carried)
    assert page.console_errors == []
