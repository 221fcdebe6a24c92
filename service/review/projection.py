"""The current review state as a projection of the proposals and the review-event log.

Projection tables: ``proposal_state`` (status, version, name, definition, members, category),
``category`` and ``note_assignment``. Nothing else writes them: the review facade
(:mod:`service.review`) validates an action, inserts one insert-only ``review_event`` and calls
:func:`apply_event`; :func:`rebuild` deletes a project's projection rows and replays.

Event payloads (``review_event.after``) carry everything a replay needs. Each action's is a
frozen model of :mod:`service.review.events` (named in brackets), validated when the event is
recorded and when it is read back here:

============  ==================================================================================
action        after
============  ==================================================================================
confirm       ``category_id``, ``new_category``, ``name``, ``definition``, ``origin``
              (ConfirmAfter)
rename        ``name``, ``definition`` (Naming)
reject        ``reason`` (``noise`` | ``not_a_failure``) (RejectAfter)
split         ``groups`` (note ids per child), ``child_proposal_ids`` (SplitAfter)
merge         ``into_proposal_id`` | ``category_id`` (the destination) (MergeAfter)
move          ``to_proposal_id`` | ``to_category_id`` | ``to_noise``; moved ids in ``note_ids``
              (MoveAfter)
assign        as ``move``, for a run's unclustered notes (no source proposal)
revert        ``undone_action`` only; ``reverts_event_id`` names the undone event (RevertAfter)
create_       ``category_id``, ``name``, ``definition``, ``taken_from`` (the pending proposals
category      some notes left); the notes in ``note_ids`` (CreateCategoryAfter)
============  ==================================================================================

Every event also records ``after["touched"]`` (a Footprint): ``proposals`` (existing proposal
states it changes; each gets ``version + 1``), ``created_proposals``, ``notes`` and
``categories`` (used) and ``created_categories``. Undo uses it to refuse reverting an event that a later event built on.

Versions are monotonic: a proposal's version is 1 + the number of events that touched it,
reverted ones and reverts included, so a page showing an older state can never win (no ABA).
A rebuild keeps claims (ephemeral, not events) and reproduces everything else exactly.
Undo does not rebuild: it restores what the undone event stored under ``after["prior"]``
(:mod:`service.review.undo`), which equals a rebuild without the undone event.
Blind-audit labels (``mode='blind'``) are a separate label stream and never change projections.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import bindparam, delete, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value
from sqlalchemy.orm.util import identity_key

from service.domain import (
    MACHINE_ORIGINS,
    CategoryStatus,
    EventMode,
    ProposalStatus,
    ReviewAction,
)
from service.errors import StaleVersion
from service.review.events import (
    ConfirmAfter,
    CreateCategoryAfter,
    MergeAfter,
    MoveAfter,
    Naming,
    SplitAfter,
    after_of,
    footprint_of,
)
from service.storage.db import lock_review_state, write
from service.storage.models import (
    Category,
    NoteAssignment,
    Proposal,
    ProposalMember,
    ProposalState,
    ReviewEvent,
    Run,
)


def init_run_states(session: Session, run_id: int) -> None:
    """Create the pending state of every proposal a finished run made (judge and carry-over)."""
    proposals = session.scalars(
        select(Proposal)
        .where(Proposal.run_id == run_id, Proposal.origin.in_(MACHINE_ORIGINS))
        .order_by(Proposal.id)
    ).all()
    for proposal in proposals:
        if session.get(ProposalState, proposal.id) is not None:
            continue
        members = session.scalars(
            select(ProposalMember.note_id)
            .where(ProposalMember.proposal_id == proposal.id)
            .order_by(ProposalMember.rank)
        ).all()
        session.add(
            ProposalState(
                proposal_id=proposal.id,
                run_id=run_id,
                status=ProposalStatus.pending,
                version=1,
                name=proposal.name,
                definition=proposal.definition,
                member_note_ids=list(members),
            )
        )
    session.flush()


def stale_error(session: Session, proposal_id: int, expected: int) -> StaleVersion:
    """The 409 for a proposal changed since ``expected``: who changed it and its new state."""
    state = session.execute(
        select(ProposalState)
        .where(ProposalState.proposal_id == proposal_id)
        .execution_options(populate_existing=True)
    ).scalar_one()
    return stale_error_of(state, expected)


def stale_error_of(state: ProposalState, expected: int) -> StaleVersion:
    """:func:`stale_error` from a state just read (under the review lock: no second read)."""
    proposal_id = state.proposal_id
    who = state.updated_by or "someone"
    return StaleVersion(
        f"proposal {proposal_id} was changed by {who} (you acted on version {expected}, "
        f"it is now version {state.version}, {state.status}); review the new state",
        proposal_id=proposal_id,
        your_version=expected,
        changed_by=state.updated_by,
        changed_at=state.updated_at.isoformat() if state.updated_at else None,
        current=state_json(state),
    )


def state_json(state: ProposalState) -> dict[str, Any]:
    """A proposal state as JSON (what API answers and 409 bodies show)."""
    return {
        "proposal_id": state.proposal_id,
        "run_id": state.run_id,
        "status": state.status,
        "version": state.version,
        "name": state.name,
        "definition": state.definition,
        "category_id": state.category_id,
        "member_note_ids": list(state.member_note_ids),
        "size": len(state.member_note_ids),
        "updated_by": state.updated_by,
        "updated_at": state.updated_at.isoformat() if state.updated_at else None,
        "last_event_id": state.last_event_id,
    }


_BUMPED = ("version", "last_event_id", "updated_by", "updated_at")
# version + 1 on one proposal state, the event recorded on it; _IF_AT: only at the version the
# caller acted on. Built once; RETURNING gives what the session's copy must now show.
_BUMP = (
    update(ProposalState)
    .where(ProposalState.proposal_id == bindparam("pid"))
    .values(
        version=ProposalState.version + 1,
        last_event_id=bindparam("event_id"),
        updated_by=bindparam("actor"),
        updated_at=bindparam("at"),
    )
    .returning(*(getattr(ProposalState, name) for name in _BUMPED))
)
_BUMP_IF_AT = _BUMP.where(ProposalState.version == bindparam("expected"))


def bump_versions(session: Session, event: ReviewEvent, expected: dict[int, int] | None) -> None:
    """``version + 1`` on each touched proposal; conditional on ``expected`` when given.

    One Core ``UPDATE … RETURNING`` per proposal; a state the session holds gets the new values
    as its committed ones (as ``synchronize_session="fetch"`` did, without its ORM work)."""
    for pid in footprint_of(event).proposals:
        params: dict[str, Any] = {
            "pid": pid, "event_id": event.id, "actor": event.actor, "at": event.created_at,
        }  # fmt: skip
        if expected is not None:
            params["expected"] = expected[pid]
        row = write(session, _BUMP if expected is None else _BUMP_IF_AT, params).first()
        if row is None:
            if expected is not None:
                raise stale_error(session, pid, expected[pid])
            continue
        held = session.identity_map.get(identity_key(ProposalState, pid))
        if held is not None:
            for name, value in zip(_BUMPED, row, strict=True):
                set_committed_value(held, name, value)


def apply_event(
    session: Session, event: ReviewEvent, expected: dict[int, int] | None = None
) -> None:
    """Apply one workflow event to the projection.

    Args:
        session: the open transaction.
        event: the inserted event (it has its id).
        expected: version each touched proposal must have (live actions); ``None`` on replay.

    Raises:
        StaleVersion: a touched proposal changed since the version the caller acted on.
    """
    bump_versions(session, event, expected)
    handler = _HANDLERS.get(ReviewAction(event.action))
    if handler is not None:
        handler(session, event)
    session.flush()


def _state(session: Session, proposal_id: int) -> ProposalState:
    state = session.get(ProposalState, proposal_id)
    if state is None:  # an event that refers to a proposal without state: corrupt log
        raise RuntimeError(f"event refers to proposal {proposal_id}, which has no state")
    return state


CHUNK = 500  # ids per IN (...) query


def assignments(session: Session, note_ids: list[int]) -> dict[int, NoteAssignment]:
    """The notes' labels that exist, by note id: one query per 500 notes (``session.get`` per
    note cost a query each, and a flush before each)."""
    ids = sorted(set(note_ids))
    found: dict[int, NoteAssignment] = {}
    for start in range(0, len(ids), CHUNK):
        chunk = ids[start : start + CHUNK]
        found.update(
            (a.note_id, a)
            for a in session.scalars(
                select(NoteAssignment).where(NoteAssignment.note_id.in_(chunk))
            )
        )
    return found


def _set_notes(
    session: Session,
    event: ReviewEvent,
    note_ids: list[int],
    category_id: int | None,
    noise: bool,
) -> None:
    """Give notes a human label (a category or noise)."""
    rows = assignments(session, note_ids)
    for nid in note_ids:
        row = rows.get(nid)
        if row is None:
            row = rows[nid] = NoteAssignment(note_id=nid, project_id=event.project_id)
            session.add(row)
        row.category_id, row.is_noise, row.event_id = category_id, noise, event.id


def _clear_notes(session: Session, note_ids: list[int]) -> None:
    """Notes back to undecided (they sit in a pending proposal)."""
    if note_ids:
        session.execute(delete(NoteAssignment).where(NoteAssignment.note_id.in_(note_ids)))


def _deliver(session: Session, event: ReviewEvent, note_ids: list[int], dest: MoveAfter) -> None:
    """Put notes at a destination: a proposal (pending or confirmed), a category, or noise."""
    if dest.to_proposal_id is not None:
        target = _state(session, dest.to_proposal_id)
        members = list(target.member_note_ids)
        target.member_note_ids = members + [n for n in note_ids if n not in members]
        if target.status == ProposalStatus.confirmed:
            _set_notes(session, event, note_ids, target.category_id, False)
        else:
            _clear_notes(session, note_ids)
    elif dest.to_category_id is not None:
        _set_notes(session, event, note_ids, dest.to_category_id, False)
    else:
        _set_notes(session, event, note_ids, None, True)


def _put_category(session: Session, event: ReviewEvent, after: ConfirmAfter) -> Category:
    category = session.get(Category, after.category_id)
    if category is None:
        category = Category(id=after.category_id, project_id=event.project_id)
        session.add(category)
    category.name, category.definition = after.name, after.definition
    category.origin, category.origin_proposal_id = after.origin, event.proposal_id
    category.status, category.merged_into_id = CategoryStatus.active, None
    category.created_at = event.created_at
    return category


def _confirm(session: Session, event: ReviewEvent) -> None:
    assert event.proposal_id is not None
    state = _state(session, event.proposal_id)
    after = after_of(event, ConfirmAfter)
    if after.new_category:
        _put_category(session, event, after)
    state.status, state.category_id = ProposalStatus.confirmed, after.category_id
    state.name, state.definition = after.name, after.definition
    _set_notes(session, event, list(state.member_note_ids), after.category_id, False)


def _rename(session: Session, event: ReviewEvent) -> None:
    assert event.proposal_id is not None
    state = _state(session, event.proposal_id)
    after = after_of(event, Naming)
    state.name, state.definition = after.name, after.definition


def _reject(session: Session, event: ReviewEvent) -> None:
    assert event.proposal_id is not None
    state = _state(session, event.proposal_id)
    state.status = ProposalStatus.rejected
    _set_notes(session, event, list(state.member_note_ids), None, True)


def _split(session: Session, event: ReviewEvent) -> None:
    assert event.proposal_id is not None
    parent = _state(session, event.proposal_id)
    parent.status = ProposalStatus.split
    after = after_of(event, SplitAfter)
    for child_id, group in zip(after.child_proposal_ids, after.groups, strict=True):
        child = session.get(Proposal, child_id)
        assert child is not None
        session.add(
            ProposalState(
                proposal_id=child.id,
                run_id=parent.run_id,
                status=ProposalStatus.pending,
                version=1,
                name=child.name,
                definition=child.definition,
                member_note_ids=list(group),
                last_event_id=event.id,
                updated_by=event.actor,
                updated_at=event.created_at,
            )
        )


def _merge(session: Session, event: ReviewEvent) -> None:
    assert event.proposal_id is not None
    state = _state(session, event.proposal_id)
    state.status = ProposalStatus.merged
    after = after_of(event, MergeAfter)
    dest = MoveAfter(to_proposal_id=after.into_proposal_id, to_category_id=after.category_id)
    _deliver(session, event, list(state.member_note_ids), dest)
    if after.into_proposal_id is not None:
        target = _state(session, after.into_proposal_id)
        state.category_id = target.category_id
    else:
        state.category_id = after.category_id


def _move(session: Session, event: ReviewEvent) -> None:
    moved = [int(n) for n in event.note_ids]
    if event.proposal_id is not None:
        source = _state(session, event.proposal_id)
        source.member_note_ids = [n for n in source.member_note_ids if n not in moved]
    _deliver(session, event, moved, after_of(event, MoveAfter))


def _create_category(session: Session, event: ReviewEvent) -> None:
    """A category from selected notes: it takes them out of the pending proposals that held them."""
    after = after_of(event, CreateCategoryAfter)
    category = session.get(Category, after.category_id)
    if category is None:
        category = Category(id=after.category_id, project_id=event.project_id)
        session.add(category)
    category.name, category.definition = after.name, after.definition
    category.origin, category.origin_proposal_id = "human", None
    category.status, category.merged_into_id = CategoryStatus.active, None
    category.created_at = event.created_at
    for taken in after.taken_from:
        source = _state(session, taken.proposal_id)
        gone = set(taken.note_ids)
        source.member_note_ids = [n for n in source.member_note_ids if n not in gone]
    _set_notes(session, event, [int(n) for n in event.note_ids], after.category_id, False)


_HANDLERS: dict[ReviewAction, Callable[[Session, ReviewEvent], None]] = {
    ReviewAction.confirm: _confirm,
    ReviewAction.rename: _rename,
    ReviewAction.reject: _reject,
    ReviewAction.split: _split,
    ReviewAction.merge: _merge,
    ReviewAction.move: _move,
    ReviewAction.assign: _move,
    ReviewAction.create_category: _create_category,
}
REPLAYED_ACTIONS = frozenset({*_HANDLERS, ReviewAction.revert})


def _runs_to_rebuild(session: Session, project_id: int) -> list[int]:
    with_state = select(ProposalState.run_id).join(Run, Run.id == ProposalState.run_id)
    with_state = with_state.where(Run.project_id == project_id)
    with_events = select(ReviewEvent.run_id).where(
        ReviewEvent.project_id == project_id, ReviewEvent.run_id.is_not(None)
    )
    finished = select(Run.id).where(
        Run.project_id == project_id,
        Run.finished_at.is_not(None),
        Run.id.in_(select(Proposal.run_id)),
    )
    ids = {*session.scalars(with_state), *session.scalars(with_events), *session.scalars(finished)}
    return sorted(int(i) for i in ids if i is not None)


def rebuild(session: Session, project_id: int) -> None:
    """Delete the project's projection rows and replay its workflow events in id order.

    Initial states are the pending states of the proposals the runs made (judge and carry-over);
    then each event is applied, except reverted events and the reverts themselves, which only
    count towards versions.
    Claims on proposals survive the rebuild. The project's review lock is taken first
    (:func:`~service.storage.db.lock_review_state`), so a rebuild runs alone — no action, undo
    or other rebuild of the project interleaves with it — and two rebuilds one after the other
    leave the same state as one.
    """
    lock_review_state(session, project_id)
    run_ids = _runs_to_rebuild(session, project_id)
    claims = {
        s.proposal_id: (s.claimed_by, s.claimed_by_actor, s.claim_expires_at)
        for s in session.scalars(select(ProposalState).where(ProposalState.run_id.in_(run_ids)))
        if s.claimed_by
    }
    session.flush()
    session.execute(delete(NoteAssignment).where(NoteAssignment.project_id == project_id))
    session.execute(delete(ProposalState).where(ProposalState.run_id.in_(run_ids)))
    session.execute(delete(Category).where(Category.project_id == project_id))
    for run_id in run_ids:
        init_run_states(session, run_id)
    events = session.scalars(
        select(ReviewEvent)
        .where(ReviewEvent.project_id == project_id, ReviewEvent.mode == EventMode.workflow)
        .where(ReviewEvent.action.in_(REPLAYED_ACTIONS))
        .order_by(ReviewEvent.id)
    ).all()
    reverted = {e.reverts_event_id for e in events if e.action == ReviewAction.revert}
    for event in events:
        if event.action == ReviewAction.revert or event.id in reverted:
            bump_versions(session, event, None)
        else:
            apply_event(session, event)
    for pid, (who, actor, until) in claims.items():
        state = session.get(ProposalState, pid)
        if state is not None:
            state.claimed_by, state.claimed_by_actor, state.claim_expires_at = who, actor, until
    session.flush()
