"""CategoryMatcher: new notes matched to confirmed categories, with a self-calibrated threshold."""

from __future__ import annotations

import numpy as np
import pytest

from clustering.carryover import CategoryMatcher, lexical_features, observed_novelty


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


def test_k_is_chosen_on_the_calibration(centres: np.ndarray) -> None:
    # every category holds a few notes of its neighbour (a reviewer's slips): a note's single
    # nearest member is then often of the wrong category, its 20 nearest mostly are not
    X, y = blobs(centres[:4], 40, 0.12, seed=1)
    slips = np.random.default_rng(4).choice(len(y), 16, replace=False)
    y[slips] = (y[slips] + 1) % 4
    chosen = CategoryMatcher(k=[1, 20], precision=0.5, novelty=0.05).fit(X, y)
    assert chosen.k_ == 20
    fixed = CategoryMatcher(k=20, precision=0.5, novelty=0.05).fit(X, y)
    assert chosen.threshold_ == fixed.threshold_
    Xn, _ = blobs(centres[:4], 10, 0.12, seed=2)
    assert (chosen.predict(Xn)[0] == fixed.predict(Xn)[0]).all()
    assert CategoryMatcher(k=[1, 20]).fit(X[:5], y[:5]).k_ == 1  # too few: the smallest
    for bad in (0, [], [0, 5]):
        with pytest.raises(ValueError, match="k must be"):
            CategoryMatcher(k=bad).fit(X, y)


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


def _topic_notes() -> tuple[np.ndarray, list[str], np.ndarray]:
    # Two categories of one topic: their embeddings are alike (one direction, a little noise),
    # only their words tell them apart.
    rng = np.random.default_rng(3)
    words = {0: "pandas dataframe merge drops rows", 1: "matplotlib legend hides the axis"}
    texts = [f"{words[c]} case {i}" for c in (0, 1) for i in range(15)]
    y = np.repeat([0, 1], 15)
    base = rng.standard_normal(32)
    X = (base + 0.05 * rng.standard_normal((30, 32))).astype(np.float32)
    return X, texts, y


def test_shared_words_tell_apart_categories_whose_embeddings_do_not() -> None:
    X, texts, y = _topic_notes()
    new = ["the pandas dataframe merge drops rows again", "a matplotlib legend hides the axis"]
    Xn = X[[0, 15]] + 0.01
    lexical = lexical_features(texts, new)
    assert lexical is not None
    known_rows, new_rows = lexical
    assert known_rows.shape[0] == 30 and new_rows.shape[0] == 2
    with_words = CategoryMatcher(precision=0.5).fit(X, y, known_rows)
    labels, _ = with_words.predict(Xn, new_rows)
    assert labels.tolist() == [0, 1]
    # embeddings alone cannot tell the two apart: the calibration carries nothing
    alone, _ = CategoryMatcher(precision=0.5).fit(X, y).predict(Xn)
    assert alone.tolist() == [-1, -1]
    # a weight of 0 is the embeddings alone
    zero = CategoryMatcher(precision=0.5, lexical_weight=0.0).fit(X, y, known_rows)
    assert zero.predict(Xn, new_rows)[0].tolist() == [-1, -1]


def test_lexical_rows_go_to_both_fit_and_predict_or_to_neither() -> None:
    X, texts, y = _topic_notes()
    known_rows, new_rows = lexical_features(texts, ["pandas dataframe"]) or (None, None)
    assert known_rows is not None and new_rows is not None
    with pytest.raises(ValueError, match="both fit and predict"):
        CategoryMatcher().fit(X, y, known_rows).predict(X[:1])
    with pytest.raises(ValueError, match="both fit and predict"):
        CategoryMatcher().fit(X, y).predict(X[:1], new_rows)
    with pytest.raises(ValueError, match="one row per note"):
        CategoryMatcher().fit(X, y, known_rows[:5])


def test_texts_without_a_shared_word_have_no_lexical_rows() -> None:
    assert lexical_features(["alpha"], ["beta"]) is None
    rows = lexical_features(["alpha beta", "gamma"], ["alpha beta delta"])
    assert rows is not None
    known, new = rows
    assert known[1].nnz == 0  # "gamma" occurs once: no column, an all-zero row
    assert np.isclose(np.sqrt(new[0].multiply(new[0]).sum()), 1.0)


def test_observed_novelty_is_the_later_batches_share_of_notes_of_new_categories() -> None:
    # batch 1 makes categories 1 and 2; batch 2 brings 3 notes of them and 1 of a new one (3);
    # batch 3 brings 3 notes of known categories and 2 of a new one (4)
    batches = [1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 3]
    categories = [1, 2, 2, 1, 2, 1, 3, 3, 1, 2, 4, 4]
    assert observed_novelty(batches, categories) == pytest.approx((1 + 2 + 0.5) / (9 + 1))
    # the order of the notes does not matter, nor what the batch keys are
    order = np.random.default_rng(0).permutation(len(batches))
    keys = np.array(batches)[order] * 10 + 7
    assert observed_novelty(keys, np.array(categories)[order]) == pytest.approx(3.5 / 10)


def test_observed_novelty_needs_a_batch_after_the_first() -> None:
    assert observed_novelty([5, 5, 5], [1, 2, 3]) is None
    assert observed_novelty([], []) is None
    assert observed_novelty([1, 2], [1, 1]) == pytest.approx(0.5 / 2)  # never exactly 0
    with pytest.raises(ValueError, match="one batch per category"):
        observed_novelty([1, 2], [1])
