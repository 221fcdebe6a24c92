"""Agreement routes of the JSON API (lead role): judge error, corrected counts, saturation, drift.

Every answer carries ``watermark`` (the highest review event id it reflects) and
``computed_at``; pass ``watermark=`` to recompute figures as of an earlier log position.
Filters (``run_id``, ``batch_id``, ``week`` as ``2026-W48``, ``judge_version``) combine.

- ``GET /api/v1/projects/{project}/agreement``: every figure of the scope.
- ``GET …/agreement/runs`` · ``…/batches`` · ``…/weeks`` · ``…/judge-versions`` (with drift
  alarms) · ``…/reviewers``: the same figures per run, batch, ISO week × judge version,
  judge version and reviewer.
- ``GET /api/v1/projects/{project}/agreement.csv``: everything as one long CSV table.
- ``GET /api/v1/runs/{run_id}/audit/gate``: the blind-first gate of the caller (reviewers)
  or of ``reviewer=`` (leads): notes still to label blind before seeing proposals.
- ``GET /api/v1/runs/{run_id}/audit/links``: the run's blind "new category" names and where
  each links in the codebook, with the evidence; ``POST`` (leads) sets a link
  (``{"blind_name", "category_id" | "noise": true | "automatic": true, "reviewer"?}``).

The figures name the judge's proposals of the runs in scope, so reading them reveals those
runs to the lead (:mod:`service.audit.reveal`): a label the lead gives afterwards is a revision.

The figures are computed in the request's one transaction (one snapshot of the log and the
runs); the answers are typed by :mod:`service.http.schemas_agreement`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Response
from sqlalchemy.orm import Session

from service.agreement.data import check_week
from service.agreement.figures import Scope, Snapshot, figures, snapshot
from service.agreement.reviewers import reviewers_json
from service.agreement.table import COLUMNS, agreement_csv
from service.agreement.timeline import batches_json, runs_json, versions_json, weeks_json
from service.audit import links as audit_links
from service.audit.gate import blind_gate, resolve_reviewer
from service.audit.reveal import reveal_runs
from service.auth import Principal, Role, project_by_name
from service.errors import Forbidden, NotFound
from service.http.deps import CallerDep, SessionDep
from service.http.schemas import errors
from service.http.schemas_agreement import (
    AgreementOut,
    BatchesOut,
    GateOut,
    ReviewersOut,
    RunsOut,
    VersionsOut,
    WeeksOut,
)
from service.http.schemas_links import LinkIn, LinksOut
from service.storage.models import Batch, Run

router = APIRouter(prefix="/api/v1", tags=["agreement"])

WEEK_PATTERN = r"^\d{4}-W\d{2}$"
ERRORS = errors(401, 403, 404, 422)


def scope_params(
    run_id: Annotated[int | None, Query(description="Only this run.")] = None,
    batch_id: Annotated[int | None, Query(description="Only runs over this batch.")] = None,
    week: Annotated[
        str | None,
        Query(
            pattern=WEEK_PATTERN,
            description="ISO week of the run, e.g. 2026-W48 (a week that year has).",
        ),
    ] = None,
    judge_version: Annotated[str | None, Query(description="Only this judge version.")] = None,
) -> Scope:
    return Scope(run_id, batch_id, check_week(week) if week else None, judge_version)


ScopeQ = Annotated[Scope, Depends(scope_params)]
Watermark = Annotated[
    int | None, Query(ge=0, description="Fold the review log up to this event id.")
]
ProjectName = Annotated[str, Path(description="Project name.")]


def _check_scope(session: Session, project_id: int, scope: Scope) -> None:
    if scope.run_id is not None:
        run = session.get(Run, scope.run_id)
        if run is None or run.project_id != project_id:
            raise NotFound(f"no run {scope.run_id} in this project", field="run_id")
    if scope.batch_id is not None:
        batch = session.get(Batch, scope.batch_id)
        if batch is None or batch.project_id != project_id:
            raise NotFound(f"no batch {scope.batch_id} in this project", field="batch_id")


def lead_snapshot(
    session: Session, caller: Principal, project: str, scope: Scope, watermark: int | None
) -> Snapshot:
    """The project's snapshot for a lead (403 for other roles, 404 for unknown ids)."""
    proj = project_by_name(session, project)
    caller.require(proj.id, "lead")
    _check_scope(session, proj.id, scope)
    snap = snapshot(session, proj.id, watermark)
    # the figures show the judge's proposals of the scope's runs: the lead has seen them
    reveal_runs(session, proj.id, [v.data.run_id for v in snap.select(scope)], caller, "agreement")
    return snap


def _answer(
    session: Session,
    caller: Principal,
    project: str,
    scope: Scope,
    watermark: int | None,
    key: str,
    build: Callable[[Snapshot, Scope], Any],
) -> dict[str, Any]:
    snap = lead_snapshot(session, caller, project, scope, watermark)
    return {"project": project, **snap.stamp(), "scope": _scope(scope), key: build(snap, scope)}


def _scope(scope: Scope) -> dict[str, Any]:
    return {k: getattr(scope, k) for k in ("run_id", "batch_id", "week", "judge_version")}


@router.get("/projects/{project}/agreement", response_model_exclude_unset=True, responses=ERRORS)
def get_agreement(
    project: ProjectName,
    session: SessionDep,
    caller: CallerDep,
    scope: ScopeQ,
    watermark: Watermark = None,
) -> AgreementOut:
    """Every agreement figure of the scope: judge error rate, workflow disagreement,
    proposal outcomes, corrected counts, saturation, human noise, note and partition agreement."""
    snap = lead_snapshot(session, caller, project, scope, watermark)
    return AgreementOut.model_validate({"project": project, **figures(snap, scope)})


@router.get(
    "/projects/{project}/agreement/runs", response_model_exclude_unset=True, responses=ERRORS
)
def get_runs(
    project: ProjectName,
    session: SessionDep,
    caller: CallerDep,
    scope: ScopeQ,
    watermark: Watermark = None,
) -> RunsOut:
    """Per run: judge error rate, workflow disagreement and proposal outcomes."""
    body = _answer(session, caller, project, scope, watermark, "runs", runs_json)
    return RunsOut.model_validate(body)


@router.get(
    "/projects/{project}/agreement/batches", response_model_exclude_unset=True, responses=ERRORS
)
def get_batches(
    project: ProjectName,
    session: SessionDep,
    caller: CallerDep,
    scope: ScopeQ,
    watermark: Watermark = None,
) -> BatchesOut:
    """Per batch: the pooled judge error rate of the runs over it."""
    body = _answer(session, caller, project, scope, watermark, "batches", batches_json)
    return BatchesOut.model_validate(body)


@router.get(
    "/projects/{project}/agreement/weeks", response_model_exclude_unset=True, responses=ERRORS
)
def get_weeks(
    project: ProjectName,
    session: SessionDep,
    caller: CallerDep,
    scope: ScopeQ,
    watermark: Watermark = None,
) -> WeeksOut:
    """Per ISO week and judge version: pooled judge error rate with its interval."""
    body = _answer(session, caller, project, scope, watermark, "weeks", weeks_json)
    return WeeksOut.model_validate(body)


@router.get(
    "/projects/{project}/agreement/judge-versions",
    response_model_exclude_unset=True,
    responses=ERRORS,
)
def get_versions(
    project: ProjectName,
    session: SessionDep,
    caller: CallerDep,
    scope: ScopeQ,
    watermark: Watermark = None,
) -> VersionsOut:
    """Per judge version: all-time pooled error, rolling error and drift alarms."""
    body = _answer(session, caller, project, scope, watermark, "judge_versions", versions_json)
    return VersionsOut.model_validate(body)


@router.get(
    "/projects/{project}/agreement/reviewers", response_model_exclude_unset=True, responses=ERRORS
)
def get_reviewers(
    project: ProjectName,
    session: SessionDep,
    caller: CallerDep,
    scope: ScopeQ,
    watermark: Watermark = None,
) -> ReviewersOut:
    """Per reviewer: blind audit size, judge disagreement, agreement with other reviewers."""

    def build(snap: Snapshot, sc: Scope) -> list[dict[str, Any]]:
        return reviewers_json(snap.state, snap.select(sc), snap.labels)

    body = _answer(session, caller, project, scope, watermark, "reviewers", build)
    return ReviewersOut.model_validate(body)


@router.get(
    "/projects/{project}/agreement.csv",
    response_class=Response,
    responses={
        200: {
            "description": "One row per scope, metric and label; columns "
            + ", ".join(COLUMNS)
            + ". Every row reflects the same watermark.",
            "content": {"text/csv": {"schema": {"type": "string"}}},
        },
        **ERRORS,
    },
)
def get_csv(
    project: ProjectName,
    session: SessionDep,
    caller: CallerDep,
    scope: ScopeQ,
    watermark: Watermark = None,
) -> Response:
    """Every figure as one long CSV table (one row per scope, metric and label)."""
    snap = lead_snapshot(session, caller, project, scope, watermark)
    text = agreement_csv(snap, scope)
    filename = f"axial-{project}-agreement-{snap.state.watermark}.csv"
    return Response(
        text,
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/runs/{run_id}/audit/gate", responses=ERRORS)
def get_gate(
    run_id: Annotated[int, Path(description="Run id.")],
    session: SessionDep,
    caller: CallerDep,
    reviewer: Annotated[
        str | None,
        Query(
            description="Whose gate (leads only): an actor id (key:12, user:3) or a display "
            "name that only one key or user of the project has; default: the caller's."
        ),
    ] = None,
) -> GateOut:
    """Whether the caller (or, for a lead, ``reviewer``) must finish the blind audit first."""
    run = session.get(Run, run_id)
    if run is None:
        raise NotFound(f"no run {run_id}", field="run_id")
    role = caller.require(run.project_id, "review")
    if reviewer is None or reviewer in (caller.actor, caller.name):
        actor, name = caller.actor, caller.name
    elif role != Role.lead:
        raise Forbidden("only a lead may look at another reviewer's gate")
    else:
        actor, name = resolve_reviewer(session, run.project_id, reviewer)
    return GateOut.model_validate(blind_gate(session, run, actor, name).to_json())


@router.get("/runs/{run_id}/audit/links", response_model_exclude_unset=True, responses=ERRORS)
def get_audit_links(
    run_id: Annotated[int, Path(description="Run id.")], session: SessionDep, caller: CallerDep
) -> LinksOut:
    """The run's blind "new category" names and where they link in the codebook: by the final
    review (the category holding most of a name's notes), or by a lead; pending until then."""
    return LinksOut.model_validate(audit_links.links_view(session, caller, run_id))


@router.post("/runs/{run_id}/audit/links", response_model_exclude_unset=True, responses=ERRORS)
def post_audit_link(
    run_id: Annotated[int, Path(description="Run id.")],
    body: LinkIn,
    session: SessionDep,
    caller: CallerDep,
) -> LinksOut:
    """Lead only: link a blind name to a category, to noise, or back to the rule (an
    ``audit_link`` event with the evidence seen); answers the run's links."""
    recorded = audit_links.set_link(
        session, caller, run_id, body.blind_name, category_id=body.category_id,
        noise=body.noise, automatic=body.automatic, reviewer=body.reviewer,
    )  # fmt: skip
    return LinksOut.model_validate(recorded)
