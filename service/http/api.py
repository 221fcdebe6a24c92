"""JSON API under /api/v1: projects, batches, runs, proposals (read), categories.

A category can also be created here from selected notes (``POST /projects/{project}/categories``,
a review action: one ``create_category`` event, undoable through its run).

Review actions (confirm, rename, reject, split, merge, move, undo, audit) live in
``service.http.review``; both share the error handling of ``service.app``. Every route works in
the request's one transaction (:data:`~service.http.deps.SessionDep`), authenticates in it, and
answers a typed model (:mod:`service.http.schemas_api`); its error statuses are documented with
:func:`~service.http.schemas.errors`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Annotated

from fastapi import APIRouter, Depends, Header, Path, Query, Request, Response
from fastapi.concurrency import run_in_threadpool
from sqlalchemy import select
from sqlalchemy.orm import Session

from service import scopes
from service.audit.gate import gated, require_audit_done
from service.auth import Principal, Role, create_key, grant_key, project_by_name
from service.errors import BadInput, Conflict, Forbidden, NotFound, PayloadTooLarge
from service.http.deps import CallerDep, ServicesDep, SessionDep
from service.http.schemas import ErrorOut, errors
from service.http.schemas_api import (
    BatchCreated,
    BatchOut,
    CategoryCreated,
    CategoryIn,
    CategoryOut,
    ProjectCreated,
    ProjectIn,
    ProjectOut,
    ProposalOut,
    RunIn,
    RunOut,
    RunRetried,
    RunStatusOut,
    UnclusteredNote,
    batch_request_body,
)
from service.notes import export
from service.notes.batches import BatchResult, add_batch, count_notes, create_project
from service.notes.ingest import Limits, NoteIn, parse_csv, parse_json_body, parse_jsonl
from service.review import create_category, views
from service.runs.create import project_runs, queue_run, retry_run
from service.runs.read import run_row
from service.storage.models import Batch, Membership, Note, Project, Run

router = APIRouter(prefix="/api/v1", tags=["api"])

ProjectName = Annotated[str, Path(description="Project name.")]
RunId = Annotated[int, Path(description="Run id.")]


def _project_for(permission: str) -> Callable[[str, Session, Principal], Project]:
    """A dependency: the path's project, if the caller may ``permission`` there (else 404/403)."""

    def project_with_permission(
        project: ProjectName, session: SessionDep, caller: CallerDep
    ) -> Project:
        found = project_by_name(session, project)
        caller.require(found.id, permission)
        return found

    return project_with_permission


ReadableProject = Annotated[Project, Depends(_project_for("read"))]
SubmittableProject = Annotated[Project, Depends(_project_for("submit"))]


@router.post(
    "/projects",
    status_code=201,
    response_model_exclude_unset=True,
    responses=errors(401, 403, 409, 422),
)
def post_project(body: ProjectIn, session: SessionDep, caller: CallerDep) -> ProjectCreated:
    """Create a project (any lead may). The caller becomes its lead (a key caller's key leads
    it too, so ``GET /projects`` lists it) and a key caller also gets a new lead key for the
    project, shown only in this response."""
    if not caller.is_lead_anywhere:
        raise Forbidden("only a lead may create projects", needed=["lead"])
    project = create_project(session, body.name)
    out = {"id": project.id, "name": project.name, "created_at": project.created_at.isoformat()}
    if caller.kind == "user" and caller.user_id is not None:
        session.add(Membership(user_id=caller.user_id, project_id=project.id, role=Role.lead.value))
        return ProjectCreated.model_validate(out)
    if caller.key_id is not None:
        grant_key(session, caller.key_id, project, Role.lead)
    key = create_key(session, project, Role.lead, f"created-by-{caller.name}")
    return ProjectCreated.model_validate({**out, "lead_key": key})


@router.get("/projects", responses=errors(401))
def get_projects(session: SessionDep, caller: CallerDep) -> list[ProjectOut]:
    """The projects the caller has a role in."""
    rows = session.scalars(
        select(Project).where(Project.id.in_(list(caller.roles))).order_by(Project.id)
    ).all()
    return [
        ProjectOut(
            id=p.id,
            name=p.name,
            role=caller.roles[p.id],
            notes=count_notes(session, p.id),
            created_at=p.created_at.isoformat(),
        )
        for p in rows
    ]


def _batch_out(result: BatchResult, project: str) -> BatchCreated:
    return BatchCreated.model_validate(
        {
            "id": result.batch_id,
            "project": project,
            "n_received": result.n_received,
            "n_stored": result.n_stored,
            "n_duplicates": result.n_duplicates,
            "duplicates": result.duplicates,
            "note_ids": result.note_ids,
            "replayed": result.replayed,
        }
    )


async def _read_body(request: Request, max_bytes: int) -> tuple[bytes, str]:
    """The request body (or the multipart ``file``) and its content type; 413 over the limit."""
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
    return body, ctype


def _parse(body: bytes, ctype: str, limits: Limits) -> tuple[list[NoteIn], str]:
    """The validated notes of a body, and its source format (json, jsonl or csv)."""
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


@router.post(
    "/projects/{project}/batches",
    status_code=201,
    responses=errors(401, 403, 404, 409, 413, 422),
    openapi_extra={"requestBody": batch_request_body()},
)
async def post_batch(
    request: Request,
    response: Response,
    proj: SubmittableProject,
    session: SessionDep,
    svc: ServicesDep,
    caller: CallerDep,
    idempotency_key: Annotated[
        str | None,
        Header(max_length=200, description="Resubmitting with the same key replays the batch."),
    ] = None,
) -> BatchCreated:
    """Submit notes as JSON ``{"notes": [...]}``, JSONL (``application/x-ndjson``), CSV
    (``text/csv``) or a multipart file upload. Resubmitting with the same ``Idempotency-Key``
    returns the original batch; notes whose ``external_id`` the project has already are skipped,
    and a batch of nothing but such notes is refused (409) rather than stored empty."""
    settings = svc.settings
    body, ctype = await _read_body(request, settings.max_body_bytes)
    limits = Limits(settings.max_note_chars, settings.max_batch_notes)

    def parse_and_store() -> BatchResult:  # parsing and the database stay off the event loop
        notes, source = _parse(body, ctype, limits)
        result = add_batch(
            session,
            proj.id,
            notes,
            source=source,
            submitted_by=caller.name,
            idempotency_key=idempotency_key,
        )
        batch = None if result.replayed else session.get(Batch, result.batch_id)
        if batch is not None:  # who it was; submitted_by is the name people read
            batch.submitted_by_actor = caller.actor
        return result

    result = await run_in_threadpool(parse_and_store)
    if result.n_stored == 0 and not result.replayed:  # a resend without Idempotency-Key
        raise Conflict(
            f"all {result.n_received} notes are already stored (known external_id): "
            "nothing new, no batch made; send an Idempotency-Key to replay a batch",
            field="notes",
            duplicates=result.duplicates,
        )
    if result.replayed:
        response.headers["Idempotent-Replayed"] = "true"
    response.headers["Location"] = f"/api/v1/batches/{result.batch_id}"
    return _batch_out(result, proj.name)


@router.get("/batches/{batch_id}", responses=errors(401, 403, 404, 422))
def get_batch(batch_id: int, session: SessionDep, caller: CallerDep) -> BatchOut:
    """A batch and its notes. Clients read only the batches they submitted."""
    batch = session.get(Batch, batch_id)
    if batch is None or batch.project_id not in caller.roles:
        raise NotFound(f"no batch {batch_id}", field="batch_id")
    role = caller.require(batch.project_id, "read")
    if role is Role.client and not caller.owns(batch.submitted_by_actor):
        raise Forbidden("clients may read only the batches they submitted", field="batch_id")
    project = session.get(Project, batch.project_id)
    notes = session.scalars(select(Note).where(Note.batch_id == batch_id).order_by(Note.id))
    return BatchOut.model_validate(
        {
            "id": batch.id,
            "project": project.name if project else None,
            "source": batch.source,
            "submitted_by": batch.submitted_by,
            "n_received": batch.n_received,
            "n_stored": batch.n_stored,
            "n_duplicates": batch.n_duplicates,
            "created_at": batch.created_at.isoformat(),
            "notes": [{**views.note_row(n).to_json(), "metadata": n.meta} for n in notes],
        }
    )


@router.post("/projects/{project}/runs", status_code=202, responses=errors(401, 403, 404, 422))
def post_run(
    body: RunIn,
    response: Response,
    proj: SubmittableProject,
    session: SessionDep,
    svc: ServicesDep,
    caller: CallerDep,
) -> RunOut:
    """Start a run (202): it executes in the background; poll ``GET /api/v1/runs/{id}``."""
    run = queue_run(
        session,
        svc,
        proj,
        batch_id=body.batch_id,
        seed=body.seed,
        min_cluster_size=body.min_cluster_size,
        created_by=caller.name,
    )
    run.created_by_actor = caller.actor  # who it was; created_by is the name people read
    response.headers["Location"] = f"/api/v1/runs/{run.id}"
    return RunOut.model_validate(run_row(session, run).to_json())


@router.get("/projects/{project}/runs", responses=errors(401, 403, 404, 422))
def get_project_runs(proj: ReadableProject, session: SessionDep) -> list[RunOut]:
    """The project's runs, newest first."""
    runs = project_runs(session, proj.id)
    return [RunOut.model_validate(run_row(session, r).to_json()) for r in runs]


def readable_run(session: Session, run_id: int, caller: Principal, permission: str = "read") -> Run:
    """The run, if the caller may read it (:func:`service.scopes.readable_run`): 404 outside
    the caller's projects, 403 for a client that did not start it."""
    return scopes.readable_run(session, caller, run_id, permission)


@router.get("/runs/{run_id}", responses=errors(401, 403, 404, 422))
def get_run_status(run_id: RunId, session: SessionDep, caller: CallerDep) -> RunStatusOut:
    """Status, stage, done/total, error, timings and counts of a run."""
    run = readable_run(session, run_id, caller)
    pending = gated(session, run, caller)
    body = run_row(session, run).to_json()
    body["must_audit_first"] = bool(pending)  # for this caller: label the audit sample first
    body["audit_pending"] = len(pending)
    return RunStatusOut.model_validate(body)


@router.post(
    "/runs/{run_id}/retry",
    status_code=202,
    responses={
        **errors(401, 403, 404, 422),
        409: {
            "model": ErrorOut,
            "description": "Conflict — the run is not failed (`status` says what it is), or it "
            "was already retried (`retried_as`: the run that retries it).",
        },
    },
)
def post_run_retry(
    run_id: RunId, response: Response, session: SessionDep, svc: ServicesDep, caller: CallerDep
) -> RunRetried:
    """Retry a failed run (202): a new run with its batch, seed, min_cluster_size and creator,
    queued for the workers; the failed run stays as it was. Its notes' cached embeddings are
    reused. Leads, and the client who started it."""
    failed = readable_run(session, run_id, caller, "submit")
    run = retry_run(session, svc, failed)
    response.headers["Location"] = f"/api/v1/runs/{run.id}"
    return RunRetried.model_validate({**run_row(session, run).to_json(), "retry_of": failed.id})


@router.get("/runs/{run_id}/proposals", responses=errors(401, 403, 404, 409, 422))
def get_run_proposals(run_id: RunId, session: SessionDep, caller: CallerDep) -> list[ProposalOut]:
    """The run's proposals, largest first, with members, keywords, judge and status.
    A reviewer of a run in blind mode labels its audit sample first (409 must_audit_first)."""
    run = readable_run(session, run_id, caller)
    require_audit_done(session, run, caller)
    return [ProposalOut.model_validate(p.to_json()) for p in views.run_proposals(session, run_id)]


@router.get("/runs/{run_id}/unclustered", responses=errors(401, 403, 404, 409, 422))
def get_run_unclustered(
    run_id: RunId, session: SessionDep, caller: CallerDep
) -> list[UnclusteredNote]:
    """Notes the clusterer left unclustered in this run (never forced into a cluster)."""
    run = readable_run(session, run_id, caller)
    require_audit_done(session, run, caller)
    notes = views.unclustered_notes(session, run_id)
    return [UnclusteredNote.model_validate(n, from_attributes=True) for n in notes]


@router.get("/projects/{project}/categories", responses=errors(401, 403, 404, 422))
def get_categories(proj: ReadableProject, session: SessionDep) -> list[CategoryOut]:
    """Confirmed categories with counts ("Relative-date errors — 31 of 100 notes") and their
    counts per ISO week the notes were submitted in (ids stay the same from week to week)."""
    return [
        CategoryOut.model_validate(c.to_json()) for c in views.project_categories(session, proj.id)
    ]


@router.post(
    "/projects/{project}/categories",
    status_code=201,
    responses={
        **errors(401, 403, 404, 422),
        409: {
            "model": ErrorOut,
            "description": "Conflict — `field: name`: an active category has this name "
            "(`category_id`), assign the notes to it; `field: note_ids`: notes already in a "
            "confirmed category (`note_ids`), move them instead; `must_audit_first`: a run "
            "holding the notes is in blind mode and you have not labelled its audit sample.",
        },
    },
)
def post_category(
    project: ProjectName,
    body: CategoryIn,
    response: Response,
    session: SessionDep,
    caller: CallerDep,
) -> CategoryCreated:
    """A confirmed category from selected notes of the project (a reviewer or lead), taken from
    wherever they are: unclustered, noise, or pending proposals of any run (which lose them).
    One review event; ``POST /runs/{run_id}/undo`` on the answer's ``run_id`` undoes it.
    Unknown notes and notes of other projects answer the same 404 (``note_ids``)."""
    made = create_category(
        session, caller, project, body.name, body.note_ids, definition=body.definition
    )
    rows = views.project_categories(session, made.project_id)
    row = next(c for c in rows if c.category_id == made.category_id)
    response.headers["Location"] = f"/api/v1/projects/{project}/categories"
    return CategoryCreated.model_validate(
        {
            **row.to_json(),
            "event_id": made.event_id,
            "run_id": made.run_id,
            "note_ids": made.note_ids,
            "taken_from": [t.stored() for t in made.taken_from],
        }
    )


@router.get(
    "/projects/{project}/categories/{category_id}/export",
    response_class=Response,
    responses={
        200: {
            "description": "One golden eval case per note: "
            + ", ".join(export.FIELDS)
            + " (JSONL: one object per line; CSV: a header row, then one row per case).",
            "content": {
                export.MEDIA_TYPES[f]: {"schema": {"type": "string"}} for f in export.Format
            },
        },
        **errors(401, 403, 404, 422),
    },
)
def export_category(
    proj: ReadableProject,
    category_id: Annotated[int, Path(description="A confirmed category of the project.")],
    session: SessionDep,
    caller: CallerDep,
    format: Annotated[
        export.Format, Query(description="jsonl (default) or csv.")
    ] = export.Format.jsonl,
) -> Response:
    """A confirmed category's notes as golden eval cases (JSONL or CSV), one per note.
    A client gets only the notes of the batches it submitted."""
    cases = export.golden_cases(session, proj.id, category_id)
    if not scopes.sees_every_note(caller, proj.id):
        own = scopes.own_note_ids(session, caller, proj.id)
        cases = [c for c in cases if c["note_id"] in own]
    body = export.to_csv(cases) if format is export.Format.csv else export.to_jsonl(cases)
    filename = f"{proj.name}-category-{category_id}.{format.value}"
    return Response(
        body,
        media_type=export.MEDIA_TYPES[format],
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )
