"""Blind names of a run's audit and their links to the codebook: read them, or let a lead set one.

``GET /api/v1/runs/{id}/audit/links`` lists every blind "new category" name of the run that
needs a link (per reviewer and normalised name), its notes, its status (``linked`` or
``pending``), where it links and why: the evidence ``|B_b ∩ H_c|`` per category of the final
review, and whether the rule broke a tie (:mod:`service.agreement.links` has the rule).

``POST`` (leads) sets a link: ``{"blind_name", "category_id" | "noise": true | "automatic":
true, "reviewer"?}``. It is an insert-only ``audit_link`` review event (the override is an
event, METRICS.md §2.1) storing the evidence the lead saw; the latest one per run, reviewer (or
every reviewer) and name wins, and ``automatic`` hands the name back to the rule. Overrides
change which codebook label a blind name stands for, never the blind label itself.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field, model_validator
from sqlalchemy.orm import Session

from judges.agreement import normalise_name
from service.agreement.data import load_runs
from service.agreement.links import BlindName, blind_names, run_review
from service.agreement.log import LogState, fold
from service.audit.gate import resolve_reviewer
from service.auth import Principal
from service.domain import EventMode, ReviewAction
from service.errors import BadInput, NotFound
from service.review.common import active_category, clean_name, load_run
from service.storage.models import ReviewEvent, Run, utcnow


class AuditLinkAfter(BaseModel):
    """What an ``audit_link`` event stores: the name, whose, where it links, the evidence."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    blind_name: str
    reviewer: str | None = None  # an actor id; None: every reviewer who used the name
    category_id: int | None = None
    noise: bool | None = None
    automatic: bool | None = None
    evidence: dict[str, int] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _one_target(self) -> AuditLinkAfter:
        given = [self.category_id, self.noise, self.automatic]
        if sum(v is not None for v in given) != 1:
            raise ValueError("a link is exactly one of category_id, noise, automatic")
        return self


def _names(session: Session, run: Run) -> tuple[LogState, list[BlindName], list[int]]:
    state = fold(session, run.project_id)
    found = load_runs(session, run.project_id, run_id=run.id)
    if not found:
        return state, [], []
    names = sorted(
        blind_names(state, found[0]).values(), key=lambda b: (b.reviewer, b.actor, b.key)
    )
    return state, names, list(run_review(state, found[0]).pending_proposals)


def links_view(session: Session, principal: Principal, run_id: int) -> dict[str, Any]:
    """The run's blind names and their links (reviewers and leads of the project)."""
    run = load_run(session, principal, run_id, "review")
    state, names, pending = _names(session, run)
    return {
        "run_id": run.id,
        "watermark": state.watermark,
        "reviewed": not pending,
        "pending_proposals": pending,
        "links": [n.to_json(state) for n in names],
    }


def set_link(
    session: Session,
    principal: Principal,
    run_id: int,
    blind_name: str,
    *,
    category_id: int | None = None,
    noise: bool = False,
    automatic: bool = False,
    reviewer: str | None = None,
) -> dict[str, Any]:
    """Lead only: link a blind name of the run to a category, to noise, or back to the rule.

    Raises:
        BadInput: Not exactly one target, or an inactive category (422, naming the field).
        NotFound: No such blind name (for that reviewer) in the run's audit, or no such
            category or reviewer.
    """
    run = load_run(session, principal, run_id, "lead")
    given = sum([category_id is not None, bool(noise), bool(automatic)])
    if given != 1:
        raise BadInput("give exactly one of category_id, noise, automatic", field="link")
    name = clean_name(blind_name, "blind_name")
    key = normalise_name(name)
    actor = resolve_reviewer(session, run.project_id, reviewer)[0] if reviewer else None
    _, names, _ = _names(session, run)
    matching = [n for n in names if n.key == key and (actor is None or n.actor == actor)]
    if not matching:
        raise NotFound(
            f"no blind name {name!r} in the audit of run {run_id}"
            + (f" by {reviewer}" if reviewer else "")
            + " that needs a link",
            field="blind_name",
        )
    if category_id is not None:
        active_category(session, run.project_id, category_id, "category_id")
    evidence: dict[str, int] = {}
    for n in matching:
        for k, v in n.evidence_counts().items():
            evidence[k] = evidence.get(k, 0) + v
    after = AuditLinkAfter(
        blind_name=name, reviewer=actor, evidence=evidence,
        **({"category_id": category_id} if category_id is not None else {}),
        **({"noise": True} if noise else {}),
        **({"automatic": True} if automatic else {}),
    )  # fmt: skip
    event = ReviewEvent(
        project_id=run.project_id, run_id=run.id, actor=principal.name, actor_id=principal.actor,
        actor_kind="human", created_at=utcnow(), action=ReviewAction.audit_link,
        mode=EventMode.workflow, judge_visible=False, category_id=category_id,
        note_ids=sorted({nid for n in matching for nid in n.automatic.notes}),
        before={}, after=after.model_dump(mode="json", exclude_unset=True),
    )  # fmt: skip
    session.add(event)
    session.flush()
    view = links_view(session, principal, run_id)
    return {**view, "event_id": event.id}
