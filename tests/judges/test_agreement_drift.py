"""Drift: rolling pooled error, Newcombe jump test, Bernoulli CUSUM (METRICS.md §4)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from judges.agreement import (
    BatchAudit,
    bernoulli_cusum,
    cusum_paths,
    cusum_threshold,
    jump_test,
    rolling_error,
    run_lengths,
    wilson,
)


def batch(bid: int, x: int, n: int = 25, version: str = "v7") -> BatchAudit:
    return BatchAudit(bid, version, "k3", x, n)


# Four baseline weeks with 2, 3, 2, 3 errors of 25 each: pooled 10/100.
BASE = [batch(1, 2), batch(2, 3), batch(3, 2), batch(4, 3)]


def test_jump_by_hand() -> None:
    # Current 12/25 = .48 → Wilson (.300310, .665018); baseline 10/100 → (.055229, .174367).
    # L = .38 − sqrt(.179690² + .074367²) = .38 − .194471 = .185529
    # U = .38 + sqrt(.185018² + .044771²) = .38 + .190358 = .570358
    t = jump_test([*BASE, batch(5, 12)])
    assert t.baseline == wilson(10, 100) and t.current == wilson(12, 25)
    assert t.difference is not None
    assert (t.difference.low, t.difference.high) == pytest.approx((0.185529, 0.570358), abs=1e-5)
    assert (t.worse, t.better, t.alarm) == (True, False, True)
    assert t.baseline_batches == (1, 2, 3, 4)


def test_no_alarm_when_the_interval_spans_zero() -> None:
    t = jump_test([*BASE, batch(5, 6)])  # .24 vs .10: L = −.0055
    assert t.difference is not None and t.difference.low < 0 < t.difference.high
    assert not t.alarm


def test_margin_variant_of_metrics_md() -> None:
    # 7/25 vs 10/100: L = .0240 excludes zero (issue's rule) but not δ = .05 (METRICS.md's).
    history = [*BASE, batch(5, 7)]
    assert jump_test(history).worse
    assert not jump_test(history, margin=0.05).worse
    assert jump_test([*BASE, batch(5, 12)], margin=0.05).worse


def test_improvement_is_reported_as_better() -> None:
    high = [batch(i, 10, 25) for i in range(1, 5)]  # 40/100
    t = jump_test([*high, batch(5, 0)])
    assert (t.worse, t.better, t.alarm) == (False, True, True)


def test_window_stops_at_w_batches_and_at_a_version_change() -> None:
    old = [batch(-1, 20, version="v6"), batch(0, 20)]
    t = jump_test([*old, *BASE, batch(5, 12)])
    assert t.baseline_batches == (1, 2, 3, 4)  # batch 0 is a fifth batch: outside W = 4
    t = jump_test([batch(0, 20, version="v6"), *BASE[2:], batch(5, 12)])
    assert t.baseline_batches == (3, 4)  # the v6 batch is before the version boundary
    first = jump_test([batch(9, 3, version="v8")])
    assert (first.baseline, first.difference, first.alarm) == (None, None, False)


def test_rolling_error_pools_counts() -> None:
    # Last four same-version batches: 3 + 2 + 3 + 12 errors of 100 (not a mean of rates).
    assert rolling_error([*BASE, batch(5, 12)]) == wilson(20, 100)
    assert rolling_error([batch(1, 1, 10), batch(2, 9, 90)]) == wilson(10, 100)
    assert rolling_error([]) is None


def test_cusum_by_hand() -> None:
    # p0 = .1, p1 = .2: an error adds ln 2 = .693147, a correct note adds ln(.8/.9) = −.117783.
    # y = 1,1,0,1,1,0: S = .693, 1.386, 1.269, 1.962, 2.655 (≥ h = 2.5: alarm, restart), 0.
    c = bernoulli_cusum([True, True, False, True, True, False], p0=0.1, h=2.5)
    up, down = math.log(2), math.log(0.8 / 0.9)
    expected = [up, 2 * up, 2 * up + down, 3 * up + down, 4 * up + down, 0.0]
    assert c.path == pytest.approx(expected)
    assert c.alarms == (4,) and c.p1 == pytest.approx(0.2)


def test_cusum_restarts_on_a_version_change() -> None:
    c = bernoulli_cusum([True, True, True], p0=0.1, h=10, versions=["v1", "v1", "v2"])
    assert c.path == pytest.approx([math.log(2), 2 * math.log(2), math.log(2)])


def test_cusum_rejects_invalid_rates() -> None:
    with pytest.raises(ValueError, match="0 < p0 < p1 < 1"):
        bernoulli_cusum([True], p0=0.6, h=1)
    with pytest.raises(ValueError, match="differ in length"):
        bernoulli_cusum([True], p0=0.1, h=1, versions=[])


def test_cusum_threshold_meets_the_false_alarm_target_on_fresh_streams() -> None:
    # h from 300 simulated in-control streams (p0 = .1, 25 audited notes a batch, target 52
    # batches); checked on 300 independent streams: mean batches to a false alarm ≥ ~52.
    h = cusum_threshold(0.1, 25, runs=300, seed=0)
    fresh = cusum_paths(0.1, 0.1, 0.2, 4 * 52 * 25, 300, seed=1)
    assert run_lengths(fresh, h).mean() / 25 >= 0.9 * 52
    # A lower threshold alarms far more often; a doubled error rate is caught within 4
    # batches on median (METRICS.md §6 acceptance).
    assert run_lengths(fresh, h / 2).mean() / 25 < 52
    doubled = cusum_paths(0.2, 0.1, 0.2, 2000, 300, seed=2)
    assert float(np.median(run_lengths(doubled, h))) / 25 <= 4
    with pytest.raises(ValueError, match="0 < p0 < p1 < 1"):
        cusum_threshold(0.0, 25)
