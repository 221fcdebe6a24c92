"""CategoryMatcher: new notes matched to confirmed categories, with a self-calibrated threshold."""

from __future__ import annotations

import numpy as np
import pytest

from clustering.carryover import CategoryMatcher


def blobs(centres: np.ndarray, per: int, spread: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    X = np.concatenate([c + spread * rng.standard_normal((per, centres.shape[1])) for c in centres])
    y = np.repeat(np.arange(len(centres)), per)
    return X.astype(np.float32), y


@pytest.fixture(scope="module")
def centres() -> np.ndarray:
    rng = np.random.default_rng(0)
    C = rng.standard_normal((6, 32))
    return C / np.linalg.norm(C, axis=1, keepdims=True)


def test_notes_of_confirmed_categories_are_carried_over_and_right(centres: np.ndarray) -> None:
    X, y = blobs(centres[:4], 30, 0.08, seed=1)
    matcher = CategoryMatcher().fit(X, y + 100)  # category ids need not be 0..k-1
    assert matcher.calibrated_
    Xn, yn = blobs(centres[:4], 10, 0.08, seed=2)
    labels, confidence = matcher.predict(Xn)
    carried = labels >= 0
    assert carried.mean() >= 0.9
    assert (labels[carried] == yn[carried] + 100).all()
    assert confidence.shape == (40,) and (confidence[carried] >= matcher.threshold_).all()


def test_notes_of_a_new_failure_are_left_to_clustering(centres: np.ndarray) -> None:
    # categories that sit close together, and a new failure right beside the first one:
    # only calibrating on held-out categories teaches the matcher what "new" looks like
    near = centres[:4] + 1.2 * centres[4]
    near /= np.linalg.norm(near, axis=1, keepdims=True)
    X, y = blobs(near, 30, 0.1, seed=1)
    matcher = CategoryMatcher().fit(X, y)
    new = near[0] + 0.7 * centres[5]
    novel, _ = blobs((new / np.linalg.norm(new))[None, :], 20, 0.1, seed=3)
    labels, _ = matcher.predict(novel)
    assert (labels == -1).mean() >= 0.95
    known, truth = blobs(near, 10, 0.1, seed=2)
    carried = matcher.predict(known)[0]
    assert (carried == truth).mean() >= 0.9


def test_the_threshold_follows_the_data_not_a_constant(centres: np.ndarray) -> None:
    tight = CategoryMatcher().fit(*blobs(centres[:4], 30, 0.05, seed=1))
    loose = CategoryMatcher().fit(*blobs(centres[:4], 30, 0.2, seed=1))
    assert tight.threshold_ > loose.threshold_
    assert tight.threshold_ != tight.fallback_threshold


def test_too_few_decisions_use_the_fallback_threshold(centres: np.ndarray) -> None:
    X, y = blobs(centres[:1], 30, 0.08, seed=1)  # a single category: nothing to calibrate on
    matcher = CategoryMatcher(fallback_threshold=0.8).fit(X, y)
    assert not matcher.calibrated_ and matcher.threshold_ == 0.8
    small = CategoryMatcher().fit(*blobs(centres[:3], 3, 0.08, seed=1))
    assert not small.calibrated_


def test_no_confirmed_notes_match_nothing() -> None:
    matcher = CategoryMatcher().fit(np.zeros((0, 8), dtype=np.float32), np.zeros(0, dtype=np.int64))
    labels, confidence = matcher.predict(np.ones((3, 8), dtype=np.float32))
    assert labels.tolist() == [-1, -1, -1] and confidence.tolist() == [0.0, 0.0, 0.0]


def test_same_data_same_matches(centres: np.ndarray) -> None:
    X, y = blobs(centres[:4], 600, 0.1, seed=1)  # above max_calibration: a seeded sample
    Xn, _ = blobs(centres, 5, 0.1, seed=4)
    a = CategoryMatcher(max_calibration=500).fit(X, y)
    b = CategoryMatcher(max_calibration=500).fit(X, y)
    assert a.threshold_ == b.threshold_
    assert (a.predict(Xn)[0] == b.predict(Xn)[0]).all()


def test_bad_shapes_are_refused() -> None:
    with pytest.raises(ValueError, match="one label each"):
        CategoryMatcher().fit(np.zeros((3, 4)), np.zeros(2))
