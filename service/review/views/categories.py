"""Building the category read models: counts in all and per week, member notes.

Split from :mod:`~service.review.views.build` (whose note and project helpers it uses); the
same callers: the API, the CLI and the UI.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.auth import Principal
from service.domain import CategoryStatus
from service.review.views.build import _counts, _flagged, _notes, _own, project_id
from service.review.views.models import CategoryRow, CategoryView, WeekCount
from service.storage.models import Category, Note, NoteAssignment


def _iso_week(moment: datetime) -> str:
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def _weeks(session: Session, project_id: int) -> dict[int, list[WeekCount]]:
    """Each category's notes counted by the ISO week they were submitted in, oldest first."""
    counts: Counter[tuple[int, str]] = Counter()
    for cid, created in session.execute(
        select(NoteAssignment.category_id, Note.created_at)
        .join(Note, Note.id == NoteAssignment.note_id)
        .where(NoteAssignment.project_id == project_id, NoteAssignment.category_id.is_not(None))
    ):
        if cid is not None:
            counts[(int(cid), _iso_week(created))] += 1
    weeks: dict[int, list[WeekCount]] = {}
    for (cid, week), n in sorted(counts.items()):
        weeks.setdefault(cid, []).append(WeekCount(week, n))
    return weeks


def project_note_count(session: Session, project_id: int) -> int:
    """How many notes the project holds (the "of" of "31 of 100 notes")."""
    return int(session.scalar(select(func.count()).where(Note.project_id == project_id)) or 0)


def project_categories(session: Session, project_id: int) -> list[CategoryRow]:
    """Active categories with their note counts (in all and per week), largest first."""
    total = project_note_count(session, project_id)
    counts = _counts(session, project_id)
    weeks = _weeks(session, project_id)
    rows = [
        CategoryRow(
            c.id,
            c.name,
            c.definition,
            c.origin,
            c.origin_proposal_id,
            counts.get(c.id, 0),
            total,
            weeks.get(c.id, []),
        )
        for c in session.scalars(
            select(Category).where(
                Category.project_id == project_id, Category.status == CategoryStatus.active
            )
        )
    ]
    rows.sort(key=lambda c: (-c.count, c.category_id))
    return rows


def categories(session: Session, caller: Principal, name: str) -> list[CategoryView]:
    """The project's active categories, largest first, each with its member notes."""
    pid = project_id(session, caller, name, "read")
    rows = project_categories(session, pid)
    members: dict[int, list[int]] = {c.category_id: [] for c in rows}
    for nid, cid in session.execute(
        select(NoteAssignment.note_id, NoteAssignment.category_id)
        .where(NoteAssignment.project_id == pid)
        .order_by(NoteAssignment.note_id)
    ):
        if cid in members:
            members[cid].append(int(nid))
    notes = _notes(session, [n for ids in members.values() for n in ids])
    views = [
        CategoryView(
            **_own(c),
            notes=_flagged(notes, members[c.category_id], set(), set()),
        )
        for c in rows
    ]
    views.sort(key=lambda v: (-v.count, v.name.lower()))
    return views
