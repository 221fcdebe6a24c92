"""JSON API under /api/v1: projects, batches, runs, proposals (read), categories.

Review actions (confirm, rename, reject, split, merge, move, undo, audit) live in
``service.http.review``; both share the error handling of ``service.app``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Query, Request, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from service.audit.gate import gated, require_audit_done
from service.auth import Principal, Role, create_key, project_by_name
from service.context import Services
from service.errors import BadInput, Forbidden, NotFound, PayloadTooLarge
from service.http.deps import principal, services
from service.notes import export
from service.notes.batches import BatchResult, count_notes, create_project, store_batch
from service.notes.ingest import Limits, parse_csv, parse_json_body, parse_jsonl
from service.review import read
from service.runs.create import create_run, get_run, project_runs, run_json
from service.storage.models import Batch, Membership, Note, Project, User

router = APIRouter(prefix="/api/v1", tags=["api"])
Svc = Annotated[Services, Depends(services)]
Caller = Annotated[Principal, Depends(principal)]


class ProjectIn(BaseModel):
    name: str = Field(description="Project name: letters, digits, '.', '_', '-'.")


class RunIn(BaseModel):
    batch_id: int | None = Field(
        None, description="Cluster this batch; omit for every note without a human decision yet."
    )
    seed: int | None = Field(None, description="Seed; same notes + config + seed → same clusters.")
    min_cluster_size: int | None = Field(None, ge=2, description="Override the rule of n.")


def _project(svc: Services, name: str, caller: Principal, permission: str) -> Project:
    with svc.db.transaction() as session:
        project = project_by_name(session, name)
    caller.require(project.id, permission)
    return project


@router.post("/projects", status_code=201)
def post_project(body: ProjectIn, svc: Svc, caller: Caller) -> dict[str, Any]:
    """Create a project (any lead may). The caller becomes its lead; a key caller gets a new
    lead key for the project, shown only in this response."""
    if not caller.is_lead_anywhere:
        raise Forbidden("only a lead may create projects", needed=["lead"])
    with svc.db.transaction() as session:
        project = create_project(session, body.name)
        out: dict[str, Any] = {
            "id": project.id,
            "name": project.name,
            "created_at": project.created_at.isoformat(),
        }
        if caller.kind == "user":
            user_id = session.scalar(select(User.id).where(User.username == caller.name))
            session.add(Membership(user_id=user_id, project_id=project.id, role=Role.lead.value))
        else:
            out["lead_key"] = create_key(session, project, Role.lead, f"created-by-{caller.name}")
        return out


@router.get("/projects")
def get_projects(svc: Svc, caller: Caller) -> list[dict[str, Any]]:
    """The projects the caller has a role in."""
    with svc.db.transaction() as session:
        rows = session.scalars(
            select(Project).where(Project.id.in_(list(caller.roles))).order_by(Project.id)
        ).all()
        return [
            {
                "id": p.id,
                "name": p.name,
                "role": caller.roles[p.id].value,
                "notes": count_notes(session, p.id),
                "created_at": p.created_at.isoformat(),
            }
            for p in rows
        ]


def _batch_json(result: BatchResult, project: str) -> dict[str, Any]:
    return {
        "id": result.batch_id,
        "project": project,
        "n_received": result.n_received,
        "n_stored": result.n_stored,
        "n_duplicates": result.n_duplicates,
        "duplicates": result.duplicates,
        "note_ids": result.note_ids,
        "replayed": result.replayed,
    }


async def _parse_body(request: Request, limits: Limits, max_bytes: int) -> tuple[list[Any], str]:
    declared = request.headers.get("content-length")
    if declared and declared.isdigit() and int(declared) > max_bytes:
        raise PayloadTooLarge(f"body over {max_bytes} bytes", field="body")
    ctype = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
    if ctype == "multipart/form-data":
        form = await request.form()
        upload = form.get("file")
        if upload is None or isinstance(upload, str):
            raise BadInput("multipart upload needs a 'file' part", field="file")
        body = await upload.read()
        name = (upload.filename or "").lower()
        ctype = "text/csv" if name.endswith(".csv") else "application/x-ndjson"
    else:
        body = await request.body()
    if len(body) > max_bytes:
        raise PayloadTooLarge(f"body over {max_bytes} bytes", field="body")
    if ctype in ("application/json", ""):
        return parse_json_body(body, limits), "json"
    if ctype in ("application/x-ndjson", "application/jsonl", "application/x-jsonlines"):
        return parse_jsonl(body, limits), "jsonl"
    if ctype in ("text/csv", "application/csv"):
        return parse_csv(body, limits), "csv"
    raise BadInput(
        f"unsupported content type {ctype!r}: send application/json, "
        "application/x-ndjson or text/csv",
        field="content-type",
    )


@router.post("/projects/{project}/batches", status_code=201)
async def post_batch(
    project: str,
    request: Request,
    response: Response,
    svc: Svc,
    caller: Caller,
    idempotency_key: Annotated[str | None, Header(max_length=200)] = None,
) -> dict[str, Any]:
    """Submit notes as JSON ``{"notes": [...]}``, JSONL (``application/x-ndjson``), CSV
    (``text/csv``) or a multipart file upload. Resubmitting with the same ``Idempotency-Key``
    returns the original batch; notes whose ``external_id`` the project has already are skipped."""
    proj = _project(svc, project, caller, "submit")
    settings = svc.settings
    notes, source = await _parse_body(
        request, Limits(settings.max_note_chars, settings.max_batch_notes), settings.max_body_bytes
    )
    result = store_batch(
        svc.db,
        proj.id,
        notes,
        source=source,
        submitted_by=caller.name,
        idempotency_key=idempotency_key,
    )
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/api/v1/batches/{result.batch_id}"
    return _batch_json(result, proj.name)


@router.get("/batches/{batch_id}")
def get_batch(batch_id: int, svc: Svc, caller: Caller) -> dict[str, Any]:
    """A batch and its notes. Clients read only the batches they submitted."""
    with svc.db.transaction() as session:
        batch = session.get(Batch, batch_id)
        if batch is None or batch.project_id not in caller.roles:
            raise NotFound(f"no batch {batch_id}", field="batch_id")
        role = caller.require(batch.project_id, "read")
        if role is Role.client and batch.submitted_by != caller.name:
            raise Forbidden("clients may read only the batches they submitted")
        project = session.get(Project, batch.project_id)
        notes = session.scalars(select(Note).where(Note.batch_id == batch_id).order_by(Note.id))
        return {
            "id": batch.id,
            "project": project.name if project else None,
            "source": batch.source,
            "submitted_by": batch.submitted_by,
            "n_received": batch.n_received,
            "n_stored": batch.n_stored,
            "n_duplicates": batch.n_duplicates,
            "created_at": batch.created_at.isoformat(),
            "notes": [read.note_json(n, metadata=n.meta) for n in notes],
        }


@router.post("/projects/{project}/runs", status_code=202)
def post_run(
    project: str, body: RunIn, response: Response, svc: Svc, caller: Caller
) -> dict[str, Any]:
    """Start a run (202): it executes in the background; poll ``GET /api/v1/runs/{id}``."""
    proj = _project(svc, project, caller, "submit")
    run = create_run(
        svc,
        proj,
        batch_id=body.batch_id,
        seed=body.seed,
        min_cluster_size=body.min_cluster_size,
        created_by=caller.name,
    )
    response.headers["Location"] = f"/api/v1/runs/{run.id}"
    return run_json(run, proj.name)


@router.get("/projects/{project}/runs")
def get_project_runs(project: str, svc: Svc, caller: Caller) -> list[dict[str, Any]]:
    proj = _project(svc, project, caller, "read")
    return [run_json(r, proj.name) for r in project_runs(svc, proj.id)]


def readable_run(svc: Services, run_id: int, caller: Principal, permission: str = "read") -> Any:
    run = get_run(svc, run_id)
    if run.project_id not in caller.roles:
        raise NotFound(f"no run {run_id}", field="run_id")
    role = caller.require(run.project_id, permission)
    if role is Role.client and run.created_by != caller.name:
        raise Forbidden("clients may read only the runs they started")
    return run


@router.get("/runs/{run_id}")
def get_run_status(run_id: int, svc: Svc, caller: Caller) -> dict[str, Any]:
    """Status, stage, done/total, error, timings and counts of a run."""
    run = readable_run(svc, run_id, caller)
    with svc.db.transaction() as session:
        project = session.get(Project, run.project_id)
        pending = gated(session, run, caller)
    body = run_json(run, project.name if project else None)
    body["must_audit_first"] = bool(pending)  # for this caller: label the audit sample first
    body["audit_pending"] = len(pending)
    return body


@router.get("/runs/{run_id}/proposals")
def get_run_proposals(run_id: int, svc: Svc, caller: Caller) -> list[dict[str, Any]]:
    """The run's proposals, largest first, with members, keywords, judge and status."""
    run = readable_run(svc, run_id, caller)
    with svc.db.transaction() as session:
        require_audit_done(session, run, caller)
        return read.run_proposals(session, run_id)


@router.get("/runs/{run_id}/unclustered")
def get_run_unclustered(run_id: int, svc: Svc, caller: Caller) -> list[dict[str, Any]]:
    """Notes the clusterer left unclustered in this run (never forced into a cluster)."""
    run = readable_run(svc, run_id, caller)
    with svc.db.transaction() as session:
        require_audit_done(session, run, caller)
        return read.unclustered_notes(session, run_id)


@router.get("/projects/{project}/categories")
def get_categories(project: str, svc: Svc, caller: Caller) -> list[dict[str, Any]]:
    """Confirmed categories with counts ("Relative-date errors — 31 of 100 notes")."""
    proj = _project(svc, project, caller, "read")
    with svc.db.transaction() as session:
        return read.project_categories(session, proj.id)


@router.get("/projects/{project}/categories/{category_id}/export")
def export_category(
    project: str,
    category_id: int,
    svc: Svc,
    caller: Caller,
    format: Annotated[str, Query(pattern="^(jsonl|csv)$")] = "jsonl",
) -> Response:
    """A confirmed category's notes as golden eval cases (JSONL or CSV), one per note."""
    proj = _project(svc, project, caller, "read")
    with svc.db.transaction() as session:
        cases = export.golden_cases(session, proj.id, category_id)
    body = export.to_csv(cases) if format == "csv" else export.to_jsonl(cases)
    media = "text/csv" if format == "csv" else "application/x-ndjson"
    filename = f"{project}-category-{category_id}.{format}"
    return Response(
        body,
        media_type=media,
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
