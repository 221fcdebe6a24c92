"""Carry-over: match new notes to categories a reviewer already confirmed, before clustering.

A project's codebook carries over from week to week: a new note that plainly fits a confirmed
category should arrive as a proposal of that category (one confirm), not be clustered again.
:class:`CategoryMatcher` is an sklearn-shaped estimator fitted on the confirmed categories'
member vectors. A new note's score for a category is its mean cosine to its ``k`` nearest
members of that category (fewer for a small category); the best category is the match and
its score the confidence.

A note's similarity to a confirmed note can count the words they share as well as their
embeddings (``lexical``, from :func:`lexical_features`): the cosine of their embeddings and the
cosine of their TF-IDF rows (words and word pairs of the codebook's and the run's notes), with
equal weight by default. Embeddings of short texts are dominated by topic; the words a
category's notes share (a library's name in a question title, an error's name in a note) tell
categories of one topic apart. Without ``lexical`` the match is by embeddings alone.

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

How often new notes are of a failure the codebook lacks (``novelty``, the weight of the
*leave its category out* matches) is the project's own rate where it has one:
:func:`observed_novelty` counts, over the batches after its first reviewed one, the share of
confirmed notes whose category had no confirmed note of an earlier batch.

Given several ``k``, the same held-out matches choose it first: the k whose best category is
right for most held-out notes; the cut is then calibrated at that k. Choosing k by the cut's
own gain would fit both to the same few hundred decisions: on llm_code_bug_notes that carried
notes over that the next week's decisions showed wrong (bench/README.md, "Review effort").
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Self, TypeAlias

import numpy as np
from numpy.typing import NDArray
from scipy import sparse

from clustering.embedder import normalize_rows

Lexical: TypeAlias = sparse.csr_matrix
"""TF-IDF rows of notes (L2-normalised, or all zero), one per note, in one vocabulary."""


def lexical_features(known: Sequence[str], new: Sequence[str]) -> tuple[Lexical, Lexical] | None:
    """TF-IDF rows of the confirmed notes' texts and the new notes' texts, in one vocabulary.

    Words and word pairs (sklearn's default tokens, lower-cased) that occur in at least two of
    all the texts, sublinear term frequency, rows L2-normalised; a text with none of them has
    an all-zero row (its lexical cosine is 0). Fitted afresh on every call: the same texts
    give the same rows.

    Returns:
        (rows of ``known``, rows of ``new``), or None when no word occurs twice.
    """
    from sklearn.feature_extraction.text import TfidfVectorizer

    texts = [*known, *new]
    try:
        rows = TfidfVectorizer(sublinear_tf=True, ngram_range=(1, 2), min_df=2).fit_transform(texts)
    except ValueError:  # empty vocabulary: no word occurs in two texts
        return None
    rows = sparse.csr_matrix(rows, dtype=np.float32)
    return rows[: len(known)], rows[len(known) :]


def observed_novelty(
    batches: Sequence[int] | NDArray[np.integer], categories: Sequence[int] | NDArray[np.integer]
) -> float | None:
    """How often the project's notes were of a category it did not have yet.

    Per confirmed note, its batch (any key that orders batches in time) and its category. A
    note is *new* when no note of its category comes from an earlier batch; the first batch
    is left out (all of its notes are new: there was nothing to carry over). This is the
    ``novelty`` of :class:`CategoryMatcher` as the project's decisions show it, with half a
    note of each kind added so that it is never exactly 0 or 1.

    Returns:
        (new notes + 0.5) / (notes + 1) over the later batches, or None when no confirmed
        note comes from a batch after the first.
    """
    b = np.asarray(batches, dtype=np.int64)
    c = np.asarray(categories, dtype=np.int64)
    if b.shape != c.shape or b.ndim != 1:
        raise ValueError(f"one batch per category label; got {b.shape}, {c.shape}")
    later = b > b.min() if b.size else np.zeros(0, dtype=bool)
    if not later.any():
        return None
    first: dict[int, int] = {}
    for batch, category in zip(b.tolist(), c.tolist(), strict=True):
        first[category] = min(batch, first.get(category, batch))
    new = np.array([first[category] == batch for batch, category in zip(b, c, strict=True)])
    return float((new[later].sum() + 0.5) / (later.sum() + 1))


class CategoryMatcher:
    """Match notes to confirmed categories by their nearest confirmed members.

    Args:
        k: Nearest members of a category averaged into a note's score for it; a sequence of
            counts = the one that matches the most held-out confirmed notes to their own
            category (``k_``; ties: the smallest).
        precision: Share of carried-over notes that must be right on the calibration.
        min_calibration: Fewest confirmed notes (over at least two categories) to calibrate on.
        fallback_threshold: Cosine score required when there is too little to calibrate on.
        max_calibration: Most confirmed notes matched during calibration (a seeded sample).
        random_state: Seed of that sample.
        lexical_weight: Weight of the TF-IDF rows beside the embeddings when ``lexical`` is
            given to :meth:`fit` and :meth:`predict` (1: the two cosines count alike).
        novelty: Share of new notes expected to be of a category the codebook lacks: the weight
            of the held-out categories' matches in the calibration (a project's own rate:
            :func:`observed_novelty`).
    """

    def __init__(
        self,
        k: int | Sequence[int] = 5,
        precision: float = 0.9,
        min_calibration: int = 20,
        fallback_threshold: float = 0.75,
        max_calibration: int = 2000,
        novelty: float = 0.5,
        random_state: int = 0,
        lexical_weight: float = 1.0,
    ) -> None:
        self.k = k
        self.precision = precision
        self.min_calibration = min_calibration
        self.fallback_threshold = fallback_threshold
        self.max_calibration = max_calibration
        self.novelty = novelty
        self.random_state = random_state
        self.lexical_weight = lexical_weight

    def fit(
        self, X: NDArray[np.floating], y: NDArray[np.integer], lexical: Lexical | None = None
    ) -> Self:
        """Remember the confirmed notes and calibrate the threshold.

        Args:
            X: Vectors of the confirmed notes, shape (n, dim).
            y: Their category ids, shape (n,).
            lexical: Their TF-IDF rows (:func:`lexical_features`), or None to match by
                embeddings alone; :meth:`predict` then needs the new notes' rows too.

        Returns:
            self, with ``categories_``, ``k_``, ``threshold_`` and ``calibrated_`` set.
        """
        X = np.asarray(X)
        y = np.asarray(y, dtype=np.int64)
        if X.ndim != 2 or X.shape[0] != y.shape[0]:
            raise ValueError(f"X must be (n, dim) with one label each; got {X.shape}, {y.shape}")
        if lexical is not None and lexical.shape[0] != X.shape[0]:
            raise ValueError(f"lexical must have one row per note; got {lexical.shape[0]}")
        self.X_ = normalize_rows(X.astype(np.float32)) if len(X) else X.astype(np.float32)
        self.y_ = y
        self.T_ = None if lexical is None else sparse.csr_matrix(lexical, dtype=np.float32)
        self.categories_ = np.unique(y)
        ks = sorted({int(k) for k in ([self.k] if isinstance(self.k, int) else self.k)})
        if not ks or ks[0] < 1:
            raise ValueError(
                f"k must be a count >= 1 or a non-empty sequence of them, got {self.k}"
            )
        self.norms_ = self._norms(self.T_, X.shape[0])
        self.k_, self.threshold_, self.calibrated_ = self._calibrate(ks)
        return self

    def _norms(self, T: Lexical | None, n: int) -> NDArray[np.float32]:
        """Length of each note's joined row [embedding, weight * TF-IDF] (embeddings are unit)."""
        if T is None:
            return np.ones(n, dtype=np.float32)
        squares: NDArray[np.float32] = np.asarray(T.multiply(T).sum(axis=1), np.float32).ravel()
        norms: NDArray[np.float32] = np.sqrt(1 + self.lexical_weight**2 * squares)
        return norms.astype(np.float32)

    def _similarity(self, X: NDArray[np.float32], T: Lexical | None) -> NDArray[np.float32]:
        """Cosines of notes (unit rows ``X``, TF-IDF rows ``T``) to every confirmed note."""
        S = X @ self.X_.T
        if self.T_ is None or T is None:
            return S
        S += self.lexical_weight**2 * (T @ self.T_.T).toarray().astype(np.float32)
        mine = self._norms(T, X.shape[0])
        S /= mine[:, None] * self.norms_[None, :]
        return S

    def _scores(
        self,
        S: NDArray[np.float32],
        exclude: NDArray[np.bool_] | None = None,
        ks: Sequence[int] | None = None,
    ) -> dict[int, NDArray[np.float32]]:
        """Per row of similarities to the known notes: the score of each category, for each
        k in ``ks`` (default: the fitted ``k_``)."""
        ks = [self.k_] if ks is None else list(ks)
        out = {k: np.full((S.shape[0], len(self.categories_)), -np.inf, np.float32) for k in ks}
        for j, c in enumerate(self.categories_):
            cols = np.flatnonzero(self.y_ == c)
            block = S[:, cols]
            if exclude is not None:
                block = np.where(exclude[:, cols], -np.inf, block)
            top = -np.sort(-block, axis=1)[:, : min(max(ks), cols.size)]
            valid = np.isfinite(top)
            counts = np.cumsum(valid, axis=1)
            sums = np.cumsum(np.where(valid, top, 0.0), axis=1)
            for k in ks:
                at = min(k, top.shape[1]) - 1
                mean = sums[:, at] / np.maximum(counts[:, at], 1)
                out[k][:, j] = np.where(counts[:, at] > 0, mean, -np.inf)
        return out

    def _calibrate(self, ks: list[int]) -> tuple[int, float, bool]:
        """The k whose best category is most often right on held-out notes, and the threshold
        that carries over most on balance at that k (see the module docstring); the smallest k
        and the fallback threshold when there is too little to calibrate on."""
        n = self.X_.shape[0]
        if n < self.min_calibration or self.categories_.size < 2:
            return ks[0], self.fallback_threshold, False
        rng = np.random.default_rng(self.random_state)
        idx = (
            np.arange(n)
            if n <= self.max_calibration
            else np.sort(rng.choice(n, self.max_calibration, replace=False))
        )
        S = self._similarity(self.X_[idx], None if self.T_ is None else self.T_[idx])
        own = np.zeros(S.shape, dtype=bool)
        own[np.arange(idx.size), idx] = True
        loo_by_k = self._scores(S, exclude=own, ks=ks)
        same = self.y_[idx][:, None] == self.y_[None, :]
        loco_by_k = self._scores(S, exclude=same, ks=ks)
        truth = self.y_[idx]
        # k: the one whose best category is right for most held-out notes (ties: the smallest),
        # chosen apart from the cut so that the cut is not fitted twice on the same decisions
        right = [int((self.categories_[loo_by_k[k].argmax(axis=1)] == truth).sum()) for k in ks]
        k = ks[int(np.argmax(right))]
        return k, self._cut(loo_by_k[k], loco_by_k[k], truth), True

    def _cut(
        self, loo: NDArray[np.float32], loco: NDArray[np.float32], truth: NDArray[np.integer]
    ) -> float:
        """The cut over these held-out scores that carries over most on balance."""
        m = truth.size
        best = loo.argmax(axis=1)
        scores = np.concatenate([loo.max(axis=1), loco.max(axis=1)])
        right = np.concatenate([self.categories_[best] == truth, np.zeros(m, dtype=bool)])
        # a held-out note stands for the notes of known failures, a held-out category's note
        # for those of new failures: weighted by how often new notes are of each kind
        weight = np.concatenate([np.full(m, 1 - self.novelty), np.full(m, self.novelty)])
        keep = np.isfinite(scores)
        scores, right, weight = scores[keep], right[keep], weight[keep]
        # the cut that maximises sum(right - precision) over the matches it keeps: every band of
        # scores it keeps is right at least `precision` of the time, on balance
        order = np.argsort(-scores, kind="stable")
        gain = np.cumsum(weight[order] * (right[order] - self.precision))
        best = int(gain.argmax())
        if gain[best] <= 0:
            return float(scores.max()) + 1e-6  # never precise enough: carry nothing
        return float(scores[order[best]])

    def predict(
        self, X: NDArray[np.floating], lexical: Lexical | None = None
    ) -> tuple[NDArray[np.int64], NDArray[np.float64]]:
        """The matched category of each note (-1: none passes the threshold), and its score.

        ``lexical``: the notes' TF-IDF rows in the vocabulary given to :meth:`fit`; required
        when :meth:`fit` had them, refused when it had not.
        """
        X = np.asarray(X)
        n = X.shape[0]
        if (lexical is None) != (self.T_ is None):
            raise ValueError("lexical rows must be given to both fit and predict, or to neither")
        if lexical is not None and lexical.shape[0] != n:
            raise ValueError(f"lexical must have one row per note; got {lexical.shape[0]}")
        if n == 0 or self.X_.shape[0] == 0:
            return np.full(n, -1, dtype=np.int64), np.zeros(n)
        S = self._similarity(normalize_rows(X.astype(np.float32)), lexical)
        scores = self._scores(S)[self.k_]
        best = scores.argmax(axis=1)
        confidence = scores[np.arange(n), best].astype(np.float64)
        labels = np.where(confidence >= self.threshold_, self.categories_[best], -1)
        return labels.astype(np.int64), confidence
