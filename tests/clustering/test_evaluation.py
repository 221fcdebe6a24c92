"""Metric helpers, checked against hand-worked values and sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score

from clustering.evaluation import (
    ari_ami_with_singletons,
    bcubed,
    noise_as_singletons,
    seed_stability,
)


def test_bcubed_hand_worked() -> None:
    # true: A A A B B ; pred: 0 0 1 1 1
    # precision per item: 1, 1, 1/3, 2/3, 2/3 -> mean 11/15
    # recall per item:    2/3, 2/3, 1/3, 1, 1 -> mean 11/15
    p, r, f = bcubed(["A", "A", "A", "B", "B"], [0, 0, 1, 1, 1])
    assert p == pytest.approx(11 / 15)
    assert r == pytest.approx(11 / 15)
    assert f == pytest.approx(11 / 15)


def test_bcubed_counts_noise_as_singletons() -> None:
    # all unclustered: perfect precision, recall 1/size of each true class
    p, r, _ = bcubed([0, 0, 0, 0], [-1, -1, -1, -1])
    assert p == 1.0
    assert r == pytest.approx(0.25)
    # a single shared -1 label would have scored recall 1.0
    assert bcubed([0, 0, 0, 0], [5, 5, 5, 5])[1] == 1.0


def test_bcubed_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="equal"):
        bcubed([0, 1], [0])


def test_noise_as_singletons_gives_fresh_ids() -> None:
    out = noise_as_singletons([1, -1, 0, -1])
    assert out.tolist()[0] == 1 and out.tolist()[2] == 0
    assert len(set(out.tolist())) == 4


def test_ari_ami_match_sklearn_on_singletons() -> None:
    true = [0, 0, 1, 1, 2, 2]
    pred = [0, 0, 1, -1, -1, 1]
    ari, ami = ari_ami_with_singletons(true, pred)
    explicit = [0, 0, 1, 7, 8, 1]
    assert ari == pytest.approx(adjusted_rand_score(true, explicit))
    assert ami == pytest.approx(adjusted_mutual_info_score(true, explicit))


def test_seed_stability() -> None:
    a = np.array([0, 0, 1, 1, 2, 2])
    assert seed_stability([a, a.copy(), (a + 1) % 3]) == pytest.approx(1.0)
    b = np.array([0, 1, 0, 1, 0, 1])
    assert seed_stability([a, b]) < 0.5
    with pytest.raises(ValueError, match="at least two"):
        seed_stability([a])
