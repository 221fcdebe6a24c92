"""Starting runs and reading their status.

:func:`queue_run`, :func:`run_by_id` and :func:`project_runs` work in the caller's transaction
(the API's one per request); :func:`create_run` and :func:`get_run` open their own (the CLI and
the demo).
"""

from __future__ import annotations

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.context import Services
from service.domain import RunStatus
from service.errors import BadInput, NotFound
from service.runs.pipeline import config_hash, run_params
from service.storage.models import Batch, Note, NoteAssignment, Project, Run


def queue_run(
    session: Session,
    services: Services,
    project: Project,
    *,
    batch_id: int | None,
    seed: int | None,
    min_cluster_size: int | None = None,
    created_by: str | None = None,
) -> Run:
    """Queue a run over a batch, or over every note without a human decision yet.

    Raises:
        NotFound: ``batch_id`` is not a batch of the project.
        BadInput: The scope has fewer than 2 notes.
    """
    if batch_id is not None:
        batch = session.get(Batch, batch_id)
        if batch is None or batch.project_id != project.id:
            raise NotFound(f"no batch {batch_id} in project {project.name!r}", field="batch_id")
    size = scope_size(session, project.id, batch_id)
    if size < 2:  # the rule of service.runs.pipeline.check_runnable, checked before queueing
        raise BadInput(
            f"a run needs at least 2 notes to cluster; this scope has {size}", field="batch_id"
        )
    seed = services.settings.seed if seed is None else seed
    scope = "batch" if batch_id is not None else "unconfirmed"
    params = run_params(services, seed, min_cluster_size, scope)
    run = Run(
        project_id=project.id,
        batch_id=batch_id,
        scope=scope,
        seed=seed,
        params=params,
        config_hash=config_hash(params),
        status=RunStatus.queued.value,
        stage="queued",
        judge_id=services.judge.judge_id,
        judge_version=services.judge.judge_version,
        created_by=created_by,
        timings={},
    )
    session.add(run)
    session.flush()
    return run


def scope_size(session: Session, project_id: int, batch_id: int | None) -> int:
    """Notes a run would cover: the batch's, or the project's without a human decision yet
    (the notes :func:`service.runs.pipeline.select_notes` loads)."""
    query = select(func.count()).select_from(Note).where(Note.project_id == project_id)
    if batch_id is not None:
        query = query.where(Note.batch_id == batch_id)
    else:
        decided = select(NoteAssignment.note_id).where(NoteAssignment.project_id == project_id)
        query = query.where(Note.id.not_in(decided))
    return session.scalar(query) or 0


def create_run(
    services: Services,
    project: Project,
    *,
    batch_id: int | None,
    seed: int | None,
    min_cluster_size: int | None = None,
    created_by: str | None = None,
) -> Run:
    """:func:`queue_run` in a transaction of its own."""
    with services.db.transaction() as session:
        return queue_run(
            session,
            services,
            project,
            batch_id=batch_id,
            seed=seed,
            min_cluster_size=min_cluster_size,
            created_by=created_by,
        )


def run_by_id(session: Session, run_id: int) -> Run:
    """The run, or 404 naming ``run_id``."""
    run = session.get(Run, run_id)
    if run is None:
        raise NotFound(f"no run {run_id}", field="run_id")
    return run


def get_run(services: Services, run_id: int) -> Run:
    """:func:`run_by_id` in a transaction of its own."""
    with services.db.transaction() as session:
        return run_by_id(session, run_id)


def project_runs(session: Session, project_id: int) -> list[Run]:
    """The project's runs, newest first."""
    return list(
        session.scalars(select(Run).where(Run.project_id == project_id).order_by(Run.id.desc()))
    )
