"""The read model of a run: one frozen dataclass for the API, the CLI and the review pages."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.domain import ProposalStatus, RunStatus
from service.storage.models import Project, ProposalState, Run


def iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


@dataclass(frozen=True, slots=True)
class RunRow:
    """A run: what it was asked, where it stands, what it found, and its review progress."""

    run_id: int
    project: str
    status: str
    stage: str
    done: int
    total: int
    n_notes: int
    n_clusters: int
    n_unclustered: int
    n_judge_failed: int
    blind_mode: bool
    created_at: str | None
    finished_at: str | None
    error: str | None
    pending: int = 0  # proposals still pending review
    decided: int = 0  # proposals decided
    batch_id: int | None = None
    scope: str = ""
    seed: int = 0
    params: dict[str, Any] | None = None
    config_hash: str = ""
    timings: dict[str, Any] | None = None
    judge_id: str | None = None
    judge_version: str | None = None
    created_by: str | None = None
    started_at: str | None = None

    @property
    def working(self) -> bool:
        return self.status in (RunStatus.queued, RunStatus.running)

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0

    def row_json(self) -> dict[str, Any]:
        """The run as a row of the review queue: status, progress, counts, review progress."""
        keys = (
            "run_id", "project", "status", "stage", "done", "total", "n_notes", "n_clusters",
            "n_unclustered", "n_judge_failed", "blind_mode", "created_at", "finished_at",
            "error", "pending", "decided",
        )  # fmt: skip
        return {k: getattr(self, k) for k in keys}

    def to_json(self) -> dict[str, Any]:
        """The run as the runs API answers it."""
        return {
            "id": self.run_id, "project": self.project, "batch_id": self.batch_id,
            "scope": self.scope, "status": self.status, "stage": self.stage, "done": self.done,
            "total": self.total, "error": self.error, "seed": self.seed, "params": self.params,
            "config_hash": self.config_hash, "timings": self.timings, "judge_id": self.judge_id,
            "judge_version": self.judge_version, "n_notes": self.n_notes,
            "n_clusters": self.n_clusters, "n_unclustered": self.n_unclustered,
            "n_judge_failed": self.n_judge_failed, "blind_mode": self.blind_mode,
            "created_by": self.created_by, "created_at": self.created_at,
            "started_at": self.started_at, "finished_at": self.finished_at,
        }  # fmt: skip


def run_row(session: Session, run: Run, statuses: list[str] | None = None) -> RunRow:
    """The run's read model, with its review progress (from ``statuses``, every proposal
    state's status, when the caller has read them already)."""
    project = session.get(Project, run.project_id)
    if statuses is None:
        statuses = list(
            session.scalars(select(ProposalState.status).where(ProposalState.run_id == run.id))
        )
    pending = sum(s == ProposalStatus.pending for s in statuses)
    return RunRow(
        run_id=run.id, project=project.name if project else "?", status=run.status,
        stage=run.stage, done=run.done, total=run.total, n_notes=run.n_notes,
        n_clusters=run.n_clusters, n_unclustered=run.n_unclustered,
        n_judge_failed=run.n_judge_failed, blind_mode=run.blind_mode,
        created_at=iso(run.created_at), finished_at=iso(run.finished_at), error=run.error,
        pending=pending, decided=len(statuses) - pending, batch_id=run.batch_id,
        scope=run.scope, seed=run.seed, params=run.params, config_hash=run.config_hash,
        timings=run.timings, judge_id=run.judge_id, judge_version=run.judge_version,
        created_by=run.created_by, started_at=iso(run.started_at),
    )  # fmt: skip
