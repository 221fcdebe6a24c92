"""Shared pieces of the review actions: loading a proposal, checks, recording an event."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from service.audit.gate import gated, require_audit_done
from service.auth import Principal
from service.domain import CategoryStatus, EventMode, ProposalStatus, ReviewAction
from service.errors import AlreadyDecided, BadInput, NotFound
from service.review import projection
from service.review.events import (
    Footprint,
    MoveAfter,
    Payload,
    Prior,
    PriorLabel,
    PriorState,
    encode,
)
from service.storage.db import lock_review_state, read
from service.storage.models import (
    Category,
    NoteAssignment,
    Proposal,
    ProposalState,
    ReviewEvent,
    Run,
    RunNote,
    utcnow,
)

MAX_NAME = 300
MAX_DEFINITION = 4000
CHUNK = 500  # ids per IN (...) query
LIVE = (ProposalStatus.pending, ProposalStatus.confirmed)


@dataclass(frozen=True, slots=True)
class Target:
    """A proposal being acted on: its immutable row, its current state and its run."""

    proposal: Proposal
    state: ProposalState
    run: Run


@dataclass(frozen=True, slots=True)
class ActionResult:
    """What an action did: the event, the proposal's new state, and action-specific ids."""

    event_id: int
    action: ReviewAction
    proposal_id: int | None
    run_id: int
    state: dict[str, Any] | None
    extra: dict[str, Any] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "event_id": self.event_id,
            "action": self.action,
            "proposal_id": self.proposal_id,
            "run_id": self.run_id,
            "proposal": self.state,
            **self.extra,
        }


@dataclass(frozen=True, slots=True)
class Destination:
    """Where notes go: exactly one of a proposal of the run, a category, or noise."""

    proposal_id: int | None = None
    category_id: int | None = None
    noise: bool = False

    def as_after(self) -> MoveAfter:
        """The payload a move or assign stores (every key, as always written)."""
        return MoveAfter(
            to_proposal_id=self.proposal_id, to_category_id=self.category_id, to_noise=self.noise
        )


def load_run(session: Session, principal: Principal, run_id: int, permission: str) -> Run:
    run = session.get(Run, run_id)
    if run is None:
        raise NotFound(f"no run {run_id}", field="run_id")
    principal.require(run.project_id, permission)
    return run


def load_proposal(
    session: Session, principal: Principal, proposal_id: int, permission: str = "review"
) -> Target:
    """The proposal with its state and run; 404 if unknown, 403 without ``permission``.

    409 ``must_audit_first`` for a reviewer who has not labelled the run's blind audit yet.
    """
    proposal = session.get(Proposal, proposal_id)
    state = session.get(ProposalState, proposal_id) if proposal else None
    if proposal is None or state is None:
        raise NotFound(f"no proposal {proposal_id}", field="proposal_id")
    run = load_run(session, principal, proposal.run_id, permission)
    require_audit_done(session, run, principal)
    return Target(proposal, state, run)


def lock_run(session: Session, principal: Principal, run_id: int) -> Run:
    """The run (404, 403 without ``review``), its project's review state locked for this
    transaction (:func:`~service.storage.db.lock_review_state`)."""
    run = load_run(session, principal, run_id, "review")
    lock_review_state(session, run.project_id)
    return run


def load_for_action(
    session: Session, principal: Principal, proposal_id: int, version: int | None = None
) -> Target:
    """:func:`load_proposal` for an action: the project's review state is locked first.

    Authorisation reads only immutable rows (the proposal and its run); then the lock; then
    the proposal's state, read fresh, so what the action validates cannot change under it.
    Every writer takes this one lock before any row lock, so writers never deadlock.

    With the ``version`` the caller acted on, a version already behind the proposal's
    committed one is answered 409 ``stale_version`` before the lock (:func:`_stale_early`).
    """
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:
        raise NotFound(f"no proposal {proposal_id}", field="proposal_id")
    run = load_run(session, principal, proposal.run_id, "review")
    if version is not None:
        _stale_early(session, run, principal, proposal_id, version)
    lock_review_state(session, run.project_id)
    state = session.scalars(
        select(ProposalState)
        .where(ProposalState.proposal_id == proposal_id)
        .execution_options(populate_existing=True)
    ).one_or_none()
    if state is None:
        raise NotFound(f"no proposal {proposal_id}", field="proposal_id")
    require_audit_done(session, run, principal)
    return Target(proposal, state, run)


_COMMITTED_VERSION = select(ProposalState.version).where(
    ProposalState.proposal_id == bindparam("proposal_id")
)


def _stale_early(
    session: Session, run: Run, principal: Principal, proposal_id: int, version: int
) -> None:
    """409 ``stale_version`` without waiting for the review lock, when it is certain.

    Versions only grow (each event that touches a proposal adds one; undo and rebuild too), so
    a ``version`` below the one already committed can never match under the lock: the answer
    is the same ``stale_version`` :func:`check_version` would give, with the state as read
    here, and nothing is written (a refused action's transaction rolls back, its judge reveal
    with it). Twenty reviewers on a few proposals send mostly such actions; answered here they
    no longer queue behind the writers. The blind-first gate answers first, as under the lock
    (``must_audit_first`` before ``stale_version``); any other case takes the lock as before.
    """
    if gated(session, run, principal):
        return
    current = read(session, _COMMITTED_VERSION, {"proposal_id": proposal_id}).scalar_one_or_none()
    if current is not None and version < current:
        raise projection.stale_error(session, proposal_id, version)


def check_version(session: Session, state: ProposalState, version: int) -> None:
    """409 ``stale_version`` (who changed it, its new state) unless the proposal is at
    ``version``. Read under the review lock (:func:`load_for_action`), so it stays so; the
    event's own conditional version bump then cannot fail for this proposal."""
    if state.version != version:
        raise projection.stale_error_of(state, version)  # read fresh under the lock: as is


def require_status(state: ProposalState, *allowed: ProposalStatus) -> None:
    if state.status not in allowed:
        raise AlreadyDecided(
            f"proposal {state.proposal_id} is already {state.status}"
            + (f" (by {state.updated_by})" if state.updated_by else ""),
            proposal_id=state.proposal_id,
            status=state.status,
            current=projection.state_json(state),
        )


def clean_name(name: str | None, field_name: str = "name") -> str:
    text = " ".join((name or "").split())
    if not text:
        raise BadInput("a name must not be empty", field=field_name)
    if len(text) > MAX_NAME:
        raise BadInput(f"a name has at most {MAX_NAME} characters", field=field_name)
    return text


def clean_definition(definition: str) -> str:
    text = definition.strip()
    if len(text) > MAX_DEFINITION:
        raise BadInput(f"a definition has at most {MAX_DEFINITION} characters", field="definition")
    return text


def active_category(session: Session, project_id: int, category_id: int, field: str) -> Category:
    category = session.get(Category, category_id)
    if category is None or category.project_id != project_id:
        raise NotFound(f"no category {category_id} in this project", field=field)
    if category.status != CategoryStatus.active:
        raise BadInput(
            f"category {category_id} is {category.status}"
            + (f" into {category.merged_into_id}" if category.merged_into_id else ""),
            field=field,
        )
    return category


def live_target(
    session: Session, run: Run, proposal_id: int, source_id: int | None
) -> ProposalState:
    """A destination proposal: same run, not the source, pending or confirmed."""
    state = session.get(ProposalState, proposal_id)
    if state is None or state.run_id != run.id:
        raise NotFound(f"no proposal {proposal_id} in run {run.id}", field="to_proposal_id")
    if proposal_id == source_id:
        raise BadInput("a proposal cannot be its own destination", field="to_proposal_id")
    if state.status not in LIVE:
        raise AlreadyDecided(
            f"proposal {proposal_id} is {state.status}; pick a pending or confirmed one",
            proposal_id=proposal_id,
            status=state.status,
        )
    return state


def destination(
    session: Session,
    run: Run,
    *,
    to_proposal_id: int | None,
    to_category_id: int | None,
    to_noise: bool,
    source_id: int | None,
) -> tuple[Destination, ProposalState | None]:
    """Validate a destination; returns it and the destination proposal's state, if any."""
    given = sum([to_proposal_id is not None, to_category_id is not None, bool(to_noise)])
    if given != 1:
        raise BadInput(
            "give exactly one of to_proposal_id, to_category_id, to_noise", field="destination"
        )
    if to_proposal_id is not None:
        target = live_target(session, run, to_proposal_id, source_id)
        return Destination(proposal_id=to_proposal_id), target
    if to_category_id is not None:
        active_category(session, run.project_id, to_category_id, "to_category_id")
        return Destination(category_id=to_category_id), None
    return Destination(noise=True), None


def unique_ids(ids: list[int], field_name: str) -> list[int]:
    out: list[int] = []
    for raw in ids:
        nid = int(raw)
        if nid in out:
            raise BadInput(f"note {nid} is listed twice", field=field_name)
        out.append(nid)
    if not out:
        raise BadInput("select at least one note", field=field_name)
    return out


def record(
    session: Session,
    principal: Principal,
    run: Run,
    action: ReviewAction,
    *,
    after: Payload,
    touched: Footprint,
    proposal_id: int | None = None,
    category_id: int | None = None,
    note_ids: list[int] | None = None,
    before: Payload | None = None,
    mode: EventMode = EventMode.workflow,
    reverts_event_id: int | None = None,
) -> ReviewEvent:
    """Insert one review event (insert-only) and return it with its id.

    ``after`` and ``before`` must be the payload models :mod:`~service.review.events` names for
    ``action`` (``TypeError`` otherwise); they are stored as JSON with ``touched`` in ``after``.
    """
    prior = (
        _prior(session, touched) if mode == EventMode.workflow and not reverts_event_id else None
    )
    after_json, before_json = encode(action, after, touched, before, prior)
    event = ReviewEvent(
        project_id=run.project_id,
        run_id=run.id,
        actor=principal.name,
        actor_id=principal.actor,
        actor_kind="human",
        created_at=utcnow(),
        action=action,
        mode=mode,
        judge_visible=mode != EventMode.blind,
        proposal_id=proposal_id,
        category_id=category_id,
        note_ids=list(note_ids or []),
        before=before_json,
        after=after_json,
        reverts_event_id=reverts_event_id,
    )
    session.add(event)
    session.flush()
    return event


def _prior(session: Session, touched: Footprint) -> Prior:
    """The touched proposals' states and the touched notes' labels, before the event applies."""
    states = [session.get_one(ProposalState, pid) for pid in touched.proposals]
    labels: list[NoteAssignment] = []
    notes = sorted(set(touched.notes))
    for i in range(0, len(notes), CHUNK):
        chunk = notes[i : i + CHUNK]
        labels += session.scalars(select(NoteAssignment).where(NoteAssignment.note_id.in_(chunk)))
    return Prior(
        proposals=[
            PriorState(
                proposal_id=s.proposal_id, status=ProposalStatus(s.status), name=s.name,
                definition=s.definition, category_id=s.category_id,
                member_note_ids=[int(n) for n in s.member_note_ids],
            )
            for s in states
        ],
        labels=[
            PriorLabel(note_id=a.note_id, category_id=a.category_id, is_noise=a.is_noise,
                       event_id=a.event_id)
            for a in sorted(labels, key=lambda a: a.note_id)
        ],
    )  # fmt: skip


def state_result(event: ReviewEvent, state: ProposalState | None, **extra: Any) -> ActionResult:
    return ActionResult(
        event_id=event.id,
        action=ReviewAction(event.action),
        proposal_id=state.proposal_id if state else event.proposal_id,
        run_id=int(event.run_id or 0),
        state=projection.state_json(state) if state else None,
        extra=extra,
    )


def unclustered_ids(session: Session, run_id: int) -> set[int]:
    """Notes the clusterer left as noise in this run."""
    rows = session.scalars(
        select(RunNote.note_id).where(RunNote.run_id == run_id, RunNote.cluster_label == -1)
    )
    return set(rows)


def held_by_live_proposals(session: Session, run_id: int) -> set[int]:
    """Notes currently in a pending or confirmed proposal of the run."""
    states = session.scalars(
        select(ProposalState).where(ProposalState.run_id == run_id, ProposalState.status.in_(LIVE))
    )
    return {int(n) for s in states for n in s.member_note_ids}
