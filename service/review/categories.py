"""A confirmed category from selected notes: one call, wherever the notes are.

A reviewer picks notes of the project (unclustered ones, notes labelled noise, or notes of
pending proposals of any run) and names a category for them: the category is created
confirmed, the notes are labelled with it, and the pending proposals that held some of them
lose those notes. It is one insert-only ``create_category`` event
(:class:`~service.review.events.CreateCategoryAfter`), applied by the projection and replayed
by a rebuild, and undoable like any action.

Which run the event belongs to: the project's latest run that held any of the notes (as a
note of the run, or in one of its proposals); when none did, the project's latest run. That is
the run whose ``POST /runs/{id}/undo`` undoes it. A project without any run has nowhere to
record it (422).

Refused, changing nothing: an empty list or a note listed twice (422 ``note_ids``); a note
that is unknown or of another project (404 naming the ``note_ids``, the same answer for
both); a note already in a confirmed category (409 ``note_ids``: move it instead); every
note of a pending proposal (422 ``note_ids``: confirm that proposal instead); a name an
active category of the project has, case aside (409 ``name``: assign the notes to it
instead).
"""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.audit.gate import require_audit_done
from service.auth import Principal, project_by_name
from service.domain import CategoryStatus, ProposalStatus, ReviewAction
from service.errors import BadInput, Conflict, NotFound
from service.review import projection
from service.review.common import clean_definition, clean_name, record, unique_ids
from service.review.events import CreateCategoryAfter, Footprint, TakenFrom
from service.storage.db import lock_review_state
from service.storage.models import (
    Category,
    Note,
    NoteAssignment,
    Proposal,
    ProposalMember,
    ProposalState,
    Run,
    RunNote,
)

CHUNK = 500  # ids per IN (...) query


@dataclass(frozen=True, slots=True)
class CreatedCategory:
    """What creating a category did: the category, its event and where the notes came from."""

    category_id: int
    project_id: int
    name: str
    definition: str
    event_id: int
    run_id: int
    note_ids: list[int]
    taken_from: list[TakenFrom]


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]


def _check_notes(session: Session, project_id: int, ids: list[int]) -> None:
    """404 for notes not in the project; 409 for notes already in a confirmed category."""
    known: set[int] = set()
    filed: list[int] = []
    for chunk in _chunks(ids):
        known.update(
            session.scalars(
                select(Note.id).where(Note.id.in_(chunk), Note.project_id == project_id)
            )
        )
        filed += session.scalars(
            select(NoteAssignment.note_id).where(
                NoteAssignment.note_id.in_(chunk), NoteAssignment.category_id.is_not(None)
            )
        )
    unknown = [n for n in ids if n not in known]
    if unknown:
        raise NotFound(f"no notes {unknown} in this project", field="note_ids", note_ids=unknown)
    if filed:
        filed = sorted(int(n) for n in filed)
        raise Conflict(
            f"notes {filed} are already in a confirmed category: move them instead",
            field="note_ids",
            note_ids=filed,
        )


def _check_name(session: Session, project_id: int, name: str) -> None:
    same = session.scalars(
        select(Category).where(
            Category.project_id == project_id,
            Category.status == CategoryStatus.active,
            func.lower(Category.name) == name.lower(),
        )
    ).first()
    if same is not None:
        raise Conflict(
            f"a category named {same.name!r} exists (id {same.id}): assign the notes to it",
            field="name",
            category_id=same.id,
        )


def _sources(session: Session, project_id: int, ids: list[int]) -> list[ProposalState]:
    """The pending proposals of the project holding any of the notes, by id (read under the
    project's review lock, so they cannot change under us)."""
    wanted = set(ids)
    states = session.scalars(
        select(ProposalState)
        .join(Run, Run.id == ProposalState.run_id)
        .where(Run.project_id == project_id, ProposalState.status == ProposalStatus.pending)
        .order_by(ProposalState.proposal_id)
    ).all()
    held = [s for s in states if wanted.intersection(int(n) for n in s.member_note_ids)]
    for state in held:
        members = [int(n) for n in state.member_note_ids]
        if all(n in wanted for n in members):
            raise BadInput(
                f"the notes include every note of pending proposal {state.proposal_id}: "
                "confirm that proposal (after a rename) instead",
                field="note_ids",
                proposal_id=state.proposal_id,
            )
    return held


def _event_run(session: Session, project_id: int, ids: list[int]) -> Run:
    """The project's latest run that held any of the notes, else its latest run."""
    latest: int | None = None
    for chunk in _chunks(ids):
        in_run = session.scalar(select(func.max(RunNote.run_id)).where(RunNote.note_id.in_(chunk)))
        in_proposal = session.scalar(
            select(func.max(Proposal.run_id))
            .join(ProposalMember, ProposalMember.proposal_id == Proposal.id)
            .where(ProposalMember.note_id.in_(chunk))
        )
        latest = max([r for r in (latest, in_run, in_proposal) if r is not None], default=None)
    if latest is None:
        latest = session.scalar(select(func.max(Run.id)).where(Run.project_id == project_id))
    if latest is None:
        raise BadInput("the project has no run yet to record this in", field="note_ids")
    return session.get_one(Run, latest)


def create_category(
    session: Session,
    principal: Principal,
    project: str,
    name: str,
    note_ids: list[int],
    definition: str | None = None,
) -> CreatedCategory:
    """Create a confirmed category from the selected notes of a project (see the module doc).

    Args:
        session: The request's transaction.
        principal: The caller: a reviewer or lead of the project.
        project: The project's name.
        name: The new category's name (whitespace collapsed).
        note_ids: The notes, each once, at least one.
        definition: Its definition (empty when omitted).

    Returns:
        The category, the event and the proposals the notes left.
    """
    found = project_by_name(session, project)
    principal.require(found.id, "review")
    lock_review_state(session, found.id)
    clean = clean_name(name)
    text = clean_definition(definition or "")
    ids = unique_ids(note_ids, "note_ids")
    _check_notes(session, found.id, ids)
    _check_name(session, found.id, clean)
    sources = _sources(session, found.id, ids)
    run = _event_run(session, found.id, ids)
    for gated in sorted({run.id, *(s.run_id for s in sources)}):
        require_audit_done(session, session.get_one(Run, gated), principal)
    chosen = set(ids)
    taken = [
        TakenFrom(
            proposal_id=s.proposal_id,
            note_ids=[int(n) for n in s.member_note_ids if int(n) in chosen],
        )
        for s in sources
    ]
    category = Category(
        project_id=found.id, name=clean, definition=text, origin="human",
        origin_proposal_id=None, status=CategoryStatus.active,
    )  # fmt: skip
    session.add(category)
    session.flush()
    event = record(
        session, principal, run, ReviewAction.create_category, category_id=category.id,
        note_ids=ids,
        after=CreateCategoryAfter(
            category_id=category.id, name=clean, definition=text, taken_from=taken
        ),
        touched=Footprint(
            proposals=[s.proposal_id for s in sources], notes=ids, categories=[category.id],
            created_categories=[category.id],
        ),
    )  # fmt: skip
    projection.apply_event(session, event, {s.proposal_id: s.version for s in sources})
    return CreatedCategory(category.id, found.id, clean, text, event.id, run.id, ids, taken)
