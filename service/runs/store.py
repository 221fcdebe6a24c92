"""Store a run's results (clusters, proposals, members) in one transaction and finish the run.

Only the worker that still holds the run stores it: a run released back to the queue, or marked
failed as interrupted while its worker stalled, is no longer that worker's to finish
(:func:`held_by`), so no run's results are ever stored twice.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import numpy as np
import numpy.typing as npt
from sqlalchemy import ColumnElement, select, update
from sqlalchemy.orm import Session

from judges import CategoryProposal, ClusterSample
from service.audit.draw import AuditSize, draw_stratified_audit
from service.context import Services
from service.domain import CategoryStatus, RunStatus
from service.review import projection
from service.runs.carryover import CarriedGroup, store_carried
from service.storage.models import Category, Cluster, Proposal, ProposalMember, Run, RunNote


class RunLost(RuntimeError):
    """The worker no longer holds the run it computed (released, or marked interrupted)."""


def held_by(run_id: int, holder: str | None) -> tuple[ColumnElement[bool], ...]:
    """WHERE clauses matching the run only while it is running and held by ``holder``.

    Args:
        run_id: the run.
        holder: the worker id recorded when the run was claimed (None for a run claimed
            before runs recorded their worker).
    """
    worker = Run.worker.is_(None) if holder is None else Run.worker == holder
    return (Run.id == run_id, Run.status == RunStatus.running, worker)


@dataclass(frozen=True, slots=True)
class ClusterResult:
    note_ids: list[int]
    labels: npt.NDArray[np.int_]
    raw_labels: npt.NDArray[np.int_]
    probabilities: npt.NDArray[np.float64]
    reassigned: npt.NDArray[np.bool_]
    samples: list[ClusterSample]
    proposals: list[CategoryProposal]
    min_cluster_size: int
    carried: tuple[CarriedGroup, ...] = ()  # carry-over proposals (service.runs.carryover)
    carry_over: dict[str, Any] | None = None  # what the match stage did, for run.params


def store_results(
    services: Services,
    run_id: int,
    result: ClusterResult,
    timings: dict[str, float],
    holder: str | None = None,
) -> None:
    """Write everything the run produced, draw its audit sample and mark it succeeded.

    Raises:
        RunLost: ``holder`` no longer holds the run; nothing is written.
    """
    started = time.perf_counter()
    with services.db.transaction() as session:
        # The first statement takes the run's row lock (SQLite: the write lock) until commit,
        # so a release or an interrupted-run check cannot slip in between check and write.
        still_held = session.scalar(
            update(Run).where(*held_by(run_id, holder)).values(stage="store").returning(Run.id)
        )
        if still_held is None:
            raise RunLost(f"run {run_id} is no longer held by worker {holder}; results discarded")
        run = session.get(Run, run_id)
        assert run is not None
        session.add_all(
            RunNote(
                run_id=run_id,
                note_id=nid,
                cluster_label=int(result.labels[i]),
                raw_label=int(result.raw_labels[i]),
                probability=float(result.probabilities[i]),
                reassigned=bool(result.reassigned[i]),
            )
            for i, nid in enumerate(result.note_ids)
        )
        reassigned = {nid for i, nid in enumerate(result.note_ids) if result.reassigned[i]}
        active = set(
            session.scalars(
                select(Category.id).where(
                    Category.project_id == run.project_id,
                    Category.status == CategoryStatus.active,
                )
            )
        )
        for sample, proposal in zip(result.samples, result.proposals, strict=True):
            _store_cluster(session, run, sample, proposal, reassigned, active)
        threshold = (result.carry_over or {}).get("threshold")
        store_carried(session, run, result.carried, threshold)
        session.flush()
        projection.init_run_states(session, run_id)
        _draw_audit(services, session, run)
        run.status, run.stage, run.finished_at = RunStatus.succeeded, "done", datetime.now(UTC)
        run.n_notes = len(result.note_ids)
        run.n_clusters = len(result.samples)
        run.n_unclustered = int((result.labels < 0).sum())
        run.n_judge_failed = sum(1 for p in result.proposals if p.judge_failed)
        run.params = {
            **run.params,
            "resolved_min_cluster_size": result.min_cluster_size,
            "embedding_model_id": services.embedder.model_id,
            **({"carry_over": result.carry_over} if result.carry_over is not None else {}),
        }
        run.timings = {**timings, "store": round(time.perf_counter() - started, 4)}
        run.done = run.total = 1


def _store_cluster(
    session: Session,
    run: Run,
    sample: ClusterSample,
    proposal: CategoryProposal,
    reassigned: set[int],
    active: set[int],
) -> None:
    cluster = Cluster(
        run_id=run.id,
        label=sample.label,
        size=sample.size,
        keywords=list(sample.keywords),
        representative_note_ids=[n.note_id for n in sample.representative],
        nearest_labels=[c.label for c in sample.contrast],
    )
    session.add(cluster)
    session.flush()
    members = {n.note_id for n in sample.members}
    # Every cluster member is shown for review; the ones the judge did not claim are flagged
    # as misfits rather than dropped, so no note silently leaves the review.
    claimed = [nid for nid in proposal.member_note_ids if nid in members]
    unclaimed = [n.note_id for n in sample.members if n.note_id not in set(claimed)]
    misfits = sorted(set(proposal.misfit_note_ids).intersection(members) | set(unclaimed))
    claimed += unclaimed
    audit = proposal.audit or {}
    tokens = audit.get("tokens", {}).get("total") if isinstance(audit.get("tokens"), dict) else None
    matched = proposal.matched_category_id if proposal.matched_category_id in active else None
    row = Proposal(
        run_id=run.id,
        cluster_id=cluster.id,
        origin="judge",
        name=proposal.name[:300],
        definition=proposal.definition,
        keywords=list(sample.keywords),
        judge_id=run.judge_id or "",
        judge_version=run.judge_version or "",
        confidence=float(proposal.confidence),
        matched_category_id=matched,
        misfit_note_ids=misfits,
        judge_failed=proposal.judge_failed,
        failure_reason=proposal.failure_reason,
        raw_output=audit,
        tokens=tokens,
        latency_ms=audit.get("latency_ms"),
    )
    session.add(row)
    session.flush()
    session.add_all(
        ProposalMember(proposal_id=row.id, note_id=nid, rank=rank, reassigned=nid in reassigned)
        for rank, nid in enumerate(claimed)
    )


def _draw_audit(services: Services, session: Session, run: Run) -> None:
    """Draw the run's blind audit sample now, before anyone has seen its proposals.

    Stratified by judge proposal (``service.audit``), so corrected counts are possible. With
    ``blind_first`` (the default) the run starts in blind mode: each reviewer labels the sample
    before the run's proposals are shown to them (``service.audit.require_audit_done``).
    """
    sample = draw_stratified_audit(session, run.id, AuditSize.of(services.settings), run.seed)
    run.blind_mode = bool(sample) and services.settings.blind_first
