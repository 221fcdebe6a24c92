"""Carry-over: match new notes to categories a reviewer already confirmed, before clustering.

A project's codebook carries over from week to week: a new note that plainly fits a confirmed
category should arrive as a proposal of that category (one confirm), not be clustered again.
:class:`CategoryMatcher` is an sklearn-shaped estimator fitted on the confirmed categories'
member vectors. A new note's score for a category is its mean cosine to its ``k`` nearest
members of that category (fewer for a small category); the best category is the match and
its score the confidence.

The threshold is not a constant tuned on some data set: :meth:`CategoryMatcher.fit`
calibrates it on the project's own decisions. Every confirmed note is matched once as if it
were new, twice over:

- *leave one out*: against every category with the note itself held out; a match into its own
  category is right, any other is wrong;
- *leave its category out*: against the other categories only, which is what a note of a
  failure the codebook does not have yet looks like; any match is wrong.

``threshold_`` is the score above which carrying over pays: the cut that maximises the number
of right matches minus ``precision`` times all matches kept, so that what it keeps is right at
least ``precision`` of the time, band by band (a wrong carry-over costs a reviewer a move; a
note left to clustering costs little more than it would have anyway). With too few decisions to calibrate
(fewer than ``min_calibration`` notes or fewer than two categories), ``fallback_threshold``
applies.
"""

from __future__ import annotations

from typing import Self

import numpy as np
from numpy.typing import NDArray

from clustering.embedder import normalize_rows


class CategoryMatcher:
    """Match notes to confirmed categories by their nearest confirmed members.

    Args:
        k: Nearest members of a category averaged into a note's score for it.
        precision: Share of carried-over notes that must be right on the calibration.
        min_calibration: Fewest confirmed notes (over at least two categories) to calibrate on.
        fallback_threshold: Cosine score required when there is too little to calibrate on.
        max_calibration: Most confirmed notes matched during calibration (a seeded sample).
        random_state: Seed of that sample.
    """

    def __init__(
        self,
        k: int = 5,
        precision: float = 0.9,
        min_calibration: int = 20,
        fallback_threshold: float = 0.75,
        max_calibration: int = 2000,
        novelty: float = 0.5,
        random_state: int = 0,
    ) -> None:
        self.k = k
        self.precision = precision
        self.min_calibration = min_calibration
        self.fallback_threshold = fallback_threshold
        self.max_calibration = max_calibration
        self.novelty = novelty
        self.random_state = random_state

    def fit(self, X: NDArray[np.floating], y: NDArray[np.integer]) -> Self:
        """Remember the confirmed notes and calibrate the threshold.

        Args:
            X: Vectors of the confirmed notes, shape (n, dim).
            y: Their category ids, shape (n,).

        Returns:
            self, with ``categories_``, ``threshold_`` and ``calibrated_`` set.
        """
        X = np.asarray(X)
        y = np.asarray(y, dtype=np.int64)
        if X.ndim != 2 or X.shape[0] != y.shape[0]:
            raise ValueError(f"X must be (n, dim) with one label each; got {X.shape}, {y.shape}")
        self.X_ = normalize_rows(X.astype(np.float32)) if len(X) else X.astype(np.float32)
        self.y_ = y
        self.categories_ = np.unique(y)
        self.threshold_, self.calibrated_ = self._calibrate()
        return self

    def _scores(
        self, S: NDArray[np.float32], exclude: NDArray[np.bool_] | None = None
    ) -> NDArray[np.float32]:
        """Per row of similarities to the known notes: the score of each category."""
        out = np.full((S.shape[0], len(self.categories_)), -np.inf, dtype=np.float32)
        for j, c in enumerate(self.categories_):
            cols = np.flatnonzero(self.y_ == c)
            block = S[:, cols]
            if exclude is not None:
                block = np.where(exclude[:, cols], -np.inf, block)
            k = min(self.k, cols.size)
            top = -np.sort(-block, axis=1)[:, :k]
            valid = np.isfinite(top)
            counts = valid.sum(axis=1)
            sums = np.where(valid, top, 0.0).sum(axis=1)
            out[:, j] = np.where(counts > 0, sums / np.maximum(counts, 1), -np.inf)
        return out

    def _calibrate(self) -> tuple[float, bool]:
        n = self.X_.shape[0]
        if n < self.min_calibration or self.categories_.size < 2:
            return self.fallback_threshold, False
        rng = np.random.default_rng(self.random_state)
        idx = (
            np.arange(n)
            if n <= self.max_calibration
            else np.sort(rng.choice(n, self.max_calibration, replace=False))
        )
        S = self.X_[idx] @ self.X_.T
        own = np.zeros(S.shape, dtype=bool)
        own[np.arange(idx.size), idx] = True
        loo = self._scores(S, exclude=own)
        same = self.y_[idx][:, None] == self.y_[None, :]
        loco = self._scores(S, exclude=same)
        truth = self.y_[idx]
        best = loo.argmax(axis=1)
        scores = np.concatenate([loo.max(axis=1), loco.max(axis=1)])
        right = np.concatenate([self.categories_[best] == truth, np.zeros(idx.size, dtype=bool)])
        # a held-out note stands for the notes of known failures, a held-out category's note
        # for those of new failures: weighted by how often new notes are of each kind
        weight = np.concatenate(
            [np.full(idx.size, 1 - self.novelty), np.full(idx.size, self.novelty)]
        )
        keep = np.isfinite(scores)
        scores, right, weight = scores[keep], right[keep], weight[keep]
        # the cut that maximises sum(right - precision) over the matches it keeps: every band of
        # scores it keeps is right at least `precision` of the time, on balance
        order = np.argsort(-scores, kind="stable")
        gain = np.cumsum(weight[order] * (right[order] - self.precision))
        best = int(gain.argmax())
        if gain[best] <= 0:
            return float(scores.max()) + 1e-6, True  # never precise enough: carry nothing
        return float(scores[order[best]]), True

    def predict(self, X: NDArray[np.floating]) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """The matched category of each note (-1: none passes the threshold), and its score."""
        X = np.asarray(X)
        n = X.shape[0]
        if n == 0 or self.X_.shape[0] == 0:
            return np.full(n, -1, dtype=np.int64), np.zeros(n)
        scores = self._scores(normalize_rows(X.astype(np.float32)) @ self.X_.T)
        best = scores.argmax(axis=1)
        confidence = scores[np.arange(n), best].astype(np.float64)
        labels = np.where(confidence >= self.threshold_, self.categories_[best], -1)
        return labels.astype(np.int64), confidence
