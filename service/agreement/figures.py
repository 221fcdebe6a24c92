"""Judge–human agreement figures of a project, recomputed from the review log and stored runs.

Every figure is a pure function (:mod:`judges.agreement`) of two inputs: the immutable judge
output and audit draws of the runs in scope (:mod:`service.agreement.data`) and the review log
folded up to a watermark (:mod:`service.agreement.log`). Both are read in one transaction, and
every answer names the ``watermark`` (the highest review event id it reflects) and
``computed_at``, so any figure can be recomputed later with ``watermark=``.

Scopes: a run, a batch, an ISO week (of the run), a judge version — filters that combine —
or the whole project. Figures (METRICS.md):

- ``judge_error_rate`` (§2): disagreement of ``ĵ`` with the first blind label on the audited
  notes, Hájek-weighted by ``1/π_i`` when the draw's inclusion probabilities differ, Wilson on
  Kish's ``n_eff``. Blind means blind: only labels given before their author saw anything of
  the judge's for the run; revisions never count (``judge_persuasion``). Notes left out, and
  why: ``awaiting_workflow`` (no member of their proposal has a workflow decision yet: ``m(j)``
  is undefined) and ``awaiting_links`` (the blind label is a name in the reviewer's own words
  that the final review has not linked to the codebook yet, :mod:`service.agreement.links`).
  ``status`` is ``pending_review`` while any audited note waits (the value, if any, covers
  only the notes already resolved), ``estimated`` once none does, ``no_audit`` without blind
  labels. ``expected_half_width``: what the drawn audit buys (at a 15% error rate).
- ``judge_persuasion`` (§2.2): revisions given after the reveal against the blind labels they
  replace: how often a revision moved toward the judge's label.
- ``workflow_disagreement`` (diagnostic only) and the ``anchoring_gap`` (§2.4).
- ``human_noise`` (§2.5): ``e_HH``, Krippendorff's α and the judge's excess error on notes
  two reviewers labelled blind.
- ``note_agreement`` (§1.2) on the audit sample (unweighted) and ``partition`` (§1.3) on the
  workflow partition.
- ``proposal_outcomes`` (§1.1) per run from the final workflow partition, decided proposals
  only (all members decided); action counts are kept apart as effort analytics.
- ``corrected_counts`` (§3) and ``saturation`` (§5): :mod:`service.agreement.counts`.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from judges.agreement import (
    AuditLabel,
    JudgeProposal,
    Label,
    Outcome,
    ProposalOutcome,
    anchoring_gap,
    disagreement_rate,
    error_rate,
    excess_error,
    judge_partition,
    krippendorff_alpha,
    note_agreement,
    partition_agreement,
    persuasion,
    pooled_error_rate,
    proposal_agreement,
    wilson,
)
from service.agreement.counts import corrected_counts, count_runs, saturation_json
from service.agreement.data import RunView, judge_proposal_ids, load_runs, view
from service.agreement.links import Labels
from service.agreement.log import LogState, fold
from service.agreement.shapes import difference, interval, keyed, num
from service.agreement.shapes import error_rate as error_json
from service.audit.draw import expected_half_width
from service.storage.models import Category


@dataclass(frozen=True, slots=True)
class Scope:
    """Which runs a figure covers; every given filter must hold."""

    run_id: int | None = None
    batch_id: int | None = None
    week: str | None = None
    judge_version: str | None = None


@dataclass(frozen=True, slots=True)
class Snapshot:
    """The folded log and every run of the project, read in one transaction.

    ``labels`` reads blind labels into the codebook (links of blind names); ``lineage`` maps a
    category to the root of its lineage (a category merged into another is that one).
    """

    project_id: int
    state: LogState
    runs: tuple[RunView, ...]
    judge_proposals: frozenset[int]
    computed_at: datetime
    labels: Labels
    lineage: dict[int, int]

    def select(self, scope: Scope) -> list[RunView]:
        """The runs of ``scope``, oldest first."""
        return [
            v
            for v in self.runs
            if (scope.run_id is None or v.data.run_id == scope.run_id)
            and (scope.batch_id is None or v.data.batch_id == scope.batch_id)
            and (scope.week is None or v.data.week == scope.week)
            and (scope.judge_version is None or v.data.judge_version == scope.judge_version)
        ]

    def stamp(self) -> dict[str, Any]:
        return {"watermark": self.state.watermark, "computed_at": self.computed_at.isoformat()}


def snapshot(session: Session, project_id: int, watermark: int | None = None) -> Snapshot:
    """Fold the log (up to ``watermark``) and load every succeeded run of the project."""
    state = fold(session, project_id, watermark)
    data = load_runs(session, project_id)
    labels = Labels(state, data)
    runs = tuple(view(r, state, labels) for r in data)
    return Snapshot(
        project_id,
        state,
        runs,
        frozenset(judge_proposal_ids(session, project_id)),
        datetime.now(UTC),
        labels,
        category_lineage(session, project_id),
    )


def category_lineage(session: Session, project_id: int) -> dict[int, int]:
    """Category id → the root of its lineage (following ``merged_into_id``)."""
    parent = {
        int(cid): (None if into is None else int(into))
        for cid, into in session.execute(
            select(Category.id, Category.merged_into_id).where(Category.project_id == project_id)
        )
    }
    roots: dict[int, int] = {}
    for cid in parent:
        node, hops = cid, 0
        while parent.get(node) is not None and hops < len(parent):
            node, hops = parent[node] or node, hops + 1
        roots[cid] = node
    return roots


def headline_error(
    audit: Sequence[AuditLabel], awaiting: int = 0, awaiting_links: int = 0
) -> dict[str, Any]:
    """The judge error rate on blind-audited notes (Hájek + Kish when weights differ), with
    its status: ``pending_review`` while audited notes wait for the review (see module docs)."""
    waiting = {"awaiting_workflow": awaiting, "awaiting_links": awaiting_links}
    pending = awaiting + awaiting_links
    status = "pending_review" if pending else ("estimated" if audit else "no_audit")
    extra = {**waiting, "pending_review": pending, "status": status}
    if not audit:
        return error_json(None, **extra)
    equal = len({round(a.inclusion_prob, 12) for a in audit}) == 1
    value = error_rate(audit) if equal else pooled_error_rate(audit)
    return error_json(value, **extra)


def scope_error(views: Sequence[RunView]) -> dict[str, Any]:
    """The headline block of a set of runs (see :func:`headline_error`)."""
    audit = [a for v in views for a in v.audit]
    awaiting = sum(v.awaiting for v in views)
    links = sum(len(v.pending_links) for v in views)
    return headline_error(audit, awaiting, links)


def persuasion_json(views: Sequence[RunView]) -> dict[str, Any]:
    """The judge persuasion rate of the scope's revisions (never part of the headline)."""
    triples = [(r.blind, r.revised, r.judge) for v in views for r in v.revisions]
    p = persuasion(triples)
    return {
        "revisions": p.revisions,
        "changed": p.changed,
        "toward_judge": p.toward_judge,
        "away_from_judge": p.away_from_judge,
        "rate": interval(p.rate),
        "unblinded": sum(v.unblinded for v in views),
    }


def _window(views: Sequence[RunView]) -> dict[str, Any]:
    dates = [v.data.created_at for v in views]
    return {
        "runs": [v.data.run_id for v in views],
        "weeks": sorted({v.data.week for v in views}),
        "judge_versions": sorted({v.data.judge_version for v in views}),
        "from": min(dates).isoformat() if dates else None,
        "to": max(dates).isoformat() if dates else None,
    }


def workflow_pairs(views: Sequence[RunView]) -> list[tuple[Label, Label]]:
    """``(h_wf, ĵ)`` for every decided note whose judge label is mapped."""
    return [
        (label, v.judge[n])
        for v in views
        for n, label in v.workflow.items()
        if v.judge_label_is_mapped(n)
    ]


def _workflow_blocks(views: Sequence[RunView]) -> dict[str, Any]:
    pairs = workflow_pairs(views)
    audit = [a for v in views for a in v.audit]
    workflow = {n: lab for v in views for n, lab in v.workflow.items()}
    return {
        "workflow_disagreement": interval(disagreement_rate(pairs)) if pairs else None,
        "anchoring_gap": difference(anchoring_gap(audit, workflow)) if audit else None,
    }


def human_noise(views: Sequence[RunView]) -> dict[str, Any]:
    """Human–human disagreement on double-coded notes, α and the judge's excess error (notes
    with a blind name not linked yet are left out)."""

    def known(v: RunView, n: int) -> bool:
        return n not in v.pending_links and n not in v.blind2_pending

    pairs = [(v.blind[n], second) for v in views for n, second in v.blind2.items() if known(v, n)]
    units = [
        [v.blind[n], *([v.blind2[n]] if n in v.blind2 else [])]
        for v in views
        for n in v.blind
        if known(v, n)
    ]
    audit = [a for v in views for a in v.audit]
    out: dict[str, Any] = {"double_coded": len(pairs), "e_hh": None, "alpha": None, "excess": None}
    if pairs:
        x_hh = sum(1 for a, b in pairs if a != b)
        out["e_hh"] = interval(wilson(x_hh, len(pairs)))
        out["alpha"] = num(krippendorff_alpha(units))
        if audit:
            x = sum(1 for a in audit if a.disagrees)
            excess = excess_error(x, len(audit), x_hh, len(pairs))
            out["excess"] = {**(difference(excess.difference) or {}), "at_parity": excess.at_parity}
    return out


def note_agreement_json(views: Sequence[RunView]) -> dict[str, Any] | None:
    """Per-note agreement on the blind audit sample (unweighted), METRICS.md §1.2."""
    pairs = [(a.human, a.judge) for v in views for a in v.audit]
    if not pairs:
        return None
    result = note_agreement(pairs)
    return {
        "n": len(pairs),
        "weighted": False,
        "accuracy": interval(result.accuracy),
        "kappa": num(result.kappa),
        "macro_f1": num(result.macro_f1),
        "errors": {
            k: num(v) if isinstance(v, float) else v for k, v in asdict(result.errors).items()
        },
    }


def partition_json(views: Sequence[RunView]) -> dict[str, Any] | None:
    """B-cubed, ARI and AMI of the judge vs the **workflow** partition (decided notes)."""
    human: dict[int, Label] = {}
    judge: dict[int, Label] = {}
    for v in count_runs(views):
        human.update(v.workflow)
        judge.update(judge_partition(v.proposals, list(v.workflow)))
    if len(human) < 2:
        return None
    p = partition_agreement(human, judge)
    return {
        "n": p.n,
        "source": "workflow",
        "bcubed_f1": num(p.bcubed.f1),
        "bcubed_precision": num(p.bcubed.precision),
        "bcubed_recall": num(p.bcubed.recall),
        "ari": num(p.ari),
        "ami": num(p.ami),
        "v_measure": num(p.v_measure),
    }


def _decided(v: RunView) -> list[JudgeProposal]:
    return [p for p in v.proposals if all(n in v.workflow for n in p.members)]


def run_outcomes(snap: Snapshot, v: RunView) -> dict[str, Any]:
    """Outcomes of the run's decided proposals from the final workflow partition (§1.1)."""
    decided = _decided(v)
    base = {
        "run_id": v.data.run_id,
        "judge_version": v.data.judge_version,
        "week": v.data.week,
        "proposals": len(v.proposals),
        "decided": len(decided),
        "pending": len(v.proposals) - len(decided),
        "actions": dict(snap.state.actions.get(v.data.run_id, Counter())),
    }
    if not decided:
        return {**base, "mix_by_proposal": {}, "mix_by_note": {}, "acceptance": None}
    names = {c: snap.state.label_name(c) for c in v.workflow.values() if c is not None}
    origin = {
        c
        for c, info in snap.state.categories.items()
        if info.origin_proposal_id in snap.judge_proposals
    }
    s = proposal_agreement(decided, v.workflow, names, snap.state.renamed, origin)
    titles = {p.proposal_id: p.name for p in decided}
    return {
        **base,
        "outcomes": [_outcome(o, titles[o.proposal_id], snap.state) for o in s.outcomes],
        "mix_by_proposal": keyed(s.mix_by_proposal),
        "mix_by_note": keyed(s.mix_by_note),
        "acceptance": interval(s.acceptance),
        "mean_precision": num(s.mean_precision),
        "mean_recall": num(s.mean_recall),
        "mean_abs_count_error": num(s.mean_abs_count_error),
        "n_mapped": s.n_mapped,
        "spurious": list(s.spurious),
        "category_recall": interval(s.category_recall),
        "missed_categories": list(s.missed_categories),
    }


def _outcome(o: ProposalOutcome, name: str, state: LogState) -> dict[str, Any]:
    return {
        "proposal_id": o.proposal_id,
        "name": name,
        "primary": o.primary.value,
        "flags": sorted(f.value for f in o.flags),
        "mapped_to": o.mapped_to,
        "mapped_name": state.label_name(o.mapped_to),
        "size": o.size,
        "human_size": o.human_size,
        "precision": num(o.precision),
        "recall": num(o.recall),
        "count_error": o.count_error,
        "spurious": o.spurious,
    }


def outcomes_json(snap: Snapshot, views: Sequence[RunView]) -> dict[str, Any]:
    """Per-run outcomes plus their totals over the scope."""
    runs = [run_outcomes(snap, v) for v in views]
    by_proposal: Counter[str] = Counter()
    by_note: Counter[str] = Counter()
    for r in runs:
        by_proposal.update(r["mix_by_proposal"])
        by_note.update(r["mix_by_note"])
    decided = sum(r["decided"] for r in runs)
    accepted = by_proposal[Outcome.accepted.value]
    return {
        "runs": runs,
        "outcomes": [o.value for o in Outcome],
        "mix_by_proposal": {o.value: by_proposal[o.value] for o in Outcome},
        "mix_by_note": {o.value: by_note[o.value] for o in Outcome},
        "decided": decided,
        "pending": sum(r["pending"] for r in runs),
        "acceptance": interval(wilson(accepted, decided)) if decided else None,
    }


def figures(snap: Snapshot, scope: Scope) -> dict[str, Any]:
    """Every agreement figure of ``scope`` (see the module docs)."""
    views = snap.select(scope)
    drawn = sum(len(v.data.draws) for v in views)
    width = expected_half_width(drawn)
    return {
        "scope": asdict(scope),
        **snap.stamp(),
        "window": _window(views),
        "judge_error_rate": {
            **scope_error(views),
            "drawn": drawn,
            "labelled": sum(len(v.blind) for v in views),
            "expected_half_width": None if width is None else round(width, 4),
            "runs_reviewed": sum(1 for v in views if v.reviewed),
        },
        "judge_persuasion": persuasion_json(views),
        **_workflow_blocks(views),
        "human_noise": human_noise(views),
        "note_agreement": note_agreement_json(views),
        "partition": partition_json(views),
        "proposal_outcomes": outcomes_json(snap, views),
        "corrected_counts": corrected_counts(snap.state, views, snap.runs),
        "saturation": saturation_json(snap.state, snap.labels, snap.lineage, views, snap.runs),
    }
