"""Building the read models from the database, for the API, the CLI and the UI.

Functions taking a :class:`~service.auth.Principal` check the caller's role (``read``) and the
blind audit gate; the ones taking ids only are for callers that checked both (the JSON API's run
routes, the CLI).
"""

from __future__ import annotations

from dataclasses import dataclass, fields, replace
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, func, select, union
from sqlalchemy.orm import Session

from service.audit.gate import require_audit_done
from service.auth import Principal, project_by_name
from service.domain import (
    CategoryStatus,
    ProposalKind,
    ProposalOrigin,
    ProposalStatus,
    RunStatus,
)
from service.review.claims import active_claim, active_claim_actor
from service.review.common import LIVE, load_proposal, load_run
from service.review.similarity import (
    CategoryRef,
    MergeSuggestion,
    RunSimilarity,
    merge_suggestions,
    nearest_categories,
)
from service.review.views.models import (
    CategoryRow,
    NoteRow,
    ProposalDetail,
    ProposalRow,
    ProposalView,
    QueueView,
    UnclusteredView,
)
from service.runs.read import RunRow, run_row
from service.storage.db import read
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

CHUNK = 500  # ids per IN (...) query


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _own(base: ProposalDetail | CategoryRow) -> dict[str, Any]:
    """``base``'s fields as they are (not converted like ``asdict``), for a view extending it."""
    return {f.name: getattr(base, f.name) for f in fields(base)}


# -- notes --------------------------------------------------------------------------------------


def _chunks(ids: list[int]) -> list[list[int]]:
    return [ids[i : i + CHUNK] for i in range(0, len(ids), CHUNK)]


# A note as submitted, then its label (NoteAssignment.note_id is None: no label).
_NOTE_COLUMNS = (
    Note.id, Note.text, Note.author, Note.trace_url, Note.trace_id, Note.external_id,
    NoteAssignment.note_id, NoteAssignment.category_id, NoteAssignment.is_noise, Category.name,
)  # fmt: skip


_NOTES = (
    select(*_NOTE_COLUMNS)
    .outerjoin(NoteAssignment, NoteAssignment.note_id == Note.id)
    .outerjoin(Category, Category.id == NoteAssignment.category_id)
    .where(Note.id.in_(bindparam("ids", expanding=True)))
)


def _notes(session: Session, note_ids: list[int]) -> dict[int, NoteRow]:
    """The notes by id, each with its current label (no proposal flags): one query per 500."""
    found: dict[int, NoteRow] = {}
    for chunk in _chunks(note_ids):
        rows = read(session, _NOTES, {"ids": chunk}).all()
        for nid, text, author, url, trace, ext, labelled, cid, noise, name in rows:
            label = None
            if labelled is not None:
                label = "noise" if noise else (name or "?")
            found[nid] = NoteRow(
                nid, text, author, url, trace, ext,
                label=label, category_id=cid if labelled is not None else None,
                is_noise=bool(noise) if labelled is not None else False,
            )  # fmt: skip
    return found


def note_row(note: Note) -> NoteRow:
    """A stored note as it was submitted: no label, no flags (a batch's notes)."""
    return NoteRow(note.id, note.text, note.author, note.trace_url, note.trace_id, note.external_id)


def note_rows(
    session: Session,
    note_ids: list[int],
    reassigned: set[int] | None = None,
    misfits: set[int] | None = None,
) -> list[NoteRow]:
    """The notes in ``note_ids`` order (unknown ids left out), labelled and flagged."""
    return _flagged(_notes(session, note_ids), note_ids, reassigned or set(), misfits or set())


def _flagged(
    notes: dict[int, NoteRow], ids: list[int], reassigned: set[int], misfits: set[int]
) -> list[NoteRow]:
    return [
        replace(notes[nid], reassigned=nid in reassigned, misfit=nid in misfits)
        for nid in ids
        if nid in notes
    ]


_REASSIGNED_IN_RUN = select(RunNote.note_id).where(
    RunNote.run_id == bindparam("run_id"), RunNote.reassigned.is_(True)
)
_REASSIGNED_IN_PROPOSALS = (
    select(ProposalMember.note_id)
    .join(Proposal, Proposal.id == ProposalMember.proposal_id)
    .where(Proposal.run_id == bindparam("run_id"), ProposalMember.reassigned.is_(True))
)
_REASSIGNED = union(_REASSIGNED_IN_RUN, _REASSIGNED_IN_PROPOSALS)
_REASSIGNED_OF = union(
    _REASSIGNED_IN_RUN.where(RunNote.note_id.in_(bindparam("ids", expanding=True))),
    _REASSIGNED_IN_PROPOSALS.where(ProposalMember.note_id.in_(bindparam("ids", expanding=True))),
)


def _reassigned(session: Session, run_id: int, note_ids: list[int] | None = None) -> set[int]:
    """Notes of the run the clusterer moved from noise into a cluster (of ``note_ids`` only,
    when given: one query for both places the flag is kept)."""
    if note_ids is not None and not note_ids:
        return set()
    if note_ids is not None and len(note_ids) <= CHUNK:
        flagged = read(session, _REASSIGNED_OF, {"run_id": run_id, "ids": note_ids}).scalars()
    else:
        flagged = read(session, _REASSIGNED, {"run_id": run_id}).scalars()
    return {int(n) for n in flagged}


# -- runs ---------------------------------------------------------------------------------------


def project_id(session: Session, caller: Principal, name: str, permission: str) -> int:
    project = project_by_name(session, name)
    caller.require(project.id, permission)
    return project.id


def project_runs(session: Session, caller: Principal, name: str) -> tuple[str, list[RunRow]]:
    """The caller's role and the project's runs, newest first."""
    pid = project_id(session, caller, name, "read")
    runs = session.scalars(select(Run).where(Run.project_id == pid).order_by(Run.id.desc()))
    role = caller.role_in(pid)
    return (role.value if role else ""), [run_row(session, r) for r in runs]


def run_header(session: Session, caller: Principal, run_id: int) -> tuple[RunRow, str]:
    """The run's summary and the caller's role, without proposals (open during a blind audit)."""
    run = load_run(session, caller, run_id, "read")
    role = caller.role_in(run.project_id)
    return run_row(session, run), role.value if role else ""


# -- proposals ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Listed:
    """What a list of proposals shows of one and its state: no judge output, no definitions."""

    proposal_id: int
    name: str
    status: str
    version: int
    member_note_ids: list[int]
    category_id: int | None
    updated_by: str | None
    claimed_by: str | None
    claim_expires_at: datetime | None
    origin: str
    judge_id: str
    judge_failed: bool
    confidence: float
    matched_category_id: int | None


# _Listed's fields, in its order: the state's, then the proposal's.
_LISTED_COLUMNS = (
    ProposalState.proposal_id, ProposalState.name, ProposalState.status, ProposalState.version,
    ProposalState.member_note_ids, ProposalState.category_id, ProposalState.updated_by,
    ProposalState.claimed_by, ProposalState.claim_expires_at, Proposal.origin, Proposal.judge_id,
    Proposal.judge_failed, Proposal.confidence, Proposal.matched_category_id,
)  # fmt: skip


def _listed(p: Proposal, s: ProposalState) -> _Listed:
    return _Listed(
        p.id, s.name, s.status, s.version, [int(n) for n in s.member_note_ids], s.category_id,
        s.updated_by, s.claimed_by, s.claim_expires_at, p.origin, p.judge_id, p.judge_failed,
        p.confidence, p.matched_category_id,
    )  # fmt: skip


def _row(x: _Listed) -> ProposalRow:
    kind = ProposalKind.carry_over if x.origin == ProposalOrigin.carry_over else ProposalKind.new
    return ProposalRow(
        x.proposal_id, x.name, x.status, x.version, len(x.member_note_ids), x.origin, x.judge_id,
        x.judge_failed, x.confidence, x.category_id, x.updated_by, active_claim(x),
        kind, x.matched_category_id,
    )  # fmt: skip


def _pairs(session: Session, run_id: int) -> list[tuple[Proposal, ProposalState]]:
    rows = session.execute(
        select(Proposal, ProposalState)
        .join(ProposalState, ProposalState.proposal_id == Proposal.id)
        .where(Proposal.run_id == run_id)
    ).all()
    return [(p, s) for p, s in rows]


_LISTING = (
    select(*_LISTED_COLUMNS)
    .join(Proposal, Proposal.id == ProposalState.proposal_id)
    .where(Proposal.run_id == bindparam("run_id"))
)


def _listing(
    session: Session, run_id: int, *known: tuple[Proposal, ProposalState]
) -> list[_Listed]:
    """The run's proposals as a list shows them: the columns it needs, not whole rows (a queue
    read of a large run builds no ORM objects); a proposal already read in full in this
    request (``known``) is shown as read."""
    rows = read(session, _LISTING, {"run_id": run_id}).all()
    listed = [_Listed(*row) for row in rows]
    mine = {p.id: _listed(p, st) for p, st in known}
    return [mine.get(x.proposal_id, x) for x in listed]


def _rows(session: Session, run_id: int) -> list[ProposalRow]:
    """The run's proposals in queue order: pending first, then largest first."""
    return _in_queue_order(_listing(session, run_id))


def confidence_meaning(p: Proposal) -> str | None:
    """What the proposal's ``confidence`` measures, in words, or ``None`` when it says nothing.

    A carry-over proposal's is the mean match with its category's notes; the keyword judge's is
    the coverage of its name (not a probability that the name is right); an LLM judge's is the
    share of its name samples that agreed, meaningful only with more than one sample.
    """
    raw = p.raw_output or {}
    if p.origin == ProposalOrigin.carry_over:
        return f"mean match {p.confidence:.2f} with the category's confirmed notes"
    coverage = raw.get("coverage")
    if isinstance(coverage, dict) and coverage.get("of"):
        return f"the name's words occur in {coverage.get('notes', 0)} of {coverage['of']} notes"
    samples = raw.get("samples")
    if isinstance(samples, list) and len(samples) > 1:
        n = len(samples)
        return f"{round(p.confidence * n)} of {n} name samples agreed"
    return None


def _detail(
    p: Proposal,
    s: ProposalState,
    notes: dict[int, NoteRow],
    reassigned: set[int],
    suggestions: list[MergeSuggestion],
) -> ProposalDetail:
    ids = [int(n) for n in s.member_note_ids]
    misfits = sorted({int(n) for n in p.misfit_note_ids or []})
    return ProposalDetail(
        row=_row(_listed(p, s)), run_id=p.run_id, definition=s.definition, judge_name=p.name,
        judge_definition=p.definition, judge_version=p.judge_version,
        failure_reason=p.failure_reason, keywords=[str(k) for k in p.keywords or []],
        parent_proposal_id=p.parent_proposal_id, matched_category_id=p.matched_category_id,
        misfit_note_ids=misfits, tokens=p.tokens, latency_ms=p.latency_ms,
        claim_holder=s.claimed_by, claim_expires_at=_iso(s.claim_expires_at),
        claim_actor=active_claim_actor(s),
        members=_flagged(notes, ids, reassigned, set(misfits)),
        merge_suggestions=suggestions, confidence_meaning=confidence_meaning(p),
    )  # fmt: skip


def run_proposals(session: Session, run_id: int) -> list[ProposalDetail]:
    """The run's proposals in their current state, largest first, each with its members."""
    pairs = _pairs(session, run_id)
    notes = _notes(session, sorted({int(n) for _, s in pairs for n in s.member_note_ids}))
    reassigned = _reassigned(session, run_id)
    suggestions = merge_suggestions(session, session.get_one(Run, run_id))
    details = [_detail(p, s, notes, reassigned, suggestions.get(p.id, [])) for p, s in pairs]
    details.sort(key=lambda d: (-d.row.size, d.row.proposal_id))
    return details


def pending_proposals(session: Session, project_id: int) -> tuple[int | None, list[ProposalRow]]:
    """The latest succeeded run and its proposals no one has decided yet, largest first."""
    run_id = session.scalar(
        select(Run.id)
        .where(Run.project_id == project_id, Run.status == RunStatus.succeeded.value)
        .order_by(Run.id.desc())
        .limit(1)
    )
    if run_id is None:
        return None, []
    return run_id, [r for r in _rows(session, run_id) if r.status == ProposalStatus.pending]


def _in_queue_order(listed: list[_Listed]) -> list[ProposalRow]:
    """The rows in queue order: pending first, then largest first."""
    rows = [_row(x) for x in listed]
    rows.sort(key=lambda r: (r.status != ProposalStatus.pending, -r.size, r.proposal_id))
    return rows


def queue(session: Session, caller: Principal, run_id: int) -> QueueView:
    """The run's proposals: pending first, largest first (blind-first gated).

    The run's proposals are read once and feed the rows, the run's review progress and the
    merge suggestions.
    """
    run = load_run(session, caller, run_id, "read")
    role = caller.role_in(run.project_id)
    require_audit_done(session, run, caller)
    listed = _listing(session, run_id)
    found = RunSimilarity(session, run, listed)
    names = dict(found.category_names)
    return QueueView(
        run_row(session, run, [x.status for x in listed]), role.value if role else "",
        _in_queue_order(listed), merge_suggestions(session, run, similarity=found), names,
    )  # fmt: skip


def _targets(
    rows: list[ProposalRow], categories: list[CategoryRef], me: int | None = None
) -> list[ProposalRow]:
    """Proposals notes may go to, one target per category: pending proposals, and confirmed
    ones only while they have no active category (a category stands for its proposal)."""
    active = {c.category_id for c in categories}
    return [
        r
        for r in rows
        if r.proposal_id != me
        and (
            r.status == ProposalStatus.pending
            or (r.status in LIVE and (r.category_id is None or r.category_id not in active))
        )
    ]


def proposal_detail(session: Session, caller: Principal, proposal_id: int) -> ProposalView:
    """A proposal in full, with what a reviewer needs to decide and where notes may go."""
    t = load_proposal(session, caller, proposal_id, "read")
    p, s = t.proposal, t.state
    ids = [int(n) for n in s.member_note_ids]
    listed = _listing(session, t.run.id, (p, s))  # read once: rows, progress, suggestions
    categories = active_categories(session, t.run.project_id)
    by_id = {c.category_id: c for c in categories}
    found = RunSimilarity(session, t.run, listed, {c.category_id: c.name for c in categories})
    suggested = merge_suggestions(session, t.run, [p.id], similarity=found)[p.id]
    reassigned = _reassigned(session, t.run.id, ids)
    detail = _detail(p, s, _notes(session, ids), reassigned, suggested)
    rows = _in_queue_order(listed)
    role = caller.role_in(t.run.project_id)
    return ProposalView(
        **_own(detail),
        run=run_row(session, t.run, [x.status for x in listed]),
        role=role.value if role else "",
        matched=by_id.get(p.matched_category_id) if p.matched_category_id else None,
        nearest=nearest_categories(session, t.run, ids, categories, similarity=found),
        categories=categories,
        targets=_targets(rows, categories, p.id),
        queue_ids=[r.proposal_id for r in rows],
        pending_ids=[r.proposal_id for r in rows if r.status == ProposalStatus.pending],
    )  # fmt: skip


# -- unclustered notes --------------------------------------------------------------------------


def unclustered_notes(session: Session, run_id: int) -> list[NoteRow]:
    """Every note the clusterer left as noise in this run, by id, with its current label."""
    ids = [
        int(n)
        for n in session.scalars(
            select(RunNote.note_id)
            .where(RunNote.run_id == run_id, RunNote.cluster_label < 0)
            .order_by(RunNote.note_id)
        )
    ]
    return note_rows(session, ids)


def unclustered(session: Session, caller: Principal, run_id: int) -> UnclusteredView:
    """The run's unclustered notes not (now) in a live proposal, each with its current label."""
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
    notes = [n for n in unclustered_notes(session, run_id) if n.note_id not in held]
    role = caller.role_in(run.project_id)
    cats = active_categories(session, run.project_id)
    targets = _targets(_rows(session, run_id), cats)
    return UnclusteredView(run_row(session, run), role.value if role else "", notes, cats, targets)


# -- categories as targets (their counts and pages: service.review.views.categories) ---------


_COUNTS = (
    select(NoteAssignment.category_id, func.count())
    .where(
        NoteAssignment.project_id == bindparam("project_id"),
        NoteAssignment.category_id.is_not(None),
    )
    .group_by(NoteAssignment.category_id)
)


def _counts(session: Session, project_id: int) -> dict[int, int]:
    """Notes per category of the project."""
    rows = read(session, _COUNTS, {"project_id": project_id}).all()
    return {int(cid): int(n) for cid, n in rows if cid is not None}


_ACTIVE_CATEGORIES = (
    select(Category.id, Category.name)
    .where(
        Category.project_id == bindparam("project_id"),
        Category.status == CategoryStatus.active.value,
    )
    .order_by(Category.name)
)


def active_categories(session: Session, project_id: int) -> list[CategoryRef]:
    """Active categories as targets, by name, with their note counts."""
    counts = _counts(session, project_id)
    cats = read(session, _ACTIVE_CATEGORIES, {"project_id": project_id}).all()
    return [CategoryRef(int(cid), name, counts.get(int(cid), 0)) for cid, name in cats]


def my_projects(session: Session, caller: Principal) -> list[tuple[str, str]]:
    """(project name, role) for every project the caller has a role in."""
    rows = session.scalars(select(Project).where(Project.id.in_(list(caller.roles)))).all()
    return sorted((p.name, caller.roles[p.id].value) for p in rows)
