"""The blind-first gate: which audit notes a reviewer must label before seeing proposals.

:func:`pending_blind_audit` lists the sample notes a reviewer has not labelled blind yet;
:func:`blind_gate` says whether the reviewer must label them before seeing proposals
(``must_audit_first``: the run is in blind mode and notes are pending); :func:`gated` and
:func:`require_audit_done` apply it to a caller.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.draw import drawn_notes
from service.auth import Principal, Role
from service.domain import EventMode, ReviewAction
from service.errors import MustAuditFirst
from service.storage.models import ReviewEvent, Run


def _labelled_by(session: Session, run_id: int, reviewer: str) -> set[int]:
    """Notes the reviewer has a (non-reverted) blind label for in the run."""
    events = session.execute(
        select(ReviewEvent.id, ReviewEvent.note_ids).where(
            ReviewEvent.run_id == run_id,
            ReviewEvent.mode == EventMode.blind,
            ReviewEvent.action == ReviewAction.audit_label,
            ReviewEvent.actor == reviewer,
        )
    ).all()
    reverted = set(
        session.scalars(
            select(ReviewEvent.reverts_event_id).where(
                ReviewEvent.run_id == run_id, ReviewEvent.action == ReviewAction.revert
            )
        )
    )
    return {int(n) for eid, notes in events if eid not in reverted for n in notes}


def pending_blind_audit(session: Session, run_id: int, reviewer: str) -> list[int]:
    """The run's audit notes the reviewer has not labelled blind yet, in presentation order."""
    done = _labelled_by(session, run_id, reviewer)
    return [n for n in drawn_notes(session, run_id) if n not in done]


@dataclass(frozen=True, slots=True)
class BlindGate:
    """Whether a reviewer must finish the blind audit before seeing a run's proposals.

    Attributes:
        run_id: The run.
        reviewer: The reviewer's name (as recorded on review events).
        blind_mode: The run is in blind mode (a lead turned it on).
        sample_size: Notes in the run's audit sample.
        pending_note_ids: Sample notes the reviewer has not labelled yet, in order.
        must_audit_first: ``blind_mode`` and notes pending: show the audit, not proposals.
    """

    run_id: int
    reviewer: str
    blind_mode: bool
    sample_size: int
    pending_note_ids: tuple[int, ...]
    must_audit_first: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "reviewer": self.reviewer,
            "blind_mode": self.blind_mode,
            "sample_size": self.sample_size,
            "labelled": self.sample_size - len(self.pending_note_ids),
            "pending_note_ids": list(self.pending_note_ids),
            "must_audit_first": self.must_audit_first,
        }


def blind_gate(session: Session, run: Run, reviewer: str) -> BlindGate:
    """The blind-first gate of ``reviewer`` on ``run`` (the caller checked permissions)."""
    pending = pending_blind_audit(session, run.id, reviewer)
    size = len(drawn_notes(session, run.id))
    return BlindGate(
        run_id=run.id,
        reviewer=reviewer,
        blind_mode=bool(run.blind_mode),
        sample_size=size,
        pending_note_ids=tuple(pending),
        must_audit_first=bool(run.blind_mode) and bool(pending),
    )


def gated(session: Session, run: Run, principal: Principal) -> list[int]:
    """The audit notes ``principal`` must label before seeing ``run``'s proposals.

    Empty unless the run is in blind mode and the caller is a *reviewer* in its project: a
    lead switches blind mode and sees everything, a client never labels.
    """
    if not run.blind_mode or principal.role_in(run.project_id) is not Role.reviewer:
        return []
    return pending_blind_audit(session, run.id, principal.name)


def require_audit_done(session: Session, run: Run, principal: Principal) -> None:
    """409 ``must_audit_first`` while :func:`gated` lists notes (blind-first, METRICS.md §3)."""
    pending = gated(session, run, principal)
    if pending:
        raise MustAuditFirst(
            f"run {run.id} is in blind mode: label its audit sample first "
            f"({len(pending)} of {len(drawn_notes(session, run.id))} notes left)",
            field="run_id",
            run_id=run.id,
            pending=len(pending),
            audit=f"/api/v1/runs/{run.id}/audit",
        )
