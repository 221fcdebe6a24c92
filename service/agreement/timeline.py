"""Agreement over time: per run, per batch, per ISO week and judge version, and drift alarms.

METRICS.md §4: every series is kept per judge version (the window resets at a version
boundary; we have no codebook versions yet, so all runs share one codebook version). Weekly
points pool the audited notes of the week's runs (Hájek/Kish as in the headline). Per judge
version:

- ``pooled``: all-time pooled error with its Wilson interval;
- ``rolling``: pooled **counts** of the last W = 4 audited runs (§2 headline window);
- ``jump``: the latest audited run vs the pooled previous W runs, Newcombe's hybrid-score
  difference; the alarm is METRICS.md's rule ``L > δ`` with ``δ = 0.05`` (``worse``);
- ``cusum``: a Bernoulli CUSUM over audited notes in time order, with ``p0`` the pooled error
  of the first W audited runs, the latest excluded (clipped to [0.01, 0.45]) and ``h`` set by seeded simulation for
  a false-alarm run length of ≥ 52 runs (:func:`judges.agreement.cusum_threshold`).
"""

from __future__ import annotations

import statistics
from collections.abc import Sequence
from functools import lru_cache
from typing import Any

from judges.agreement import (
    BatchAudit,
    bernoulli_cusum,
    cusum_threshold,
    disagreement_rate,
    jump_test,
    rolling_error,
)
from service.agreement.data import RunView
from service.agreement.figures import Scope, Snapshot, run_outcomes, scope_error, workflow_pairs
from service.agreement.shapes import difference, interval, num

WINDOW = 4
MARGIN = 0.05
CODEBOOK = "current"


def _point(views: Sequence[RunView]) -> dict[str, Any]:
    pairs = workflow_pairs(views)
    return {
        "runs": [v.data.run_id for v in views],
        "judge_error_rate": scope_error(views),
        "workflow_disagreement": interval(disagreement_rate(pairs)) if pairs else None,
    }


def runs_json(snap: Snapshot, scope: Scope) -> list[dict[str, Any]]:
    """One row per run: error, workflow disagreement and proposal outcomes."""
    rows = []
    for v in snap.select(scope):
        outcomes = run_outcomes(snap, v)
        rows.append(
            {
                "run_id": v.data.run_id,
                "batch_id": v.data.batch_id,
                "week": v.data.week,
                "judge_id": v.data.judge_id,
                "judge_version": v.data.judge_version,
                "created_at": v.data.created_at.isoformat(),
                "drawn": len(v.data.draws),
                "reviewed": v.reviewed,
                **_point([v]),
                "proposal_outcomes": outcomes,
            }
        )
    return rows


def _grouped(views: Sequence[RunView], key: Any) -> dict[Any, list[RunView]]:
    groups: dict[Any, list[RunView]] = {}
    for v in views:
        groups.setdefault(key(v), []).append(v)
    return groups


def batches_json(snap: Snapshot, scope: Scope) -> list[dict[str, Any]]:
    """One row per batch: the pooled figures of the runs over it."""
    groups = _grouped(snap.select(scope), lambda v: v.data.batch_id)
    return [
        {"batch_id": batch, "week": vs[-1].data.week, **_point(vs)} for batch, vs in groups.items()
    ]


def weeks_json(snap: Snapshot, scope: Scope) -> list[dict[str, Any]]:
    """One point per (judge version, ISO week), oldest first."""
    groups = _grouped(snap.select(scope), lambda v: (v.data.judge_version, v.data.week))
    rows = [
        {"judge_version": version, "week": week, **_point(vs)}
        for (version, week), vs in groups.items()
    ]
    return sorted(rows, key=lambda r: (r["week"], r["judge_version"]))


def _audits(views: Sequence[RunView]) -> list[BatchAudit]:
    return [
        BatchAudit(
            v.data.run_id,
            v.data.judge_version,
            CODEBOOK,
            sum(1 for a in v.audit if a.disagrees),
            len(v.audit),
        )
        for v in views
        if v.audit
    ]


@lru_cache(maxsize=64)
def _threshold(p0: float, per_batch: int) -> float:
    return cusum_threshold(p0, per_batch, runs=400, seed=0)


def _cusum(views: Sequence[RunView], batches: Sequence[BatchAudit]) -> dict[str, Any] | None:
    base = batches[: min(WINDOW, len(batches) - 1)]  # in control: the first runs, not the latest
    n = sum(b.n for b in base)
    if not base or n == 0:
        return None
    p0 = min(max(sum(b.disagreements for b in base) / n, 0.01), 0.45)
    p0 = round(p0, 3)
    per_batch = max(1, int(statistics.median(b.n for b in batches)))
    h = _threshold(p0, per_batch)
    outcomes = [a.disagrees for v in views for a in v.audit]
    c = bernoulli_cusum(outcomes, p0, h)
    return {
        "p0": p0,
        "p1": num(c.p1),
        "h": num(c.h),
        "last": num(c.path[-1]) if c.path else None,
        "alarms": len(c.alarms),
        "alarm": bool(c.alarms),
        "notes": len(outcomes),
    }


def drift_json(views: Sequence[RunView]) -> dict[str, Any]:
    """Jump test, CUSUM and rolling error of one judge version's runs (oldest first)."""
    batches = _audits(views)
    if not batches:
        return {"audited_runs": 0, "rolling": None, "jump": None, "cusum": None, "alarm": False}
    jt = jump_test(batches, window=WINDOW, margin=MARGIN)
    jump = {
        "current": interval(jt.current),
        "baseline": interval(jt.baseline),
        "baseline_runs": list(jt.baseline_batches),
        "difference": difference(jt.difference),
        "margin": MARGIN,
        "worse": jt.worse,
        "better": jt.better,
    }
    cusum = _cusum(views, batches)
    return {
        "audited_runs": len(batches),
        "rolling": interval(rolling_error(batches, WINDOW)),
        "jump": jump,
        "cusum": cusum,
        "alarm": jt.worse or bool(cusum and cusum["alarm"]),
    }


def versions_json(snap: Snapshot, scope: Scope) -> list[dict[str, Any]]:
    """One row per judge version: all-time pooled figures and its drift alarms."""
    groups = _grouped(snap.select(scope), lambda v: v.data.judge_version)
    return [
        {
            "judge_version": version,
            "judge_id": vs[-1].data.judge_id,
            "weeks": sorted({v.data.week for v in vs}),
            **_point(vs),
            "drift": drift_json(vs),
        }
        for version, vs in groups.items()
    ]
