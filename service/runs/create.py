"""Starting runs and reading their status."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from service.context import Services
from service.errors import NotFound
from service.runs.pipeline import check_runnable, config_hash, run_params, select_notes
from service.storage.models import Batch, Project, Run


def create_run(
    services: Services,
    project: Project,
    *,
    batch_id: int | None,
    seed: int | None,
    min_cluster_size: int | None = None,
    created_by: str | None = None,
) -> Run:
    """Queue a run over a batch, or over every note without a human decision yet."""
    if batch_id is not None:
        with services.db.transaction() as session:
            batch = session.get(Batch, batch_id)
            if batch is None or batch.project_id != project.id:
                raise NotFound(f"no batch {batch_id} in project {project.name!r}", field="batch_id")
    check_runnable(select_notes(services, project.id, batch_id))
    seed = services.settings.seed if seed is None else seed
    scope = "batch" if batch_id is not None else "unconfirmed"
    params = run_params(services, seed, min_cluster_size, scope)
    with services.db.transaction() as session:
        run = Run(
            project_id=project.id,
            batch_id=batch_id,
            scope=scope,
            seed=seed,
            params=params,
            config_hash=config_hash(params),
            status="queued",
            stage="queued",
            judge_id=services.judge.judge_id,
            judge_version=services.judge.judge_version,
            created_by=created_by,
            timings={},
        )
        session.add(run)
        session.flush()
        return run


def get_run(services: Services, run_id: int) -> Run:
    with services.db.transaction() as session:
        run = session.get(Run, run_id)
        if run is None:
            raise NotFound(f"no run {run_id}", field="run_id")
        return run


def run_json(run: Run, project_name: str | None = None) -> dict[str, Any]:
    return {
        "id": run.id,
        "project": project_name,
        "batch_id": run.batch_id,
        "scope": run.scope,
        "status": run.status,
        "stage": run.stage,
        "done": run.done,
        "total": run.total,
        "error": run.error,
        "seed": run.seed,
        "params": run.params,
        "config_hash": run.config_hash,
        "timings": run.timings,
        "judge_id": run.judge_id,
        "judge_version": run.judge_version,
        "n_notes": run.n_notes,
        "n_clusters": run.n_clusters,
        "n_unclustered": run.n_unclustered,
        "n_judge_failed": run.n_judge_failed,
        "blind_mode": run.blind_mode,
        "created_by": run.created_by,
        "created_at": _iso(run.created_at),
        "started_at": _iso(run.started_at),
        "finished_at": _iso(run.finished_at),
    }


def _iso(value: Any) -> str | None:
    return value.isoformat() if value is not None else None


def project_runs(services: Services, project_id: int) -> list[Run]:
    with services.db.transaction() as session:
        return list(
            session.scalars(select(Run).where(Run.project_id == project_id).order_by(Run.id.desc()))
        )
