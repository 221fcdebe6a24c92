"""Partition agreement: judge partition vs human final partition (METRICS.md §1.3).

Every noise note (``None``) is its own singleton cluster in both partitions; there is never a
single "noise cluster". Noise agreement is reported separately as a binary table.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

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


def contingency(human: Sequence[Label], judge: Sequence[Label]) -> IntArray:
    """``n_ab = |H_a ∩ J_b|`` with noise as singletons (rows human, columns judge)."""
    if len(human) != len(judge):
        raise ValueError("human and judge labels differ in length")
    rows, cols = singleton_codes(human), singleton_codes(judge)
    table = np.zeros((int(rows.max(initial=-1)) + 1, int(cols.max(initial=-1)) + 1), np.int64)
    np.add.at(table, (rows, cols), 1)
    return table


def _comb2(x: npt.NDArray[np.int64]) -> float:
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
    n = int(row_sums.sum())
    logf = np.concatenate([[0.0], np.cumsum(np.log(np.arange(1, n + 1, dtype=np.float64)))])
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


def _scores(p: float | None, r: float | None) -> PairScores:
    if p is None or r is None:
        return PairScores(p, r, None)
    return PairScores(p, r, 0.0 if p + r == 0 else 2 * p * r / (p + r))


def bcubed(table: IntArray) -> PairScores:
    """B-cubed: ``P = mean_i |J(i)∩H(i)|/|J(i)|``, ``R = mean_i |J(i)∩H(i)|/|H(i)|``."""
    n = table.sum()
    r, s = table.sum(axis=1), table.sum(axis=0)
    sq = table.astype(np.float64) ** 2
    p = float((sq / s[np.newaxis, :]).sum() / n)
    rec = float((sq / r[:, np.newaxis]).sum() / n)
    return _scores(p, rec)


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
