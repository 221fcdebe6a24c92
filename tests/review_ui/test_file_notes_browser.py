"""A reviewer files notes of one category from several proposals with the keyboard, at once.

Project "filing" on the live server (the real pipeline): week 1 reviewed into one category per
failure, week 2 run (its recurring notes wait as carry-over proposals). On the run's "File
notes" page the reviewer selects a note in each of two proposals (``j``, ``space``), presses
``a``, picks a category and Enter: both are filed in one action, which ``u`` undoes.
"""

from __future__ import annotations

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
from service.storage.models import NoteAssignment, ProposalState
from tests.review_ui.conftest import LiveServer, screenshot, sign_in
from tests.weekly_notes import second_week, week

pytestmark = pytest.mark.browser

PROJECT, PASSWORD = "filing", "filing-reviewer"


def run_week(
    live: LiveServer, notes: list[tuple[str, str]], tag: str, lead_id: int
) -> tuple[int, list[int]]:
    """Submit a week's notes to the project, execute its run here, blind mode off; the run and
    the notes' ids."""
    services = live.app.state.services
    with live.db().transaction() as s:
        project_id = get_or_create_project(s, PROJECT).id
    batch = store_batch(
        live.db(), project_id,
        [NoteIn(text, external_id=f"{tag}-{i}") for i, (_, text) in enumerate(notes)],
        source="json", submitted_by="test",
    )  # fmt: skip
    with live.db().transaction() as s:
        project = get_or_create_project(s, PROJECT)
    run = create_run(services, project, batch_id=batch.batch_id, seed=0, created_by="test")
    assert claim_run(services, run.id)
    execute_run(services, run.id, echo=lambda *_: None)
    with live.db().transaction() as s:
        audit_labels.set_blind(s, principal_for_user(s, lead_id), run.id, False, 0)
    return int(run.id), list(batch.note_ids)


@pytest.fixture(scope="module")
def filing(live: LiveServer) -> int:
    with live.db().transaction() as s:
        project = get_or_create_project(s, PROJECT)
        add_user(s, "filing-reviewer", PASSWORD, project, Role.reviewer)
        lead_id = add_user(s, "filing-lead", "filing-lead-password", project, Role.lead).id
    first = week(12, seed=1)
    run1, note_ids = run_week(live, first, "w1", lead_id)
    by_failure: dict[str, list[int]] = {}
    for note_id, (failure, _) in zip(note_ids, first, strict=True):
        by_failure.setdefault(failure, []).append(note_id)
    with live.db().transaction() as s:  # week 1: its proposals rejected, one category per failure
        lead = principal_for_user(s, lead_id)
        for state in s.scalars(select(ProposalState).where(ProposalState.run_id == run1)).all():
            review.reject(s, lead, state.proposal_id, state.version)
        for failure, members in by_failure.items():
            review.create_category(s, lead, PROJECT, failure, members)
    return run_week(live, second_week(), "w2", lead_id)[0]


def keys(page: Any, *pressed: str, navigates: bool = True) -> None:
    if not navigates:
        for key in pressed:
            page.keyboard.press(key)
        return
    with page.expect_navigation():
        for key in pressed:
            page.keyboard.press(key)


def test_notes_of_two_proposals_are_filed_with_one_key_and_undone_with_one(
    page: Any, live: LiveServer, filing: int
) -> None:
    run_id = filing
    sign_in(page, "filing-reviewer", PASSWORD)
    page.goto(f"/runs/{run_id}")
    with page.expect_navigation():
        page.click("text=File notes")
    assert page.url.endswith(f"/runs/{run_id}/file")
    groups = page.locator("ol.notes").all()
    sizes = [g.locator("li.note").count() for g in groups]
    sources = [i for i, n in enumerate(sizes) if n >= 2][:2]
    assert len(sources) == 2  # two proposals with a note to spare each
    # j to the first note of each source group, space selects it
    starts = [sum(sizes[:i]) for i in sources]
    pressed, at = [], -1
    for start in starts:
        pressed += ["j"] * (start - at) + [" "]
        at = start
    keys(page, *pressed, navigates=False)
    picked = [int(str(v)) for v in page.eval_on_selector_all(
        "input.pick:checked", "bs => bs.map(b => b.value)")]  # fmt: skip
    assert len(picked) == 2
    keys(page, "a", navigates=False)
    assert page.evaluate("document.activeElement.id") == "assign-to"
    page.keyboard.press("ArrowDown")
    target = int(page.input_value("#assign-to").removeprefix("c:"))
    screenshot(page, "file-notes")
    keys(page, "Enter")
    assert page.url.endswith(f"/runs/{run_id}/file")
    assert "Filed 2 note(s) from 2 place(s)." in str(page.text_content(".flash"))
    with live.db().transaction() as s:
        for note_id in picked:
            assert s.get_one(NoteAssignment, note_id).category_id == target
    assert page.locator("li.note").count() == sum(sizes) - 2

    keys(page, "u")  # one undo puts both back where they were
    page.goto(f"/runs/{run_id}/file")
    assert [g.locator("li.note").count() for g in page.locator("ol.notes").all()] == sizes
    with live.db().transaction() as s:
        for note_id in picked:
            assert s.get(NoteAssignment, note_id) is None
    keys(page, "?", navigates=False)
    assert "file notes page: file the selected notes" in str(page.text_content("#help"))
    assert page.console_errors == []
