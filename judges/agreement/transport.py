"""Transported corrected counts: confusion-matrix inversion with checks (METRICS.md §3.4, §3.5).

Used when the current batch has no within-batch audit and only earlier blind audits of the same
judge and codebook version exist. ``M_jc = P(ĵ = j | h = c)`` is estimated on the calibration
audit (weights ``1/π_i`` convert a judge-stratified audit, i.e. ``P(ĵ|h) ∝ P(h|ĵ)·P(ĵ)``), and
``π̂ = argmin_{π ≥ 0, Σπ = 1} ‖M̂π − p̂‖²`` ("adjusted classify and count"). The interval is a
percentile bootstrap over both the calibration set and the batch.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from judges.agreement.counts import MIN_DRAWS
from judges.agreement.data import AuditLabel, Label

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
_PENALTY = 1e3  # weight of the Σπ = 1 row in the non-negative least squares


@dataclass(frozen=True, slots=True)
class TransportChecks:
    """Thresholds of METRICS.md §3.5 (to be tuned by the §6 simulation).

    Attributes:
        min_positives: Minimum calibration notes a human put in the category.
        min_singular: Minimum smallest singular value of ``M̂``.
        max_condition: Maximum condition number of ``M̂``.
        max_j_failure: Maximum share of bootstrap resamples with ``J_c <= 0``.
    """

    min_positives: int = 10
    min_singular: float = 0.1
    max_condition: float = 30.0
    max_j_failure: float = 0.025


@dataclass(frozen=True, slots=True)
class TransportedEstimate:
    """The transported count of one label (display tier B when ``correctable``).

    Attributes:
        label: Category id (``None`` = noise).
        judge_count: Notes of the batch the judge put in the label.
        estimate: ``N·π̂_c``.
        low: 2.5th bootstrap percentile of ``N·π_c``.
        high: 97.5th bootstrap percentile of ``N·π_c``.
        positives: Calibration notes the human put in the label.
        youden: ``J_c = TPR_c + TNR_c − 1`` (one-vs-rest) on the calibration audit.
        j_failure: Share of resamples with ``J_c <= 0`` or undefined.
        correctable: Every §3.5 check passes for this label and for ``M̂``.
        reasons: Why it is not correctable (empty when it is).
    """

    label: Label
    judge_count: int
    estimate: float
    low: float
    high: float
    positives: int
    youden: float | None
    j_failure: float
    correctable: bool
    reasons: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class TransportedCounts:
    """Transported counts of one batch (METRICS.md §3.4).

    Attributes:
        estimates: One estimate per label, categories ascending then noise.
        batch_size: ``N``.
        calibration_n: Calibration notes.
        smallest_singular: Smallest singular value of ``M̂``.
        condition_number: Condition number of ``M̂`` (``inf`` when singular).
        well_conditioned: Both matrix checks pass.
        draws: Bootstrap resamples.
        seed: Seed of the numpy ``Generator``.
    """

    estimates: tuple[TransportedEstimate, ...]
    batch_size: int
    calibration_n: int
    smallest_singular: float
    condition_number: float
    well_conditioned: bool
    draws: int
    seed: int


def _order(label: Label) -> tuple[int, int]:
    return (1, 0) if label is None else (0, label)


def simplex_least_squares(matrix: FloatArray, observed: FloatArray) -> FloatArray:
    """``argmin_{π ≥ 0, Σπ = 1} ‖Mπ − p‖²`` (NNLS with a heavily weighted sum row).

    Args:
        matrix: ``M̂`` (judge label × human label).
        observed: Judge label shares ``p̂`` of the batch.

    Returns:
        ``π̂``, renormalised to sum to 1.
    """
    k = matrix.shape[1]
    a = np.vstack([matrix, np.full((1, k), _PENALTY)])
    b = np.append(observed, _PENALTY)
    from scipy.optimize import nnls  # type: ignore[import-untyped,unused-ignore]  # 0.3 s: here

    solution, _ = nnls(a, b)
    pi = np.asarray(solution, dtype=np.float64)
    total = float(pi.sum())
    return pi / total if total > 0 else np.full(k, 1.0 / k)


def youden(matrix_joint: FloatArray) -> FloatArray:
    """One-vs-rest ``J_c = TPR_c + TNR_c − 1`` from weighted joint tables ``[..., ĵ, h]``.

    Returns:
        ``J_c`` per label (and per leading index), ``nan`` where the human never used (or
        always used) the label.
    """
    total = matrix_joint.sum(axis=(-2, -1))[..., np.newaxis]
    pos = matrix_joint.sum(axis=-2)
    tp = np.diagonal(matrix_joint, axis1=-2, axis2=-1)
    judged = matrix_joint.sum(axis=-1)
    tn = total - pos - judged + tp
    with np.errstate(divide="ignore", invalid="ignore"):
        out: FloatArray = tp / pos + tn / (total - pos) - 1.0
    return out


@dataclass(frozen=True, slots=True)
class _Calibration:
    human: IntArray
    judge: IntArray
    weights: FloatArray
    k: int

    def joint(self, index: IntArray | None = None) -> FloatArray:
        h, j, w = self.human, self.judge, self.weights
        if index is not None:
            h, j, w = h[index], j[index], w[index]
        flat = np.bincount(j * self.k + h, weights=w, minlength=self.k * self.k)
        return flat.astype(np.float64).reshape(self.k, self.k)


def _columns(joint: FloatArray) -> FloatArray:
    col = joint.sum(axis=0)
    out: FloatArray = np.divide(joint, col, out=np.zeros_like(joint), where=col > 0)
    return out


def _bootstrap(
    cal: _Calibration, counts: FloatArray, draws: int, seed: int
) -> tuple[FloatArray, FloatArray]:
    # Resample the calibration set and the batch; return N·π* and J* per draw.
    rng = np.random.default_rng(seed)
    n_cal, n_batch, k = len(cal.human), int(counts.sum()), cal.k
    pick = rng.integers(0, n_cal, (draws, n_cal))
    codes = np.arange(draws)[:, np.newaxis] * k * k + cal.judge[pick] * k + cal.human[pick]
    flat = np.bincount(codes.ravel(), cal.weights[pick].ravel(), draws * k * k)
    joints = flat.astype(np.float64).reshape(draws, k, k)
    observed = rng.multinomial(n_batch, counts / n_batch, size=draws) / n_batch
    est = np.empty((draws, k))
    for b in range(draws):
        est[b] = n_batch * simplex_least_squares(_columns(joints[b]), observed[b])
    return est, youden(joints)


def _reasons(
    positives: int, j_failure: float, well_conditioned: bool, checks: TransportChecks
) -> tuple[str, ...]:
    reasons = []
    if not well_conditioned:
        reasons.append("confusion matrix ill-conditioned")
    if positives < checks.min_positives:
        reasons.append(f"fewer than {checks.min_positives} calibration positives")
    if j_failure > checks.max_j_failure:
        reasons.append("judge not clearly better than chance (J CI reaches 0)")
    return tuple(reasons)


def transported_counts(
    calibration: Sequence[AuditLabel],
    judge_counts: Mapping[Label, int],
    labels: Collection[Label] | None = None,
    draws: int = MIN_DRAWS,
    seed: int = 0,
    checks: TransportChecks | None = None,
) -> TransportedCounts:
    """Transport an earlier audit's confusion matrix onto this batch (METRICS.md §3.4, §3.5).

    Args:
        calibration: Blind-audited notes of earlier batches of the same judge and codebook
            version; ``inclusion_prob`` weights convert a judge-stratified audit.
        judge_counts: The batch's judge count per label (``None`` = noise); ``N`` is the sum.
        labels: The codebook's labels; by default every label seen in the calibration
            or the batch (noise only if seen: a label nobody used would make ``M̂`` singular).
        draws: Bootstrap resamples (at least 2000).
        seed: Seed of the numpy ``Generator``.
        checks: The §3.5 thresholds.

    Returns:
        The :class:`TransportedCounts`; use a label only where ``correctable``.

    Raises:
        ValueError: Without calibration notes or batch notes, or with fewer than 2000 draws.
    """
    checks = checks or TransportChecks()
    if not calibration or sum(judge_counts.values()) <= 0:
        raise ValueError("transport needs calibration notes and a non-empty batch")
    if draws < MIN_DRAWS:
        raise ValueError(f"draws must be >= {MIN_DRAWS}, got {draws}")
    seen = {a.human for a in calibration} | {a.judge for a in calibration} | set(judge_counts)
    ordered = sorted(seen | set(labels or ()), key=_order)
    cal = _calibration(calibration, ordered)
    counts = np.array([judge_counts.get(lab, 0) for lab in ordered], dtype=np.float64)
    n_batch = int(counts.sum())
    matrix = _columns(cal.joint())
    singular = np.linalg.svd(matrix, compute_uv=False)
    smallest = float(singular.min())
    condition = float(singular.max() / smallest) if smallest > 0 else float("inf")
    well = smallest >= checks.min_singular and condition <= checks.max_condition
    point = n_batch * simplex_least_squares(matrix, counts / n_batch)
    boot, jay = _bootstrap(cal, counts, draws, seed)
    j_point = youden(cal.joint())
    run = _Run(cal, counts, point, boot, jay, j_point, well, checks)
    estimates = tuple(_transported(run, lab, i) for i, lab in enumerate(ordered))
    return TransportedCounts(
        estimates, n_batch, len(calibration), smallest, condition, well, draws, seed
    )


def _calibration(audit: Sequence[AuditLabel], ordered: Sequence[Label]) -> _Calibration:
    index = {lab: i for i, lab in enumerate(ordered)}
    return _Calibration(
        human=np.array([index[a.human] for a in audit], dtype=np.int64),
        judge=np.array([index[a.judge] for a in audit], dtype=np.int64),
        weights=np.array([1.0 / a.inclusion_prob for a in audit]),
        k=len(ordered),
    )


@dataclass(frozen=True, slots=True)
class _Run:
    """Everything one label's transported estimate is read from."""

    cal: _Calibration
    counts: FloatArray
    point: FloatArray
    boot: FloatArray
    jay: FloatArray
    j_point: FloatArray
    well: bool
    checks: TransportChecks


def _transported(run: _Run, label: Label, i: int) -> TransportedEstimate:
    positives = int((run.cal.human == i).sum())
    j_fail = float(np.mean(~(run.jay[:, i] > 0)))
    reasons = _reasons(positives, j_fail, run.well, run.checks)
    low, high = np.percentile(run.boot[:, i], [2.5, 97.5])
    return TransportedEstimate(
        label=label,
        judge_count=int(run.counts[i]),
        estimate=float(run.point[i]),
        low=float(low),
        high=float(high),
        positives=positives,
        youden=None if np.isnan(run.j_point[i]) else float(run.j_point[i]),
        j_failure=j_fail,
        correctable=not reasons,
        reasons=reasons,
    )
