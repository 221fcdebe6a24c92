"""Drift of the blind-audit error over batches (METRICS.md §4).

The rolling value pools **counts** over the last W = 4 batches of the same judge and codebook
version; the window resets at a version boundary. The jump test compares the current batch
with that pooled baseline by Newcombe's hybrid-score difference; the Bernoulli CUSUM watches
audited notes in time order for sustained drift.
"""

from __future__ import annotations

import math
from collections.abc import Hashable, Sequence
from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from judges.agreement.intervals import DifferenceInterval, Interval, newcombe_difference, wilson

FloatArray = npt.NDArray[np.float64]


@dataclass(frozen=True, slots=True)
class BatchAudit:
    """The blind-audit result of one batch.

    Attributes:
        batch_id: The batch.
        judge_version: Judge version ``v`` (model, prompt hash, params, codebook shown).
        codebook_version: Codebook version ``k``.
        disagreements: Audited notes where judge and blind human differ.
        n: Audited notes.
    """

    batch_id: int
    judge_version: str
    codebook_version: str
    disagreements: int
    n: int


@dataclass(frozen=True, slots=True)
class JumpTest:
    """Current batch vs the pooled baseline of the previous W batches (METRICS.md §4.1).

    Attributes:
        current: Error of the current batch with its Wilson interval (``None`` if ``n = 0``).
        baseline: Pooled error of the baseline batches (``None`` without a baseline).
        baseline_batches: Ids of the pooled baseline batches, oldest first.
        difference: ``p₁ − p₀`` with Newcombe's hybrid-score interval.
        margin: δ; the issue's "interval excludes zero" is the default ``δ = 0``.
        worse: ``L > δ``: the error rose (METRICS.md uses ``δ = 0.05``).
        better: ``U < −δ``: the error fell.
        alarm: ``worse or better``: the interval excludes the ``[−δ, δ]`` band.
    """

    current: Interval | None
    baseline: Interval | None
    baseline_batches: tuple[int, ...]
    difference: DifferenceInterval | None
    margin: float
    worse: bool
    better: bool
    alarm: bool


@dataclass(frozen=True, slots=True)
class Cusum:
    """A Bernoulli CUSUM path (METRICS.md §4.2).

    Attributes:
        path: ``S_t`` after each audited note.
        alarms: Indices ``t`` (0-based) where ``S_t >= h``; the sum restarts at 0 after each.
        p0: In-control error rate.
        p1: Out-of-control error rate (``2·p0`` by default).
        h: Alarm threshold.
    """

    path: tuple[float, ...]
    alarms: tuple[int, ...]
    p0: float
    p1: float
    h: float


def _same_version(a: BatchAudit, b: BatchAudit) -> bool:
    return (a.judge_version, a.codebook_version) == (b.judge_version, b.codebook_version)


def _window(batches: Sequence[BatchAudit], end: int, window: int) -> list[BatchAudit]:
    # Up to `window` batches before index `end`, same version as batches[end], contiguous.
    out: list[BatchAudit] = []
    for b in reversed(batches[:end]):
        if len(out) == window or not _same_version(b, batches[end]):
            break
        out.append(b)
    return out[::-1]


def _pooled(batches: Sequence[BatchAudit]) -> Interval | None:
    n = sum(b.n for b in batches)
    return wilson(sum(b.disagreements for b in batches), n) if n else None


def rolling_error(batches: Sequence[BatchAudit], window: int = 4) -> Interval | None:
    """Rolling headline error: pooled counts of the last ``window`` same-version batches.

    Args:
        batches: Batch audits in time order; the last one is the current batch.
        window: W, the number of batches pooled (current included).

    Returns:
        The pooled error with its Wilson interval, or ``None`` without audited notes.
    """
    if not batches:
        return None
    last = len(batches) - 1
    return _pooled([*_window(batches, last, window - 1), batches[last]])


def jump_test(batches: Sequence[BatchAudit], window: int = 4, margin: float = 0.0) -> JumpTest:
    """Newcombe jump test of the current batch vs the previous W batches (METRICS.md §4.1).

    Args:
        batches: Batch audits in time order; the last one is the current batch. Only the
            contiguous preceding batches of the same judge and codebook version are pooled.
        window: W, the number of previous batches pooled.
        margin: δ; the alarm fires when the interval lies above ``δ`` or below ``−δ``.

    Returns:
        The :class:`JumpTest`; no alarm without a current sample or a baseline.

    Raises:
        ValueError: If ``batches`` is empty or ``margin`` is negative.
    """
    if not batches or margin < 0:
        raise ValueError("need at least one batch and a non-negative margin")
    last = len(batches) - 1
    base = _window(batches, last, window)
    current, baseline = _pooled([batches[last]]), _pooled(base)
    ids = tuple(b.batch_id for b in base)
    if current is None or baseline is None:
        return JumpTest(current, baseline, ids, None, margin, False, False, False)
    diff = newcombe_difference(current, baseline)
    worse, better = diff.low > margin, diff.high < -margin
    return JumpTest(current, baseline, ids, diff, margin, worse, better, worse or better)


def bernoulli_cusum(
    outcomes: Sequence[bool],
    p0: float,
    h: float,
    p1: float | None = None,
    versions: Sequence[Hashable] | None = None,
) -> Cusum:
    """Bernoulli CUSUM over audited notes in time order (METRICS.md §4.2).

    ``S_t = max(0, S_{t−1} + y_t·ln(p₁/p₀) + (1−y_t)·ln((1−p₁)/(1−p₀)))``; alarm at
    ``S_t >= h``, then restart at 0. The sum also restarts when ``versions`` changes.

    Args:
        outcomes: ``y_t``: whether the judge disagreed with the blind human on note ``t``.
        p0: In-control error rate (the baseline), ``0 < p0 < 1``.
        h: Threshold, e.g. from :func:`cusum_threshold`.
        p1: Out-of-control rate; ``2·p0`` by default, must satisfy ``p0 < p1 < 1``.
        versions: Judge/codebook version of each note (optional).

    Returns:
        The :class:`Cusum`.

    Raises:
        ValueError: On invalid rates or mismatched lengths.
    """
    p1 = 2.0 * p0 if p1 is None else p1
    if not 0.0 < p0 < p1 < 1.0:
        raise ValueError(f"need 0 < p0 < p1 < 1, got p0={p0}, p1={p1}")
    if versions is not None and len(versions) != len(outcomes):
        raise ValueError("versions and outcomes differ in length")
    up, down = math.log(p1 / p0), math.log((1.0 - p1) / (1.0 - p0))
    s, path, alarms = 0.0, [], []
    for t, y in enumerate(outcomes):
        if versions is not None and t > 0 and versions[t] != versions[t - 1]:
            s = 0.0
        s = max(0.0, s + (up if y else down))
        path.append(s)
        if s >= h:
            alarms.append(t)
            s = 0.0
    return Cusum(tuple(path), tuple(alarms), p0, p1, h)


def cusum_paths(rate: float, p0: float, p1: float, steps: int, runs: int, seed: int) -> FloatArray:
    """Simulated CUSUM paths (runs × steps, no restarts) for notes with error rate ``rate``."""
    rng = np.random.default_rng(seed)
    up, down = math.log(p1 / p0), math.log((1.0 - p1) / (1.0 - p0))
    errors = rng.random((runs, steps)) < rate
    paths = np.empty((runs, steps))
    s = np.zeros(runs)
    for t in range(steps):
        s = np.maximum(0.0, s + np.where(errors[:, t], up, down))
        paths[:, t] = s
    return paths


def run_lengths(paths: FloatArray, h: float) -> npt.NDArray[np.int64]:
    """Notes until the first ``S_t >= h`` per path (censored at the path length)."""
    crossed = paths >= h
    first: npt.NDArray[np.int64] = np.where(
        crossed.any(axis=1), crossed.argmax(axis=1) + 1, paths.shape[1]
    ).astype(np.int64)
    return first


def _arl_lower_bound(paths: FloatArray, h: float) -> float:
    # Lower 95% bound of the mean run length, so the target holds beyond Monte Carlo noise.
    rl = run_lengths(paths, h)
    return float(rl.mean() - 1.96 * rl.std(ddof=1) / math.sqrt(len(rl)))


def cusum_threshold(
    p0: float,
    notes_per_batch: int,
    target_batches: float = 52.0,
    p1: float | None = None,
    runs: int = 1000,
    seed: int = 0,
) -> float:
    """The smallest CUSUM threshold ``h`` whose false-alarm run length is ≥ the target (§4.2).

    Simulates ``runs`` in-control streams (error rate ``p0``) with a seeded ``Generator`` and
    bisects on ``h`` until the lower 95% bound of the mean run length reaches
    ``target_batches`` batches of ``notes_per_batch`` audited notes. Runs are censored at 4×
    the target, which can only overstate ``h`` (conservative). A Monte Carlo estimate: store
    ``seed`` and ``runs``.

    Args:
        p0: In-control error rate.
        notes_per_batch: Audited notes per batch.
        target_batches: Required mean batches between false alarms (METRICS.md: 52).
        p1: Out-of-control rate (``2·p0`` by default).
        runs: Simulated streams.
        seed: Seed of the numpy ``Generator``.

    Returns:
        The threshold ``h``.

    Raises:
        ValueError: On invalid rates or sizes.
    """
    p1 = 2.0 * p0 if p1 is None else p1
    if not 0.0 < p0 < p1 < 1.0 or notes_per_batch < 1 or runs < 1 or target_batches <= 0:
        raise ValueError("need 0 < p0 < p1 < 1 and positive sizes")
    target = target_batches * notes_per_batch
    paths = cusum_paths(p0, p0, p1, math.ceil(4 * target), runs, seed)
    low, high = 0.0, float(paths.max()) + 1e-9
    for _ in range(50):
        mid = (low + high) / 2
        if _arl_lower_bound(paths, mid) >= target:
            high = mid
        else:
            low = mid
    return high
