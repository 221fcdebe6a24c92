"""Wilson and Newcombe intervals (METRICS.md §2, §4), hand-worked."""

from __future__ import annotations

import pytest
from scipy.stats import binom, binomtest  # type: ignore[import-untyped,unused-ignore]

from judges.agreement import (
    newcombe_difference,
    newcombe_paired_difference,
    wilson,
    wilson_proportion,
)


def test_wilson_zero_of_twenty_is_informative() -> None:
    # z = 1.96, z² = 3.8416, n = 20: denominator 1 + 3.8416/20 = 1.19208.
    # centre = (0 + 3.8416/40)/1.19208 = 0.09604/1.19208 = 0.080565
    # half   = 1.96/1.19208 · sqrt(0 + 3.8416/1600) = 1.644185 · 0.049 = 0.080565
    # → [0, 0.16113], METRICS.md's "n = 20 with no errors gives [0, 16.1%]".
    ci = wilson(0, 20)
    assert (ci.value, ci.low, ci.n) == (0.0, 0.0, 20)
    assert ci.high == pytest.approx(0.16113, abs=1e-5)


def test_wilson_zero_of_thirty() -> None:
    # denominator 1 + 3.8416/30 = 1.128053; centre = 0.0640267/1.128053 = 0.056759;
    # half = 1.737508 · sqrt(3.8416/3600) = 1.737508 · 0.032667 = 0.056759 → [0, 0.11352].
    ci = wilson(0, 30)
    assert ci.low == 0.0
    assert ci.high == pytest.approx(0.11352, abs=1e-5)


def test_wilson_six_of_twentyfive_matches_the_tier_c_example() -> None:
    # METRICS.md §3.5: "audit: 6 of 25 → 24% (11–43%)".
    # p = .24, z²/n = .153664, denominator 1.153664, centre = (.24 + .076832)/1.153664 = .274632
    # half = 1.698934 · sqrt(.24·.76/25 + 3.8416/2500) = 1.698934 · .093983 = .159671
    ci = wilson(6, 25)
    assert ci.value == pytest.approx(0.24)
    assert ci.low == pytest.approx(0.114961, abs=1e-5)
    assert ci.high == pytest.approx(0.434301, abs=1e-5)


@pytest.mark.parametrize(("x", "n"), [(0, 7), (3, 10), (17, 40), (50, 50), (1, 200)])
def test_wilson_matches_scipy(x: int, n: int) -> None:
    # scipy uses the exact quantile 1.959964; METRICS.md fixes z = 1.96 (≤ 1e-4 apart).
    ref = binomtest(x, n).proportion_ci(method="wilson")
    ci = wilson(x, n)
    assert ci.low == pytest.approx(ref.low, abs=1e-4)
    assert ci.high == pytest.approx(ref.high, abs=1e-4)


def test_wilson_is_symmetric_and_closed_at_the_ends() -> None:
    assert wilson(20, 20).high == 1.0
    assert wilson(3, 11).low == pytest.approx(1.0 - wilson(8, 11).high)


def test_wilson_rejects_empty_and_impossible_counts() -> None:
    with pytest.raises(ValueError, match="n must be positive"):
        wilson(0, 0)
    with pytest.raises(ValueError, match="x must be in"):
        wilson(5, 4)
    with pytest.raises(ValueError, match="p must be in"):
        wilson_proportion(1.5, 10)


def test_wilson_on_an_effective_sample_size() -> None:
    # Same formula with a fractional n: p = .25, n = 12.5 equals wilson(x, n) scaled.
    assert wilson_proportion(0.25, 20.0).high == pytest.approx(wilson(5, 20).high)
    assert wilson_proportion(0.25, 12.5).n == 12.5


def test_newcombe_unpaired_reproduces_newcombe_1998() -> None:
    # Newcombe (1998) example: 56/70 − 48/80 = 0.2000, method 10 → (0.0524, 0.3339).
    d = newcombe_difference(wilson(56, 70), wilson(48, 80))
    assert d.value == pytest.approx(0.2)
    assert d.low == pytest.approx(0.0524, abs=2e-4)
    assert d.high == pytest.approx(0.3339, abs=2e-4)
    assert (d.n1, d.n0) == (70, 80)


def test_newcombe_paired_by_hand() -> None:
    # a=10 (both), b=15 (first only), c=5 (second only), d=20, n=50.
    # p1 = 25/50 = .5 → Wilson (.366443, .633557); p2 = 15/50 = .3 → (.191034, .437506).
    # φ = (10·20 − 15·5)/sqrt(25·25·15·35) = 125/572.822 = .218218
    # δ² = .133557² − 2·.218218·.133557·.137506 + .137506² = .028731 → δ = .169502
    # ε² = .133557² − 2·.218218·.133557·.108966 + .108966² = .023360 → ε = .152838
    d = newcombe_paired_difference(10, 15, 5, 20)
    assert d.value == pytest.approx(0.2)
    assert d.low == pytest.approx(0.2 - 0.169502, abs=1e-5)
    assert d.high == pytest.approx(0.2 + 0.152838, abs=1e-5)


def test_newcombe_paired_without_correlation_equals_unpaired() -> None:
    # a·d − b·c = 1·1 − 1·1 = 0 → φ = 0, so the paired interval is the unpaired one.
    paired = newcombe_paired_difference(1, 1, 1, 1)
    unpaired = newcombe_difference(wilson(2, 4), wilson(2, 4))
    assert (paired.low, paired.high) == pytest.approx((unpaired.low, unpaired.high))


def test_wilson_exact_coverage_on_the_audit_grid() -> None:
    # Exact binomial coverage Σ_x P(X = x)·1[p ∈ CI(x)] — no simulation noise. Pointwise it
    # oscillates (Brown, Cai & DasGupta); over the grid it must average 93–97% and never dip
    # below 91%. A Wald interval fails this (e.g. p = .02, n = 20 covers only ~33%).
    coverages = []
    for n in (20, 25, 50, 100):
        for p in (0.02, 0.05, 0.1, 0.15, 0.3):
            inside = [x for x in range(n + 1) if wilson(x, n).low <= p <= wilson(x, n).high]
            coverages.append(float(binom.pmf(inside, n, p).sum()))
    assert 0.93 <= sum(coverages) / len(coverages) <= 0.97
    assert min(coverages) >= 0.91
