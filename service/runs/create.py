"""Starting runs, retrying failed ones, and reading their status.

:func:`queue_run`, :func:`retry_run`, :func:`run_by_id` and :func:`project_runs` work in the
caller's transaction (the API's one per request); :func:`create_run` and :func:`get_run` open
their own (the CLI and the demo).
"""

from __future__ import annotations

from sqlalchemy import event, func, select, update
from sqlalchemy.orm import Session

from service.context import Services
from service.domain import RunStatus
from service.errors import BadInput, Conflict, NotFound
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
    wake_after_commit(session, services)
    return run


def wake_after_commit(session: Session, services: Services) -> None:
    """Wake this process's worker when the session's transaction commits (not before: a claim
    before the commit would find nothing and wait for the next poll)."""
    if session.info.get("wakes_worker") is not services.run_queued:
        session.info["wakes_worker"] = services.run_queued
        event.listen(session, "after_commit", lambda _: services.run_queued.set())


def retry_run(session: Session, services: Services, failed: Run) -> Run:
    """Queue a new run with the failed run's batch, seed, ``min_cluster_size`` and creator.

    The failed run stays as it was (its error, stage and timings are its history); the new one
    records ``params["retry_of"]``. Its notes' embeddings cached by the failed run (the cache
    keeps every chunk stored before a failure) are not embedded again. A run is retried once:
    retry the retry if it fails too.

    Raises:
        Conflict: the run is not failed, or was already retried (``retried_as`` names the run).
        BadInput: its scope has fewer than 2 notes now.
    """
    # First statement: the failed run's row lock (SQLite: the write lock) until commit, so two
    # retries of one run at once queue one run, and the other sees it.
    locked = session.scalar(
        update(Run)
        .where(Run.id == failed.id, Run.status == RunStatus.failed)
        .values(stage=Run.stage)
        .returning(Run.id)
    )
    if locked is None:
        session.refresh(failed)
        raise Conflict(
            f"run {failed.id} is {failed.status}: only a failed run can be retried",
            field="run_id",
            status=failed.status,
        )
    later = session.scalars(
        select(Run).where(Run.project_id == failed.project_id, Run.id > failed.id)
    )
    again = next((r.id for r in later if (r.params or {}).get("retry_of") == failed.id), None)
    if again is not None:
        raise Conflict(
            f"run {failed.id} was already retried as run {again}", field="run_id", retried_as=again
        )
    project = session.get(Project, failed.project_id)
    assert project is not None
    run = queue_run(
        session,
        services,
        project,
        batch_id=failed.batch_id,
        seed=failed.seed,
        min_cluster_size=(failed.params or {}).get("clusterer", {}).get("min_cluster_size"),
        created_by=failed.created_by,
    )
    run.params = {**run.params, "retry_of": failed.id}  # after config_hash: same hash
    for column in Run.__table__.c:  # created_by, and who that is (its actor)
        if column.key.startswith("created_by"):
            setattr(run, column.key, getattr(failed, column.key))
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
