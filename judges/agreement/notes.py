"""Per-note agreement in one label space: confusion matrix, accuracy, F1, κ (METRICS.md §1.2).

Each note compares a human label with the judge's label mapped into the human codebook
(``ĵ(i) = m(j(i))``, or ∅). With blind labels on the audit sample this is the headline
source; with workflow labels on all notes it is the *workflow* diagnostic.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from judges.agreement.data import JudgeProposal, Label
from judges.agreement.intervals import Interval, wilson

LabelPair = tuple[Label, Label]
"""``(human label, judge label)`` of one note."""


@dataclass(frozen=True, slots=True)
class Confusion:
    """Confusion matrix ``C[h, ĵ]`` over categories ∪ {∅}.

    Attributes:
        labels: Row/column labels: category ids ascending, then ``None`` (noise) last.
        counts: ``counts[r][k]`` = notes with human label ``labels[r]`` and judge label
            ``labels[k]`` (rows human, columns judge).
        n: Number of notes.
    """

    labels: tuple[Label, ...]
    counts: tuple[tuple[int, ...], ...]
    n: int

    def row_sum(self, index: int) -> int:
        """Notes with human label ``labels[index]``."""
        return sum(self.counts[index])

    def col_sum(self, index: int) -> int:
        """Notes with judge label ``labels[index]``."""
        return sum(row[index] for row in self.counts)


@dataclass(frozen=True, slots=True)
class CategoryScores:
    """Precision, recall and F1 of the judge for one label.

    Attributes:
        label: Category id (``None`` = noise).
        support: Notes the human put in the label (row sum).
        predicted: Notes the judge put in the label (column sum).
        precision: ``C[c,c]/column`` (``None`` when the judge never used the label).
        recall: ``C[c,c]/row`` (``None`` when the human never used the label).
        f1: ``2·TP/(2·TP + FP + FN)``, their harmonic mean; 0 when either is 0 or undefined.
    """

    label: Label
    support: int
    predicted: int
    precision: float | None
    recall: float | None
    f1: float


@dataclass(frozen=True, slots=True)
class ErrorDecomposition:
    """Shares of notes by kind of error; they add up to ``1 − accuracy``.

    Attributes:
        wrong_category: Both labels non-noise and different.
        false_noise: Judge ∅, human a category.
        false_inclusion: Judge a category, human ∅.
        n: Number of notes.
    """

    wrong_category: float
    false_noise: float
    false_inclusion: float
    n: int


@dataclass(frozen=True, slots=True)
class NoiseAgreement:
    """Binary noise-vs-not table; noise is the positive class (METRICS.md §1.3).

    Attributes:
        both_noise: Human ∅ and judge ∅.
        judge_only: Judge ∅, human a category (false noise).
        human_only: Human ∅, judge a category (false inclusion).
        neither: Both non-noise.
        precision: ``both/(both + judge_only)`` (``None`` if the judge called nothing noise).
        recall: ``both/(both + human_only)`` (``None`` if the human called nothing noise).
        kappa: Cohen's κ of the 2×2 table (``None`` when undefined).
        n: Number of notes.
    """

    both_noise: int
    judge_only: int
    human_only: int
    neither: int
    precision: float | None
    recall: float | None
    kappa: float | None
    n: int


@dataclass(frozen=True, slots=True)
class NoteAgreement:
    """Per-note agreement (METRICS.md §1.2).

    Attributes:
        confusion: The confusion matrix.
        accuracy: Raw agreement with its Wilson interval.
        kappa: Cohen's κ (``None`` when ``p_e = 1``); report it next to ``accuracy``.
        per_label: Scores per label, categories ascending then noise.
        macro_f1: Mean F1 over non-noise categories with ``support >= min_support``
            (``None`` if there are none).
        macro_f1_categories: The categories averaged in ``macro_f1``.
        errors: The error decomposition.
        noise: The binary noise table.
    """

    confusion: Confusion
    accuracy: Interval
    kappa: float | None
    per_label: tuple[CategoryScores, ...]
    macro_f1: float | None
    macro_f1_categories: tuple[int, ...]
    errors: ErrorDecomposition
    noise: NoiseAgreement


def judge_labels(
    proposals: Sequence[JudgeProposal], mapping: Mapping[int, Label], notes: Sequence[int]
) -> dict[int, Label]:
    """The judge's label of each note mapped into the human codebook (METRICS.md §0).

    Args:
        proposals: The judge run's proposals.
        mapping: ``m(j)`` per proposal id (see ``map_proposals``).
        notes: The notes in scope; a note in no proposal gets ∅ (``None``).

    Returns:
        Note id → ``ĵ(i)``.
    """
    of_note = {n: mapping[p.proposal_id] for p in proposals for n in p.members}
    return {n: of_note.get(n) for n in notes}


def _label_order(label: Label) -> tuple[int, int]:
    return (1, 0) if label is None else (0, label)


def confusion_matrix(pairs: Sequence[LabelPair]) -> Confusion:
    """Build ``C[h, ĵ]`` over every label seen in either column (METRICS.md §1.2)."""
    labels = tuple(sorted({lab for pair in pairs for lab in pair}, key=_label_order))
    index = {lab: k for k, lab in enumerate(labels)}
    grid = [[0] * len(labels) for _ in labels]
    for human, judge in pairs:
        grid[index[human]][index[judge]] += 1
    return Confusion(labels=labels, counts=tuple(tuple(r) for r in grid), n=len(pairs))


def cohen_kappa(confusion: Confusion) -> float | None:
    """Cohen's ``κ = (p_o − p_e)/(1 − p_e)`` with ``p_e = Σ_c (row_c/n)(col_c/n)``.

    Returns:
        κ, or ``None`` when ``p_e = 1`` (both raters used one and the same label only) or
        the table is empty.
    """
    n = confusion.n
    if n == 0:
        return None
    k = len(confusion.labels)
    p_o = sum(confusion.counts[i][i] for i in range(k)) / n
    p_e = sum(confusion.row_sum(i) * confusion.col_sum(i) for i in range(k)) / (n * n)
    return None if p_e >= 1.0 else (p_o - p_e) / (1.0 - p_e)


def category_scores(confusion: Confusion) -> tuple[CategoryScores, ...]:
    """Per-label precision (column), recall (row) and F1 (METRICS.md §1.2)."""
    scores = []
    for i, label in enumerate(confusion.labels):
        tp, row, col = confusion.counts[i][i], confusion.row_sum(i), confusion.col_sum(i)
        fp, fn = col - tp, row - tp
        scores.append(
            CategoryScores(
                label=label,
                support=row,
                predicted=col,
                precision=tp / col if col else None,
                recall=tp / row if row else None,
                f1=2 * tp / (2 * tp + fp + fn) if (tp + fp + fn) else 0.0,
            )
        )
    return tuple(scores)


def error_decomposition(pairs: Sequence[LabelPair]) -> ErrorDecomposition:
    """Split disagreements into wrong category, false noise and false inclusion (§1.2).

    Raises:
        ValueError: If ``pairs`` is empty.
    """
    n = len(pairs)
    if n == 0:
        raise ValueError("no notes to compare")
    wrong = sum(1 for h, j in pairs if h is not None and j is not None and h != j)
    false_noise = sum(1 for h, j in pairs if j is None and h is not None)
    false_inclusion = sum(1 for h, j in pairs if j is not None and h is None)
    return ErrorDecomposition(wrong / n, false_noise / n, false_inclusion / n, n)


def noise_agreement(pairs: Sequence[LabelPair]) -> NoiseAgreement:
    """The binary noise-vs-not table with precision, recall and κ (METRICS.md §1.3).

    Args:
        pairs: ``(human, judge)`` labels per note.

    Returns:
        The :class:`NoiseAgreement`; noise is the positive class.
    """
    both = sum(1 for h, j in pairs if h is None and j is None)
    judge_only = sum(1 for h, j in pairs if j is None and h is not None)
    human_only = sum(1 for h, j in pairs if h is None and j is not None)
    neither = len(pairs) - both - judge_only - human_only
    binary = [(h is None, j is None) for h, j in pairs]
    table = confusion_matrix([(int(h), int(j)) for h, j in binary])
    return NoiseAgreement(
        both_noise=both,
        judge_only=judge_only,
        human_only=human_only,
        neither=neither,
        precision=both / (both + judge_only) if both + judge_only else None,
        recall=both / (both + human_only) if both + human_only else None,
        kappa=cohen_kappa(table),
        n=len(pairs),
    )


def note_agreement(pairs: Sequence[LabelPair], min_support: int = 5) -> NoteAgreement:
    """Per-note agreement between human labels and mapped judge labels (METRICS.md §1.2).

    Args:
        pairs: ``(human, judge)`` labels per note, ``None`` = noise.
        min_support: Minimum human support for a category to enter macro-F1.

    Returns:
        The :class:`NoteAgreement`.

    Raises:
        ValueError: If ``pairs`` is empty.
    """
    if not pairs:
        raise ValueError("no notes to compare")
    confusion = confusion_matrix(pairs)
    agree = sum(1 for h, j in pairs if h == j)
    per_label = category_scores(confusion)
    eligible = [s for s in per_label if s.label is not None and s.support >= min_support]
    return NoteAgreement(
        confusion=confusion,
        accuracy=wilson(agree, len(pairs)),
        kappa=cohen_kappa(confusion),
        per_label=per_label,
        macro_f1=sum(s.f1 for s in eligible) / len(eligible) if eligible else None,
        macro_f1_categories=tuple(s.label for s in eligible if s.label is not None),
        errors=error_decomposition(pairs),
        noise=noise_agreement(pairs),
    )
