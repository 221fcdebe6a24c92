"""Corrected category counts from a blind audit stratified by judge proposal (METRICS.md §3.3).

Strata are the judge's proposals plus its noise (notes in no proposal); sizes ``N_j`` are known
exactly and ``n_j`` notes of each are blind-audited. ``T̂_c = Σ_j N_j·x_cj/n_j`` transports
``P(human | judge)`` within the same batch, so it needs no inversion. Its interval is the
posterior-predictive one: per stratum ``q_j ~ Dirichlet(x_j + 1/K')`` and the unaudited
remainder ``~ Multinomial(N_j − n_j, q_j)``, percentiles over ``draws`` seeded draws.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from judges.agreement.data import JudgeProposal, Label
from judges.agreement.intervals import Interval

FloatArray = npt.NDArray[np.float64]
MIN_DRAWS = 2000


@dataclass(frozen=True, slots=True)
class Stratum:
    """One audit stratum: a judge proposal, or the judge's noise (METRICS.md §3.3).

    Attributes:
        key: Proposal id, or ``None`` for the notes the judge left in no proposal.
        size: ``N_j``, the notes of the batch in the stratum.
        judge_label: ``m(j)``, the human label the proposal maps to (``None`` = noise).
        audited: Blind human labels of the ``n_j`` audited notes of the stratum.
    """

    key: int | None
    size: int
    judge_label: Label
    audited: tuple[Label, ...]


@dataclass(frozen=True, slots=True)
class CategoryEstimate:
    """The corrected count of one label (display tier A, METRICS.md §3.3).

    Attributes:
        label: Category id (``None`` = noise).
        judge_count: The judge's count ``Σ_{j: m(j)=c} N_j``.
        estimate: ``T̂_c = Σ_j N_j·x_cj/n_j``.
        variance: ``Var(T̂_c)`` of the stratified estimator (``None`` when a partly audited
            stratum has ``n_j = 1``).
        low: 2.5th percentile of the posterior-predictive ``T_c``.
        high: 97.5th percentile of the posterior-predictive ``T_c``.
        audited: Audited notes the human put in the label.
        precision: Judge precision for the label, ``None`` if no stratum maps to it.
        recall: Judge recall for the label, ``None`` if ``T̂_c = 0``.
    """

    label: Label
    judge_count: int
    estimate: float
    variance: float | None
    low: float
    high: float
    audited: int
    precision: Interval | None
    recall: Interval | None


@dataclass(frozen=True, slots=True)
class StratifiedCounts:
    """Corrected counts of one batch (METRICS.md §3.3).

    Attributes:
        estimates: One estimate per label, categories ascending then noise.
        batch_size: ``N``.
        audited: ``Σ_j n_j``.
        draws: Posterior-predictive draws used.
        seed: Seed of the numpy ``Generator``.
        prior: Dirichlet pseudo-count per label, ``1/K'``.
    """

    estimates: tuple[CategoryEstimate, ...]
    batch_size: int
    audited: int
    draws: int
    seed: int
    prior: float


def build_strata(
    proposals: Sequence[JudgeProposal],
    mapping: Mapping[int, Label],
    notes: Collection[int],
    blind: Mapping[int, Label],
) -> tuple[Stratum, ...]:
    """Group a batch into proposal strata plus the judge-noise stratum.

    Args:
        proposals: The judge run's proposals.
        mapping: ``m(j)`` per proposal id.
        notes: Every note of the batch (planted items excluded).
        blind: Blind human label of each audited note.

    Returns:
        One stratum per proposal with members in ``notes``, then the judge-noise stratum
        (``key=None``) if any note is in no proposal.
    """
    strata, claimed = [], set()
    for p in proposals:
        members = [n for n in p.members if n in notes]
        claimed.update(members)
        if members:
            labels = tuple(blind[n] for n in sorted(members) if n in blind)
            strata.append(Stratum(p.proposal_id, len(members), mapping[p.proposal_id], labels))
    rest = sorted(set(notes) - claimed)
    if rest:
        strata.append(Stratum(None, len(rest), None, tuple(blind[n] for n in rest if n in blind)))
    return tuple(strata)


def _order(label: Label) -> tuple[int, int]:
    return (1, 0) if label is None else (0, label)


def _check(strata: Sequence[Stratum]) -> None:
    for s in strata:
        if not 0 < len(s.audited) <= s.size:
            raise ValueError(
                f"stratum {s.key}: {len(s.audited)} audited of {s.size}; §3.3 needs "
                "1 <= n_j <= N_j in every stratum"
            )


def stratified_variance(strata: Sequence[Stratum], label: Label) -> float | None:
    """``Var(T̂_c) = Σ_j N_j²(1 − n_j/N_j)·s²_cj/n_j``, ``s²_cj = q(1−q)·n_j/(n_j−1)``.

    Returns:
        The variance, or ``None`` if a stratum with ``1 = n_j < N_j`` makes it undefined.
    """
    total = 0.0
    for s in strata:
        n, size = len(s.audited), s.size
        if n == size:
            continue  # audited whole: no sampling variance
        if n < 2:
            return None
        q = sum(1 for h in s.audited if h == label) / n
        total += size * size * (1 - n / size) * (q * (1 - q) * n / (n - 1)) / n
    return total


def _posterior_draws(
    strata: Sequence[Stratum], labels: Sequence[Label], draws: int, seed: int
) -> list[FloatArray]:
    # Per stratum, a (draws, K') array of T_cj = x_cj + remainder_cj.
    rng = np.random.default_rng(seed)
    prior = 1.0 / len(labels)
    out = []
    for s in strata:
        counts = Counter(s.audited)
        x = np.array([counts[lab] for lab in labels], dtype=np.float64)
        rest = s.size - len(s.audited)
        if rest == 0:
            out.append(np.broadcast_to(x, (draws, len(labels))))
            continue
        q = rng.dirichlet(x + prior, size=draws)
        q /= q.sum(axis=1, keepdims=True)
        out.append(x + rng.multinomial(rest, q).astype(np.float64))
    return out


def _ratio_interval(
    point: float | None, num: FloatArray, den: FloatArray, n: int
) -> Interval | None:
    if point is None:
        return None
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.where(den > 0, num / np.where(den > 0, den, 1.0), np.nan)
    if np.all(np.isnan(ratio)):
        return None
    low, high = np.nanpercentile(ratio, [2.5, 97.5])
    return Interval(point, float(low), float(high), n)


def _estimate(
    label: Label, k: int, strata: Sequence[Stratum], draws: Sequence[FloatArray]
) -> CategoryEstimate:
    share = [sum(1 for h in s.audited if h == label) / len(s.audited) for s in strata]
    mine = [i for i, s in enumerate(strata) if s.judge_label == label]
    t_hat = sum(s.size * q for s, q in zip(strata, share, strict=True))
    t_draw = np.sum([d[:, k] for d in draws], axis=0)
    judged = sum(strata[i].size for i in mine)
    hit_hat = sum(strata[i].size * share[i] for i in mine)
    hit_draw = sum((draws[i][:, k] for i in mine), np.zeros(len(draws[0])))
    n_mine = sum(len(strata[i].audited) for i in mine)
    n_all = sum(len(s.audited) for s in strata)
    low, high = np.percentile(t_draw, [2.5, 97.5])
    return CategoryEstimate(
        label=label,
        judge_count=judged,
        estimate=t_hat,
        variance=stratified_variance(strata, label),
        low=float(low),
        high=float(high),
        audited=sum(1 for s in strata for h in s.audited if h == label),
        precision=_ratio_interval(
            hit_hat / judged if judged else None, hit_draw, np.full_like(hit_draw, judged), n_mine
        ),
        recall=_ratio_interval(hit_hat / t_hat if t_hat > 0 else None, hit_draw, t_draw, n_all),
    )


def stratified_counts(
    strata: Sequence[Stratum],
    labels: Collection[Label] | None = None,
    draws: int = 4000,
    seed: int = 0,
) -> StratifiedCounts:
    """Estimate true category counts from an audit stratified by proposal (METRICS.md §3.3).

    Args:
        strata: The batch's strata (see :func:`build_strata`); every stratum must have
            ``1 <= n_j <= N_j`` audited notes.
        labels: The codebook's labels, noise included (``K'`` of them); by default every label
            seen in the audit or as a judge label, plus noise.
        draws: Posterior-predictive draws (at least 2000).
        seed: Seed of the numpy ``Generator``; store it with the result.

    Returns:
        The :class:`StratifiedCounts`, one estimate per label.

    Raises:
        ValueError: On an empty or partly unaudited design, or fewer than 2000 draws.
    """
    if not strata:
        raise ValueError("no strata")
    if draws < MIN_DRAWS:
        raise ValueError(f"draws must be >= {MIN_DRAWS}, got {draws}")
    _check(strata)
    seen: set[Label] = {None}
    for s in strata:
        seen.update(s.audited)
        seen.add(s.judge_label)
    ordered = sorted(set(labels) | seen if labels is not None else seen, key=_order)
    samples = _posterior_draws(strata, ordered, draws, seed)
    estimates = tuple(_estimate(lab, k, strata, samples) for k, lab in enumerate(ordered))
    return StratifiedCounts(
        estimates=estimates,
        batch_size=sum(s.size for s in strata),
        audited=sum(len(s.audited) for s in strata),
        draws=draws,
        seed=seed,
        prior=1.0 / len(ordered),
    )
