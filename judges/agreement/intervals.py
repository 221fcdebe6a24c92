"""Confidence intervals for proportions and their differences (METRICS.md §2, §4).

Every interval carries its ``n`` so a figure is never shown without its sample size.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

Z95 = 1.96
"""The two-sided 95% normal quantile, rounded as METRICS.md §2 specifies."""


@dataclass(frozen=True, slots=True)
class Interval:
    """A point estimate with a two-sided confidence interval.

    Attributes:
        value: The point estimate.
        low: Lower confidence limit.
        high: Upper confidence limit.
        n: The sample size behind the estimate (Kish's ``n_eff`` for weighted estimates,
            so it may be fractional).
    """

    value: float
    low: float
    high: float
    n: float


@dataclass(frozen=True, slots=True)
class DifferenceInterval:
    """A difference of two proportions ``p1 - p0`` with its confidence interval.

    Attributes:
        value: ``p1 - p0``.
        low: Lower confidence limit.
        high: Upper confidence limit.
        n1: Sample size behind ``p1``.
        n0: Sample size behind ``p0`` (equal to ``n1`` for paired data).
    """

    value: float
    low: float
    high: float
    n1: float
    n0: float


def wilson_proportion(p: float, n: float, z: float = Z95) -> Interval:
    """Wilson score interval for a proportion ``p`` observed on ``n`` (possibly effective) trials.

    Centre ``(p + z²/2n)/(1 + z²/n)``, half-width ``z/(1 + z²/n)·sqrt(p(1−p)/n + z²/4n²)``.

    Args:
        p: Observed proportion in [0, 1].
        n: Number of trials (> 0); Kish's ``n_eff`` for a weighted proportion.
        z: Normal quantile; 1.96 for 95%.

    Returns:
        The interval, clipped to [0, 1] against rounding.

    Raises:
        ValueError: If ``n <= 0`` or ``p`` is outside [0, 1].
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not 0.0 <= p <= 1.0:
        raise ValueError(f"p must be in [0, 1], got {p}")
    z2 = z * z
    denom = 1.0 + z2 / n
    centre = (p + z2 / (2.0 * n)) / denom
    half = z / denom * math.sqrt(p * (1.0 - p) / n + z2 / (4.0 * n * n))
    low = 0.0 if p == 0.0 else max(0.0, centre - half)
    high = 1.0 if p == 1.0 else min(1.0, centre + half)
    return Interval(value=p, low=low, high=high, n=n)


def wilson(x: int, n: int, z: float = Z95) -> Interval:
    """Wilson score interval for ``x`` successes out of ``n`` trials (METRICS.md §2).

    Args:
        x: Number of successes, ``0 <= x <= n``.
        n: Number of trials (> 0).
        z: Normal quantile; 1.96 for 95%.

    Returns:
        ``Interval(x/n, low, high, n)``; e.g. ``wilson(0, 20)`` is ``[0, 0.161]``.

    Raises:
        ValueError: If ``n <= 0`` or ``x`` is outside ``[0, n]``.
    """
    if n <= 0:
        raise ValueError(f"n must be positive, got {n}")
    if not 0 <= x <= n:
        raise ValueError(f"x must be in [0, n], got x={x}, n={n}")
    return wilson_proportion(x / n, n, z)


def newcombe_difference(current: Interval, baseline: Interval) -> DifferenceInterval:
    """Newcombe's hybrid-score interval for ``p1 − p0`` of independent samples (METRICS.md §4).

    ``L = (p1−p0) − sqrt((p1−l1)² + (u0−p0)²)``, ``U = (p1−p0) + sqrt((u1−p1)² + (p0−l0)²)``
    (Newcombe 1998, method 10 for unpaired data).

    Args:
        current: Wilson interval of ``p1``.
        baseline: Wilson interval of ``p0``.

    Returns:
        The difference with its interval.
    """
    p1, l1, u1 = current.value, current.low, current.high
    p0, l0, u0 = baseline.value, baseline.low, baseline.high
    diff = p1 - p0
    low = diff - math.sqrt((p1 - l1) ** 2 + (u0 - p0) ** 2)
    high = diff + math.sqrt((u1 - p1) ** 2 + (p0 - l0) ** 2)
    return DifferenceInterval(value=diff, low=low, high=high, n1=current.n, n0=baseline.n)


def newcombe_paired_difference(
    both: int, first_only: int, second_only: int, neither: int, z: float = Z95
) -> DifferenceInterval:
    """Newcombe's score interval for ``p1 − p2`` of paired proportions (1998b, method 10).

    With the paired table ``a = both``, ``b = first_only``, ``c = second_only``, ``d = neither``:
    ``p1 = (a+b)/n``, ``p2 = (a+c)/n``, Wilson limits ``(l1, u1)``, ``(l2, u2)`` and
    ``φ = (ad − bc)/sqrt((a+b)(c+d)(a+c)(b+d))`` (0 when a margin is empty),
    ``L = (p1−p2) − sqrt((p1−l1)² − 2φ(p1−l1)(u2−p2) + (u2−p2)²)`` and
    ``U = (p1−p2) + sqrt((u1−p1)² − 2φ(u1−p1)(p2−l2) + (p2−l2)²)``.

    Args:
        both: Units where both events happen.
        first_only: Units where only the first happens.
        second_only: Units where only the second happens.
        neither: Units where neither happens.
        z: Normal quantile.

    Returns:
        The paired difference ``p1 − p2`` with its interval (``n1 = n0 = n``).

    Raises:
        ValueError: If the table is empty or has a negative cell.
    """
    a, b, c, d = both, first_only, second_only, neither
    if min(a, b, c, d) < 0:
        raise ValueError("paired table cells must be non-negative")
    n = a + b + c + d
    first, second = wilson(a + b, n, z), wilson(a + c, n, z)
    p1, l1, u1 = first.value, first.low, first.high
    p2, l2, u2 = second.value, second.low, second.high
    margins = (a + b) * (c + d) * (a + c) * (b + d)
    phi = (a * d - b * c) / math.sqrt(margins) if margins > 0 else 0.0
    dl = (p1 - l1) ** 2 - 2.0 * phi * (p1 - l1) * (u2 - p2) + (u2 - p2) ** 2
    du = (u1 - p1) ** 2 - 2.0 * phi * (u1 - p1) * (p2 - l2) + (p2 - l2) ** 2
    diff = p1 - p2
    low = diff - math.sqrt(max(dl, 0.0))
    high = diff + math.sqrt(max(du, 0.0))
    return DifferenceInterval(value=diff, low=low, high=high, n1=n, n0=n)
