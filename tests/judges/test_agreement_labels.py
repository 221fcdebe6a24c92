"""The label-array front end of the partition indices (clusterings against gold labels, -1 =
unclustered), checked against hand-worked values, a per-item B-cubed and sklearn."""

from __future__ import annotations

import numpy as np
import pytest
from sklearn.metrics import (  # type: ignore[import-untyped,unused-ignore]
    adjusted_mutual_info_score,
    adjusted_rand_score,
)

from judges.agreement import (
    label_ari_ami,
    label_bcubed,
    label_contingency,
    noise_as_singletons,
    seed_stability,
)


def test_bcubed_hand_worked() -> None:
    # true: A A A B B ; pred: 0 0 1 1 1
    # precision per item: 1, 1, 1/3, 2/3, 2/3 -> mean 11/15
    # recall per item:    2/3, 2/3, 1/3, 1, 1 -> mean 11/15
    p, r, f = label_bcubed(["A", "A", "A", "B", "B"], [0, 0, 1, 1, 1])
    assert p == pytest.approx(11 / 15)
    assert r == pytest.approx(11 / 15)
    assert f == pytest.approx(11 / 15)


def test_bcubed_counts_noise_as_singletons() -> None:
    # all unclustered: perfect precision, recall 1/size of each true class
    p, r, _ = label_bcubed([0, 0, 0, 0], [-1, -1, -1, -1])
    assert p == 1.0
    assert r == pytest.approx(0.25)
    # a single shared -1 label would have scored recall 1.0
    assert label_bcubed([0, 0, 0, 0], [5, 5, 5, 5])[1] == 1.0


def test_bcubed_rejects_mismatched_lengths() -> None:
    with pytest.raises(ValueError, match="equal"):
        label_bcubed([0, 1], [0])
    with pytest.raises(ValueError, match="non-empty"):
        label_ari_ami([], [])


def test_noise_as_singletons_gives_fresh_ids() -> None:
    out = noise_as_singletons([1, -1, 0, -1])
    assert out.tolist()[0] == 1 and out.tolist()[2] == 0
    assert len(set(out.tolist())) == 4


def test_label_contingency_rows_gold_columns_clusters() -> None:
    table = label_contingency(["b", "a", "a", "b"], [0, 0, -1, -1])
    # rows a, b; columns cluster 0, then the two unclustered notes in order
    assert table.tolist() == [[1, 1, 0], [1, 0, 1]]


def test_ari_ami_match_sklearn_on_singletons() -> None:
    true = [0, 0, 1, 1, 2, 2]
    pred = [0, 0, 1, -1, -1, 1]
    ari, ami = label_ari_ami(true, pred)
    explicit = [0, 0, 1, 7, 8, 1]
    assert ari == pytest.approx(adjusted_rand_score(true, explicit))
    assert ami == pytest.approx(adjusted_mutual_info_score(true, explicit))


def _per_item_bcubed(true: np.ndarray, pred: np.ndarray) -> tuple[float, float]:
    """B-cubed by its definition, item by item (noise already as singletons)."""
    same_true, same_pred = true[:, None] == true[None, :], pred[:, None] == pred[None, :]
    both = (same_true & same_pred).sum(axis=1)
    return float(np.mean(both / same_pred.sum(axis=1))), float(
        np.mean(both / same_true.sum(axis=1))
    )


@pytest.mark.parametrize("seed", range(8))
def test_indices_match_sklearn_on_random_labelings(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(20, 400))
    true = rng.integers(0, int(rng.integers(1, 12)), n)
    pred = rng.integers(0, int(rng.integers(1, 15)), n)
    pred[rng.random(n) < rng.choice([0.0, 0.2, 0.6])] = -1
    explicit = noise_as_singletons(pred)
    ari, ami = label_ari_ami(true, pred)
    assert ari == pytest.approx(adjusted_rand_score(true, explicit), abs=1e-12)
    assert ami == pytest.approx(adjusted_mutual_info_score(true, explicit), abs=1e-10)
    p, r, f = label_bcubed(true, pred)
    assert (p, r) == pytest.approx(_per_item_bcubed(true, explicit), abs=1e-12)
    assert f == pytest.approx(2 * p * r / (p + r))


def test_seed_stability() -> None:
    a = np.array([0, 0, 1, 1, 2, 2])
    assert seed_stability([a, a.copy(), (a + 1) % 3]) == pytest.approx(1.0)
    b = np.array([0, 1, 0, 1, 0, 1])
    assert seed_stability([a, b]) < 0.5
    with pytest.raises(ValueError, match="at least two"):
        seed_stability([a])
    with pytest.raises(ValueError, match="equal length"):
        seed_stability([a, b[:4]])


@pytest.mark.parametrize("seed", range(4))
def test_seed_stability_is_mean_pairwise_sklearn_ari(seed: int) -> None:
    rng = np.random.default_rng(100 + seed)
    runs = [rng.integers(-1, 6, 150) for _ in range(4)]
    explicit = [noise_as_singletons(r) for r in runs]
    expected = np.mean(
        [adjusted_rand_score(explicit[i], explicit[j]) for i in range(4) for j in range(i + 1, 4)]
    )
    assert seed_stability(runs) == pytest.approx(expected, abs=1e-12)
