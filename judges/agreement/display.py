"""Display tiers for category counts (METRICS.md §3.5).

- **A, audited**: a within-batch stratified audit exists (§3.3).
- **B, transported**: only earlier audits exist and every §3.5 check passes (§3.4).
- **C, not correctable**: the raw judge count only, never a corrected estimate; when a blind
  audit of the batch exists, the audit-only share of the label with its Wilson interval.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from judges.agreement.counts import StratifiedCounts
from judges.agreement.data import Label
from judges.agreement.intervals import Interval, wilson
from judges.agreement.transport import TransportedCounts


class Tier(StrEnum):
    """How a category count may be displayed."""

    audited = "A"
    transported = "B"
    not_correctable = "C"


@dataclass(frozen=True, slots=True)
class CountDisplay:
    """What the dashboard shows for one label's count.

    Attributes:
        label: Category id (``None`` = noise).
        tier: The display tier.
        judge_count: The raw judge count (greyed "judged, unverified" in tier C).
        estimate: Corrected count (``None`` in tier C: never shown there).
        low: Lower 95% limit of the corrected count (``None`` in tier C).
        high: Upper 95% limit of the corrected count (``None`` in tier C).
        precision: Judge precision (tier A only).
        recall: Judge recall (tier A only).
        audit_share: Tier C: the share of the batch's blind audit (a simple random sample)
            that the human put in the label, with its Wilson interval; ``None`` without audit.
        reasons: Tier C: why the label is not correctable.
    """

    label: Label
    tier: Tier
    judge_count: int
    estimate: float | None
    low: float | None
    high: float | None
    precision: Interval | None
    recall: Interval | None
    audit_share: Interval | None
    reasons: tuple[str, ...]


def _order(label: Label) -> tuple[int, int]:
    return (1, 0) if label is None else (0, label)


def _tier_c(
    label: Label, judge_count: int, audit: Sequence[Label], reasons: tuple[str, ...]
) -> CountDisplay:
    share = wilson(sum(1 for h in audit if h == label), len(audit)) if audit else None
    return CountDisplay(
        label, Tier.not_correctable, judge_count, None, None, None, None, None, share, reasons
    )


def display_counts(
    judge_counts: Mapping[Label, int],
    stratified: StratifiedCounts | None = None,
    transported: TransportedCounts | None = None,
    audit: Sequence[Label] = (),
) -> tuple[CountDisplay, ...]:
    """Choose the display tier of each label's count (METRICS.md §3.5).

    Args:
        judge_counts: The batch's raw judge count per label.
        stratified: The within-batch stratified estimate (§3.3), if the batch was audited so.
        transported: The transported estimate (§3.4), if earlier audits exist.
        audit: Blind labels of the batch's simple random audit sample (for tier C's
            audit-only share).

    Returns:
        One :class:`CountDisplay` per label, categories ascending then noise.
    """
    a = {e.label: e for e in stratified.estimates} if stratified else {}
    b = {e.label: e for e in transported.estimates} if transported else {}
    out = []
    for label in sorted(set(judge_counts) | set(a) | set(b), key=_order):
        raw = judge_counts.get(label, 0)
        if label in a:
            e = a[label]
            shown = (e.estimate, e.low, e.high, e.precision, e.recall)
            out.append(CountDisplay(label, Tier.audited, raw, *shown, None, ()))
        elif label in b and b[label].correctable:
            t = b[label]
            out.append(
                CountDisplay(
                    label, Tier.transported, raw, t.estimate, t.low, t.high, None, None, None, ()
                )
            )
        else:
            reasons = b[label].reasons if label in b else ("no blind audit to correct with",)
            out.append(_tier_c(label, raw, audit, reasons))
    return tuple(out)
