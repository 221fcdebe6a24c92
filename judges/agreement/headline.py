"""Headline judge error rate from the blind audit, and the human noise floor (METRICS.md §2).

``E = P(ĵ(i) ≠ h_bl(i))`` is estimated from a simple random blind audit sample as ``x/n`` with
a Wilson interval; pooled windows with different sampling fractions use the Hájek weighted
mean with Kish's effective sample size. Workflow disagreement is computed alongside as a
diagnostic only, and the anchoring gap compares the two on the same audited notes.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import permutations

from judges.agreement.data import AuditLabel, Label
from judges.agreement.intervals import (
    DifferenceInterval,
    Interval,
    newcombe_difference,
    newcombe_paired_difference,
    wilson,
    wilson_proportion,
)

INDICATIVE_BELOW = 20
"""Samples smaller than this get the "indicative only" badge (METRICS.md §2)."""


@dataclass(frozen=True, slots=True)
class ErrorRate:
    """The judge error rate with its Wilson interval.

    Attributes:
        rate: ``ê`` with its Wilson interval; ``rate.n`` is ``n`` (unweighted) or Kish's
            ``n_eff`` (weighted).
        disagreements: Number of audited notes where judge and blind human differ.
        n: Number of audited notes.
        n_eff: Kish's effective sample size ``(Σw)²/Σw²`` (equal to ``n`` when unweighted).
        weighted: Whether the Hájek weighted mean was used.
        indicative: ``True`` when the sample (``n_eff``) is below 20: show "indicative only".
    """

    rate: Interval
    disagreements: int
    n: int
    n_eff: float
    weighted: bool
    indicative: bool


@dataclass(frozen=True, slots=True)
class Headline:
    """The headline block of the lead dashboard (METRICS.md §2).

    Attributes:
        error: Judge error rate from the blind audit (``None`` without an audit).
        workflow: Workflow disagreement over all reviewed notes (diagnostic only).
        anchoring_gap: Blind minus workflow disagreement on audited notes that also went
            through the workflow, with Newcombe's paired interval.
    """

    error: ErrorRate | None
    workflow: Interval | None
    anchoring_gap: DifferenceInterval | None


@dataclass(frozen=True, slots=True)
class ExcessError:
    """The judge's excess error over the human noise floor (METRICS.md §2 point 5).

    Attributes:
        difference: ``E − e_HH`` with Newcombe's hybrid-score interval.
        at_parity: The interval includes 0: "judge at human parity".
    """

    difference: DifferenceInterval
    at_parity: bool


def error_rate(audit: Sequence[AuditLabel]) -> ErrorRate:
    """Judge error rate ``ê = x/n`` on one simple random blind audit sample (§2).

    Args:
        audit: The audited notes of one batch (planted items already excluded).

    Returns:
        The :class:`ErrorRate` with its Wilson 95% interval.

    Raises:
        ValueError: If ``audit`` is empty.
    """
    if not audit:
        raise ValueError("the blind audit is empty")
    x = sum(1 for a in audit if a.disagrees)
    n = len(audit)
    return ErrorRate(wilson(x, n), x, n, float(n), False, n < INDICATIVE_BELOW)


def pooled_error_rate(audit: Sequence[AuditLabel]) -> ErrorRate:
    """Hájek-weighted error rate over pooled audits, Wilson on ``(p̂, n_eff)`` (§2).

    ``p̂ = Σ w_i y_i / Σ w_i`` with ``w_i = 1/π_i`` and Kish's ``n_eff = (Σw)²/Σw²``.

    Args:
        audit: Audited notes of every pooled batch, each with its inclusion probability.

    Returns:
        The weighted :class:`ErrorRate`; ``indicative`` when ``n_eff < 20``.

    Raises:
        ValueError: If ``audit`` is empty or an inclusion probability is not in (0, 1].
    """
    if not audit:
        raise ValueError("the blind audit is empty")
    if any(not 0.0 < a.inclusion_prob <= 1.0 for a in audit):
        raise ValueError("inclusion probabilities must be in (0, 1]")
    weights = [1.0 / a.inclusion_prob for a in audit]
    total = sum(weights)
    p = sum(w for w, a in zip(weights, audit, strict=True) if a.disagrees) / total
    n_eff = total * total / sum(w * w for w in weights)
    x = sum(1 for a in audit if a.disagrees)
    interval = wilson_proportion(min(max(p, 0.0), 1.0), n_eff)
    return ErrorRate(interval, x, len(audit), n_eff, True, n_eff < INDICATIVE_BELOW)


def disagreement_rate(pairs: Sequence[tuple[Label, Label]]) -> Interval:
    """Share of pairs whose two labels differ, with its Wilson interval.

    Used for workflow disagreement (workflow label vs judge, all reviewed notes) and for
    human–human disagreement ``e_HH`` (two blind labels of double-coded notes).

    Raises:
        ValueError: If ``pairs`` is empty.
    """
    return wilson(sum(1 for a, b in pairs if a != b), len(pairs))


def anchoring_gap(
    audit: Sequence[AuditLabel], workflow: Mapping[int, Label]
) -> DifferenceInterval | None:
    """Blind minus workflow disagreement on the same audited notes, paired (§2 point 4).

    Args:
        audit: Blind-audited notes (judge label vs blind label).
        workflow: Workflow label of the notes that went through the workflow.

    Returns:
        ``p_blind − p_workflow`` with Newcombe's paired interval, or ``None`` if no audited
        note has a workflow label.
    """
    cells: Counter[tuple[bool, bool]] = Counter()
    for a in audit:
        if a.note_id in workflow:
            cells[(a.human != a.judge, workflow[a.note_id] != a.judge)] += 1
    if not cells:
        return None
    return newcombe_paired_difference(
        cells[(True, True)], cells[(True, False)], cells[(False, True)], cells[(False, False)]
    )


def headline(
    audit: Sequence[AuditLabel],
    workflow: Mapping[int, Label] | None = None,
    judge: Mapping[int, Label] | None = None,
    pooled: bool = False,
) -> Headline:
    """The headline error, workflow disagreement and anchoring gap (METRICS.md §2).

    Args:
        audit: Blind audit labels (one batch, or a pooled window when ``pooled``).
        workflow: Workflow label per reviewed note (``h_wf``), if known.
        judge: Judge label ``ĵ`` per note, needed for workflow disagreement.
        pooled: Use the Hájek-weighted estimator for pooled windows.

    Returns:
        The :class:`Headline`; parts without data are ``None``.
    """
    error = None
    if audit:
        error = pooled_error_rate(audit) if pooled else error_rate(audit)
    wf = None
    if workflow and judge:
        pairs = [(label, judge.get(note)) for note, label in workflow.items()]
        wf = disagreement_rate(pairs)
    gap = anchoring_gap(audit, workflow) if workflow else None
    return Headline(error=error, workflow=wf, anchoring_gap=gap)


def krippendorff_alpha(units: Sequence[Sequence[Label]]) -> float | None:
    """Krippendorff's α for nominal labels, ``α = 1 − D_o/D_e`` (METRICS.md §2 point 5).

    Noise (``None``) is a label value. Works for any number of coders per unit; units with
    fewer than two labels are not pairable and are skipped (missing labels).

    Args:
        units: The labels each unit received, one sequence per unit.

    Returns:
        α, or ``None`` when undefined (fewer than two pairable values or ``D_e = 0``).
    """
    coincidence: defaultdict[tuple[Label, Label], float] = defaultdict(float)
    for labels in units:
        m = len(labels)
        if m < 2:
            continue
        for a, b in permutations(labels, 2):
            coincidence[(a, b)] += 1.0 / (m - 1)
    totals: defaultdict[Label, float] = defaultdict(float)
    for (a, _), value in coincidence.items():
        totals[a] += value
    n = sum(totals.values())
    observed = sum(v for (a, b), v in coincidence.items() if a != b)
    expected = (n * n - sum(v * v for v in totals.values())) / (n - 1) if n > 1 else 0.0
    return None if expected <= 0 else 1.0 - observed / expected


def excess_error(judge_errors: int, n_judge: int, human_errors: int, n_human: int) -> ExcessError:
    """The judge's excess error ``E − e_HH`` with Newcombe's CI (METRICS.md §2 point 5, §4).

    Args:
        judge_errors: Blind-audit disagreements of the judge.
        n_judge: Blind-audited notes.
        human_errors: Double-coded notes whose two blind labels differ.
        n_human: Double-coded notes.

    Returns:
        The :class:`ExcessError`; ``at_parity`` when its interval includes 0.
    """
    diff = newcombe_difference(wilson(judge_errors, n_judge), wilson(human_errors, n_human))
    return ExcessError(difference=diff, at_parity=diff.low <= 0.0 <= diff.high)
