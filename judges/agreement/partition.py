"""Partition agreement: judge partition vs human final partition (METRICS.md §1.3).

Every noise note (``None``) is its own singleton cluster in both partitions; there is never a
single "noise cluster". Noise agreement is reported separately as a binary table.

The same indices score a clustering against gold labels, as label arrays where -1 marks an
unclustered note (:func:`label_bcubed`, :func:`label_ari_ami`, :func:`seed_stability`):
every index is computed from a contingency table, whichever front end built it.

Example:
    >>> label_bcubed([0, 0, 1, 1], [0, 0, 1, -1])
    (1.0, 0.75, 0.8571428571428571)
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from itertools import combinations

import numpy as np
import numpy.typing as npt

from judges.agreement.data import JudgeProposal, Label, Partition
from judges.agreement.notes import NoiseAgreement, noise_agreement

IntArray = npt.NDArray[np.int64]
FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class PairScores:
    """Precision, recall and F1 of a set-matching index.

    Attributes:
        precision: Precision (``None`` when undefined, e.g. no judge pairs).
        recall: Recall (``None`` when undefined).
        f1: Harmonic mean (``None`` when either is undefined; 0 when both are 0).
    """

    precision: float | None
    recall: float | None
    f1: float | None


@dataclass(frozen=True, slots=True)
class PartitionAgreement:
    """Partition agreement of the judge with the human partition (METRICS.md §1.3).

    Attributes:
        n: Number of notes.
        ari: Adjusted Rand index (0 for chance, can be negative).
        ami: Adjusted mutual information, **arithmetic-mean** normalisation
            (scikit-learn's default).
        homogeneity: ``1 − H(Hum|Judge)/H(Hum)``.
        completeness: ``1 − H(Judge|Hum)/H(Judge)``.
        v_measure: Harmonic mean of homogeneity and completeness.
        bcubed: B-cubed precision, recall and F1 (the recommended partition number).
        pairwise: Pair-counting precision, recall and F1.
        noise: The binary noise-vs-not table.
    """

    n: int
    ari: float
    ami: float
    homogeneity: float
    completeness: float
    v_measure: float
    bcubed: PairScores
    pairwise: PairScores
    noise: NoiseAgreement


def judge_partition(proposals: Sequence[JudgeProposal], notes: Sequence[int]) -> dict[int, Label]:
    """The judge partition: note → proposal id, ``None`` for notes in no proposal."""
    of_note = {n: p.proposal_id for p in proposals for n in p.members}
    return {n: of_note.get(n) for n in notes}


def singleton_codes(labels: Sequence[Label]) -> IntArray:
    """Integer cluster codes with every ``None`` as its own singleton cluster."""
    codes: dict[int, int] = {}
    out = np.empty(len(labels), dtype=np.int64)
    fresh = 0
    for i, label in enumerate(labels):
        if label is not None and label in codes:
            out[i] = codes[label]
            continue
        if label is not None:
            codes[label] = fresh
        out[i] = fresh
        fresh += 1
    return out


def _table(rows: IntArray, cols: IntArray) -> IntArray:
    """Count the (row, column) code pairs: codes 0..k-1, one pair per note."""
    table = np.zeros((int(rows.max(initial=-1)) + 1, int(cols.max(initial=-1)) + 1), np.int64)
    np.add.at(table, (rows, cols), 1)
    return table


def contingency(human: Sequence[Label], judge: Sequence[Label]) -> IntArray:
    """``n_ab = |H_a ∩ J_b|`` with noise as singletons (rows human, columns judge)."""
    if len(human) != len(judge):
        raise ValueError("human and judge labels differ in length")
    return _table(singleton_codes(human), singleton_codes(judge))


def noise_as_singletons(labels: npt.ArrayLike) -> IntArray:
    """Give each -1 label (an unclustered note) its own fresh id, above every real label.

    The label-array counterpart of :func:`singleton_codes`.

    Args:
        labels: Cluster labels, -1 for unclustered.

    Returns:
        An int64 copy where every -1 became a distinct new label.
    """
    out = np.asarray(labels, dtype=np.int64).copy()
    noise = out < 0
    start = int(out.max()) + 1 if out.size and (~noise).any() else 0
    out[noise] = np.arange(start, start + int(noise.sum()))
    return out


def _label_codes(labels: npt.ArrayLike) -> IntArray:
    """Codes 0..k-1 of a label array, in sorted label order."""
    _, codes = np.unique(np.asarray(labels), return_inverse=True)
    return np.asarray(codes, dtype=np.int64).ravel()


def label_contingency(labels_true: npt.ArrayLike, labels_pred: npt.ArrayLike) -> IntArray:
    """Contingency table of gold labels (rows) against predicted clusters (columns).

    Args:
        labels_true: Gold category per item (any sortable labels; each value a category).
        labels_pred: Predicted cluster per item; -1 = unclustered, each a singleton.

    Returns:
        ``n_ab`` = items of gold category a in cluster b, rows and columns in sorted label
        order (unclustered singletons last).

    Raises:
        ValueError: If the labellings differ in length or are empty.
    """
    true, pred = np.asarray(labels_true), noise_as_singletons(labels_pred)
    if true.shape != pred.shape or true.size == 0:
        raise ValueError(f"need two equal, non-empty labellings, got {true.shape}, {pred.shape}")
    return _table(_label_codes(true), _label_codes(pred))


def _comb2(x: IntArray) -> float:
    return float((x * (x - 1) // 2).sum())


def adjusted_rand(table: IntArray) -> float:
    """``ARI = (I − E)/((A+B)/2 − E)`` from a contingency table (METRICS.md §1.3).

    Returns 1.0 for identical trivial partitions (denominator 0).
    """
    n = int(table.sum())
    index = _comb2(table)
    a, b = _comb2(table.sum(axis=1)), _comb2(table.sum(axis=0))
    expected = a * b / (n * (n - 1) / 2) if n > 1 else 0.0
    denom = (a + b) / 2 - expected
    return 1.0 if denom == 0 else (index - expected) / denom


def _entropy(counts: IntArray) -> float:
    p = counts[counts > 0] / counts.sum()
    return float(-(p * np.log(p)).sum())


def mutual_information(table: IntArray) -> float:
    """``MI = Σ (n_ab/N)·log(N·n_ab/(r_a s_b))`` in nats."""
    n = table.sum()
    r, s = table.sum(axis=1), table.sum(axis=0)
    nz = np.nonzero(table)
    nab = table[nz].astype(np.float64)
    return float((nab / n * np.log(n * nab / (r[nz[0]] * s[nz[1]]))).sum())


def expected_mutual_information(row_sums: IntArray, col_sums: IntArray) -> float:
    """``E[MI]`` under the hypergeometric (permutation) model with the given margins.

    Sums over distinct margin sizes (with their multiplicities), so many singletons are cheap.
    """
    from scipy.special import gammaln  # type: ignore[import-untyped,unused-ignore]  # here: 0.1 s

    n = int(row_sums.sum())
    logf = gammaln(np.arange(1, n + 2, dtype=np.float64))  # log(k!) at k = 0..n
    rsize, rmult = np.unique(row_sums, return_counts=True)
    csize, cmult = np.unique(col_sums, return_counts=True)
    total = 0.0
    for a, ka in zip(rsize.tolist(), rmult.tolist(), strict=True):
        for b, kb in zip(csize.tolist(), cmult.tolist(), strict=True):
            nij = np.arange(max(1, a + b - n), min(a, b) + 1)
            log_p = (
                logf[a] + logf[b] + logf[n - a] + logf[n - b] - logf[n]
                - logf[nij] - logf[a - nij] - logf[b - nij] - logf[n - a - b + nij]
            )  # fmt: skip
            term = nij / n * np.log(n * nij / (a * b)) * np.exp(log_p)
            total += ka * kb * float(term.sum())
    return total


def adjusted_mutual_info(table: IntArray) -> float:
    """AMI with arithmetic-mean normalisation: ``(MI − E[MI])/(mean(H(U),H(V)) − E[MI])``.

    Returns 1.0 when the denominator vanishes and the partitions are identical (e.g. all
    notes noise on both sides), else 0.0 in that degenerate case.
    """
    r, s = table.sum(axis=1), table.sum(axis=0)
    mi = mutual_information(table)
    emi = expected_mutual_information(r, s)
    denom = (_entropy(r) + _entropy(s)) / 2 - emi
    if abs(denom) < 1e-12:
        identical = bool((table > 0).sum() == len(r) == len(s))
        return 1.0 if identical else 0.0
    return (mi - emi) / denom


def homogeneity_completeness(table: IntArray) -> tuple[float, float, float]:
    """Homogeneity, completeness and V-measure (rows = human classes, columns = judge)."""
    mi = mutual_information(table)
    h_hum, h_judge = _entropy(table.sum(axis=1)), _entropy(table.sum(axis=0))
    homog = 1.0 if h_hum == 0 else mi / h_hum  # 1 − H(Hum|J)/H(Hum) = MI/H(Hum)
    compl = 1.0 if h_judge == 0 else mi / h_judge
    v = 0.0 if homog + compl == 0 else 2 * homog * compl / (homog + compl)
    return homog, compl, v


def _f1(p: float, r: float) -> float:
    return 0.0 if p + r == 0 else 2 * p * r / (p + r)


def _scores(p: float | None, r: float | None) -> PairScores:
    if p is None or r is None:
        return PairScores(p, r, None)
    return PairScores(p, r, _f1(p, r))


def _bcubed_precision_recall(table: IntArray) -> tuple[float, float]:
    """Per cluster ``Σ_a n_ab² / |J_b|`` (per category alike), summed, over n: the sums of
    squared counts are exact, so each cluster costs one rounding."""
    n = table.sum()
    r, s = table.sum(axis=1), table.sum(axis=0)
    sq = table.astype(np.float64) ** 2
    return float((sq.sum(axis=0) / s).sum() / n), float((sq.sum(axis=1) / r).sum() / n)


def bcubed(table: IntArray) -> PairScores:
    """B-cubed: ``P = mean_i |J(i)∩H(i)|/|J(i)|``, ``R = mean_i |J(i)∩H(i)|/|H(i)|``."""
    return _scores(*_bcubed_precision_recall(table))


def pairwise(table: IntArray) -> PairScores:
    """Pair counting: ``P = |S_J∩S_H|/|S_J|``, ``R = |S_J∩S_H|/|S_H|``."""
    both = _comb2(table)
    judge_pairs, human_pairs = _comb2(table.sum(axis=0)), _comb2(table.sum(axis=1))
    p = both / judge_pairs if judge_pairs else None
    r = both / human_pairs if human_pairs else None
    return _scores(p, r)


def partition_agreement(human: Partition, judge: Partition) -> PartitionAgreement:
    """Compare the judge partition with the human final partition (METRICS.md §1.3).

    Args:
        human: Note → human category (``None`` = noise); its keys are the notes in scope.
        judge: Note → judge cluster, e.g. proposal id (``None`` = noise); notes missing here
            count as judge noise.

    Returns:
        The :class:`PartitionAgreement`, noise as singletons.

    Raises:
        ValueError: If there are no notes or the judge labels a note outside ``human``.
    """
    extra = set(judge) - set(human)
    if extra:
        raise ValueError(f"judge labels notes outside the human partition: {sorted(extra)[:5]}")
    if not human:
        raise ValueError("no notes to compare")
    notes = sorted(human)
    hum = [human[n] for n in notes]
    jud = [judge.get(n) for n in notes]
    table = contingency(hum, jud)
    homog, compl, v = homogeneity_completeness(table)
    return PartitionAgreement(
        n=len(notes),
        ari=adjusted_rand(table),
        ami=adjusted_mutual_info(table),
        homogeneity=homog,
        completeness=compl,
        v_measure=v,
        bcubed=bcubed(table),
        pairwise=pairwise(table),
        noise=noise_agreement(list(zip(hum, jud, strict=True))),
    )


def label_bcubed(
    labels_true: npt.ArrayLike, labels_pred: npt.ArrayLike
) -> tuple[float, float, float]:
    """B-cubed precision, recall and F1 (Amigó et al. 2009) of predicted clusters against
    gold labels, each unclustered note (-1) a singleton.

    Args:
        labels_true: Gold category per item.
        labels_pred: Predicted cluster per item; -1 = unclustered.

    Returns:
        (precision, recall, f1), each averaged over items.

    Raises:
        ValueError: If the labellings differ in length or are empty.
    """
    p, r = _bcubed_precision_recall(label_contingency(labels_true, labels_pred))
    return p, r, _f1(p, r)


def label_ari_ami(labels_true: npt.ArrayLike, labels_pred: npt.ArrayLike) -> tuple[float, float]:
    """Adjusted Rand index and adjusted mutual information (arithmetic-mean normalisation,
    scikit-learn's default) of predicted clusters against gold labels, each unclustered
    note (-1) a singleton.

    Args:
        labels_true: Gold category per item.
        labels_pred: Predicted cluster per item; -1 = unclustered.

    Returns:
        (ARI, AMI).

    Raises:
        ValueError: If the labellings differ in length or are empty.
    """
    table = label_contingency(labels_true, labels_pred)
    return adjusted_rand(table), adjusted_mutual_info(table)


def seed_stability(labelings: Sequence[npt.ArrayLike]) -> float:
    """Mean pairwise ARI between labellings of the same items, unclustered (-1) as
    singletons on both sides.

    Args:
        labelings: Two or more labellings, e.g. one per random seed.

    Returns:
        The mean ARI over all pairs; 1.0 means every run agreed exactly.

    Raises:
        ValueError: With fewer than two labellings, or labellings of different lengths.
    """
    if len(labelings) < 2:
        raise ValueError("seed_stability needs at least two labelings")
    codes = [_label_codes(noise_as_singletons(labels)) for labels in labelings]
    if len({c.shape for c in codes}) > 1:
        raise ValueError("seed_stability needs labelings of equal length")
    scores = [adjusted_rand(_table(a, b)) for a, b in combinations(codes, 2)]
    return float(np.mean(scores))
