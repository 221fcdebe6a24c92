"""Per-proposal agreement: the mapping ``m(j)`` and outcomes from the final partition (§0, §1.1).

Outcomes are derived from the final partition only, so a split that was re-merged is no split.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from judges.agreement.data import JudgeProposal, Label, Partition
from judges.agreement.intervals import Interval, wilson


class Outcome(StrEnum):
    """Outcome of a proposal, in precedence order (METRICS.md §1.1)."""

    rejected_noise = "rejected_noise"
    split_up = "split"  # not `split`: that would shadow str.split
    merged = "merged"
    membership_edited = "membership_edited"
    renamed = "renamed"
    accepted = "accepted"


PRECEDENCE: tuple[Outcome, ...] = tuple(Outcome)


@dataclass(frozen=True, slots=True)
class ProposalOutcome:
    """What the reviewers made of one proposal.

    Attributes:
        proposal_id: The proposal.
        mapped_to: ``m(j)``, the human category it maps to (``None`` = noise).
        primary: The highest-precedence outcome that holds.
        flags: Every outcome that holds (``accepted`` only when nothing else does).
        size: ``|J_j|``, the judge's claimed count.
        overlap: ``o_jc* = |J_j ∩ H_c*|``.
        human_size: ``|H_c*|`` (``None`` when ``c*`` is noise).
        precision: ``o_jc*/|J_j|`` (``None`` when ``c*`` is noise).
        recall: ``o_jc*/|H_c*|`` (``None`` when ``c*`` is noise).
        count_error: ``Δ_j = |J_j| − |H_c*|`` (``None`` when ``c*`` is noise).
        relative_count_error: ``Δ_j/|H_c*|`` (``None`` when ``c*`` is noise).
        dissolved: No category ``c`` holds at least half of the members.
        spurious: Rejected as noise or dissolved.
    """

    proposal_id: int
    mapped_to: Label
    primary: Outcome
    flags: frozenset[Outcome]
    size: int
    overlap: int
    human_size: int | None
    precision: float | None
    recall: float | None
    count_error: int | None
    relative_count_error: float | None
    dissolved: bool
    spurious: bool


@dataclass(frozen=True, slots=True)
class ProposalSummary:
    """Per-proposal agreement over one judge run (METRICS.md §1.1).

    Attributes:
        outcomes: One outcome per proposal, in input order.
        acceptance: As-is acceptance rate with its Wilson interval (``n = P``).
        mix_by_proposal: Primary outcome → number of proposals.
        mix_by_note: Primary outcome → number of member notes ``Σ|J_j|``.
        mean_precision: Mean ``prec_j`` over proposals mapped to a category.
        mean_recall: Mean ``rec_j`` over proposals mapped to a category.
        mean_abs_count_error: Mean ``|Δ_j|`` over proposals mapped to a category.
        n_mapped: Number of proposals mapped to a category (the ``n`` of the three means).
        spurious: Ids of the spurious proposals.
        category_recall: Share of final human categories whose lineage starts at a judge
            proposal, with its Wilson interval (``None`` if there are no categories).
        missed_categories: Final human categories the judge missed (human-created).
    """

    outcomes: tuple[ProposalOutcome, ...]
    acceptance: Interval | None
    mix_by_proposal: Mapping[Outcome, int]
    mix_by_note: Mapping[Outcome, int]
    mean_precision: float | None
    mean_recall: float | None
    mean_abs_count_error: float | None
    n_mapped: int
    spurious: tuple[int, ...]
    category_recall: Interval | None
    missed_categories: tuple[int, ...]


def normalise_name(name: str) -> str:
    """``norm`` of METRICS.md §1.4: casefold, strip punctuation, collapse whitespace."""
    text = unicodedata.normalize("NFKC", name).casefold()
    text = "".join(" " if unicodedata.category(ch).startswith("P") else ch for ch in text)
    return re.sub(r"\s+", " ", text).strip()


def check_proposals(proposals: Sequence[JudgeProposal], final: Partition) -> None:
    """Validate that proposals are non-empty, disjoint and inside the final partition.

    Raises:
        ValueError: On an empty proposal, a note in two proposals, or a member with no
            final human label.
    """
    seen: dict[int, int] = {}
    for p in proposals:
        if not p.members:
            raise ValueError(f"proposal {p.proposal_id} has no members")
        for note in p.members:
            if note not in final:
                raise ValueError(f"note {note} of proposal {p.proposal_id} has no final label")
            if note in seen:
                raise ValueError(f"note {note} is in proposals {seen[note]} and {p.proposal_id}")
            seen[note] = p.proposal_id


def overlaps(proposal: JudgeProposal, final: Partition) -> Counter[Label]:
    """``o_jc = |J_j ∩ H_c|`` for every label ``c`` (noise included) with a non-zero overlap."""
    return Counter(final[note] for note in proposal.members)


def _label_key(label: Label) -> tuple[int, int]:
    # Lowest id first; noise (no id) after every category.
    return (1, 0) if label is None else (0, label)


def map_proposal(proposal: JudgeProposal, final: Partition) -> Label:
    """``m(j) = argmax_c |J_j ∩ H_c|`` over categories and noise (METRICS.md §0).

    Ties go to the lineage successor of ``j``, then to the lowest category id; noise, which
    has no id, comes after every category in that last rule.

    Args:
        proposal: The judge proposal.
        final: The human final partition.

    Returns:
        The human category the proposal maps to, or ``None`` for noise.
    """
    counts = overlaps(proposal, final)
    best = max(counts.values())
    tied = [label for label, count in counts.items() if count == best]
    if proposal.lineage_category_id is not None and proposal.lineage_category_id in tied:
        return proposal.lineage_category_id
    return min(tied, key=_label_key)


def map_proposals(proposals: Sequence[JudgeProposal], final: Partition) -> dict[int, Label]:
    """Map every proposal into the human codebook: proposal id → ``m(j)``.

    Raises:
        ValueError: See :func:`check_proposals`.
    """
    check_proposals(proposals, final)
    return {p.proposal_id: map_proposal(p, final) for p in proposals}


def judge_category_counts(
    proposals: Sequence[JudgeProposal], mapping: Mapping[int, Label]
) -> dict[Label, int]:
    """The judge's count per human label: ``Σ_{j: m(j)=c} |J_j|`` (METRICS.md §0)."""
    counts: Counter[Label] = Counter()
    for p in proposals:
        counts[mapping[p.proposal_id]] += len(p.members)
    return dict(counts)


@dataclass(frozen=True, slots=True)
class _Context:
    """What every proposal's outcome depends on, computed once per run."""

    final: Partition
    mapping: Mapping[int, Label]
    human_sizes: Counter[Label]
    contributions: Mapping[Label, Mapping[int, int]]
    category_names: Mapping[int, str]
    renamed: Collection[int]


def _contributions(
    proposals: Sequence[JudgeProposal], final: Partition, mapping: Mapping[int, Label]
) -> dict[Label, dict[int, int]]:
    # c → {proposal id: o_jc} over the proposals with m(j) = c.
    result: dict[Label, dict[int, int]] = {}
    for p in proposals:
        c = mapping[p.proposal_id]
        result.setdefault(c, {})[p.proposal_id] = overlaps(p, final)[c]
    return result


def _outcome_flags(p: JudgeProposal, o: Counter[Label], ctx: _Context) -> set[Outcome]:
    size, c = len(p.members), ctx.mapping[p.proposal_id]
    flags: set[Outcome] = set()
    if o[None] >= 0.5 * size:
        flags.add(Outcome.rejected_noise)
    split_floor = max(2.0, 0.2 * size)
    if sum(1 for lab, k in o.items() if lab is not None and k >= split_floor) >= 2:
        flags.add(Outcome.split_up)
    if c is not None:
        merge_floor = max(2.0, 0.2 * ctx.human_sizes[c])
        others = (k for j, k in ctx.contributions[c].items() if j != p.proposal_id)
        if any(k >= merge_floor for k in others):
            flags.add(Outcome.merged)
    moved_in = c is not None and ctx.human_sizes[c] > sum(ctx.contributions[c].values())
    if o[c] < size or moved_in:
        flags.add(Outcome.membership_edited)
    if c is not None and _is_renamed(p, c, ctx):
        flags.add(Outcome.renamed)
    return flags or {Outcome.accepted}


def _is_renamed(p: JudgeProposal, c: int, ctx: _Context) -> bool:
    if c not in ctx.category_names:
        raise ValueError(f"category {c} has no name in category_names")
    if p.proposal_id in ctx.renamed:
        return True
    return normalise_name(p.name) != normalise_name(ctx.category_names[c])


def _classify(p: JudgeProposal, ctx: _Context) -> ProposalOutcome:
    o = overlaps(p, ctx.final)
    c, size = ctx.mapping[p.proposal_id], len(p.members)
    flags = _outcome_flags(p, o, ctx)
    primary = next(outcome for outcome in PRECEDENCE if outcome in flags)
    dissolved = not any(k >= 0.5 * size for lab, k in o.items() if lab is not None)
    human = ctx.human_sizes[c] if c is not None else None
    return ProposalOutcome(
        proposal_id=p.proposal_id,
        mapped_to=c,
        primary=primary,
        flags=frozenset(flags),
        size=size,
        overlap=o[c],
        human_size=human,
        precision=o[c] / size if c is not None else None,
        recall=o[c] / human if human else None,
        count_error=size - human if human is not None else None,
        relative_count_error=(size - human) / human if human else None,
        dissolved=dissolved,
        spurious=dissolved or Outcome.rejected_noise in flags,
    )


def proposal_outcomes(
    proposals: Sequence[JudgeProposal],
    final: Partition,
    category_names: Mapping[int, str],
    renamed: Collection[int] = frozenset(),
) -> tuple[ProposalOutcome, ...]:
    """Derive each proposal's outcome from the final partition (METRICS.md §1.1).

    Args:
        proposals: The judge run's proposals (disjoint, non-empty member sets).
        final: Human final partition at the watermark, note → category (``None`` = noise).
            Must label every member of every proposal.
        category_names: Final name of each human category (compared after ``norm``).
        renamed: Ids of proposals with a rename event on their lineage ``j → c*``.

    Returns:
        One :class:`ProposalOutcome` per proposal, in input order.

    Raises:
        ValueError: On invalid proposals (see :func:`check_proposals`) or a mapped category
            with no name.
    """
    mapping = map_proposals(proposals, final)
    ctx = _Context(
        final=final,
        mapping=mapping,
        human_sizes=Counter(final.values()),
        contributions=_contributions(proposals, final, mapping),
        category_names=category_names,
        renamed=renamed,
    )
    return tuple(_classify(p, ctx) for p in proposals)


def _mean(values: Sequence[float]) -> float | None:
    return sum(values) / len(values) if values else None


def category_recall(
    final: Partition, judge_origin: Collection[int]
) -> tuple[Interval | None, tuple[int, ...]]:
    """Share of final human categories whose lineage starts at a judge proposal (§1.1).

    Args:
        final: Human final partition; its non-noise labels are the final categories.
        judge_origin: Category ids whose lineage starts at a judge proposal.

    Returns:
        The share with its Wilson interval (``None`` without categories), and the ids of
        the human-created categories, i.e. the ones the judge missed.
    """
    categories = sorted({c for c in final.values() if c is not None})
    if not categories:
        return None, ()
    missed = tuple(c for c in categories if c not in judge_origin)
    return wilson(len(categories) - len(missed), len(categories)), missed


def proposal_agreement(
    proposals: Sequence[JudgeProposal],
    final: Partition,
    category_names: Mapping[int, str],
    renamed: Collection[int] = frozenset(),
    judge_origin: Collection[int] | None = None,
) -> ProposalSummary:
    """Summarise per-proposal agreement for one judge run (METRICS.md §1.1).

    Args:
        proposals: The judge run's proposals.
        final: Human final partition (note → category, ``None`` = noise).
        category_names: Final name of each human category.
        renamed: Ids of proposals with a rename event on their lineage.
        judge_origin: Categories whose lineage starts at a judge proposal; by default the
            proposals' ``lineage_category_id`` values.

    Returns:
        The :class:`ProposalSummary`.
    """
    outcomes = proposal_outcomes(proposals, final, category_names, renamed)
    mapped = [o for o in outcomes if o.mapped_to is not None]
    accepted = sum(1 for o in outcomes if o.primary is Outcome.accepted)
    by_proposal: Counter[Outcome] = Counter(o.primary for o in outcomes)
    by_note: Counter[Outcome] = Counter()
    for o in outcomes:
        by_note[o.primary] += o.size
    origin: Collection[int] = (
        judge_origin
        if judge_origin is not None
        else {p.lineage_category_id for p in proposals if p.lineage_category_id is not None}
    )
    recall, missed = category_recall(final, origin)
    return ProposalSummary(
        outcomes=outcomes,
        acceptance=wilson(accepted, len(outcomes)) if outcomes else None,
        mix_by_proposal={k: by_proposal[k] for k in PRECEDENCE},
        mix_by_note={k: by_note[k] for k in PRECEDENCE},
        mean_precision=_mean([o.precision for o in mapped if o.precision is not None]),
        mean_recall=_mean([o.recall for o in mapped if o.recall is not None]),
        mean_abs_count_error=_mean(
            [abs(o.count_error) for o in mapped if o.count_error is not None]
        ),
        n_mapped=len(mapped),
        spurious=tuple(o.proposal_id for o in outcomes if o.spurious),
        category_recall=recall,
        missed_categories=missed,
    )
