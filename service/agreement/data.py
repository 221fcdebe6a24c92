"""Gather stored runs (immutable judge output, audit draws) into the agreement library's inputs.

A run contributes its notes, its machine proposals (``origin`` ``judge`` or ``carry_over``:
what the run proposed; split children are human work, not judge output) and its audit draw. Combined with the folded log
(:mod:`service.agreement.log`) it gives, per METRICS.md §0:

- ``m(j)``: each proposal mapped into the human codebook by its members' **workflow** labels.
  Only members with a workflow label count; a proposal none of whose members is decided yet
  is *unmapped* and its notes get a label of their own (``UNMAPPED_BASE − proposal_id``), so
  corrected counts (which transport ``P(human | judge stratum)`` and need no mapping) still
  work, while the headline leaves such notes out and says how many are ``awaiting_workflow``.
- ``ĵ(i)``: ``m(j)`` of the note's proposal, ∅ for the judge's noise (notes in no proposal).
- The blind audit: ``AuditLabel(h_bl, ĵ, π)`` per audited note with a blind label whose
  codebook label is known (:mod:`service.agreement.links`): a blind name not linked yet leaves
  its note out of the headline too (``awaiting_links``).
- Revisions (labels given after the reveal) with the blind label they replace and ``ĵ``: the
  judge persuasion rate, never the headline.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date, datetime
from typing import TYPE_CHECKING

from sqlalchemy import select
from sqlalchemy.orm import Session

from judges.agreement import AuditLabel, JudgeProposal, Label, map_proposals
from service.agreement.log import LogState
from service.domain import MACHINE_ORIGINS, RunStatus
from service.errors import BadInput
from service.storage.models import AuditDraw, Proposal, ProposalMember, Run, RunNote

if TYPE_CHECKING:  # links read RunData; view() only calls what links.Labels offers
    from service.agreement.links import Labels, RunReview

UNMAPPED_BASE = -1_000_000
WEEK = re.compile(r"^(\d{4})-W(\d{2})$")


@dataclass(frozen=True, slots=True)
class Draw:
    """One note of a run's audit draw."""

    note_id: int
    stratum: str
    inclusion_prob: float
    position: int


@dataclass(frozen=True, slots=True)
class RunData:
    """What a finished run stored: immutable, independent of the review log."""

    run_id: int
    batch_id: int | None
    judge_id: str
    judge_version: str
    created_at: datetime
    seed: int
    notes: tuple[int, ...]
    proposals: tuple[JudgeProposal, ...]
    draws: tuple[Draw, ...]
    all_proposals: tuple[tuple[int, int | None], ...] = ()  # (id, event that made it), any origin

    @property
    def week(self) -> str:
        """The ISO week the run was made in, e.g. ``2026-W48``."""
        return iso_week(self.created_at)


def iso_week(moment: datetime | date) -> str:
    """``YYYY-Www`` of a date (ISO 8601 week numbering)."""
    year, week, _ = moment.isocalendar()
    return f"{year}-W{week:02d}"


def check_week(week: str) -> str:
    """Validate an ISO week parameter such as ``2026-W48``.

    Raises:
        BadInput: If it is not ``YYYY-Www`` with a week of that year.
    """
    match = WEEK.match(week)
    if match is None:
        raise BadInput("week must look like 2026-W48", field="week")
    try:
        date.fromisocalendar(int(match[1]), int(match[2]), 1)
    except ValueError as exc:
        raise BadInput(f"{week} is not an ISO week", field="week") from exc
    return week


def _proposals(session: Session, run_id: int) -> tuple[JudgeProposal, ...]:
    rows = session.execute(
        select(Proposal.id, Proposal.name, ProposalMember.note_id)
        .join(ProposalMember, ProposalMember.proposal_id == Proposal.id)
        .where(Proposal.run_id == run_id, Proposal.origin.in_(MACHINE_ORIGINS))
        .order_by(Proposal.id, ProposalMember.rank)
    ).all()
    members: dict[int, list[int]] = {}
    names: dict[int, str] = {}
    for pid, name, nid in rows:
        members.setdefault(int(pid), []).append(int(nid))
        names[int(pid)] = str(name)
    return tuple(JudgeProposal(p, names[p], frozenset(members[p])) for p in sorted(members))


def _all_proposals(session: Session, run_id: int) -> tuple[tuple[int, int | None], ...]:
    rows = session.execute(
        select(Proposal.id, Proposal.created_by_event_id)
        .where(Proposal.run_id == run_id)
        .order_by(Proposal.id)
    ).all()
    return tuple((int(pid), None if event is None else int(event)) for pid, event in rows)


def _run_data(session: Session, run: Run) -> RunData:
    notes = session.scalars(
        select(RunNote.note_id).where(RunNote.run_id == run.id).order_by(RunNote.note_id)
    )
    draws = session.scalars(
        select(AuditDraw).where(AuditDraw.run_id == run.id).order_by(AuditDraw.position)
    )
    return RunData(
        run_id=int(run.id),
        batch_id=run.batch_id,
        judge_id=run.judge_id or "",
        judge_version=run.judge_version or "",
        created_at=run.created_at,
        seed=int(run.seed),
        notes=tuple(int(n) for n in notes),
        proposals=_proposals(session, int(run.id)),
        draws=tuple(
            Draw(int(d.note_id), d.stratum, float(d.inclusion_prob), int(d.position)) for d in draws
        ),
        all_proposals=_all_proposals(session, int(run.id)),
    )


def load_runs(
    session: Session,
    project_id: int,
    *,
    run_id: int | None = None,
    batch_id: int | None = None,
    week: str | None = None,
    judge_version: str | None = None,
) -> list[RunData]:
    """The project's succeeded runs in the scope, oldest first (every filter must hold)."""
    query = select(Run).where(Run.project_id == project_id, Run.status == RunStatus.succeeded.value)
    if run_id is not None:
        query = query.where(Run.id == run_id)
    if batch_id is not None:
        query = query.where(Run.batch_id == batch_id)
    if judge_version is not None:
        query = query.where(Run.judge_version == judge_version)
    runs = session.scalars(query.order_by(Run.created_at, Run.id)).all()
    return [_run_data(session, r) for r in runs if week is None or iso_week(r.created_at) == week]


def judge_proposal_ids(session: Session, project_id: int) -> set[int]:
    """Ids of every judge proposal of the project (categories born of them are judge-origin)."""
    rows = session.scalars(
        select(Proposal.id)
        .join(Run, Run.id == Proposal.run_id)
        .where(Run.project_id == project_id, Proposal.origin.in_(MACHINE_ORIGINS))
    )
    return {int(r) for r in rows}


@dataclass(frozen=True, slots=True)
class Revision:
    """A revision of an audited note: its author's blind label, their revision, the judge's."""

    note_id: int
    actor: str
    blind: Label
    revised: Label
    judge: Label


@dataclass(frozen=True, slots=True)
class RunView:
    """A run seen through the log at the watermark.

    Attributes:
        data: The stored run.
        proposals: Judge proposals with their lineage category (the one confirming them made).
        mapping: ``m(j)`` of every proposal; unmapped ones get ``UNMAPPED_BASE − id``.
        unmapped: Proposals none of whose members has a workflow label yet.
        judge: ``ĵ(i)`` of every note of the run.
        workflow: Workflow labels of the run's decided notes.
        blind: ``h_bl`` of every audited note with a blind label (an unlinked name: its own
            provisional label).
        blind2: ``h_bl2`` of double-coded audited notes.
        audit: Blind audit labels usable for the headline (judge label mapped, blind label
            linked).
        awaiting: Audited, blind-labelled notes whose proposal is not mapped yet.
        pending_links: Audited notes whose first blind label is a name not linked yet.
        review: Whether the run's review is final.
        revisions: Revisions of blind-labelled notes, all three labels known.
        unblinded: Revisions of notes their author never labelled blind.
        blind2_pending: Double-coded notes whose second blind label is not linked yet.
    """

    data: RunData
    proposals: tuple[JudgeProposal, ...]
    mapping: dict[int, Label]
    unmapped: frozenset[int]
    judge: dict[int, Label]
    workflow: dict[int, Label]
    blind: dict[int, Label]
    blind2: dict[int, Label]
    audit: tuple[AuditLabel, ...]
    awaiting: int
    pending_links: frozenset[int] = frozenset()
    review: RunReview | None = None
    revisions: tuple[Revision, ...] = ()
    unblinded: int = 0
    blind2_pending: frozenset[int] = frozenset()

    def judge_label_is_mapped(self, note_id: int) -> bool:
        """Whether ``ĵ`` of the note is known: judge noise, or a proposal with ``m(j)``."""
        label = self.judge.get(note_id)
        return label is None or label > UNMAPPED_BASE

    @property
    def reviewed(self) -> bool:
        return self.review is not None and self.review.reviewed


def _mapping(
    proposals: Sequence[JudgeProposal], workflow: dict[int, Label]
) -> tuple[dict[int, Label], frozenset[int]]:
    decided = []
    for p in proposals:
        members = frozenset(n for n in p.members if n in workflow)
        if members:
            decided.append(JudgeProposal(p.proposal_id, p.name, members, p.lineage_category_id))
    mapping: dict[int, Label] = dict(map_proposals(decided, workflow)) if decided else {}
    unmapped = frozenset(p.proposal_id for p in proposals if p.proposal_id not in mapping)
    mapping.update({pid: UNMAPPED_BASE - pid for pid in unmapped})
    return mapping, unmapped


@dataclass(frozen=True, slots=True)
class _Blind:
    first: dict[int, Label]
    second: dict[int, Label]
    pending: frozenset[int]
    pending2: frozenset[int]
    by_event: dict[int, tuple[bool, Label]]


def _blind_labels(run: RunData, state: LogState, labels: Labels) -> _Blind:
    first: dict[int, Label] = {}
    second: dict[int, Label] = {}
    pending: set[int] = set()
    pending2: set[int] = set()
    by_event: dict[int, tuple[bool, Label]] = {}
    for b in state.blind:  # ordered by each reviewer's first label
        if b.run_id != run.run_id:
            continue
        known, label = labels.blind(b)
        by_event[b.event_id] = (known, label)
        if b.note_id not in first:
            first[b.note_id] = label
            if not known:
                pending.add(b.note_id)
        elif b.note_id not in second:
            second[b.note_id] = label
            if not known:
                pending2.add(b.note_id)
    return _Blind(first, second, frozenset(pending), frozenset(pending2), by_event)


def _revisions(
    run: RunData, state: LogState, labels: Labels, blind: _Blind, judge: dict[int, Label]
) -> tuple[tuple[Revision, ...], int]:
    out: list[Revision] = []
    unblinded = 0
    for r in state.revisions:
        if r.run_id != run.run_id:
            continue
        replaced = blind.by_event.get(r.replaces_event_id or -1)
        if replaced is None:
            unblinded += 1
            continue
        known, revised = labels.revision(r)
        j = judge.get(r.note_id)
        if known and replaced[0] and (j is None or j > UNMAPPED_BASE):
            out.append(Revision(r.note_id, r.actor, replaced[1], revised, j))
    return tuple(out), unblinded


def view(run: RunData, state: LogState, labels: Labels) -> RunView:
    """The run's library inputs at the log state's watermark."""
    proposals = tuple(
        JudgeProposal(p.proposal_id, p.name, p.members, state.proposal_category.get(p.proposal_id))
        for p in run.proposals
    )
    workflow = {n: state.workflow[n] for n in run.notes if n in state.workflow}
    mapping, unmapped = _mapping(proposals, workflow)
    of_note = {n: mapping[p.proposal_id] for p in proposals for n in p.members}
    judge = {n: of_note.get(n) for n in run.notes}
    blind = _blind_labels(run, state, labels)
    audit, awaiting = [], 0
    for d in run.draws:
        if d.note_id not in blind.first or d.note_id in blind.pending:
            continue
        label = judge.get(d.note_id)
        if label is not None and label <= UNMAPPED_BASE:
            awaiting += 1
            continue
        audit.append(AuditLabel(d.note_id, blind.first[d.note_id], label, d.inclusion_prob))
    revisions, unblinded = _revisions(run, state, labels, blind, judge)
    return RunView(
        run, proposals, mapping, unmapped, judge, workflow, blind.first, blind.second,
        tuple(audit), awaiting, blind.pending, labels.reviews.get(run.run_id), revisions,
        unblinded, blind.pending2,
    )  # fmt: skip
