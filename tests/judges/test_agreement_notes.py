"""Per-note agreement: confusion matrix, κ, F1, error decomposition (METRICS.md §1.2)."""

from __future__ import annotations

from collections.abc import Sequence

import pytest
from sklearn.metrics import (  # type: ignore[import-untyped,unused-ignore]
    cohen_kappa_score,
    f1_score,
)

from judges.agreement import (
    JudgeProposal,
    Label,
    cohen_kappa,
    confusion_matrix,
    judge_labels,
    noise_agreement,
    note_agreement,
)

N = None
# (human, judge) for 14 notes. Confusion, rows human / columns judge, order (1, 2, ∅):
#      1  2  ∅
#  1 [ 5, 1, 1 ]   support 7
#  2 [ 1, 3, 0 ]   support 4
#  ∅ [ 1, 0, 2 ]   support 3
PAIRS: list[tuple[Label, Label]] = (
    [(1, 1)] * 5 + [(1, 2), (1, N)] + [(2, 2)] * 3 + [(2, 1)] + [(N, N)] * 2 + [(N, 1)]
)


def _codes(labels: list[Label]) -> list[int]:
    return [-1 if lab is None else lab for lab in labels]


def test_confusion_matrix_layout() -> None:
    c = confusion_matrix(PAIRS)
    assert c.labels == (1, 2, None)
    assert c.counts == ((5, 1, 1), (1, 3, 0), (1, 0, 2))
    assert c.n == 14


def test_accuracy_and_kappa_by_hand() -> None:
    a = note_agreement(PAIRS)
    # p_o = (5+3+2)/14 = 10/14; p_e = (7·7 + 4·4 + 3·3)/14² = 74/196
    # κ = (10/14 − 74/196)/(1 − 74/196) = (140 − 74)/(196 − 74) = 66/122 = 0.540984
    assert a.accuracy.value == pytest.approx(10 / 14)
    assert a.accuracy.n == 14
    assert a.kappa == pytest.approx(66 / 122)
    human, judge = zip(*PAIRS, strict=True)
    assert a.kappa == pytest.approx(cohen_kappa_score(_codes(list(human)), _codes(list(judge))))


def test_per_category_scores_and_macro_f1() -> None:
    a = note_agreement(PAIRS)
    scores = {s.label: s for s in a.per_label}
    # Category 1: TP 5, column 7, row 7 → P = R = 5/7, F1 = 10/(10+2+2) = 5/7.
    assert (scores[1].precision, scores[1].recall) == pytest.approx((5 / 7, 5 / 7))
    assert scores[1].f1 == pytest.approx(5 / 7)
    # Category 2: TP 3, column 4, row 4 → 0.75 each. Noise: 2/3 each.
    assert scores[2].f1 == pytest.approx(0.75)
    assert scores[None].precision == pytest.approx(2 / 3)
    # Macro-F1 over categories with support ≥ 5: only category 1 (support 7; 2 has 4).
    assert a.macro_f1_categories == (1,)
    assert a.macro_f1 == pytest.approx(5 / 7)
    lowered = note_agreement(PAIRS, min_support=4)
    assert lowered.macro_f1 == pytest.approx((5 / 7 + 0.75) / 2)


def test_macro_f1_counts_a_never_predicted_category_as_zero() -> None:
    # Human category 3 (5 notes) is always labelled 1 by the judge: F1(3) = 0, P(3) undefined.
    pairs: Sequence[tuple[Label, Label]] = [(1, 1)] * 5 + [(3, 1)] * 5
    a = note_agreement(pairs)
    scores = {s.label: s for s in a.per_label}
    assert scores[3].precision is None and scores[3].recall == 0.0 and scores[3].f1 == 0.0
    # F1(1) = 2·5/(2·5 + 5 + 0) = 2/3 → macro = (2/3 + 0)/2 = 1/3, as sklearn's macro F1.
    assert a.macro_f1 == pytest.approx(1 / 3)
    ref = f1_score([1] * 5 + [3] * 5, [1] * 10, average="macro", zero_division=0)
    assert a.macro_f1 == pytest.approx(ref)


def test_error_decomposition_adds_up() -> None:
    e = note_agreement(PAIRS).errors
    # wrong category: (1→2), (2→1) = 2; false noise: (1→∅) = 1; false inclusion: (∅→1) = 1.
    assert (e.wrong_category, e.false_noise, e.false_inclusion) == pytest.approx(
        (2 / 14, 1 / 14, 1 / 14)
    )
    assert e.wrong_category + e.false_noise + e.false_inclusion == pytest.approx(1 - 10 / 14)


def test_noise_table_by_hand() -> None:
    t = noise_agreement(PAIRS)
    assert (t.both_noise, t.judge_only, t.human_only, t.neither) == (2, 1, 1, 10)
    assert (t.precision, t.recall) == pytest.approx((2 / 3, 2 / 3))
    # Binary κ: p_o = 12/14; p_e = (3·3 + 11·11)/196 = 130/196; κ = (168−130)/(196−130) = 38/66
    assert t.kappa == pytest.approx(38 / 66)
    human = [h is None for h, _ in PAIRS]
    judge = [j is None for _, j in PAIRS]
    assert t.kappa == pytest.approx(cohen_kappa_score(human, judge))


def test_kappa_undefined_when_both_use_one_label() -> None:
    assert cohen_kappa(confusion_matrix([(1, 1), (1, 1)])) is None
    assert note_agreement([(1, 1)]).accuracy.value == 1.0


def test_kappa_matches_sklearn_on_a_skewed_table() -> None:
    # 2×2 with skewed prevalence: κ is low although raw agreement is 0.9.
    pairs: Sequence[tuple[Label, Label]] = [(1, 1)] * 17 + [(1, 2), (2, 1)] + [(2, 2)]
    a = note_agreement(pairs)
    # p_o = 18/20; p_e = (18·18 + 2·2)/400 = 328/400; κ = (360−328)/(400−328) = 32/72
    assert a.kappa == pytest.approx(32 / 72)
    h, j = zip(*pairs, strict=True)
    assert a.kappa == pytest.approx(cohen_kappa_score(_codes(list(h)), _codes(list(j))))


def test_judge_labels_map_through_m() -> None:
    proposals = [JudgeProposal(7, "a", frozenset({1, 2})), JudgeProposal(8, "b", frozenset({3}))]
    labels = judge_labels(proposals, {7: 40, 8: None}, [1, 2, 3, 4])
    assert labels == {1: 40, 2: 40, 3: None, 4: None}


def test_empty_input_is_refused() -> None:
    with pytest.raises(ValueError, match="no notes"):
        note_agreement([])
