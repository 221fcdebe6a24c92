"""Pure metric helpers for benchmarks and tests.

Unclustered notes (label -1 in a predicted labelling) are counted as singletons everywhere:
a note left out of every cluster is a cluster of its own, so leaving notes out costs recall
instead of being ignored.

Example:
    >>> bcubed([0, 0, 1, 1], [0, 0, 1, -1])
    (1.0, 0.75, 0.857142857142857)
"""

from __future__ import annotations

from collections.abc import Sequence
from itertools import combinations

import numpy as np
from numpy.typing import ArrayLike, NDArray
from sklearn.metrics import adjusted_mutual_info_score, adjusted_rand_score


def noise_as_singletons(labels: ArrayLike) -> NDArray[np.int64]:
    """Give each -1 label its own fresh id (above every real label).

    Args:
        labels: Cluster labels, -1 for unclustered.

    Returns:
        A copy where every -1 became a distinct new label.
    """
    out = np.asarray(labels, dtype=np.int64).copy()
    noise = out < 0
    start = int(out.max()) + 1 if out.size and (~noise).any() else 0
    out[noise] = np.arange(start, start + int(noise.sum()))
    return out


def _contingency(a: NDArray[np.int64], b: NDArray[np.int64]) -> NDArray[np.int64]:
    _, ai = np.unique(a, return_inverse=True)
    _, bi = np.unique(b, return_inverse=True)
    table = np.zeros((ai.max() + 1, bi.max() + 1), dtype=np.int64)
    np.add.at(table, (ai, bi), 1)
    return table


def bcubed(labels_true: ArrayLike, labels_pred: ArrayLike) -> tuple[float, float, float]:
    """B-cubed precision, recall and F1 (Amigó et al. 2009), noise as singletons.

    Args:
        labels_true: Gold category per item.
        labels_pred: Predicted cluster per item; -1 = unclustered, counted as a singleton.

    Returns:
        (precision, recall, f1), each averaged over items.

    Raises:
        ValueError: If the labellings differ in length or are empty.
    """
    true = np.asarray(labels_true)
    pred = noise_as_singletons(labels_pred)
    if true.shape != pred.shape or true.size == 0:
        raise ValueError(f"need two equal, non-empty labellings, got {true.shape}, {pred.shape}")
    _, true_ids = np.unique(true, return_inverse=True)
    table = _contingency(pred, true_ids.astype(np.int64)).astype(np.float64)
    squared = table**2
    n = float(true.size)
    precision = float((squared.sum(axis=1) / table.sum(axis=1)).sum() / n)
    recall = float((squared.sum(axis=0) / table.sum(axis=0)).sum() / n)
    f1 = 2 * precision * recall / (precision + recall)
    return precision, recall, f1


def ari_ami_with_singletons(labels_true: ArrayLike, labels_pred: ArrayLike) -> tuple[float, float]:
    """Adjusted Rand and adjusted mutual information, noise as singletons.

    Args:
        labels_true: Gold category per item.
        labels_pred: Predicted cluster per item; -1 = unclustered.

    Returns:
        (ARI, AMI).
    """
    pred = noise_as_singletons(labels_pred)
    true = np.asarray(labels_true)
    return float(adjusted_rand_score(true, pred)), float(adjusted_mutual_info_score(true, pred))


def seed_stability(labelings: Sequence[ArrayLike]) -> float:
    """Mean pairwise ARI between labellings of the same items (noise as singletons).

    Args:
        labelings: Two or more labellings, e.g. one per random seed.

    Returns:
        The mean ARI over all pairs; 1.0 means every run agreed exactly.

    Raises:
        ValueError: With fewer than two labellings.
    """
    if len(labelings) < 2:
        raise ValueError("seed_stability needs at least two labelings")
    scores = [
        adjusted_rand_score(noise_as_singletons(a), noise_as_singletons(b))
        for a, b in combinations(labelings, 2)
    ]
    return float(np.mean(scores))
