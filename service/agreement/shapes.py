"""JSON shapes of the agreement library's results: every figure with its ``n``."""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

from judges.agreement import DifferenceInterval, ErrorRate, Interval


def num(value: float | None, digits: int = 4) -> float | None:
    """A float rounded for JSON; ``None`` (not NaN or inf) when undefined."""
    if value is None or math.isnan(value) or math.isinf(value):
        return None
    return round(float(value), digits)


def interval(value: Interval | None) -> dict[str, Any] | None:
    """``{value, low, high, n}`` of an interval."""
    if value is None:
        return None
    return {
        "value": num(value.value),
        "low": num(value.low),
        "high": num(value.high),
        "n": num(value.n, 2),
    }


def difference(value: DifferenceInterval | None) -> dict[str, Any] | None:
    """``{value, low, high, n1, n0}`` of a difference of two proportions."""
    if value is None:
        return None
    return {
        "value": num(value.value),
        "low": num(value.low),
        "high": num(value.high),
        "n1": num(value.n1, 2),
        "n0": num(value.n0, 2),
    }


def error_rate(value: ErrorRate | None, **extra: Any) -> dict[str, Any]:
    """The headline block: ``{value, low, high, n, n_eff, disagreements, …}``.

    ``n`` is the number of blind-audited notes; the interval is Wilson on ``n_eff`` (Kish's
    effective sample size of the Hájek-weighted estimate, equal to ``n`` for equal weights).
    """
    if value is None:
        return {"value": None, "low": None, "high": None, "n": 0, "n_eff": 0, **extra}
    return {
        "value": num(value.rate.value),
        "low": num(value.rate.low),
        "high": num(value.rate.high),
        "n": value.n,
        "n_eff": num(value.n_eff, 2),
        "disagreements": value.disagreements,
        "weighted": value.weighted,
        "indicative": value.indicative,
        **extra,
    }


def keyed(mapping: Mapping[Any, int]) -> dict[str, int]:
    """A mapping with ``StrEnum``/int keys as a JSON object."""
    return {str(k): int(v) for k, v in mapping.items()}
