"""Corrected category counts: stratified (§3.3), transported (§3.4, §3.5), display tiers."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest

from judges.agreement import (
    AuditLabel,
    JudgeProposal,
    Label,
    Stratum,
    Tier,
    build_strata,
    display_counts,
    stratified_counts,
    transported_counts,
    wilson,
)

N = None
# A batch of 30 notes in three strata:
#   proposal 1 (m = 1): N = 10, 5 audited → human 1,1,1,1,2
#   proposal 2 (m = 2): N = 8, audited whole (N ≤ 8) → human 2 ×6, ∅ ×2
#   judge noise:        N = 12, 4 audited → human ∅,∅,∅,1
STRATA = (
    Stratum(1, 10, 1, (1, 1, 1, 1, 2)),
    Stratum(2, 8, 2, (2, 2, 2, 2, 2, 2, N, N)),
    Stratum(N, 12, N, (N, N, N, 1)),
)


def test_point_estimates_and_variance_by_hand() -> None:
    est = {e.label: e for e in stratified_counts(STRATA).estimates}
    # T̂_1 = 10·4/5 + 8·0/8 + 12·1/4 = 8 + 0 + 3 = 11; T̂_2 = 10·1/5 + 8·6/8 = 8;
    # T̂_∅ = 8·2/8 + 12·3/4 = 11 (they add up to N = 30).
    assert (est[1].estimate, est[2].estimate, est[N].estimate) == pytest.approx((11, 8, 11))
    # Var(T̂_1): stratum 1, q = .8, s² = .8·.2·5/4 = .2 → 10²·(1 − 5/10)·.2/5 = 2;
    # stratum 2 audited whole → 0; noise, q = .25, s² = .25·.75·4/3 = .25 → 12²·(2/3)·.25/4 = 6.
    assert est[1].variance == pytest.approx(8.0)
    assert est[2].variance == pytest.approx(2.0)  # q = .2 in stratum 1 → 2; 0 elsewhere
    assert est[N].variance == pytest.approx(6.0)
    assert (est[1].judge_count, est[2].judge_count, est[N].judge_count) == (10, 8, 12)


def test_judge_precision_and_recall_by_hand() -> None:
    est = {e.label: e for e in stratified_counts(STRATA).estimates}
    # Precision of 1: 10·.8/10 = .8; recall of 1: 8/T̂_1 = 8/11.
    p1, r1 = est[1].precision, est[1].recall
    assert p1 is not None and r1 is not None
    assert (p1.value, r1.value) == pytest.approx((0.8, 8 / 11))
    assert p1.low <= 0.8 <= p1.high and r1.low <= 8 / 11 <= r1.high
    # Stratum 2 is audited whole: its precision 6/8 is known exactly.
    p2 = est[2].precision
    assert p2 is not None and (p2.low, p2.value, p2.high) == pytest.approx((0.75, 0.75, 0.75))


def test_posterior_predictive_interval_respects_what_is_known() -> None:
    est = {e.label: e for e in stratified_counts(STRATA, draws=4000, seed=7).estimates}
    # Label 1: 5 audited notes are surely 1; at most the 5 + 8 unaudited notes can add to it.
    assert 5 <= est[1].low <= 11 <= est[1].high <= 18
    # Every draw's counts add up to N, so no label's interval exceeds N.
    assert all(0 <= e.low <= e.high <= 30 for e in est.values())


def test_interval_is_reproducible_from_the_seed() -> None:
    a = stratified_counts(STRATA, seed=3)
    assert a == stratified_counts(STRATA, seed=3)
    assert (a.seed, a.draws) == (3, 4000)
    assert a.prior == pytest.approx(1 / 3)


def test_fully_audited_batch_has_exact_counts() -> None:
    strata = (Stratum(1, 4, 1, (1, 1, 2, N)), Stratum(N, 3, N, (N, N, 1)))
    est = {e.label: e for e in stratified_counts(strata).estimates}
    assert (est[1].low, est[1].estimate, est[1].high) == (3, 3, 3)
    assert est[1].variance == 0.0


def test_prior_uses_the_codebook_size() -> None:
    # A codebook label nobody used still enters K' (here 4 labels → prior 1/4).
    r = stratified_counts(STRATA, labels=[1, 2, 3, N])
    assert r.prior == pytest.approx(0.25)
    assert [e.label for e in r.estimates] == [1, 2, 3, N]


def test_stratified_interval_covers_the_true_count() -> None:
    # 150 simulated batches (N = 100, four labels, judge right 80% of the time, 25% audited
    # per stratum): every label's 95% interval must cover its true count ≥ 90% of the time.
    rng = np.random.default_rng(11)
    labels: list[Label] = [0, 1, 2, N]
    hits = np.zeros(4)
    reps = 150
    for _ in range(reps):
        truth = rng.choice(4, size=100, p=[0.45, 0.3, 0.15, 0.1])
        judge = np.where(rng.random(100) < 0.8, truth, rng.integers(0, 4, 100))
        strata = []
        for j in range(4):
            idx = np.flatnonzero(judge == j)
            if len(idx):
                n = len(idx) if len(idx) <= 8 else max(5, len(idx) // 4)
                seen = rng.choice(idx, n, replace=False)
                strata.append(
                    Stratum(j, len(idx), labels[j], tuple(labels[t] for t in truth[seen]))
                )
        result = stratified_counts(strata, labels=labels, draws=2000, seed=int(rng.integers(9999)))
        for k, e in enumerate(result.estimates):
            hits[k] += e.low <= (truth == k).sum() <= e.high
    assert (hits / reps >= 0.9).all(), hits / reps


def test_build_strata_adds_the_judge_noise_stratum() -> None:
    proposals = [JudgeProposal(5, "a", frozenset({1, 2, 3})), JudgeProposal(6, "b", frozenset({4}))]
    blind: dict[int, Label] = {1: 7, 3: N, 9: 7}
    strata = build_strata(proposals, {5: 7, 6: 8}, range(1, 10), blind)
    assert strata == (
        Stratum(5, 3, 7, (7, N)),
        Stratum(6, 1, 8, ()),
        Stratum(N, 5, N, (7,)),
    )


def test_unaudited_strata_and_few_draws_are_refused() -> None:
    with pytest.raises(ValueError, match="1 <= n_j <= N_j"):
        stratified_counts((Stratum(1, 5, 1, ()),))
    with pytest.raises(ValueError, match="draws must be >= 2000"):
        stratified_counts(STRATA, draws=500)


def _calibration(table: dict[tuple[Label, Label], int], prob: float = 1.0) -> list[AuditLabel]:
    out: list[AuditLabel] = []
    for (human, judge), count in table.items():
        out += [AuditLabel(len(out) + i, human, judge, prob) for i in range(count)]
    return out


# Calibration: human 1 → judge 1 ×16, 2 ×4 (TPR .8); human 2 → judge 1 ×2, 2 ×18 (TNR .9).
CAL = _calibration({(1, 1): 16, (1, 2): 4, (2, 1): 2, (2, 2): 18})


def test_transported_inversion_by_hand() -> None:
    # M = [[.8, .1], [.2, .9]], p̂ = (.5, .5): .8a + .1(1 − a) = .5 → a = 4/7.
    # (Rogan–Gladen: (p̂ + Sp − 1)/J = .4/.7.) Estimates 100·4/7 and 100·3/7.
    t = transported_counts(CAL, {1: 50, 2: 50}, draws=2000, seed=1)
    est = {e.label: e for e in t.estimates}
    assert est[1].estimate == pytest.approx(400 / 7, abs=1e-3)
    assert est[2].estimate == pytest.approx(300 / 7, abs=1e-3)
    assert est[1].youden == pytest.approx(0.7)
    assert est[1].low < 400 / 7 < est[1].high
    # Singular values of [[.8, .1], [.2, .9]]: both well above 0.1, condition < 30.
    assert t.well_conditioned and est[1].correctable and est[1].positives == 20


def test_judge_stratified_calibration_is_reweighted() -> None:
    # Judge-1 stratum: 10 of 100 audited (π = .1) → human 1 ×8, 2 ×2.
    # Judge-2 stratum: 50 of 100 audited (π = .5) → human 1 ×5, 2 ×45.
    # Weighted: [ĵ=1,h=1] 80, [1,2] 20, [2,1] 10, [2,2] 90 → the population had 90 of 1.
    # Transported onto the same judge counts (100, 100), the estimate must be 90, not the
    # unweighted answer.
    cal = _calibration({(1, 1): 8, (2, 1): 2}, 0.1) + _calibration({(1, 2): 5, (2, 2): 45}, 0.5)
    t = transported_counts(cal, {1: 100, 2: 100}, draws=2000)
    assert {e.label: e.estimate for e in t.estimates} == {
        1: pytest.approx(90, abs=1e-2),
        2: pytest.approx(110, abs=1e-2),
    }


def test_judge_at_chance_is_not_correctable() -> None:
    # Judge says 1 or 2 at random whatever the human says: M has equal columns (singular),
    # and J = 0.
    cal = _calibration({(1, 1): 10, (1, 2): 10, (2, 1): 10, (2, 2): 10})
    t = transported_counts(cal, {1: 50, 2: 50})
    assert not t.well_conditioned
    assert all(not e.correctable for e in t.estimates)
    assert all(e.j_failure > 0.025 for e in t.estimates)


def test_too_few_positives_is_not_correctable() -> None:
    cal = _calibration({(1, 1): 8, (1, 2): 1, (2, 2): 40, (2, 1): 1})
    est = {e.label: e for e in transported_counts(cal, {1: 20, 2: 80}).estimates}
    assert "fewer than 10 calibration positives" in est[1].reasons
    assert not est[1].correctable


def test_display_tiers() -> None:
    judge_counts: dict[Label, int] = {1: 10, 2: 8, N: 12}
    tiers = display_counts(judge_counts, stratified=stratified_counts(STRATA))
    assert [d.tier for d in tiers] == [Tier.audited] * 3
    assert tiers[0].estimate == pytest.approx(11) and tiers[0].precision is not None

    transported = transported_counts(CAL, {1: 50, 2: 50})
    shown = display_counts({1: 50, 2: 50}, transported=transported)
    assert [d.tier for d in shown] == [Tier.transported, Tier.transported]

    chance = transported_counts(
        _calibration({(1, 1): 10, (1, 2): 10, (2, 1): 10, (2, 2): 10}), {1: 31, 2: 69}
    )
    audit: Sequence[Label] = [1] * 6 + [2] * 19
    c = display_counts({1: 31, 2: 69}, transported=chance, audit=audit)
    assert c[0].tier is Tier.not_correctable
    # Never a corrected number in tier C; "audit: 6 of 25 → 24% (11–43%)".
    assert (c[0].estimate, c[0].low, c[0].high) == (None, None, None)
    assert c[0].audit_share == wilson(6, 25) and c[0].judge_count == 31
    bare = display_counts({1: 31})
    assert bare[0].tier is Tier.not_correctable and bare[0].audit_share is None
