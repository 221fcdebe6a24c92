"""Review actions on a proposal: confirm, rename, reject, merge, move; and assigning unclustered notes.

Each action: load and authorise (reviewer or lead), check the version the caller acted on,
validate, insert one ``review_event``, and apply it to the projection with a conditional
``version`` update — all in the caller's transaction, so it is applied entirely or not at all.
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from judges.keyword_judge import KEYWORD_JUDGE_ID
from service.audit.gate import require_audit_done
from service.auth import Principal
from service.domain import (
    CategoryStatus,
    ProposalOrigin,
    ProposalStatus,
    RejectReason,
    ReviewAction,
)
from service.errors import BadInput
from service.review import projection
from service.review.common import (
    LIVE,
    ActionResult,
    Destination,
    Target,
    active_category,
    check_version,
    clean_definition,
    clean_name,
    destination,
    held_by_live_proposals,
    live_target,
    load_for_action,
    lock_run,
    record,
    require_status,
    state_result,
    unclustered_ids,
    unique_ids,
)
from service.review.events import (
    ConfirmAfter,
    Footprint,
    MergeAfter,
    MoveAfter,
    Naming,
    RejectAfter,
    StatusBefore,
)
from service.storage.models import Category, ProposalState, ReviewEvent, Run

CONFIRM_INTO = ("auto", "new", "matched")


def matched_category(session: Session, t: Target) -> Category | None:
    cid = t.proposal.matched_category_id
    category = session.get(Category, cid) if cid is not None else None
    if category is None or category.project_id != t.run.project_id:
        return None
    if category.status == CategoryStatus.merged and category.merged_into_id is not None:
        category = session.get(Category, category.merged_into_id)
    return category if category is not None and category.status == CategoryStatus.active else None


def _same_name(session: Session, project_id: int, name: str) -> Category | None:
    return session.scalars(
        select(Category).where(
            Category.project_id == project_id,
            Category.status == CategoryStatus.active,
            func.lower(Category.name) == name.lower(),
        )
    ).first()


def _pick_category(session: Session, t: Target, into: str) -> tuple[Category, bool]:
    """The category a confirm lands in, and whether it is new (not yet flushed ids aside)."""
    if into not in CONFIRM_INTO:
        raise BadInput(f"into must be one of {', '.join(CONFIRM_INTO)}", field="into")
    matched = matched_category(session, t)
    if into == "matched" and matched is None:
        raise BadInput("the proposal matches no active existing category", field="into")
    carried = t.proposal.origin == ProposalOrigin.carry_over
    if matched is not None and (into == "matched" or (into == "auto" and carried)):
        return matched, False
    existing = _same_name(session, t.run.project_id, t.state.name)
    if existing is not None and into == "auto":
        return existing, False
    if existing is not None:
        raise BadInput(
            f"a category named {existing.name!r} exists: merge into it or rename first",
            field="name",
        )
    p, s = t.proposal, t.state
    untouched = p.origin == ProposalOrigin.judge and (s.name, s.definition) == (
        p.name,
        p.definition,
    )
    # The offline keyword judge's text lists the notes' phrases and asks for a rename: an aid
    # to naming, not a definition, so a category confirmed with it untouched starts without one.
    phrase_list = untouched and p.judge_id == KEYWORD_JUDGE_ID
    category = Category(
        project_id=t.run.project_id,
        name=s.name,
        definition="" if phrase_list else s.definition,
        origin="judge" if untouched else "human",
        origin_proposal_id=p.id,
        status=CategoryStatus.active,
    )
    session.add(category)
    session.flush()
    return category, True


def confirm(
    session: Session,
    principal: Principal,
    proposal_id: int,
    version: int,
    into: str = "auto",
    group: str | None = None,
) -> ActionResult:
    """Confirm a pending proposal: into its matched category, or as a new one.

    ``into``: ``auto`` (a carry-over proposal: the category it was matched to; any other: an
    active category of the same name, else a new category — the judge's guess at a match is
    never followed unasked), ``new`` or ``matched`` (the matched category: the carry-over's, or
    the judge's guess).
    """
    t = load_for_action(session, principal, proposal_id, version)
    check_version(session, t.state, version)
    require_status(t.state, ProposalStatus.pending)
    category, new = _pick_category(session, t, into)
    members = [int(n) for n in t.state.member_note_ids]
    event = record(
        session, principal, t.run, ReviewAction.confirm,
        proposal_id=proposal_id, category_id=category.id, note_ids=members,
        before=StatusBefore(status=ProposalStatus.pending),
        after=ConfirmAfter(
            category_id=category.id, new_category=new, name=t.state.name,
            definition=category.definition if new else t.state.definition,
            origin=category.origin,
            **({"group": group} if group is not None else {}),
        ),
        touched=Footprint(
            proposals=[proposal_id], notes=members, categories=[category.id],
            created_categories=[category.id] if new else [],
        ),
    )  # fmt: skip
    projection.apply_event(session, event, {proposal_id: version})
    return state_result(event, t.state, category_id=category.id, new_category=new)


def rename(
    session: Session,
    principal: Principal,
    proposal_id: int,
    version: int,
    name: str,
    definition: str | None = None,
) -> ActionResult:
    """Rename a pending proposal (and optionally rewrite its definition)."""
    t = load_for_action(session, principal, proposal_id, version)
    check_version(session, t.state, version)
    require_status(t.state, ProposalStatus.pending)
    new_name = clean_name(name)
    new_def = clean_definition(definition) if definition is not None else t.state.definition
    if (new_name, new_def) == (t.state.name, t.state.definition):
        raise BadInput("the name and definition are unchanged", field="name")
    event = record(
        session, principal, t.run, ReviewAction.rename, proposal_id=proposal_id,
        before=Naming(name=t.state.name, definition=t.state.definition),
        after=Naming(name=new_name, definition=new_def),
        touched=Footprint(proposals=[proposal_id]),
    )  # fmt: skip
    projection.apply_event(session, event, {proposal_id: version})
    return state_result(event, t.state)


def reject(
    session: Session,
    principal: Principal,
    proposal_id: int,
    version: int,
    reason: str = RejectReason.noise,
) -> ActionResult:
    """Reject a pending proposal: its notes become noise (``noise`` or ``not_a_failure``)."""
    if reason not in tuple(RejectReason):
        raise BadInput(f"reason must be one of {', '.join(RejectReason)}", field="reason")
    t = load_for_action(session, principal, proposal_id, version)
    check_version(session, t.state, version)
    require_status(t.state, ProposalStatus.pending)
    members = [int(n) for n in t.state.member_note_ids]
    event = record(
        session, principal, t.run, ReviewAction.reject, proposal_id=proposal_id,
        note_ids=members, before=StatusBefore(status=ProposalStatus.pending),
        after=RejectAfter(reason=RejectReason(reason)),
        touched=Footprint(proposals=[proposal_id], notes=members),
    )  # fmt: skip
    projection.apply_event(session, event, {proposal_id: version})
    return state_result(event, t.state)


def merge(
    session: Session,
    principal: Principal,
    proposal_id: int,
    version: int,
    *,
    into_proposal_id: int | None = None,
    into_category_id: int | None = None,
) -> ActionResult:
    """Merge a pending proposal into another proposal of the run or an existing category."""
    if (into_proposal_id is None) == (into_category_id is None):
        raise BadInput("give exactly one of into_proposal_id, into_category_id", field="into")
    t = load_for_action(session, principal, proposal_id, version)
    check_version(session, t.state, version)
    require_status(t.state, ProposalStatus.pending)
    expected = {proposal_id: version}
    proposals, category_id = [proposal_id], into_category_id
    if into_proposal_id is not None:
        target = live_target(session, t.run, into_proposal_id, proposal_id)
        expected[into_proposal_id] = target.version
        proposals.append(into_proposal_id)
        category_id = target.category_id
    else:
        assert into_category_id is not None
        active_category(session, t.run.project_id, into_category_id, "into_category_id")
    members = [int(n) for n in t.state.member_note_ids]
    event = record(
        session, principal, t.run, ReviewAction.merge, proposal_id=proposal_id,
        category_id=category_id, note_ids=members,
        before=StatusBefore(status=ProposalStatus.pending),
        after=MergeAfter(into_proposal_id=into_proposal_id, category_id=into_category_id),
        touched=Footprint(
            proposals=proposals, notes=members,
            categories=[category_id] if category_id is not None else [],
        ),
    )  # fmt: skip
    projection.apply_event(session, event, expected)
    return state_result(event, t.state, into_proposal_id=into_proposal_id, category_id=category_id)


def move(
    session: Session,
    principal: Principal,
    proposal_id: int,
    version: int,
    note_ids: list[int],
    *,
    to_proposal_id: int | None = None,
    to_category_id: int | None = None,
    to_noise: bool = False,
    group: str | None = None,
) -> ActionResult:
    """Move some notes of a pending or confirmed proposal elsewhere (proposal, category, noise);
    ``group`` ties the event to others undone with it (:mod:`service.review.filing`)."""
    t = load_for_action(session, principal, proposal_id, version)
    check_version(session, t.state, version)
    require_status(t.state, *LIVE)
    moved = unique_ids(note_ids, "note_ids")
    members = [int(n) for n in t.state.member_note_ids]
    strangers = [n for n in moved if n not in members]
    if strangers:
        raise BadInput(f"notes {strangers} are not in proposal {proposal_id}", field="note_ids")
    if len(moved) == len(members):
        raise BadInput("to move every note, merge (or reject) the proposal", field="note_ids")
    dest, target = destination(
        session, t.run, to_proposal_id=to_proposal_id, to_category_id=to_category_id,
        to_noise=to_noise, source_id=proposal_id,
    )  # fmt: skip
    event = _record_move(
        session, principal, t.run, ReviewAction.move, moved, dest, target, proposal_id, group
    )
    expected = {proposal_id: version}
    if target is not None:
        expected[target.proposal_id] = target.version
    projection.apply_event(session, event, expected)
    return state_result(
        event, t.state, note_ids=moved, **dest.as_after().model_dump(exclude={"group"})
    )


def _record_move(
    session: Session,
    principal: Principal,
    run: Run,
    action: ReviewAction,
    moved: list[int],
    dest: Destination,
    target: ProposalState | None,
    source_id: int | None,
    group: str | None = None,
) -> ReviewEvent:
    proposals = [source_id] if source_id is not None else []
    categories = [dest.category_id] if dest.category_id is not None else []
    if target is not None:
        proposals.append(target.proposal_id)
        if target.category_id is not None:
            categories.append(target.category_id)
    return record(
        session, principal, run, action, proposal_id=source_id,
        category_id=dest.category_id, note_ids=moved, after=_move_after(dest, group),
        touched=Footprint(proposals=proposals, notes=moved, categories=categories),
    )  # fmt: skip


def _move_after(dest: Destination, group: str | None) -> MoveAfter:
    after = dest.as_after()
    if group is None:
        return after
    return MoveAfter(
        to_proposal_id=after.to_proposal_id, to_category_id=after.to_category_id,
        to_noise=after.to_noise, group=group,
    )  # fmt: skip


def assign(
    session: Session,
    principal: Principal,
    run_id: int,
    note_ids: list[int],
    *,
    to_proposal_id: int | None = None,
    to_category_id: int | None = None,
    to_noise: bool = False,
    group: str | None = None,
) -> ActionResult:
    """Label unclustered notes of a run: into a proposal of the run, a category, or noise;
    ``group`` as for :func:`move`."""
    run = lock_run(session, principal, run_id)
    require_audit_done(session, run, principal)
    moved = unique_ids(note_ids, "note_ids")
    loose = unclustered_ids(session, run_id) - held_by_live_proposals(session, run_id)
    strangers = [n for n in moved if n not in loose]
    if strangers:
        raise BadInput(
            f"notes {strangers} are not unclustered notes of run {run_id} (or sit in a proposal)",
            field="note_ids",
        )
    dest, target = destination(
        session, run, to_proposal_id=to_proposal_id, to_category_id=to_category_id,
        to_noise=to_noise, source_id=None,
    )  # fmt: skip
    event = _record_move(
        session, principal, run, ReviewAction.assign, moved, dest, target, None, group
    )
    expected = {target.proposal_id: target.version} if target is not None else {}
    projection.apply_event(session, event, expected)
    state = session.get(ProposalState, target.proposal_id) if target is not None else None
    return state_result(
        event, state, note_ids=moved, **dest.as_after().model_dump(exclude={"group"})
    )
