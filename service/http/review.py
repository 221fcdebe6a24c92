"""Review routes of the JSON API: every action of :mod:`service.review`, one route each.

All mutating proposal routes take the proposal ``version`` the caller acted on; a stale one
answers 409 ``stale_version`` with ``changed_by`` and ``current`` (the new state). Acting on a
decided proposal answers 409 ``already_decided``; an unknown proposal 404, and so does one of a
project the caller has no role in (``service.http.deps.hide_other_projects``); no key 401; a
role that may not review 403 (blind-mode switches and rebuilds need a lead). A client reads
only the queues and proposals of the runs it started.

Each request is one unit of work (:data:`~service.http.deps.SessionDep`): the caller is
authenticated and the action applied in the same transaction, committed when the handler
returns and rolled back if it raises. Shapes: :mod:`service.http.schemas_review`.
"""

from __future__ import annotations

from fastapi import APIRouter

from service import review, scopes
from service.audit import labels as audit_labels
from service.audit.draw import AuditSize
from service.http.deps import CallerDep, ServicesDep, SessionDep, in_one_thread
from service.http.retry import RetryingRoute
from service.http.schemas_review import (
    ActionOut,
    AssignIn,
    AuditOut,
    BlindIn,
    BlindOut,
    ClaimOut,
    ConfirmCarryOversIn,
    ConfirmCarryOversOut,
    ConfirmedOut,
    ConfirmIn,
    ConfirmOut,
    LabelIn,
    LabelOut,
    MergeIn,
    MergeOut,
    MoveIn,
    MoveOut,
    ProposalDetailOut,
    QueueOut,
    RebuildOut,
    RejectIn,
    ReleaseOut,
    RenameIn,
    SplitIn,
    SplitOut,
    SuggestedSplitOut,
    UndoIn,
    UndoOut,
    review_errors,
)
from service.review import projection, views

router = APIRouter(prefix="/api/v1", tags=["review"], route_class=RetryingRoute)

# What an action on a proposal can answer besides 200.
ACTION = review_errors(
    401, 403, 404, 422, conflicts=("stale_version", "already_decided", "must_audit_first")
)
READ = review_errors(401, 403, 404, 422, conflicts=("must_audit_first",))


@router.get("/proposals/{proposal_id}", responses=READ)
@in_one_thread
def get_proposal(proposal_id: int, session: SessionDep, caller: CallerDep) -> ProposalDetailOut:
    """A proposal in full: state, judge output, members, misfits, nearest categories.
    A client reads only proposals of the runs it started."""
    scopes.readable_proposal_run(session, caller, proposal_id)  # unknown: 404 below
    view = views.proposal_detail(session, caller, proposal_id)
    return ProposalDetailOut.model_validate(view.to_json())


@router.post("/proposals/{proposal_id}/confirm", responses=ACTION)
@in_one_thread
def post_confirm(
    proposal_id: int, body: ConfirmIn, session: SessionDep, caller: CallerDep
) -> ConfirmOut:
    """Confirm a pending proposal into a category (the judge's match, same name, or new)."""
    result = review.confirm(session, caller, proposal_id, body.version, body.into)
    return ConfirmOut.model_validate(result.to_json())


@router.post("/runs/{run_id}/carry-overs/confirm", responses=ACTION)
@in_one_thread
def post_confirm_carry_overs(
    run_id: int, body: ConfirmCarryOversIn, session: SessionDep, caller: CallerDep
) -> ConfirmCarryOversOut:
    """Accept carry-over proposals at once, each into the category it matched (one action:
    one undo reverts them all); all or nothing."""
    items = [(p.id, p.version) for p in body.proposals]
    results = review.confirm_carry_overs(session, caller, run_id, items)
    confirmed = [
        ConfirmedOut(
            proposal_id=int(r.proposal_id or 0),
            category_id=int(r.extra["category_id"]),
            event_id=r.event_id,
        )
        for r in results
    ]
    return ConfirmCarryOversOut(run_id=run_id, confirmed=confirmed)


@router.post("/proposals/{proposal_id}/rename", responses=ACTION)
@in_one_thread
def post_rename(
    proposal_id: int, body: RenameIn, session: SessionDep, caller: CallerDep
) -> ActionOut:
    """Rename a pending proposal (and optionally rewrite its definition)."""
    result = review.rename(session, caller, proposal_id, body.version, body.name, body.definition)
    return ActionOut.model_validate(result.to_json())


@router.post("/proposals/{proposal_id}/reject", responses=ACTION)
@in_one_thread
def post_reject(
    proposal_id: int, body: RejectIn, session: SessionDep, caller: CallerDep
) -> ActionOut:
    """Reject a pending proposal: its notes become noise."""
    result = review.reject(session, caller, proposal_id, body.version, body.reason)
    return ActionOut.model_validate(result.to_json())


@router.post("/proposals/{proposal_id}/split", responses=ACTION)
@in_one_thread
def post_split(proposal_id: int, body: SplitIn, session: SessionDep, caller: CallerDep) -> SplitOut:
    """Split a pending proposal into new pending proposals, one per group."""
    result = review.split(session, caller, proposal_id, body.version, body.groups, body.names)
    return SplitOut.model_validate(result.to_json())


@router.get(
    "/proposals/{proposal_id}/suggested-split",
    responses=review_errors(401, 403, 404, 422, conflicts=("must_audit_first",)),
)
@in_one_thread
def get_suggested_split(
    proposal_id: int, session: SessionDep, caller: CallerDep
) -> SuggestedSplitOut:
    """Two groups from k-means (k=2) on the members' embeddings: a starting point for /split."""
    groups = review.suggest_split(session, caller, proposal_id)
    return SuggestedSplitOut(proposal_id=proposal_id, groups=groups)


@router.post("/proposals/{proposal_id}/merge", responses=ACTION)
@in_one_thread
def post_merge(proposal_id: int, body: MergeIn, session: SessionDep, caller: CallerDep) -> MergeOut:
    """Merge a pending proposal into another proposal of the run or an active category."""
    result = review.merge(
        session, caller, proposal_id, body.version,
        into_proposal_id=body.into_proposal_id, into_category_id=body.into_category_id,
    )  # fmt: skip
    return MergeOut.model_validate(result.to_json())


@router.post("/proposals/{proposal_id}/move", responses=ACTION)
@in_one_thread
def post_move(proposal_id: int, body: MoveIn, session: SessionDep, caller: CallerDep) -> MoveOut:
    """Move some members of a pending or confirmed proposal to a proposal, category or noise."""
    result = review.move(
        session, caller, proposal_id, body.version, body.note_ids,
        to_proposal_id=body.to_proposal_id, to_category_id=body.to_category_id,
        to_noise=body.to_noise,
    )  # fmt: skip
    return MoveOut.model_validate(result.to_json())


@router.post(
    "/proposals/{proposal_id}/claim",
    responses=review_errors(401, 403, 404, 422, conflicts=("claimed", "must_audit_first")),
)
@in_one_thread
def post_claim(
    proposal_id: int, session: SessionDep, caller: CallerDep, svc: ServicesDep
) -> ClaimOut:
    """Mark the proposal as yours for ``claim_ttl_s`` seconds (409 if someone else holds it)."""
    return ClaimOut.model_validate(
        review.claim(session, caller, proposal_id, svc.settings.claim_ttl_s)
    )


@router.post(
    "/proposals/{proposal_id}/release",
    responses=review_errors(401, 403, 404, 422, conflicts=("must_audit_first",)),
)
@in_one_thread
def post_release(proposal_id: int, session: SessionDep, caller: CallerDep) -> ReleaseOut:
    """Release your claim (a lead may release anyone's)."""
    return ReleaseOut.model_validate(review.release(session, caller, proposal_id))


@router.get("/runs/{run_id}/queue", responses=READ)
@in_one_thread
def get_queue(run_id: int, session: SessionDep, caller: CallerDep) -> QueueOut:
    """The run's proposals, pending first and largest first, with pending and decided counts.
    A client reads only the queues of the runs it started."""
    scopes.readable_run(session, caller, run_id)
    return QueueOut.model_validate(views.queue(session, caller, run_id).to_json())


@router.post(
    "/runs/{run_id}/unclustered/assign",
    responses=review_errors(401, 403, 404, 422, conflicts=("already_decided", "must_audit_first")),
)
@in_one_thread
def post_assign(run_id: int, body: AssignIn, session: SessionDep, caller: CallerDep) -> MoveOut:
    """Give unclustered notes a proposal of the run, a category, or noise."""
    result = review.assign(
        session, caller, run_id, body.note_ids, to_proposal_id=body.to_proposal_id,
        to_category_id=body.to_category_id, to_noise=body.to_noise,
    )  # fmt: skip
    return MoveOut.model_validate(result.to_json())


@router.post(
    "/runs/{run_id}/undo", responses=review_errors(401, 403, 404, 422, conflicts=("undo",))
)
@in_one_thread
def post_undo(
    run_id: int, session: SessionDep, caller: CallerDep, body: UndoIn | None = None
) -> UndoOut:
    """Undo your last action in the run (a lead may name any ``event_id``)."""
    event_id = body.event_id if body else None
    return UndoOut.model_validate(review.undo(session, caller, run_id, event_id).to_json())


@router.post("/runs/{run_id}/blind", responses=review_errors(401, 403, 404, 422))
@in_one_thread
def post_blind(
    run_id: int, body: BlindIn, session: SessionDep, caller: CallerDep, svc: ServicesDep
) -> BlindOut:
    """Lead only: turn blind mode on or off for a run (drawing its audit sample if it has none,
    sized by the audit rule: ``AXIAL_AUDIT_SAMPLE_SIZE``, ``…_MAX_SHARE``, ``…_MIN_SIZE``)."""
    size = AuditSize.of(svc.settings)
    return BlindOut.model_validate(
        audit_labels.set_blind(session, caller, run_id, body.enabled, size)
    )


@router.get(
    "/runs/{run_id}/audit",
    response_model_exclude_unset=True,
    responses=review_errors(401, 403, 404, 422),
)
@in_one_thread
def get_audit(run_id: int, session: SessionDep, caller: CallerDep, svc: ServicesDep) -> AuditOut:
    """The run's blind-audit sample, without the judge's labels (your own labels included),
    whether a label you give now is blind or a revision (``accepts``), and the audit size with
    the interval width it buys."""
    view = audit_labels.audit_view(session, caller, run_id, AuditSize.of(svc.settings))
    return AuditOut.model_validate(view.to_json())


@router.post(
    "/runs/{run_id}/audit/labels",
    status_code=201,
    response_model_exclude_unset=True,
    responses=review_errors(401, 403, 404, 422, conflicts=("not_blind",)),
)
@in_one_thread
def post_audit_label(
    run_id: int, body: LabelIn, session: SessionDep, caller: CallerDep
) -> LabelOut:
    """Label one note of the run's audit sample (the run must be in blind mode). Blind while
    nothing of the judge's for the run has been shown to you; after that, the label is stored
    as a revision (``mode: "revised"``, ``counts_in_headline: false``): it feeds the judge
    persuasion rate, never the judge error rate."""
    recorded = audit_labels.label(
        session, caller, run_id, body.note_id, category_id=body.category_id,
        new_category_name=body.new_category_name, noise=body.noise,
    )  # fmt: skip
    return LabelOut.model_validate(recorded)


@router.post("/projects/{project}/rebuild", responses=review_errors(401, 403, 404, 422))
@in_one_thread
def post_rebuild(project: str, session: SessionDep, caller: CallerDep) -> RebuildOut:
    """Lead only: rebuild the project's review state from its event log."""
    project_id = views.project_id(session, caller, project, "lead")
    projection.rebuild(session, project_id)
    return RebuildOut(project=project, rebuilt=True)
