"""Read models shared by the API, the CLI and the review UI: proposals, notes, categories."""

from __future__ import annotations

from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.domain import CategoryStatus, ProposalStatus, RunStatus
from service.storage.models import (
    Category,
    Note,
    NoteAssignment,
    Proposal,
    ProposalMember,
    ProposalState,
    Run,
    RunNote,
)


def note_json(note: Note, **extra: Any) -> dict[str, Any]:
    return {
        "note_id": note.id,
        "external_id": note.external_id,
        "text": note.text,
        "author": note.author,
        "trace_id": note.trace_id,
        "trace_url": note.trace_url,
        **extra,
    }


def notes_by_id(session: Session, ids: list[int]) -> dict[int, Note]:
    found: dict[int, Note] = {}
    for start in range(0, len(ids), 500):
        rows = session.scalars(select(Note).where(Note.id.in_(ids[start : start + 500])))
        found.update({n.id: n for n in rows})
    return found


def run_proposals(session: Session, run_id: int) -> list[dict[str, Any]]:
    """The run's proposals in their current state, largest first, each with its members."""
    rows = session.execute(
        select(Proposal, ProposalState)
        .join(ProposalState, ProposalState.proposal_id == Proposal.id)
        .where(Proposal.run_id == run_id)
    ).all()
    reassigned = set(
        session.scalars(
            select(ProposalMember.note_id)
            .join(Proposal, Proposal.id == ProposalMember.proposal_id)
            .where(Proposal.run_id == run_id, ProposalMember.reassigned.is_(True))
        )
    )
    all_ids = sorted({nid for _, state in rows for nid in state.member_note_ids})
    notes = notes_by_id(session, all_ids)
    result = [_proposal_json(p, s, notes, reassigned) for p, s in rows]
    result.sort(key=lambda p: (-p["count"], p["id"]))
    return result


def _proposal_json(
    p: Proposal, s: ProposalState, notes: dict[int, Note], reassigned: set[int]
) -> dict[str, Any]:
    misfits = set(p.misfit_note_ids or [])
    return {
        "id": p.id,
        "run_id": p.run_id,
        "origin": p.origin,
        "parent_proposal_id": p.parent_proposal_id,
        "name": s.name,
        "definition": s.definition,
        "judge_name": p.name,
        "judge_definition": p.definition,
        "judge_id": p.judge_id,
        "judge_version": p.judge_version,
        "judge_failed": p.judge_failed,
        "failure_reason": p.failure_reason,
        "confidence": p.confidence,
        "tokens": p.tokens,
        "latency_ms": p.latency_ms,
        "keywords": p.keywords,
        "matched_category_id": p.matched_category_id,
        "misfit_note_ids": sorted(misfits),
        "status": s.status,
        "version": s.version,
        "category_id": s.category_id,
        "updated_by": s.updated_by,
        "claimed_by": s.claimed_by,
        "claim_expires_at": s.claim_expires_at.isoformat() if s.claim_expires_at else None,
        "count": len(s.member_note_ids),
        "members": [
            note_json(notes[nid], misfit=nid in misfits, reassigned=nid in reassigned)
            for nid in s.member_note_ids
            if nid in notes
        ],
    }


def unclustered_notes(session: Session, run_id: int) -> list[dict[str, Any]]:
    """Notes the clusterer left as noise (-1) in this run, with their current human label."""
    rows = session.execute(
        select(Note, NoteAssignment)
        .join(RunNote, RunNote.note_id == Note.id)
        .outerjoin(NoteAssignment, NoteAssignment.note_id == Note.id)
        .where(RunNote.run_id == run_id, RunNote.cluster_label < 0)
        .order_by(Note.id)
    ).all()
    return [
        note_json(n, category_id=a.category_id if a else None, is_noise=bool(a and a.is_noise))
        for n, a in rows
    ]


def project_categories(session: Session, project_id: int) -> list[dict[str, Any]]:
    """Active categories with their note counts, largest first."""
    total = session.scalar(select(func.count()).where(Note.project_id == project_id)) or 0
    counts = dict(
        session.execute(
            select(NoteAssignment.category_id, func.count())
            .where(NoteAssignment.project_id == project_id, NoteAssignment.category_id.is_not(None))
            .group_by(NoteAssignment.category_id)
        ).all()
    )
    cats = session.scalars(
        select(Category).where(
            Category.project_id == project_id, Category.status == CategoryStatus.active.value
        )
    ).all()
    result: list[dict[str, Any]] = [
        {
            "id": c.id,
            "name": c.name,
            "definition": c.definition,
            "origin": c.origin,
            "origin_proposal_id": c.origin_proposal_id,
            "count": int(counts.get(c.id, 0)),
            "of": total,
            "label": f"{c.name} — {int(counts.get(c.id, 0))} of {total} notes",
        }
        for c in cats
    ]
    result.sort(key=lambda c: (-int(c["count"]), int(c["id"])))
    return result


def pending_proposals(session: Session, project_id: int) -> tuple[int | None, list[dict[str, Any]]]:
    """The latest succeeded run's proposals that no one has decided yet, largest first."""
    run_id = session.scalar(
        select(Run.id)
        .where(Run.project_id == project_id, Run.status == RunStatus.succeeded.value)
        .order_by(Run.id.desc())
        .limit(1)
    )
    if run_id is None:
        return None, []
    rows = session.execute(
        select(Proposal, ProposalState)
        .join(ProposalState, ProposalState.proposal_id == Proposal.id)
        .where(Proposal.run_id == run_id, ProposalState.status == ProposalStatus.pending.value)
    ).all()
    pending: list[dict[str, Any]] = [
        {"id": p.id, "name": s.name, "count": len(s.member_note_ids), "judge_id": p.judge_id}
        for p, s in rows
    ]
    pending.sort(key=lambda p: (-int(p["count"]), int(p["id"])))
    return run_id, pending
