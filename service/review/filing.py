"""File selected notes of a run into a confirmed category, from wherever they sit: one action.

From a project's second batch on, most notes arrive in carry-over proposals, and what is left
for the reviewer is mostly notes in the wrong place: a note of category A inside the carry-over
proposal of B, another in the proposal of C, a third left unclustered. Moving each out costs
one action per proposal it sits in; here the reviewer selects every note of A wherever it is
in the run (unclustered, or in any pending proposal of the run) and files them into A at once.

It records what moving and assigning them would, one event per place they came from: a
``move`` event per pending proposal that held some (its version as read under the project's
review lock, like :func:`service.review.create_category`), and an ``assign`` event for the
unclustered ones, all sharing a ``group`` token in their payload;
:func:`service.review.undo.undo` reverts a group as one action.

Refused, changing nothing: an empty list or a note listed twice (422 ``note_ids``); a note that
is neither unclustered in the run nor in one of its pending proposals (422 ``note_ids``, naming
them); every note of a pending proposal (422 ``note_ids``: merge that proposal instead); an
unknown category or one of another project (404 ``category_id``), or one no longer active (422
``category_id``).
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass, field

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.gate import require_audit_done
from service.auth import Principal
from service.domain import ProposalOrigin, ProposalStatus
from service.errors import BadInput
from service.review.actions import assign, move
from service.review.common import (
    active_category,
    held_by_live_proposals,
    load_run,
    lock_run,
    unclustered_ids,
    unique_ids,
)
from service.review.events import TakenFrom
from service.review.similarity import CategoryRef
from service.review.views.build import _flagged, _notes, active_categories
from service.review.views.models import NoteRow
from service.runs.read import RunRow, run_row
from service.storage.models import Proposal, ProposalState

MAX_NOTES = 5000


@dataclass(frozen=True, slots=True)
class FiledNotes:
    """What filing did: the category, the notes, where they came from, and the events."""

    category_id: int
    run_id: int
    note_ids: list[int]
    taken_from: list[TakenFrom]
    unclustered: list[int]
    event_ids: list[int]
    group: str

    def to_json(self) -> dict[str, object]:
        return {
            "category_id": self.category_id,
            "run_id": self.run_id,
            "note_ids": self.note_ids,
            "taken_from": [t.stored() for t in self.taken_from],
            "unclustered": self.unclustered,
            "event_ids": self.event_ids,
        }


def _pending(session: Session, run_id: int) -> list[ProposalState]:
    return list(
        session.scalars(
            select(ProposalState)
            .where(ProposalState.run_id == run_id, ProposalState.status == ProposalStatus.pending)
            .order_by(ProposalState.proposal_id)
        )
    )


def file_notes(
    session: Session, principal: Principal, run_id: int, category_id: int, note_ids: list[int]
) -> FiledNotes:
    """File notes of run ``run_id`` into category ``category_id`` (see the module doc).

    Args:
        session: The request's transaction.
        principal: The caller: a reviewer or lead of the run's project.
        run_id: The run whose unclustered notes and pending proposals hold the notes.
        category_id: An active category of the run's project.
        note_ids: The notes, each once, at least one.

    Returns:
        The notes filed, the proposals they left, and the events (one undo reverts them all).
    """
    run = lock_run(session, principal, run_id)
    require_audit_done(session, run, principal)
    ids = unique_ids(note_ids, "note_ids")
    if len(ids) > MAX_NOTES:
        raise BadInput(f"at most {MAX_NOTES} notes per call", field="note_ids")
    active_category(session, run.project_id, category_id, "category_id")
    wanted = set(ids)
    sources: list[tuple[ProposalState, list[int]]] = []
    for state in _pending(session, run_id):
        members = [int(n) for n in state.member_note_ids]
        chosen = [n for n in members if n in wanted]
        if not chosen:
            continue
        if len(chosen) == len(members):
            raise BadInput(
                f"the notes include every note of pending proposal {state.proposal_id}: "
                "merge that proposal into the category instead",
                field="note_ids",
                proposal_id=state.proposal_id,
            )
        sources.append((state, chosen))
    in_proposals = {n for _, chosen in sources for n in chosen}
    loose = unclustered_ids(session, run_id) - held_by_live_proposals(session, run_id)
    unclustered = [n for n in ids if n not in in_proposals and n in loose]
    strangers = [n for n in ids if n not in in_proposals and n not in loose]
    if strangers:
        raise BadInput(
            f"notes {strangers} are neither unclustered in run {run_id} nor in one of its "
            "pending proposals",
            field="note_ids",
            note_ids=strangers,
        )
    group = secrets.token_hex(8)
    events = [
        move(
            session, principal, state.proposal_id, state.version, chosen,
            to_category_id=category_id, group=group,
        ).event_id
        for state, chosen in sources
    ]  # fmt: skip
    if unclustered:
        done = assign(
            session, principal, run_id, unclustered, to_category_id=category_id, group=group
        )
        events.append(done.event_id)
    taken = [TakenFrom(proposal_id=s.proposal_id, note_ids=chosen) for s, chosen in sources]
    return FiledNotes(category_id, run.id, ids, taken, unclustered, events, group)


# -- what the filing page shows ---------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class NoteGroup:
    """Notes of the run that can be filed, as they sit: unclustered (no proposal) or in one."""

    proposal_id: int | None
    name: str
    carry_over: bool
    notes: list[NoteRow]


@dataclass(frozen=True, slots=True)
class FilingView:
    """The run's notes that can be filed, and the categories they can be filed into."""

    run: RunRow
    role: str
    groups: list[NoteGroup]
    categories: list[CategoryRef] = field(default_factory=list)


def filing_view(session: Session, caller: Principal, run_id: int) -> FilingView:
    """The run's unclustered notes not labelled yet (nor in a live proposal), and its pending
    proposals' notes."""
    run = load_run(session, caller, run_id, "read")
    require_audit_done(session, run, caller)
    loose = sorted(unclustered_ids(session, run_id) - held_by_live_proposals(session, run_id))
    pending = _pending(session, run_id)
    members = {s.proposal_id: [int(n) for n in s.member_note_ids] for s in pending}
    # Every note shown and every proposal's origin in one read each, not one per proposal.
    notes = _notes(session, loose + [n for ids in members.values() for n in ids])
    origins = dict(
        session.execute(select(Proposal.id, Proposal.origin).where(Proposal.id.in_(members)))
        .tuples()
        .all()
    )
    unlabelled = [n for n in _flagged(notes, loose, set(), set()) if n.label is None]
    groups = [NoteGroup(None, "unclustered", False, unlabelled)] if unlabelled else []
    for state in pending:
        carry = origins.get(state.proposal_id) == ProposalOrigin.carry_over
        rows = _flagged(notes, members[state.proposal_id], set(), set())
        groups.append(NoteGroup(state.proposal_id, state.name, carry, rows))
    role = caller.role_in(run.project_id)
    cats = active_categories(session, run.project_id)
    return FilingView(run_row(session, run), role.value if role else "", groups, cats)
