"""The review UI by keyboard alone (issue #17): the blind audit, the split view's groups, merge.

Each test has its own project on the live server (a seeded run of three proposals of 6, 4 and 3
notes and four unclustered notes, see ``seed.py``) and never touches the mouse: only
``page.keyboard`` and ``page.goto`` (a typed address).
"""

from __future__ import annotations

from typing import Any

import pytest
from sqlalchemy import select

from service import review
from service.auth import Role, add_user, principal_for_user
from service.notes.batches import get_or_create_project
from service.review import views
from service.storage.models import AuditDraw, ProposalState, ReviewEvent, Run
from tests.review_ui.conftest import LiveServer, screenshot, sign_in
from tests.review_ui.seed import SeededRun, seed_run

pytestmark = pytest.mark.browser


def seeded(live: LiveServer, project: str, users: dict[str, Role]) -> tuple[SeededRun, int]:
    """A seeded run of ``project`` with a confirmed category "Wrong refund amount" (made by the
    lead from an unclustered note), users with ``password-<name>``; returns the run and the
    category's id."""
    with live.db().transaction() as session:
        target = get_or_create_project(session, project)
        lead = add_user(session, f"{project}-lead", "password-lead", target, Role.lead)
        for name, role in users.items():
            add_user(session, name, f"password-{name}", target, role)
        run = seed_run(session, project)
        sampled = set(
            session.scalars(select(AuditDraw.note_id).where(AuditDraw.run_id == run.run_id))
        )
        outside = next(n for n in run.unclustered if n not in sampled)
        made = review.create_category(
            session, principal_for_user(session, lead.id), project, "Wrong refund amount", [outside]
        )
    return run, made.category_id


def focused(page: Any, expression: str) -> Any:
    return page.evaluate(f"(() => {{ const el = document.activeElement; return {expression}; }})()")


def focused_note(page: Any) -> int | None:
    """The note whose field has the focus (None: focus is outside the notes)."""
    value = focused(
        page, "el && el.closest('[data-note]') && el.closest('[data-note]').dataset.note"
    )
    return int(value) if value else None


def press(page: Any, *keys: str, navigates: bool = False) -> None:
    if not navigates:
        for key in keys:
            page.keyboard.press(key)
        return
    with page.expect_navigation():
        for key in keys:
            page.keyboard.press(key)


def sample_ids(page: Any) -> list[int]:
    return [
        int(x)
        for x in page.eval_on_selector_all("li[data-note]", "ls => ls.map(l => l.dataset.note)")
    ]


def test_the_blind_audit_is_labelled_with_the_keyboard_alone(page: Any, live: LiveServer) -> None:
    run, category = seeded(live, "keys", {"typist": Role.reviewer})
    with live.db().transaction() as session:
        session.get_one(Run, run.run_id).blind_mode = True
    sign_in(page, "typist", "password-typist")
    page.goto(f"/runs/{run.run_id}")  # blind-first: the queue sends a new reviewer to the audit
    assert page.url.endswith(f"/runs/{run.run_id}/audit")
    notes = sample_ids(page)
    assert len(notes) == 5
    # the first note's name field has the focus at once: no Tab needed
    assert focused_note(page) == notes[0] and focused(page, "el.name") == "new_category_name"

    # ? lists a, and the shortcuts work once Esc has left the field
    press(page, "Escape", "?")
    assert page.is_visible("#help") and "audit page" in str(page.text_content("#help"))
    press(page, "Escape", "j")
    assert focused_note(page) == notes[1] and focused(page, "el.name") == "new_category_name"
    press(page, "Escape", "k")
    assert focused_note(page) == notes[0]

    # note 1: a name in the reviewer's own words; focus moves on to the next unlabelled note
    page.keyboard.type("Refund confusion")
    press(page, "Enter", navigates=True)
    assert focused_note(page) == notes[1] and focused(page, "el.name") == "new_category_name"
    assert "Refund confusion" in page.eval_on_selector_all(
        "#audit-names option", "os => os.map(o => o.value)"
    )

    # note 2: an empty field is refused and nothing is recorded
    press(page, "Enter", navigates=True)
    assert "Not done" in str(page.text_content(".flash"))
    assert page.text_content("#labelled-count") == "1"

    # note 3 (skipping 2 with j): "noise" typed is noise; focus goes back to note 2 after it
    press(page, "Escape")
    assert focused_note(page) is None
    press(page, "j")  # from the note that had the focus (2) to note 3
    assert focused_note(page) == notes[2]
    page.keyboard.type("noise")
    press(page, "Enter", navigates=True)
    assert focused_note(page) == notes[3]  # the next unlabelled one after note 3

    # note 4: a, then the existing category in the list, Enter
    press(page, "Escape", "a")
    assert focused(page, "el.name") == "label" and focused_note(page) == notes[3]
    options = page.eval_on_selector_all(
        f"#note-{notes[3]} select option", "os => os.map(o => o.value)"
    )
    for _ in range(options.index(f"c:{category}")):
        press(page, "ArrowDown")
    press(page, "Enter", navigates=True)
    assert focused_note(page) == notes[4]

    # note 5 then note 2: the same name again, exactly as offered; the last one opens the queue
    page.keyboard.type("Refund confusion")
    press(page, "Enter", navigates=True)
    assert focused_note(page) == notes[1]  # wrapped round to the one left unlabelled
    screenshot(page, "audit-keyboard")
    page.keyboard.type("wrong refund AMOUNT")  # an active category's name, in any case
    press(page, "Enter", navigates=True)
    assert page.url.endswith(f"/runs/{run.run_id}")
    assert "Blind audit done" in str(page.text_content(".flash"))

    with live.db().transaction() as session:
        events = session.scalars(
            select(ReviewEvent)
            .where(ReviewEvent.run_id == run.run_id, ReviewEvent.action == "audit_label")
            .order_by(ReviewEvent.id)
        ).all()
        labels = {int(e.note_ids[0]): dict(e.after) for e in events}
    assert len(events) == 5
    assert labels[notes[0]]["new_category_name"] == labels[notes[4]]["new_category_name"]
    assert labels[notes[0]]["new_category_name"] == "Refund confusion"
    assert labels[notes[2]].get("noise") is True
    assert labels[notes[3]]["category_id"] == labels[notes[1]]["category_id"] == category
    assert page.console_errors == []


def test_split_groups_show_as_coloured_columns_with_counts(page: Any, live: LiveServer) -> None:
    run, _ = seeded(live, "groups", {"splitter": Role.reviewer})
    with live.db().transaction() as session:
        session.get_one(Run, run.run_id).blind_mode = False
    big = run.proposals[0]
    sign_in(page, "splitter", "password-splitter")
    page.goto(f"/proposals/{big}")
    press(page, "s")
    assert page.is_visible("#split-groups") and not page.is_visible("#notes")
    assert headings(page) == ["Group 1 · 6 notes"]
    assert "Every note is in group 1" in str(page.text_content("#split-summary"))

    first = run.members[big][0]
    press(page, "2")  # the current (first) note goes to group 2, and the next one is current
    assert headings(page) == ["Group 1 · 5 notes", "Group 2 · 1 note"]
    assert page.locator(f"[data-group='2'] #note-{first}").count() == 1
    assert "2 groups: 5 + 1 notes" in str(page.text_content("#split-summary"))
    colours = {
        g: page.eval_on_selector(
            f"[data-group='{g}'] li", "l => getComputedStyle(l).borderLeftColor"
        )
        for g in (1, 2)
    }
    assert colours[1] != colours[2]
    boxes = [page.locator(f"[data-group='{g}']").bounding_box() for g in (1, 2)]
    assert boxes[0]["x"] < boxes[1]["x"]  # side by side: columns

    press(page, "g", navigates=True)  # the suggested split: the seed's two halves
    page.wait_for_selector("#split-groups")
    assert headings(page) == ["Group 1 · 3 notes", "Group 2 · 3 notes"]
    halves = [sorted(int(x) for x in page.eval_on_selector_all(
        f"[data-group='{g}'] li[data-note]", "ls => ls.map(l => l.dataset.note)")) for g in (1, 2)]  # fmt: skip
    assert sorted(halves) == sorted(sorted(h) for h in run.halves)
    screenshot(page, "split-groups")
    press(page, "Escape")  # closing the panel puts the notes back in one list, in order
    assert not page.is_visible("#split-groups")
    assert sample_ids(page) == run.members[big]
    press(page, "s", "Enter", navigates=True)
    with live.db().transaction() as session:
        assert session.get_one(ProposalState, big).status == "split"
    assert page.console_errors == []


def headings(page: Any) -> list[str]:
    return [str(h).strip() for h in page.eval_on_selector_all(
        "#split-groups h3", "hs => hs.map(h => h.textContent)")]  # fmt: skip


def test_merge_lists_one_target_per_category_and_enter_takes_the_suggestion(
    page: Any, live: LiveServer
) -> None:
    run, category = seeded(live, "merging", {"merger": Role.reviewer})
    big, middle, small = run.proposals
    with live.db().transaction() as session:
        session.get_one(Run, run.run_id).blind_mode = False
    sign_in(page, "merger", "password-merger")
    page.goto(f"/proposals/{small}")
    press(page, "c", navigates=True)  # confirmed: from now on its category stands for it
    with live.db().transaction() as session:
        confirmed_into = session.get_one(ProposalState, small).category_id
        merger = principal_for_user(session, _user_id(session, "merger"))
        suggestions = views.proposal_detail(session, merger, middle).merge_suggestions
    assert confirmed_into is not None and suggestions

    page.goto(f"/proposals/{middle}")
    press(page, "m")
    assert focused(page, "el.id") == "merge-into"
    values = page.eval_on_selector_all("#merge-into option", "os => os.map(o => o.value)")
    assert len(values) == len(set(values))  # each target once, suggested ones included
    assert f"p:{small}" not in values and f"c:{confirmed_into}" in values
    assert f"c:{category}" in values and f"p:{big}" in values
    assert page.input_value("#merge-into") == suggestions[0].target
    press(page, "Enter", navigates=True)
    with live.db().transaction() as session:
        state = session.get_one(ProposalState, middle)
        event = session.scalars(
            select(ReviewEvent).where(
                ReviewEvent.proposal_id == middle, ReviewEvent.action == "merge"
            )
        ).one()
    assert state.status == "merged"
    into = event.after.get("into_proposal_id") or event.after.get("category_id")
    assert suggestions[0].target.endswith(f":{into}")
    assert page.console_errors == []


def _user_id(session: Any, name: str) -> int:
    from service.storage.models import User

    return int(session.scalars(select(User.id).where(User.username == name)).one())
