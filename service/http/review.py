"""Review routes of the JSON API: every action of :mod:`service.review`, one route each.

All mutating proposal routes take the proposal ``version`` the caller acted on; a stale one
answers 409 ``stale_version`` with ``changed_by`` and ``current`` (the new state). Acting on a
decided proposal answers 409 ``already_decided``; an unknown proposal 404; no key 401; a role
that may not review 403 (blind-mode switches and rebuilds need a lead).
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends
from pydantic import BaseModel, Field

from service import review
from service.audit import labels as audit_labels
from service.audit.gate import gated
from service.auth import Principal
from service.context import Services
from service.http.deps import principal, services
from service.review import projection, views
from service.review.common import load_run

router = APIRouter(prefix="/api/v1", tags=["review"])
Svc = Annotated[Services, Depends(services)]
Caller = Annotated[Principal, Depends(principal)]


class Versioned(BaseModel):
    version: int = Field(description="The proposal version you acted on (409 if stale).")


class ConfirmIn(Versioned):
    into: Literal["auto", "new", "matched"] = Field(
        "auto", description="auto: the judge's matched category if any, else a new one."
    )


class RenameIn(Versioned):
    name: str
    definition: str | None = None


class RejectIn(Versioned):
    reason: Literal["noise", "not_a_failure"] = "noise"


class SplitIn(Versioned):
    groups: list[list[int]] = Field(description="Note ids per new proposal; ≥ 2 groups.")
    names: list[str] | None = Field(None, description="Optional name per group.")


class MergeIn(Versioned):
    into_proposal_id: int | None = None
    into_category_id: int | None = None


class Where(BaseModel):
    to_proposal_id: int | None = None
    to_category_id: int | None = None
    to_noise: bool = False


class MoveIn(Versioned, Where):
    note_ids: list[int]


class AssignIn(Where):
    note_ids: list[int]


class UndoIn(BaseModel):
    event_id: int | None = Field(None, description="Default: your last action in the run.")


class BlindIn(BaseModel):
    enabled: bool


class LabelIn(BaseModel):
    note_id: int
    category_id: int | None = None
    new_category_name: str | None = None
    noise: bool = False


@router.get("/proposals/{proposal_id}")
def get_proposal(proposal_id: int, svc: Svc, caller: Caller) -> dict[str, Any]:
    """A proposal in full: state, judge output, members, misfits, nearest categories."""
    with svc.db.transaction() as s:
        return views.proposal_detail(s, caller, proposal_id).to_json()


@router.post("/proposals/{proposal_id}/confirm")
def post_confirm(proposal_id: int, body: ConfirmIn, svc: Svc, caller: Caller) -> dict[str, Any]:
    with svc.db.transaction() as s:
        return review.confirm(s, caller, proposal_id, body.version, body.into).to_json()


@router.post("/proposals/{proposal_id}/rename")
def post_rename(proposal_id: int, body: RenameIn, svc: Svc, caller: Caller) -> dict[str, Any]:
    with svc.db.transaction() as s:
        result = review.rename(s, caller, proposal_id, body.version, body.name, body.definition)
        return result.to_json()


@router.post("/proposals/{proposal_id}/reject")
def post_reject(proposal_id: int, body: RejectIn, svc: Svc, caller: Caller) -> dict[str, Any]:
    with svc.db.transaction() as s:
        return review.reject(s, caller, proposal_id, body.version, body.reason).to_json()


@router.post("/proposals/{proposal_id}/split")
def post_split(proposal_id: int, body: SplitIn, svc: Svc, caller: Caller) -> dict[str, Any]:
    with svc.db.transaction() as s:
        result = review.split(s, caller, proposal_id, body.version, body.groups, body.names)
        return result.to_json()


@router.get("/proposals/{proposal_id}/suggested-split")
def get_suggested_split(proposal_id: int, svc: Svc, caller: Caller) -> dict[str, Any]:
    """Two groups from k-means (k=2) on the members' embeddings: a starting point for /split."""
    with svc.db.transaction() as s:
        return {"proposal_id": proposal_id, "groups": review.suggest_split(s, caller, proposal_id)}


@router.post("/proposals/{proposal_id}/merge")
def post_merge(proposal_id: int, body: MergeIn, svc: Svc, caller: Caller) -> dict[str, Any]:
    with svc.db.transaction() as s:
        result = review.merge(
            s, caller, proposal_id, body.version,
            into_proposal_id=body.into_proposal_id, into_category_id=body.into_category_id,
        )  # fmt: skip
        return result.to_json()


@router.post("/proposals/{proposal_id}/move")
def post_move(proposal_id: int, body: MoveIn, svc: Svc, caller: Caller) -> dict[str, Any]:
    with svc.db.transaction() as s:
        result = review.move(
            s, caller, proposal_id, body.version, body.note_ids,
            to_proposal_id=body.to_proposal_id, to_category_id=body.to_category_id,
            to_noise=body.to_noise,
        )  # fmt: skip
        return result.to_json()


@router.post("/proposals/{proposal_id}/claim")
def post_claim(proposal_id: int, svc: Svc, caller: Caller) -> dict[str, Any]:
    """Mark the proposal as yours for ``claim_ttl_s`` seconds (409 if someone else holds it)."""
    with svc.db.transaction() as s:
        return review.claim(s, caller, proposal_id, svc.settings.claim_ttl_s)


@router.post("/proposals/{proposal_id}/release")
def post_release(proposal_id: int, svc: Svc, caller: Caller) -> dict[str, Any]:
    with svc.db.transaction() as s:
        return review.release(s, caller, proposal_id)


@router.get("/runs/{run_id}/queue")
def get_queue(run_id: int, svc: Svc, caller: Caller) -> dict[str, Any]:
    """The run's proposals, largest first, with pending and decided counts."""
    with svc.db.transaction() as s:
        return views.queue(s, caller, run_id).to_json()


@router.post("/runs/{run_id}/unclustered/assign")
def post_assign(run_id: int, body: AssignIn, svc: Svc, caller: Caller) -> dict[str, Any]:
    """Give unclustered notes a proposal of the run, a category, or noise."""
    with svc.db.transaction() as s:
        result = review.assign(
            s, caller, run_id, body.note_ids, to_proposal_id=body.to_proposal_id,
            to_category_id=body.to_category_id, to_noise=body.to_noise,
        )  # fmt: skip
        return result.to_json()


@router.post("/runs/{run_id}/undo")
def post_undo(run_id: int, svc: Svc, caller: Caller, body: UndoIn | None = None) -> dict[str, Any]:
    """Undo your last action in the run (a lead may name any ``event_id``)."""
    with svc.db.transaction() as s:
        event_id = body.event_id if body else None
        return review.undo(s, caller, run_id, event_id).to_json()


@router.post("/runs/{run_id}/blind")
def post_blind(run_id: int, body: BlindIn, svc: Svc, caller: Caller) -> dict[str, Any]:
    """Lead only: turn blind mode on or off for a run."""
    size = svc.settings.audit_sample_size
    with svc.db.transaction() as s:
        return audit_labels.set_blind(s, caller, run_id, body.enabled, size)


@router.get("/runs/{run_id}/audit")
def get_audit(run_id: int, svc: Svc, caller: Caller) -> dict[str, Any]:
    """The run's blind-audit sample, without the judge's labels (your own labels included)."""
    with svc.db.transaction() as s:
        run = load_run(s, caller, run_id, "review")
        items = audit_labels.audit_sample(s, caller, run_id)
        pending = gated(s, run, caller)
        return {
            "run_id": run_id,
            "blind_mode": run.blind_mode,
            "must_audit_first": bool(pending),
            "pending": len(pending),
            "notes": [item.to_json() for item in items],
        }


@router.post("/runs/{run_id}/audit/labels", status_code=201)
def post_audit_label(run_id: int, body: LabelIn, svc: Svc, caller: Caller) -> dict[str, Any]:
    with svc.db.transaction() as s:
        return audit_labels.label(
            s, caller, run_id, body.note_id, category_id=body.category_id,
            new_category_name=body.new_category_name, noise=body.noise,
        )  # fmt: skip


@router.post("/projects/{project}/rebuild")
def post_rebuild(project: str, svc: Svc, caller: Caller) -> dict[str, Any]:
    """Lead only: rebuild the project's review state from its event log."""
    with svc.db.transaction() as s:
        project_id = views.project_id(s, caller, project, "lead")
        projection.rebuild(s, project_id)
        return {"project": project, "rebuilt": True}
