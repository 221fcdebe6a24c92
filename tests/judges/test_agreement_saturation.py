"""Saturation: discovery events, D(t), stopping signal, rarefaction (METRICS.md §5)."""

from __future__ import annotations

import math
from itertools import combinations

import pytest

from judges.agreement import Label, rarefaction, rarefaction_curve, saturation

N = None


def test_discoveries_and_curve_count_non_noise_notes_only() -> None:
    # Stream: 1, ∅, 2, 1, ∅, 3, 2 → non-noise t: 1→1 (new), 2→2 (new), 3→1, 4→3 (new), 5→2.
    s = saturation([1, N, 2, 1, N, 3, 2])
    assert s.curve == (1, 2, 2, 3, 3)
    assert s.discoveries == (1, 2, 4)
    assert (s.reviewed, s.non_noise, s.since_last) == (7, 5, 1)
    # Category sizes 1:2, 2:2, 3:1 → f₁ = 1, Good–Turing 1/5.
    assert s.singletons == 1
    assert s.good_turing == pytest.approx(0.2)


def _settled_stream(singletons: int, total: int = 120) -> list[Label]:
    # Singleton categories 100.. first, then 4 categories cycling, all seen in the first notes.
    head: list[Label] = list(range(100, 100 + singletons))
    return head + [i % 4 for i in range(total - singletons)]


def test_stopping_signal_needs_all_three_conditions() -> None:
    # 6 singletons of 120: f₁/N = .05 ≤ .05, nothing new for 120 − 10 notes, t ≥ 100.
    s = saturation(_settled_stream(6))
    assert s.good_turing == pytest.approx(0.05) and s.saturated
    # 7 singletons: f₁/N = .058 > .05 even though "none in 20" holds.
    s = saturation(_settled_stream(7))
    assert s.since_last >= 20 and not s.saturated
    # Only 90 non-noise notes: t < 100.
    assert not saturation(_settled_stream(0, total=90)).saturated
    # A discovery 19 non-noise notes ago (plus noise after it) blocks the signal.
    late: list[Label] = [*_settled_stream(0), 99, *([0] * 19), *([N] * 5)]
    s = saturation(late)
    assert s.since_last == 19 and not s.saturated


def test_none_in_k_bound() -> None:
    # "None in 20" only bounds the per-note discovery chance at 1 − 0.05^(1/20) = 13.9%.
    assert saturation([1]).none_in_k_bound == pytest.approx(0.1391, abs=1e-4)


def test_noise_does_not_fill_the_window_and_is_flagged() -> None:
    # Tail: 15 × "0, ∅, ∅" then 1, 2, 3, 0, 1. The last K = 20 non-noise notes are the 15
    # zeros of the run and the 5 tail notes, so the window runs from the run's first "0" to
    # the end: 45 + 5 = 50 notes, 30 of them noise → 0.6 > 0.5.
    stream: list[Label] = [*_settled_stream(0), *([0, N, N] * 15), 1, 2, 3, 0, 1]
    s = saturation(stream)
    assert s.window_noise_share == pytest.approx(30 / 50)
    assert s.noise_dominated


def test_catch_all_notes_reset_the_window_and_count_as_singletons() -> None:
    base = _settled_stream(0)  # f₁ = 0, saturated
    assert saturation(base).saturated
    stream: list[Label] = [*base, 77, *([0] * 10), 77]
    s = saturation(stream, catch_all={77})
    # Two catch-all notes: f₁ = 2, and the last one resets the counter to 0.
    assert (s.singletons, s.since_last) == (2, 0)
    assert not s.saturated
    assert saturation(stream).since_last == 11  # without the catch-all rule, only +1


def test_rarefaction_by_hand() -> None:
    # Sizes (2, 1), N = 3: E[D(1)] = (1 − C(1,1)/C(3,1)) + (1 − C(2,1)/C(3,1)) = 2/3 + 1/3 = 1
    # E[D(2)] = (1 − 0) + (1 − C(2,2)/C(3,2)) = 1 + 2/3;  E[D(3)] = 2.
    assert rarefaction_curve([2, 1]) == pytest.approx((0, 1, 5 / 3, 2))
    # The last step equals f₁/N = 1/3.


def test_rarefaction_against_enumeration() -> None:
    sizes = [3, 2, 1, 1]
    notes = [c for c, size in enumerate(sizes) for _ in range(size)]
    for n in range(len(notes) + 1):
        subsets = list(combinations(range(len(notes)), n))
        mean = sum(len({notes[i] for i in sub}) for sub in subsets) / len(subsets)
        assert rarefaction(sizes, n) == pytest.approx(mean)
    curve = rarefaction_curve(sizes)
    assert curve[-1] - curve[-2] == pytest.approx(2 / 7)  # f₁/N = 2/7
    assert math.isclose(curve[-1], 4)


def test_rarefaction_rejects_bad_input() -> None:
    with pytest.raises(ValueError, match="0 <= n <= N"):
        rarefaction([2, 1], 4)
