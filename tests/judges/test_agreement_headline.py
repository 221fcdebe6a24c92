"""Headline error rate, anchoring gap and the human noise floor (METRICS.md §2)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from judges.agreement import (
    AuditLabel,
    Label,
    anchoring_gap,
    disagreement_rate,
    error_rate,
    excess_error,
    headline,
    krippendorff_alpha,
    pooled_error_rate,
    wilson,
)


def audit(disagreeing: int, agreeing: int, prob: float = 1.0, start: int = 0) -> list[AuditLabel]:
    """``disagreeing`` notes where judge says 2 and the human 1, then agreeing ones."""
    out = [AuditLabel(start + i, 1, 2, prob) for i in range(disagreeing)]
    return out + [AuditLabel(start + disagreeing + i, 1, 1, prob) for i in range(agreeing)]


def test_error_rate_zero_of_thirty() -> None:
    e = error_rate(audit(0, 30))
    assert (e.disagreements, e.n, e.indicative, e.weighted) == (0, 30, False, False)
    assert e.rate.high == pytest.approx(0.11352, abs=1e-5)  # METRICS.md: [0, 11.4%]


def test_small_audit_is_indicative_only() -> None:
    assert error_rate(audit(1, 18)).indicative  # n = 19 < 20
    assert not error_rate(audit(1, 19)).indicative  # n = 20


def test_noise_counts_as_a_label() -> None:
    e = error_rate([AuditLabel(1, None, 3), AuditLabel(2, None, None), AuditLabel(3, 4, None)])
    assert e.disagreements == 2


def test_hajek_pooling_by_hand() -> None:
    # Batch 1: N = 100, n = 10 (π = .1, w = 10), 2 errors. Batch 2: N = 50, n = 25 (π = .5,
    # w = 2), 5 errors. p̂ = (10·2 + 2·5)/(10·10 + 2·25) = 30/150 = 0.2 — the same as
    # (0.2·100 + 0.2·50)/150. Kish: n_eff = 150²/(10·10² + 25·2²) = 22500/1100 = 20.4545.
    pooled = audit(2, 8, 0.1) + audit(5, 20, 0.5, start=100)
    e = pooled_error_rate(pooled)
    assert e.rate.value == pytest.approx(0.2)
    assert e.n_eff == pytest.approx(22500 / 1100)
    assert (e.n, e.disagreements, e.weighted, e.indicative) == (35, 7, True, False)
    # Wilson on (p̂, n_eff): centre (0.2 + 3.8416/40.909)/(1 + 3.8416/20.4545) etc.
    assert (e.rate.low, e.rate.high) == pytest.approx((0.081457, 0.413412), abs=1e-5)


def test_hajek_with_equal_weights_is_the_plain_rate() -> None:
    plain, weighted = error_rate(audit(3, 22)), pooled_error_rate(audit(3, 22, 0.25))
    assert weighted.n_eff == pytest.approx(25)
    assert (weighted.rate.low, weighted.rate.high) == pytest.approx(
        (plain.rate.low, plain.rate.high)
    )


def test_invalid_audits_are_refused() -> None:
    with pytest.raises(ValueError, match="empty"):
        error_rate([])
    with pytest.raises(ValueError, match="inclusion probabilities"):
        pooled_error_rate(audit(1, 1, 0.0))


def test_anchoring_gap_by_hand() -> None:
    # 10 audited notes also went through the workflow. Judge says 2 everywhere.
    # Blind label disagrees on notes 0–3, workflow label only on note 0 (reviewers anchored).
    # Paired table: both 1, blind only 3, workflow only 0, neither 6 → gap .4 − .1 = .3.
    # Wilson: .4 → (.168178, .687330); .1 → (.017876, .404156); φ = 6/sqrt(4·6·1·9) = .408248
    # δ² = .231822² − 2φ·.231822·.304156 + .304156² = .088681 → L = .3 − .297793 = .002207
    # ε² = .287330² − 2φ·.287330·.082124 + .082124² = .070036 → U = .3 + .264643 = .564643
    blind = [AuditLabel(i, 1 if i < 4 else 2, 2) for i in range(10)]
    workflow: Mapping[int, Label] = {i: 2 for i in range(10)} | {0: 1, 42: 1}
    gap = anchoring_gap(blind, workflow)
    assert gap is not None
    assert gap.value == pytest.approx(0.3)
    assert (gap.low, gap.high) == pytest.approx((0.002207, 0.564643), abs=1e-5)
    assert gap.n1 == 10  # note 42 was not audited
    assert anchoring_gap(blind, {}) is None


def test_headline_puts_workflow_next_to_blind() -> None:
    blind = [AuditLabel(i, 1 if i < 4 else 2, 2) for i in range(10)]
    workflow: Mapping[int, Label] = {i: 2 for i in range(20)} | {0: 1}
    judge: dict[int, Label] = dict.fromkeys(range(20), 2)
    h = headline(blind, workflow, judge)
    assert h.error is not None and h.error.rate.value == pytest.approx(0.4)
    assert h.workflow is not None and (h.workflow.value, h.workflow.n) == (0.05, 20)
    assert h.anchoring_gap is not None and h.anchoring_gap.value == pytest.approx(0.3)
    empty = headline([])
    assert (empty.error, empty.workflow, empty.anchoring_gap) == (None, None, None)


def test_human_disagreement() -> None:
    pairs: list[tuple[Label, Label]] = [(1, 1), (1, 2), (None, None), (None, 3)]
    assert disagreement_rate(pairs) == wilson(2, 4)


def test_krippendorff_alpha_two_coders_by_hand() -> None:
    # Units (a,a), (a,b), (b,b), (b,b). Coincidences: o_aa = 2, o_ab = o_ba = 1, o_bb = 4;
    # n_a = 3, n_b = 5, n = 8. α = 1 − (n−1)·Σ_{c≠k} o_ck / (n² − Σ n_c²)
    #   = 1 − 7·2/(64 − 9 − 25) = 1 − 14/30 = 8/15.
    assert krippendorff_alpha([[1, 1], [1, 2], [2, 2], [2, 2]]) == pytest.approx(8 / 15)
    # A unit with a single label is not pairable and changes nothing; noise is a label.
    assert krippendorff_alpha([[1, 1], [1, 2], [2, 2], [2, 2], [7]]) == pytest.approx(8 / 15)
    assert krippendorff_alpha([[None, None], [None, 2], [2, 2], [2, 2]]) == pytest.approx(8 / 15)


def test_krippendorff_alpha_reference_example() -> None:
    # Krippendorff's four-coder, 12-unit example with missing values: nominal α = 0.743.
    coders = [
        [1, 2, 3, 3, 2, 1, 4, 1, 2, None, None, None],
        [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, None, 3],
        [None, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, None],
        [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, None],
    ]
    units = [[c[u] for c in coders if c[u] is not None] for u in range(12)]
    assert krippendorff_alpha(units) == pytest.approx(0.743, abs=5e-4)


def test_krippendorff_alpha_undefined_without_variation() -> None:
    assert krippendorff_alpha([[1, 1], [1, 1]]) is None
    assert krippendorff_alpha([[1]]) is None


def test_excess_error_and_parity() -> None:
    # Judge 14/96 vs humans 5/20: the Newcombe interval of −.104 spans 0 → at parity.
    x = excess_error(14, 96, 5, 20)
    assert x.difference.value == pytest.approx(14 / 96 - 5 / 20)
    assert x.difference.low < 0 < x.difference.high and x.at_parity
    # Judge 40/100 vs humans 2/100: clearly above the human floor.
    assert not excess_error(40, 100, 2, 100).at_parity
