"""The read models of the review: one frozen dataclass per entity, no ORM rows.

A list item is built once and reused by the fuller views: :class:`ProposalDetail` holds a
:class:`ProposalRow` and :class:`ProposalView` extends the detail; :class:`CategoryView` extends a
:class:`CategoryRow`. ``to_json`` gives the JSON the API answers; the response models of
:mod:`service.http` pick and order the keys.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from typing import Any

from service.domain import ProposalKind, ProposalStatus
from service.review.similarity import CategoryRef, MergeSuggestion
from service.runs.read import RunRow


def _flat(row: ProposalRow | CategoryRef) -> dict[str, Any]:
    """A dataclass of plain values as a dict: ``asdict`` without its deep copy, which the
    queue and proposal answers paid per row."""
    return {name: getattr(row, name) for name in _FIELDS[type(row)]}


@dataclass(frozen=True, slots=True)
class NoteRow:
    """A note, its current human label, and what the proposal it is shown in says of it."""

    note_id: int
    text: str
    author: str | None
    trace_url: str | None
    trace_id: str | None
    external_id: str | None
    reassigned: bool = False  # the clusterer moved it from noise into the cluster
    misfit: bool = False  # the judge said it does not fit the proposal
    label: str | None = None  # current human label: a category name or "noise"
    category_id: int | None = None  # the label's category, if any
    is_noise: bool = False  # the label is noise

    def to_json(self) -> dict[str, Any]:
        """The note as the review API shows it: the label by name (not its id)."""
        return {
            "note_id": self.note_id, "text": self.text, "author": self.author,
            "trace_url": self.trace_url, "trace_id": self.trace_id,
            "external_id": self.external_id, "reassigned": self.reassigned,
            "misfit": self.misfit, "label": self.label,
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class ProposalRow:
    """A proposal in a list: its current state and who named it.

    ``kind`` is ``carry_over`` for notes the run matched to a confirmed category before
    clustering (``matched_category_id``; ``confidence`` is the mean match score), ``new`` for
    a cluster proposed as a new category (its ``matched_category_id`` is the judge's guess).
    """

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
    claimed_by: str | None  # an unexpired claim's holder
    kind: ProposalKind = ProposalKind.new
    matched_category_id: int | None = None

    @property
    def carry_over(self) -> bool:
        return self.kind == ProposalKind.carry_over


_FIELDS: dict[type, tuple[str, ...]] = {
    kind: tuple(f.name for f in fields(kind)) for kind in (ProposalRow, CategoryRef)
}


@dataclass(frozen=True, slots=True)
class ProposalDetail:
    """A proposal in full: its row, the judge's output and its members."""

    row: ProposalRow
    run_id: int
    definition: str
    judge_name: str
    judge_definition: str
    judge_version: str
    failure_reason: str | None
    keywords: list[str]
    parent_proposal_id: int | None
    matched_category_id: int | None
    misfit_note_ids: list[int]  # as the judge flagged them, members or not (any more)
    tokens: int | None
    latency_ms: float | None
    claim_holder: str | None  # the claim as stored, lapsed or not (row.claimed_by: unexpired)
    claim_expires_at: str | None
    claim_actor: str | None  # who holds an unexpired claim: "key:<id>" / "user:<id>"
    members: list[NoteRow]
    merge_suggestions: list[MergeSuggestion]  # pending only: the closest merge targets
    # What ``row.confidence`` measures, in words (``None``: it says nothing for this judge)
    confidence_meaning: str | None

    @property
    def misfits(self) -> list[NoteRow]:
        return [m for m in self.members if m.misfit]

    def to_json(self) -> dict[str, Any]:
        """The proposal as the run's proposal list shows it."""
        r = self.row
        return {
            "id": r.proposal_id, "run_id": self.run_id, "origin": r.origin,
            "parent_proposal_id": self.parent_proposal_id, "name": r.name,
            "definition": self.definition, "judge_name": self.judge_name,
            "judge_definition": self.judge_definition, "judge_id": r.judge_id,
            "judge_version": self.judge_version, "judge_failed": r.judge_failed,
            "failure_reason": self.failure_reason, "confidence": r.confidence,
            "tokens": self.tokens, "latency_ms": self.latency_ms, "keywords": self.keywords,
            "matched_category_id": self.matched_category_id,
            "misfit_note_ids": self.misfit_note_ids, "status": r.status, "version": r.version,
            "category_id": r.category_id, "updated_by": r.updated_by,
            "claimed_by": r.claimed_by,  # a lapsed claim is no claim
            "claim_expires_at": self.claim_expires_at if r.claimed_by else None,
            "count": r.size, "members": [m.to_json() for m in self.members],
            "kind": r.kind, "merge_suggestions": [s.to_json() for s in self.merge_suggestions],
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class ProposalView(ProposalDetail):
    """A proposal's detail with what a reviewer needs to decide and where its notes may go."""

    run: RunRow
    role: str
    matched: CategoryRef | None
    nearest: list[CategoryRef]
    categories: list[CategoryRef]
    targets: list[ProposalRow]
    queue_ids: list[int] = field(default_factory=list)
    pending_ids: list[int] = field(default_factory=list)

    def neighbour(self, step: int) -> int | None:
        ids, me = self.queue_ids, self.row.proposal_id
        if me not in ids or not 0 <= ids.index(me) + step < len(ids):
            return None
        return ids[ids.index(me) + step]

    def target_size(self, target: str) -> int | None:
        """How many notes a destination (``p:<id>`` or ``c:<id>``) holds, if it is listed."""
        sizes = {f"p:{t.proposal_id}": t.size for t in self.targets}
        sizes.update({f"c:{c.category_id}": c.count for c in self.categories})
        return sizes.get(target)

    def next_pending(self) -> int | None:
        """The next pending proposal after this one in queue order (wrapping)."""
        ids, me = self.queue_ids, self.row.proposal_id
        start = ids.index(me) + 1 if me in ids else 0
        for pid in ids[start:] + ids[:start]:
            if pid in self.pending_ids and pid != me:
                return pid
        return None

    def to_json(self) -> dict[str, Any]:
        """The review API's proposal: the row's keys, the detail and the targets."""
        return {
            **_flat(self.row), "run_id": self.run_id,
            "member_note_ids": [m.note_id for m in self.members], "role": self.role,
            "definition": self.definition, "judge_name": self.judge_name,
            "judge_definition": self.judge_definition, "judge_version": self.judge_version,
            "failure_reason": self.failure_reason, "keywords": self.keywords,
            "parent_proposal_id": self.parent_proposal_id,
            "members": [m.to_json() for m in self.members],
            "misfits": [m.to_json() for m in self.misfits],
            "matched": _flat(self.matched) if self.matched else None,
            "nearest": [_flat(c) for c in self.nearest],
            "categories": [_flat(c) for c in self.categories],
            "targets": [_flat(t) for t in self.targets], "pending_ids": self.pending_ids,
            "claim_expires_at": self.claim_expires_at if self.row.claimed_by else None,
            "merge_suggestions": [s.to_json() for s in self.merge_suggestions],
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class QueueView:
    run: RunRow
    role: str
    proposals: list[ProposalRow]
    suggestions: dict[int, list[MergeSuggestion]] = field(default_factory=dict)
    category_names: dict[int, str] = field(default_factory=dict)  # active categories by id

    @property
    def pending(self) -> int:
        return sum(p.status == ProposalStatus.pending for p in self.proposals)

    @property
    def decided(self) -> int:
        return len(self.proposals) - self.pending

    def to_json(self) -> dict[str, Any]:
        return {
            "run": self.run.row_json(), "pending": self.pending, "decided": self.decided,
            "proposals": [
                {**_flat(p), "merge_suggestions": [
                    s.to_json() for s in self.suggestions.get(p.proposal_id, [])
                ]}
                for p in self.proposals
            ],
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class UnclusteredView:
    """The run's unclustered notes not (now) in a live proposal, and where they may go."""

    run: RunRow
    role: str
    notes: list[NoteRow]
    categories: list[CategoryRef]
    targets: list[ProposalRow]


@dataclass(frozen=True, slots=True)
class WeekCount:
    """How many of a category's notes were submitted in one ISO week (``2026-W48``)."""

    week: str
    count: int


@dataclass(frozen=True, slots=True)
class CategoryRow:
    """An active category, how many of the project's notes it holds, and how many per week.

    The id stays the same from week to week: later weeks' notes join it (carry-over proposals,
    merges, moves); ``weeks`` counts its notes by the ISO week they were submitted in.
    """

    category_id: int
    name: str
    definition: str
    origin: str
    origin_proposal_id: int | None
    count: int
    of: int  # notes in the project
    weeks: list[WeekCount]  # oldest first; weeks without a note of it left out

    @property
    def label(self) -> str:
        return f"{self.name} — {self.count} of {self.of} notes"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.category_id, "name": self.name, "definition": self.definition,
            "origin": self.origin, "origin_proposal_id": self.origin_proposal_id,
            "count": self.count, "of": self.of, "label": self.label,
            "weeks": [asdict(w) for w in self.weeks],
        }  # fmt: skip


@dataclass(frozen=True, slots=True)
class CategoryView(CategoryRow):
    """A category with its member notes."""

    notes: list[NoteRow]
