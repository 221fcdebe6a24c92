"""Partition agreement with noise as singletons (METRICS.md §1.3)."""

from __future__ import annotations

import math
from collections import Counter
from itertools import permutations

import numpy as np
import pytest
from sklearn.metrics import (  # type: ignore[import-untyped,unused-ignore]
    adjusted_mutual_info_score,
    adjusted_rand_score,
    homogeneity_completeness_v_measure,
)

from judges.agreement import Label, contingency, partition_agreement

N = None
# Six notes. Human: A = {1,2,3}, B = {4,5}, 6 is noise.
# Judge:  X = {1,2}, Y = {3,4}, 5 and 6 are noise.
HUMAN: dict[int, Label] = {1: 10, 2: 10, 3: 10, 4: 20, 5: 20, 6: N}
JUDGE: dict[int, Label] = {1: 7, 2: 7, 3: 8, 4: 8, 5: N, 6: N}


def expand(labels: list[Label]) -> list[int]:
    """Noise → a fresh negative code per note (singletons), for sklearn."""
    return [-(i + 1) if lab is None else lab for i, lab in enumerate(labels)]


def test_bcubed_by_hand() -> None:
    # note: J(i) ∩ H(i) → P_i, R_i
    # 1: {1,2}∩{1,2,3} = 2 → 2/2, 2/3     2: same → 1, 2/3
    # 3: {3,4}∩{1,2,3} = 1 → 1/2, 1/3     4: {3,4}∩{4,5} = 1 → 1/2, 1/2
    # 5: {5}∩{4,5} = 1 → 1, 1/2           6: {6}∩{6} → 1, 1 (noise is a singleton)
    # P = 5/6, R = (2/3+2/3+1/3+1/2+1/2+1)/6 = 11/18, F = 2PR/(P+R) = 55/78
    b = partition_agreement(HUMAN, JUDGE).bcubed
    assert b.precision == pytest.approx(5 / 6)
    assert b.recall == pytest.approx(11 / 18)
    assert b.f1 == pytest.approx(55 / 78)


def test_pairwise_by_hand() -> None:
    # Human pairs: A → 3, B → 1 (4). Judge pairs: X → 1, Y → 1 (2). Shared: (1,2) only.
    # P = 1/2, R = 1/4, F = 2·(1/8)/(3/4) = 1/3.
    p = partition_agreement(HUMAN, JUDGE).pairwise
    assert (p.precision, p.recall, p.f1) == pytest.approx((0.5, 0.25, 1 / 3))


def test_ari_by_hand_and_against_sklearn() -> None:
    # I = C2(2) = 1; A = C2(3) + C2(2) = 4; B = C2(2) + C2(2) = 2; E = 4·2/C2(6) = 8/15
    # ARI = (1 − 8/15)/(3 − 8/15) = 7/37
    a = partition_agreement(HUMAN, JUDGE)
    assert a.ari == pytest.approx(7 / 37)
    h, j = list(HUMAN.values()), list(JUDGE.values())
    assert a.ari == pytest.approx(adjusted_rand_score(expand(h), expand(j)))


def _mi(u: list[int], v: list[int]) -> float:
    n = len(u)
    joint, cu, cv = Counter(zip(u, v, strict=True)), Counter(u), Counter(v)
    return sum(k / n * math.log(n * k / (cu[a] * cv[b])) for (a, b), k in joint.items())


def _entropy(u: list[int]) -> float:
    n = len(u)
    return -sum(k / n * math.log(k / n) for k in Counter(u).values())


def test_ami_against_brute_force_expectation() -> None:
    # E[MI] under the permutation model, by enumerating all 6! relabellings of the judge side.
    h, j = expand(list(HUMAN.values())), expand(list(JUDGE.values()))
    emi = sum(_mi(h, list(p)) for p in permutations(j)) / math.factorial(6)
    expected = (_mi(h, j) - emi) / ((_entropy(h) + _entropy(j)) / 2 - emi)
    a = partition_agreement(HUMAN, JUDGE)
    assert a.ami == pytest.approx(expected, abs=1e-12)
    assert a.ami == pytest.approx(adjusted_mutual_info_score(h, j, average_method="arithmetic"))


def test_v_measure_against_sklearn_and_perfect_agreement() -> None:
    a = partition_agreement(HUMAN, JUDGE)
    h, j = expand(list(HUMAN.values())), expand(list(JUDGE.values()))
    ref = homogeneity_completeness_v_measure(h, j)
    assert (a.homogeneity, a.completeness, a.v_measure) == pytest.approx(ref)
    same = partition_agreement(HUMAN, HUMAN)
    assert (same.homogeneity, same.completeness, same.v_measure) == pytest.approx((1, 1, 1))
    assert (same.ari, same.ami, same.bcubed.f1) == pytest.approx((1, 1, 1))


@pytest.mark.parametrize("seed", range(6))
def test_indices_match_sklearn_on_random_partitions_with_noise(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = 40
    human = {i: None if rng.random() < 0.25 else int(rng.integers(0, 4)) for i in range(n)}
    judge = {i: None if rng.random() < 0.3 else int(rng.integers(0, 6)) for i in range(n)}
    a = partition_agreement(human, judge)
    h, j = expand(list(human.values())), expand(list(judge.values()))
    assert a.ari == pytest.approx(adjusted_rand_score(h, j), abs=1e-10)
    assert a.ami == pytest.approx(adjusted_mutual_info_score(h, j), abs=1e-10)
    assert a.v_measure == pytest.approx(homogeneity_completeness_v_measure(h, j)[2], abs=1e-10)


def test_noise_is_never_one_cluster() -> None:
    # Four human-noise notes that the judge put in one proposal. As singletons, each note's
    # judge cluster holds 3 wrong mates: B-cubed P_i = 1/4. One "noise cluster" would make
    # this look perfect (P = 1).
    human: dict[int, Label] = dict.fromkeys(range(4))
    judge: dict[int, Label] = dict.fromkeys(range(4), 5)
    b = partition_agreement(human, judge)
    assert b.bcubed.precision == pytest.approx(0.25)
    assert b.bcubed.recall == pytest.approx(1.0)
    assert b.pairwise.precision == 0.0 and b.pairwise.recall is None
    assert contingency([N, N, N], [N, N, N]).shape == (3, 3)


def test_all_noise_on_both_sides_is_perfect_agreement() -> None:
    everything_noise: dict[int, Label] = dict.fromkeys(range(5))
    a = partition_agreement(everything_noise, everything_noise)
    assert (a.ari, a.ami) == (1.0, 1.0)
    assert a.bcubed.f1 == pytest.approx(1.0)
    assert a.pairwise.f1 is None  # no pairs at all


def test_noise_table_and_missing_judge_notes() -> None:
    # Notes absent from the judge partition are judge noise.
    a = partition_agreement(HUMAN, {1: 7, 2: 7, 3: 8, 4: 8})
    assert a == partition_agreement(HUMAN, JUDGE)
    assert (a.noise.both_noise, a.noise.judge_only, a.noise.human_only) == (1, 1, 0)
    with pytest.raises(ValueError, match="outside the human partition"):
        partition_agreement(HUMAN, {99: 1})
