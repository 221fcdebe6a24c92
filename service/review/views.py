"""Read side of the review: what pages and API clients see (frozen dataclasses, no ORM rows).

Every read checks the caller's role: runs and queues need ``read``; proposal details,
unclustered notes and categories need ``read`` too (a client sees what its runs produced).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.gate import require_audit_done
from service.auth import Principal, project_by_name
from service.domain import CategoryStatus, ProposalStatus, RunStatus
from service.review.claims import active_claim
from service.review.common import LIVE, load_proposal, load_run
from service.review.similarity import CategoryRef, nearest_categories
from service.storage.models import (
    Category,
    Note,
    NoteAssignment,
    Project,
    Proposal,
    ProposalMember,
    ProposalState,
    Run,
    RunNote,
)


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@dataclass(frozen=True, slots=True)
class NoteRow:
    note_id: int
    text: str
    author: str | None
    trace_url: str | None
    trace_id: str | None
    external_id: str | None
    reassigned: bool = False
    misfit: bool = False
    label: str | None = None  # current human label: a category name or "noise"


@dataclass(frozen=True, slots=True)
class RunRow:
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
    pending: int = 0
    decided: int = 0

    @property
    def working(self) -> bool:
        return self.status in (RunStatus.queued, RunStatus.running)

    @property
    def percent(self) -> int:
        return int(100 * self.done / self.total) if self.total else 0


@dataclass(frozen=True, slots=True)
class ProposalRow:
    proposal_id: int
    name: str
    status: str
    version: int
    size: int
    origin: str
    judge_id: str
    judge_failed: bool
    confidence: float
    category_id: int | None
    updated_by: str | None
    claimed_by: str | None


@dataclass(frozen=True, slots=True)
class QueueView:
    run: RunRow
    role: str
    proposals: list[ProposalRow]

    @property
    def pending(self) -> int:
        return sum(p.status == ProposalStatus.pending for p in self.proposals)

    @property
    def decided(self) -> int:
        return len(self.proposals) - self.pending

    def to_json(self) -> dict[str, Any]:
        return {
            "run": asdict(self.run), "pending": self.pending, "decided": self.decided,
            "proposals": [asdict(p) for p in self.proposals],
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class ProposalView:
    row: ProposalRow
    run: RunRow
    role: str
    definition: str
    judge_name: str
    judge_definition: str
    judge_version: str
    failure_reason: str | None
    keywords: list[str]
    parent_proposal_id: int | None
    members: list[NoteRow]
    misfits: list[NoteRow]
    matched: CategoryRef | None
    nearest: list[CategoryRef]
    categories: list[CategoryRef]
    targets: list[ProposalRow]
    queue_ids: list[int] = field(default_factory=list)
    pending_ids: list[int] = field(default_factory=list)
    claim_expires_at: str | None = None

    def neighbour(self, step: int) -> int | None:
        ids, me = self.queue_ids, self.row.proposal_id
        if me not in ids or not 0 <= ids.index(me) + step < len(ids):
            return None
        return ids[ids.index(me) + step]

    def next_pending(self) -> int | None:
        """The next pending proposal after this one in queue order (wrapping)."""
        ids, me = self.queue_ids, self.row.proposal_id
        start = ids.index(me) + 1 if me in ids else 0
        for pid in ids[start:] + ids[:start]:
            if pid in self.pending_ids and pid != me:
                return pid
        return None

    def to_json(self) -> dict[str, Any]:
        out = {k: v for k, v in asdict(self).items() if k not in ("row", "run", "queue_ids")}
        ids = [m.note_id for m in self.members]
        return {**asdict(self.row), "run_id": self.run.run_id, "member_note_ids": ids, **out}


@dataclass(frozen=True, slots=True)
class UnclusteredView:
    run: RunRow
    role: str
    notes: list[NoteRow]
    categories: list[CategoryRef]
    targets: list[ProposalRow]

    def to_json(self) -> dict[str, Any]:
        return {"run_id": self.run.run_id, "notes": [asdict(n) for n in self.notes]}


@dataclass(frozen=True, slots=True)
class CategoryView:
    category_id: int
    name: str
    definition: str
    origin: str
    count: int
    notes: list[NoteRow]


def project_id(session: Session, caller: Principal, name: str, permission: str) -> int:
    project = project_by_name(session, name)
    caller.require(project.id, permission)
    return project.id


def run_row(session: Session, run: Run) -> RunRow:
    project = session.get(Project, run.project_id)
    states = session.scalars(select(ProposalState.status).where(ProposalState.run_id == run.id))
    statuses = list(states)
    pending = sum(s == ProposalStatus.pending for s in statuses)
    return RunRow(
        run.id, project.name if project else "?", run.status, run.stage, run.done, run.total,
        run.n_notes, run.n_clusters, run.n_unclustered, run.n_judge_failed, run.blind_mode,
        _iso(run.created_at), _iso(run.finished_at), run.error, pending, len(statuses) - pending,
    )  # fmt: skip


def project_runs(session: Session, caller: Principal, name: str) -> tuple[str, list[RunRow]]:
    """The caller's role and the project's runs, newest first."""
    pid = project_id(session, caller, name, "read")
    runs = session.scalars(select(Run).where(Run.project_id == pid).order_by(Run.id.desc()))
    role = caller.role_in(pid)
    return (role.value if role else ""), [run_row(session, r) for r in runs]


def _row(p: Proposal, s: ProposalState) -> ProposalRow:
    return ProposalRow(
        p.id, s.name, s.status, s.version, len(s.member_note_ids), p.origin, p.judge_id,
        p.judge_failed, p.confidence, s.category_id, s.updated_by, active_claim(s),
    )  # fmt: skip


def _rows(session: Session, run_id: int) -> list[ProposalRow]:
    pairs = session.execute(
        select(Proposal, ProposalState)
        .join(ProposalState, ProposalState.proposal_id == Proposal.id)
        .where(Proposal.run_id == run_id)
    ).all()
    rows = [_row(p, s) for p, s in pairs]
    rows.sort(key=lambda r: (r.status != ProposalStatus.pending, -r.size, r.proposal_id))
    return rows


def run_header(session: Session, caller: Principal, run_id: int) -> tuple[RunRow, str]:
    """The run's summary and the caller's role, without proposals (open during a blind audit)."""
    run = load_run(session, caller, run_id, "read")
    role = caller.role_in(run.project_id)
    return run_row(session, run), role.value if role else ""


def queue(session: Session, caller: Principal, run_id: int) -> QueueView:
    """The run's proposals: pending first, largest first (blind-first gated)."""
    row, role = run_header(session, caller, run_id)
    require_audit_done(session, session.get_one(Run, run_id), caller)
    return QueueView(row, role, _rows(session, run_id))


def _labels(session: Session, note_ids: list[int]) -> dict[int, str]:
    rows = session.execute(
        select(NoteAssignment.note_id, NoteAssignment.is_noise, Category.name)
        .outerjoin(Category, Category.id == NoteAssignment.category_id)
        .where(NoteAssignment.note_id.in_(note_ids))
    ).all()
    return {int(r[0]): ("noise" if r[1] else (r[2] or "?")) for r in rows}


def note_rows(
    session: Session,
    note_ids: list[int],
    reassigned: set[int] | None = None,
    misfits: set[int] | None = None,
) -> list[NoteRow]:
    notes = {n.id: n for n in session.scalars(select(Note).where(Note.id.in_(note_ids)))}
    labels = _labels(session, note_ids)
    return [
        NoteRow(
            n.id,
            n.text,
            n.author,
            n.trace_url,
            n.trace_id,
            n.external_id,
            n.id in (reassigned or set()),
            n.id in (misfits or set()),
            labels.get(n.id),
        )
        for nid in note_ids
        if (n := notes.get(nid)) is not None
    ]


def active_categories(session: Session, project_id: int) -> list[CategoryRef]:
    cats = session.scalars(
        select(Category)
        .where(Category.project_id == project_id, Category.status == CategoryStatus.active)
        .order_by(Category.name)
    ).all()
    counts: dict[int, int] = {}
    for cid in session.scalars(
        select(NoteAssignment.category_id).where(NoteAssignment.project_id == project_id)
    ):
        if cid is not None:
            counts[int(cid)] = counts.get(int(cid), 0) + 1
    return [CategoryRef(c.id, c.name, counts.get(c.id, 0)) for c in cats]


def _reassigned(session: Session, proposal_id: int, run_id: int, ids: list[int]) -> set[int]:
    flagged = set(
        session.scalars(
            select(ProposalMember.note_id).where(
                ProposalMember.proposal_id == proposal_id, ProposalMember.reassigned.is_(True)
            )
        )
    )
    flagged |= set(
        session.scalars(
            select(RunNote.note_id).where(
                RunNote.run_id == run_id, RunNote.reassigned.is_(True), RunNote.note_id.in_(ids)
            )
        )
    )
    return {int(n) for n in flagged}


def proposal_detail(session: Session, caller: Principal, proposal_id: int) -> ProposalView:
    """A proposal in full, with what a reviewer needs to decide and where notes may go."""
    t = load_proposal(session, caller, proposal_id, "read")
    p, s = t.proposal, t.state
    ids = [int(n) for n in s.member_note_ids]
    misfit_ids = {int(n) for n in p.misfit_note_ids or []} & set(ids)
    members = note_rows(session, ids, _reassigned(session, p.id, t.run.id, ids), misfit_ids)
    categories = active_categories(session, t.run.project_id)
    by_id = {c.category_id: c for c in categories}
    rows = _rows(session, t.run.id)
    role = caller.role_in(t.run.project_id)
    return ProposalView(
        row=_row(p, s), run=run_row(session, t.run), role=role.value if role else "",
        definition=s.definition, judge_name=p.name, judge_definition=p.definition,
        judge_version=p.judge_version, failure_reason=p.failure_reason,
        keywords=[str(k) for k in p.keywords or []], parent_proposal_id=p.parent_proposal_id,
        members=members, misfits=[m for m in members if m.misfit],
        matched=by_id.get(p.matched_category_id) if p.matched_category_id else None,
        nearest=nearest_categories(session, t.run, ids, categories),
        categories=categories,
        targets=[r for r in rows if r.status in LIVE and r.proposal_id != p.id],
        queue_ids=[r.proposal_id for r in rows],
        pending_ids=[r.proposal_id for r in rows if r.status == ProposalStatus.pending],
        claim_expires_at=_iso(s.claim_expires_at) if active_claim(s) else None,
    )  # fmt: skip


def unclustered(session: Session, caller: Principal, run_id: int) -> UnclusteredView:
    """The run's unclustered notes not (now) in a proposal, each with its current label."""
    run = load_run(session, caller, run_id, "read")
    require_audit_done(session, run, caller)
    held = {
        int(n)
        for st in session.scalars(
            select(ProposalState).where(
                ProposalState.run_id == run_id, ProposalState.status.in_(LIVE)
            )
        )
        for n in st.member_note_ids
    }
    ids = [
        int(n)
        for n in session.scalars(
            select(RunNote.note_id)
            .where(RunNote.run_id == run_id, RunNote.cluster_label == -1)
            .order_by(RunNote.note_id)
        )
        if int(n) not in held
    ]
    role = caller.role_in(run.project_id)
    rows = [r for r in _rows(session, run_id) if r.status in LIVE]
    cats = active_categories(session, run.project_id)
    return UnclusteredView(
        run_row(session, run), role.value if role else "", note_rows(session, ids), cats, rows
    )


def categories(session: Session, caller: Principal, name: str) -> list[CategoryView]:
    """The project's active categories, largest first, each with its member notes."""
    pid = project_id(session, caller, name, "read")
    cats = session.scalars(
        select(Category).where(Category.project_id == pid, Category.status == CategoryStatus.active)
    ).all()
    members: dict[int, list[int]] = {c.id: [] for c in cats}
    for nid, cid in session.execute(
        select(NoteAssignment.note_id, NoteAssignment.category_id)
        .where(NoteAssignment.project_id == pid)
        .order_by(NoteAssignment.note_id)
    ):
        if cid in members:
            members[cid].append(int(nid))
    views = [
        CategoryView(
            c.id,
            c.name,
            c.definition,
            c.origin,
            len(members[c.id]),
            note_rows(session, members[c.id]),
        )
        for c in cats
    ]
    views.sort(key=lambda v: (-v.count, v.name.lower()))
    return views


def my_projects(session: Session, caller: Principal) -> list[tuple[str, str]]:
    """(project name, role) for every project the caller has a role in."""
    rows = session.scalars(select(Project).where(Project.id.in_(list(caller.roles)))).all()
    return sorted((p.name, caller.roles[p.id].value) for p in rows)
