"""Undo: a ``revert`` event naming the undone event, applied as the undone event's inverse.

A reviewer undoes their own last action in a run (a lead may name any event of the run with
``event_id``). Undo is refused with 409 when a later, non-reverted event built on what the
undone event changed: the same proposals (or proposals it created), the same notes, or a
category it created. Reverts are not themselves undoable (no redo).

A category created from selected notes (:func:`service.review.categories.create_category`) is
undone like any action, through the run its event was recorded in: the project's latest run
that held any of the notes (see there). Undoing it removes the category and puts its notes back
where they were (their pending proposals, or unclustered).

The inverse: every workflow event stores, under ``after["prior"]``, the touched proposals'
states and the touched notes' labels as it found them. Because undo refuses when a later
event built on any of them, putting those back (and removing the proposals and categories the
event created) gives exactly the state a rebuild without the undone event gives; the revert
bumps the versions of the proposals the undone event touched, as a rebuild counts it. Only an
event recorded before ``prior`` was stored falls back to rebuilding the project. Undo runs
under the project's review lock, like every action and every rebuild.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from sqlalchemy import Select, bindparam, delete, select
from sqlalchemy.orm import Session

from service.audit.gate import authored_by
from service.auth import Principal, Role
from service.domain import EventMode, ReviewAction
from service.errors import Conflict, Forbidden, NotFound
from service.review import projection
from service.review.common import ActionResult, load_run, lock_run, record
from service.review.events import Prior, RevertAfter, RevertBefore, footprint_of, prior_of
from service.storage.db import read
from service.storage.models import Category, NoteAssignment, ProposalState, ReviewEvent, Run

UNDOABLE = (
    ReviewAction.confirm,
    ReviewAction.rename,
    ReviewAction.reject,
    ReviewAction.split,
    ReviewAction.merge,
    ReviewAction.move,
    ReviewAction.assign,
    ReviewAction.create_category,
)


def _reverted(session: Session, project_id: int) -> set[int]:
    return {int(r) for r in session.scalars(_reverted_ids(project_id)) if r is not None}


def _reverted_ids(project_id: int) -> Select[int | None]:
    return select(ReviewEvent.reverts_event_id).where(
        ReviewEvent.project_id == project_id,
        ReviewEvent.action == ReviewAction.revert,
        ReviewEvent.reverts_event_id.is_not(None),
    )


def _undoable_query(run: Run) -> Select[ReviewEvent]:
    """The run's workflow events that can still be undone, newest first (filtered in SQL, so
    finding one's last action reads one event, not the run's whole log)."""
    return (
        select(ReviewEvent)
        .where(
            ReviewEvent.run_id == run.id,
            ReviewEvent.mode == EventMode.workflow,
            ReviewEvent.action.in_(UNDOABLE),
            ReviewEvent.id.not_in(_reverted_ids(run.project_id)),
        )
        .order_by(ReviewEvent.id.desc())
    )


def _undoable(session: Session, run: Run) -> list[ReviewEvent]:
    """The run's workflow events that can still be undone, newest first."""
    return list(session.scalars(_undoable_query(run)).all())


def _last_of(session: Session, run: Run, principal: Principal) -> ReviewEvent | None:
    query = _undoable_query(run).where(authored_by(principal.actor, principal.name)).limit(1)
    return session.scalars(query).first()


def last_undoable(session: Session, principal: Principal, run_id: int) -> ReviewEvent | None:
    """The caller's last action in the run that undo would revert, if any."""
    run = load_run(session, principal, run_id, "review")
    return _last_of(session, run, principal)


def _mine(event: ReviewEvent, principal: Principal) -> bool:
    """Whether the caller made ``event``: by key or user id; by display name only for events
    older than migration 0003 (no actor id). Two keys sharing a name are two people."""
    if event.actor_id is not None:
        return event.actor_id == principal.actor
    return event.actor == principal.name


def _pick(session: Session, principal: Principal, run: Run, event_id: int | None) -> ReviewEvent:
    if event_id is None:
        mine = _last_of(session, run, principal)
        if mine is None:
            raise Conflict("nothing to undo: you have no action left to undo in this run")
        return mine
    event = session.scalars(_undoable_query(run).where(ReviewEvent.id == event_id)).first()
    if event is None:
        raise NotFound(f"no undoable event {event_id} in run {run.id}", field="event_id")
    if not _mine(event, principal) and principal.role_in(run.project_id) != Role.lead:
        raise Forbidden(f"event {event_id} is {event.actor}'s; only a lead undoes others' actions")
    return event


@dataclass(frozen=True, slots=True)
class _Later:
    """A later event that built on the one being undone: what the 409 names."""

    id: int
    actor: str
    action: str


# The events recorded after one, oldest first, with only what the blocker check reads: the
# footprint (``after["touched"]``), not the whole payload with its prior states.
_LATER = (
    select(ReviewEvent.id, ReviewEvent.actor, ReviewEvent.action, ReviewEvent.after["touched"])
    .where(
        ReviewEvent.project_id == bindparam("project_id"),
        ReviewEvent.id > bindparam("event_id"),
        ReviewEvent.mode == EventMode.workflow,
        ReviewEvent.action.in_(UNDOABLE),
    )
    .order_by(ReviewEvent.id)
)


def _blocker(session: Session, event: ReviewEvent, ignore: Collection[int] = ()) -> _Later | None:
    """The first later, non-reverted event (not in ``ignore``) that built on what ``event``
    changed; the later events are read one at a time, up to it."""
    mine = footprint_of(event)
    keys = {("p", p) for p in mine.proposals + mine.created_proposals}
    keys |= {("n", n) for n in mine.notes} | {("c", c) for c in mine.created_categories}
    reverted = _reverted(session, event.project_id)
    later = read(session, _LATER, {"project_id": event.project_id, "event_id": event.id})
    try:
        for other_id, actor, action, touched in later:
            if other_id in reverted or other_id in ignore:
                continue
            theirs = touched or {}
            other_keys = {
                ("p", p) for p in theirs.get("proposals", []) + theirs.get("created_proposals", [])
            }
            other_keys |= {("n", n) for n in theirs.get("notes", [])}
            other_keys |= {("c", c) for c in theirs.get("categories", [])}
            if keys & other_keys:
                return _Later(int(other_id), actor, action)
    finally:
        later.close()
    return None


# actions whose events can share a ``group``: a bulk confirm (service.review.bulk), notes filed
# from several places (service.review.filing)
GROUPED = (ReviewAction.confirm, ReviewAction.move, ReviewAction.assign)


def _group(session: Session, run: Run, target: ReviewEvent) -> list[ReviewEvent]:
    """The events one undo reverts, newest first: ``target``, or every event of its group (a
    bulk confirm, notes filed from several places) not yet reverted."""
    group = (target.after or {}).get("group") if target.action in GROUPED else None
    if group is None:
        return [target]
    return [
        e
        for e in _undoable(session, run)
        if e.action in GROUPED and (e.after or {}).get("group") == group
    ]


def undo(
    session: Session, principal: Principal, run_id: int, event_id: int | None = None
) -> ActionResult:
    """Revert the caller's last action in the run (or ``event_id``); 409 if built upon.

    A bulk confirm, or notes filed from several places, is one action: undoing any of its
    events reverts all of them."""
    run = lock_run(session, principal, run_id)
    targets = _group(session, run, _pick(session, principal, run, event_id))
    ours = {e.id for e in targets}
    for target in targets:
        blocker = _blocker(session, target, ignore=ours)
        if blocker is not None:
            raise Conflict(
                f"cannot undo {target.action} (event {target.id}): {blocker.actor} has since "
                f"done {blocker.action} (event {blocker.id}) on the same notes or proposals",
                event_id=target.id,
                blocked_by_event_id=blocker.id,
                blocked_by=blocker.actor,
            )
    events = [_revert(session, principal, run, target) for target in targets]
    target, event = targets[-1], events[-1]
    state = session.get(ProposalState, target.proposal_id) if target.proposal_id else None
    extra: dict[str, object] = {"reverted_event_id": target.id, "undone_action": target.action}
    if len(targets) > 1:
        extra["reverted_event_ids"] = sorted(ours)
    return ActionResult(
        event_id=event.id,
        action=ReviewAction.revert,
        proposal_id=target.proposal_id,
        run_id=run.id,
        state=projection.state_json(state) if state else None,
        extra=extra,
    )


def _revert(session: Session, principal: Principal, run: Run, target: ReviewEvent) -> ReviewEvent:
    """Record the revert of ``target`` and apply its inverse."""
    undone = ReviewAction(target.action)
    event = record(
        session, principal, run, ReviewAction.revert, reverts_event_id=target.id,
        proposal_id=target.proposal_id, category_id=target.category_id,
        note_ids=list(target.note_ids), before=RevertBefore(action=undone),
        after=RevertAfter(undone_action=undone), touched=footprint_of(target).complete(),
    )  # fmt: skip
    prior = prior_of(target)
    if prior is None:  # recorded before events stored what they found
        projection.rebuild(session, run.project_id)
    else:
        _restore(session, target, prior)
        projection.bump_versions(session, event, None)
    return event


def _restore(session: Session, target: ReviewEvent, prior: Prior) -> None:
    """Put back what ``target`` found: its proposals' states and its notes' labels; remove the
    proposal states and categories it created."""
    touched = footprint_of(target)
    for pid in touched.created_proposals:
        child = session.get(ProposalState, pid)
        if child is not None:
            session.delete(child)
    for old in prior.proposals:
        state = session.get_one(ProposalState, old.proposal_id)
        state.status, state.name, state.definition = old.status, old.name, old.definition
        state.category_id, state.member_note_ids = old.category_id, list(old.member_note_ids)
    labels = {label.note_id: label for label in prior.labels}
    rows = projection.assignments(session, touched.notes)
    for nid in touched.notes:
        row, old_label = rows.get(nid), labels.get(nid)
        if old_label is None:
            if row is not None:
                session.delete(row)
                del rows[nid]
            continue
        if row is None:
            row = rows[nid] = NoteAssignment(note_id=nid, project_id=target.project_id)
            session.add(row)
        row.category_id, row.is_noise = old_label.category_id, old_label.is_noise
        row.event_id = old_label.event_id
    session.flush()
    if touched.created_categories:
        session.execute(delete(Category).where(Category.id.in_(touched.created_categories)))
