"""Fold the insert-only review log into the human labels the agreement figures need (METRICS.md §7).

A note's label "as of watermark ``w``" is the fold of its non-reverted events with ``id <= w``,
computed separately for the workflow stream (``mode='workflow'``: the judge's proposal was
visible), the blind stream (``mode='blind'`` ``audit_label`` events: given before anything of
the judge's for the run was shown to their author) and the revisions (``mode='revised'``
``audit_label`` events: given after; never blind). The workflow fold follows the same rules as
:mod:`service.review.projection` (a test checks that both agree at the head of the log), but it
can stop at any log position, so every figure is recomputable.

Reviewers are told apart by their ``actor_id`` (key or user id), never by display name; an
event older than migration 0003 without one falls back to ``name:<display name>``.

Blind labels are turned into codebook labels by :mod:`service.agreement.links`: a chosen
category is that category; noise is ∅; a "new category" name is the category of that name if
one existed when the label was given (the reviewer named it), else it is linked by the final
review (METRICS.md §2.1) or by a lead (``audit_link`` events, folded here: the latest
non-reverted one per run, reviewer and name wins).

A note labelled blind by several reviewers in one run: each reviewer's last blind label
counts; the reviewer who labelled it first gives ``h_bl``, the next one ``h_bl2`` (double coding).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from judges.agreement import Label, normalise_name
from service.domain import EventMode, ReviewAction
from service.storage.models import ReviewEvent

DECISIONS = frozenset(
    a.value
    for a in (ReviewAction.confirm, ReviewAction.reject, ReviewAction.merge, ReviewAction.split)
)
WORKFLOW_ACTIONS = frozenset(
    a.value
    for a in (
        ReviewAction.confirm,
        ReviewAction.rename,
        ReviewAction.reject,
        ReviewAction.split,
        ReviewAction.merge,
        ReviewAction.move,
        ReviewAction.assign,
        ReviewAction.create_category,
    )
)


@dataclass(frozen=True, slots=True)
class CategoryInfo:
    """A category as the log created it.

    Attributes:
        category_id: Its id.
        name: Its name when confirmed.
        origin_proposal_id: The proposal whose confirmation created it.
        event_id: The confirming event.
    """

    category_id: int
    name: str
    origin_proposal_id: int | None
    event_id: int


@dataclass(frozen=True, slots=True)
class BlindLabel:
    """One reviewer's last blind label (or last revision) of one audited note in one run.

    Attributes:
        run_id: The run whose audit sample held the note.
        note_id: The note.
        actor: Who labelled it (``key:<id>``, ``user:<id>``).
        reviewer: Their display name.
        raw: What they chose: ``("category", id)``, ``("new", name)`` or ``("noise", None)``.
        first_event_id: The reviewer's first label event for the note (review order).
        event_id: The event whose label counts (their last).
        replaces_event_id: A revision: the blind label event it replaces.
    """

    run_id: int
    note_id: int
    actor: str
    reviewer: str
    raw: tuple[str, Any]
    first_event_id: int
    event_id: int
    replaces_event_id: int | None = None


@dataclass(frozen=True, slots=True)
class LinkOverride:
    """A lead's link of a blind name (the latest non-reverted ``audit_link`` event).

    Attributes:
        target: ``("category", id)``, ``("noise", None)`` or ``("automatic", None)``.
        event_id: The event.
        by: The lead's display name.
        at: When (ISO 8601).
        evidence: The automatic link's evidence the lead saw, as stored.
    """

    target: tuple[str, int | None]
    event_id: int
    by: str
    at: str
    evidence: dict[str, int]


@dataclass
class LogState:
    """The log folded up to ``watermark``.

    Attributes:
        watermark: The highest event id folded (0 for an empty log).
        workflow: Workflow label per decided note (``None`` = noise); undecided notes absent.
        categories: Categories created by confirmations, by id.
        proposal_category: Category of each confirmed proposal.
        renamed: Proposals with a (non-reverted) rename event.
        split_parent: Parent proposal of each split child.
        blind: Blind labels, ordered by each reviewer's first label event.
        actions: Non-reverted workflow actions per run, by action name.
        actors: Non-reverted workflow actions per (actor, run id).
        new_names: Blind "new category" names that match no category → their own label
            (negative ints, numbered in order of first use), until linked.
        revisions: Revisions (audit labels after the reveal), ordered like ``blind``.
        links: Lead overrides of blind-name links by (run, reviewer or ``None`` for every
            reviewer, normalised name).
        decided: Proposals confirmed, rejected, merged or split (no longer pending).
        names: Display name of each actor seen.
    """

    watermark: int = 0
    workflow: dict[int, Label] = field(default_factory=dict)
    categories: dict[int, CategoryInfo] = field(default_factory=dict)
    proposal_category: dict[int, int] = field(default_factory=dict)
    renamed: set[int] = field(default_factory=set)
    split_parent: dict[int, int] = field(default_factory=dict)
    blind: list[BlindLabel] = field(default_factory=list)
    actions: dict[int, Counter[str]] = field(default_factory=dict)
    actors: Counter[tuple[str, int]] = field(default_factory=Counter)
    new_names: dict[str, int] = field(default_factory=dict)
    revisions: list[BlindLabel] = field(default_factory=list)
    links: dict[tuple[int, str | None, str], LinkOverride] = field(default_factory=dict)
    decided: set[int] = field(default_factory=set)
    names: dict[str, str] = field(default_factory=dict)
    _by_name: dict[str, list[tuple[int, int]]] = field(default_factory=dict, repr=False)
    _indexed: int = field(default=0, repr=False)

    def provisional(self, name: str) -> int:
        """The label of an unlinked blind name: its own negative id ("new: <name>")."""
        key = normalise_name(name)
        return self.new_names.setdefault(key, -1 - len(self.new_names))

    def named_category(self, name: str, before_event: int | None = None) -> int | None:
        """The category a typed name names: the lowest id with that normalised name, created
        before ``before_event`` (default: at the watermark); ``None`` if there is none."""
        if self._indexed != len(self.categories):  # (re)index once the fold is done
            self._by_name.clear()
            self._indexed = len(self.categories)
            for cid in sorted(self.categories):
                info = self.categories[cid]
                self._by_name.setdefault(normalise_name(info.name), []).append((cid, info.event_id))
        for cid, event in self._by_name.get(normalise_name(name), []):
            if before_event is None or event < before_event:
                return cid
        return None

    def reconcile(self, raw: tuple[str, Any]) -> Label:
        """A blind choice read by its wording alone (a name of a category at the watermark,
        else a label of its own): for labels no final review can link."""
        kind, value = raw
        if kind == "noise":
            return None
        if kind == "category":
            return int(value)
        named = self.named_category(str(value))
        return named if named is not None else self.provisional(str(value))

    def name_labels(self) -> dict[str, int]:
        """Normalised category name → lowest category id with that name."""
        out: dict[str, int] = {}
        for cid in sorted(self.categories):
            out.setdefault(normalise_name(self.categories[cid].name), cid)
        return out

    def label_name(self, label: Label) -> str:
        """A label as a lead reads it: the category name, "new: <name>" or "noise"."""
        if label is None:
            return "noise"
        if label in self.categories:
            return self.categories[label].name
        name = next((k for k, v in self.new_names.items() if v == label), None)
        return f"new: {name}" if name is not None else f"category {label}"


def head(session: Session, project_id: int) -> int:
    """The project's latest review event id (0 without events)."""
    value = session.scalar(
        select(func.max(ReviewEvent.id)).where(ReviewEvent.project_id == project_id)
    )
    return int(value or 0)


def _set(state: LogState, notes: list[Any], label: Label) -> None:
    for nid in notes:
        state.workflow[int(nid)] = label


def _clear(state: LogState, notes: list[Any]) -> None:
    for nid in notes:
        state.workflow.pop(int(nid), None)


def _deliver(state: LogState, notes: list[Any], after: dict[str, Any]) -> None:
    """Notes to a proposal (its category if confirmed, else undecided), a category or noise."""
    to_proposal, to_category = after.get("to_proposal_id"), after.get("to_category_id")
    if to_proposal is not None:
        category = state.proposal_category.get(int(to_proposal))
        if category is None:
            _clear(state, notes)
        else:
            _set(state, notes, category)
    elif to_category is not None:
        _set(state, notes, int(to_category))
    else:
        _set(state, notes, None)


def _confirm(state: LogState, e: ReviewEvent) -> None:
    category = int(e.after["category_id"])
    if e.after.get("new_category"):
        name = str(e.after.get("name", ""))
        state.categories[category] = CategoryInfo(category, name, e.proposal_id, e.id)
    if e.proposal_id is not None:
        state.proposal_category[int(e.proposal_id)] = category
    _set(state, e.note_ids, category)


def _apply(state: LogState, e: ReviewEvent) -> None:
    """Apply one non-reverted workflow event (the projection's rules, labels only)."""
    if e.proposal_id is not None and e.action in DECISIONS:
        state.decided.add(int(e.proposal_id))
    if e.action == ReviewAction.confirm:
        _confirm(state, e)
    elif e.action == ReviewAction.rename and e.proposal_id is not None:
        state.renamed.add(int(e.proposal_id))
    elif e.action == ReviewAction.reject:
        _set(state, e.note_ids, None)
    elif e.action == ReviewAction.split and e.proposal_id is not None:
        for child in e.after.get("child_proposal_ids", []):
            state.split_parent[int(child)] = int(e.proposal_id)
    elif e.action == ReviewAction.merge:
        into = e.after.get("into_proposal_id")
        dest = {"to_proposal_id": into, "to_category_id": e.after.get("category_id")}
        _deliver(state, e.note_ids, dest)
    elif e.action in (ReviewAction.move, ReviewAction.assign):
        _deliver(state, e.note_ids, e.after)
    elif e.action == ReviewAction.create_category:  # a category from selected notes
        category = int(e.after["category_id"])
        name = str(e.after.get("name", ""))
        state.categories[category] = CategoryInfo(category, name, None, e.id)
        _set(state, e.note_ids, category)


def _blind_choice(after: dict[str, Any]) -> tuple[str, Any]:
    if after.get("category_id") is not None:
        return ("category", int(after["category_id"]))
    if after.get("new_category_name"):
        return ("new", str(after["new_category_name"]))
    return ("noise", None)


def actor_of(e: ReviewEvent) -> str:
    """The event's author identity (``name:<display name>`` for old events without one)."""
    return e.actor_id or f"name:{e.actor}"


def _labels(events: list[ReviewEvent]) -> list[BlindLabel]:
    """Each (run, note, actor)'s last label, ordered by their first label of the note."""
    latest: dict[tuple[int, int, str], BlindLabel] = {}
    for e in events:
        for nid in e.note_ids:
            key = (int(e.run_id or 0), int(nid), actor_of(e))
            first = latest[key].first_event_id if key in latest else e.id
            latest[key] = BlindLabel(
                key[0], key[1], key[2], e.actor, _blind_choice(e.after), first, e.id,
                int(e.replaces_event_id) if e.replaces_event_id is not None else None,
            )  # fmt: skip
    return sorted(latest.values(), key=lambda b: (b.first_event_id, b.note_id))


def _link(state: LogState, e: ReviewEvent) -> None:
    after = e.after or {}
    if after.get("automatic"):
        target: tuple[str, int | None] = ("automatic", None)
    elif after.get("category_id") is not None:
        target = ("category", int(after["category_id"]))
    else:
        target = ("noise", None)
    key = (int(e.run_id or 0), after.get("reviewer"), normalise_name(str(after["blind_name"])))
    evidence = {str(k): int(v) for k, v in (after.get("evidence") or {}).items()}
    at = e.created_at.isoformat() if e.created_at else ""
    state.links[key] = LinkOverride(target, int(e.id), e.actor, at, evidence)


def fold(session: Session, project_id: int, watermark: int | None = None) -> LogState:
    """Fold the project's review log up to ``watermark`` (default: the head of the log).

    Args:
        session: An open transaction (one snapshot for the fold and the figures).
        project_id: The project.
        watermark: Fold events with ``id <= watermark`` only.

    Returns:
        The :class:`LogState`.
    """
    top = head(session, project_id)
    mark = top if watermark is None else min(watermark, top)
    events = session.scalars(
        select(ReviewEvent)
        .where(ReviewEvent.project_id == project_id, ReviewEvent.id <= mark)
        .order_by(ReviewEvent.id)
    ).all()
    reverted = {
        int(e.reverts_event_id)
        for e in events
        if e.action == ReviewAction.revert and e.reverts_event_id
    }
    state = LogState(watermark=mark)
    blind: list[ReviewEvent] = []
    revised: list[ReviewEvent] = []
    for e in events:
        state.names.setdefault(actor_of(e), e.actor)
        if e.id in reverted or e.action == ReviewAction.revert:
            continue
        if e.action == ReviewAction.audit_label and e.mode == EventMode.blind:
            blind.append(e)
        elif e.action == ReviewAction.audit_label and e.mode == EventMode.revised:
            revised.append(e)
        elif e.action == ReviewAction.audit_link:
            _link(state, e)
        elif e.mode == EventMode.workflow and e.action in WORKFLOW_ACTIONS:
            _apply(state, e)
            state.actions.setdefault(int(e.run_id or 0), Counter())[e.action] += 1
            state.actors[(actor_of(e), int(e.run_id or 0))] += 1
    state.blind = _labels(blind)
    state.revisions = _labels(revised)
    return state
