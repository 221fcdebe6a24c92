"""Corrected category counts (METRICS.md §3) and saturation (§5) for a set of runs.

Counts use one run per batch (the latest in the scope), so a note is never counted twice.

- **Tier A** when every stratum of every such run has at least one blind-labelled note: the
  strata of all runs are pooled into one stratified estimate (§3.3; the runs' posterior draws
  are independent, so ``T_c`` sums them).
- **Tier B** for a single run whose audit is incomplete, when earlier runs of the same judge
  version have blind audits to calibrate on (§3.4, transported, with the §3.5 checks).
- **Tier C** otherwise: the raw judge count, never a corrected one, plus the audit-only share.

Saturation's *live* stream is the blind audit: each audited note's first blind label, in the
order the labels were given. The audit is the only seeded random per-note queue of human
decisions we have (workflow confirmations are bulk accepts, which §5 excludes). The
*retrospective* curve is the rarefaction of the final workflow categories (§5).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from typing import Any

from judges.agreement import (
    AuditLabel,
    CountDisplay,
    Label,
    StratifiedCounts,
    Stratum,
    build_strata,
    display_counts,
    rarefaction,
    saturation,
    stratified_counts,
    transported_counts,
)
from service.agreement.data import UNMAPPED_BASE, RunView
from service.agreement.log import LogState
from service.agreement.shapes import interval, num

DRAWS = 4000
CURVE_POINTS = 60
MIN_REVIEWED = 100


def count_runs(views: Sequence[RunView]) -> list[RunView]:
    """The latest run of each batch in the scope (runs without a batch each count)."""
    latest: dict[object, RunView] = {}
    for v in views:  # oldest first, so later runs replace earlier ones
        key = v.data.batch_id if v.data.batch_id is not None else ("run", v.data.run_id)
        latest[key] = v
    return sorted(latest.values(), key=lambda v: v.data.run_id)


def strata_of(v: RunView) -> tuple[Stratum, ...]:
    """The run's audit strata: judge proposals plus the judge-noise stratum (§3.3)."""
    return build_strata(v.proposals, v.mapping, v.data.notes, v.blind)


def label_json(state: LogState, label: Label, proposals: dict[int, str]) -> dict[str, Any]:
    """What a label is: a category, noise, a blind "new" name, or an unreviewed proposal."""
    if label is not None and label <= UNMAPPED_BASE:
        pid = UNMAPPED_BASE - label
        name = f"not reviewed yet: {proposals.get(pid, pid)}"
        return {"label": label, "kind": "unreviewed_proposal", "proposal_id": pid, "name": name}
    if label is None:
        kind = "noise"
    elif label < 0:
        kind = "new"
    else:
        kind = "category"
    category_id = label if kind == "category" else None
    return {
        "label": label,
        "kind": kind,
        "category_id": category_id,
        "name": state.label_name(label),
    }


def _calibration(views: Sequence[RunView], run: RunView) -> list[AuditLabel]:
    return [
        a
        for v in views
        if v.data.judge_version == run.data.judge_version and v.data.run_id < run.data.run_id
        for a in v.audit
    ]


def _tiers(
    runs: Sequence[RunView], every_run: Sequence[RunView]
) -> tuple[tuple[CountDisplay, ...], StratifiedCounts | None, list[str]]:
    strata = [s for v in runs for s in strata_of(v)]
    raw: Counter[Label] = Counter()
    for s in strata:
        raw[s.judge_label] += s.size
    missing = [
        f"run {v.data.run_id}: {'noise' if s.key is None else f'proposal {s.key}'}"
        for v in runs
        for s in strata_of(v)
        if not s.audited
    ]
    audit = [h for v in runs for h in v.blind.values()]
    if strata and not missing:
        seed = runs[0].data.seed if len(runs) == 1 else 0
        est = stratified_counts(strata, draws=DRAWS, seed=seed)
        return display_counts(raw, stratified=est, audit=audit), est, missing
    calibration = _calibration(every_run, runs[0]) if len(runs) == 1 else []
    if calibration and raw:
        try:
            moved = transported_counts(calibration, raw, draws=2000, seed=runs[0].data.seed)
        except ValueError:
            return display_counts(raw, audit=audit), None, missing
        return display_counts(raw, transported=moved, audit=audit), None, missing
    return display_counts(raw, audit=audit), None, missing


def _row(state: LogState, d: CountDisplay, names: dict[int, str]) -> dict[str, Any]:
    return {
        **label_json(state, d.label, names),
        "raw": d.judge_count,
        "estimate": num(d.estimate, 2),
        "low": num(d.low, 2),
        "high": num(d.high, 2),
        "tier": d.tier.value,
        "precision": interval(d.precision),
        "recall": interval(d.recall),
        "audit_share": interval(d.audit_share),
        "reasons": list(d.reasons),
    }


def corrected_counts(
    state: LogState, views: Sequence[RunView], every_run: Sequence[RunView]
) -> dict[str, Any]:
    """Corrected counts per label for the scope, with their tier (METRICS.md §3.3–§3.5).

    Args:
        state: The folded log.
        views: The scope's runs.
        every_run: All runs of the project (earlier audits calibrate tier B).
    """
    runs = count_runs(views)
    if not runs:
        return {"categories": [], "runs": [], "batch_size": 0, "audited": 0}
    displays, est, missing = _tiers(runs, every_run)
    names = {p.proposal_id: p.name for v in runs for p in v.proposals}
    rows = [_row(state, d, names) for d in displays]
    rows.sort(key=lambda r: -(r["estimate"] if r["estimate"] is not None else r["raw"]))
    return {
        "categories": rows,
        "runs": [v.data.run_id for v in runs],
        "batch_size": sum(len(v.data.notes) for v in runs),
        "audited": sum(len(v.blind) for v in runs),
        "unaudited_strata": missing,
        "draws": est.draws if est else None,
        "seed": est.seed if est else None,
        "prior": num(est.prior) if est else None,
    }


def _retrospective(runs: Sequence[RunView]) -> dict[str, Any]:
    sizes = Counter(lab for v in runs for lab in v.workflow.values() if lab is not None)
    total = sum(sizes.values())
    f1 = sum(1 for m in sizes.values() if m == 1)
    step = max(1, total // CURVE_POINTS)
    points = sorted({*range(0, total + 1, step), total})
    curve = [[n, num(rarefaction(list(sizes.values()), n), 3)] for n in points] if total else []
    return {
        "n": total,
        "categories": len(sizes),
        "singletons": f1,
        "good_turing": num(f1 / total) if total else None,
        "curve": curve,
    }


def _stream(state: LogState, views: Sequence[RunView]) -> list[Label]:
    """Each audited note's first blind label, in the order the labels were given."""
    scope = {v.data.run_id for v in views}
    seen: set[tuple[int, int]] = set()
    stream: list[Label] = []
    for b in state.blind:  # ordered by each reviewer's first label event
        if b.run_id in scope and (b.run_id, b.note_id) not in seen:
            seen.add((b.run_id, b.note_id))
            stream.append(state.reconcile(b.raw))
    return stream


def saturation_json(state: LogState, views: Sequence[RunView]) -> dict[str, Any]:
    """The live saturation state (blind stream) and the retrospective curve (§5)."""
    s = saturation(_stream(state, views))
    live = {
        "reviewed": s.reviewed,
        "non_noise": s.non_noise,
        "discoveries": len(s.discoveries),
        "since_last": s.since_last,
        "singletons": s.singletons,
        "good_turing": num(s.good_turing),
        "window_noise_share": num(s.window_noise_share),
        "noise_dominated": s.noise_dominated,
        "saturated": s.saturated,
        "k": s.k,
        "min_reviewed": MIN_REVIEWED,
        "none_in_k_bound": num(s.none_in_k_bound),
        "curve": [[t + 1, d] for t, d in enumerate(s.curve)],
    }
    return {
        "saturated": s.saturated,
        "message": _message(s.saturated, s.non_noise, s.since_last, s.good_turing),
        "live": live,
        "retrospective": _retrospective(count_runs(views)),
    }


def _message(saturated: bool, t: int, since: int, gt: float | None) -> str:
    chance = f"{gt:.0%}" if gt is not None else "unknown"
    if saturated:
        return f"saturated: no new category in the last {since} notes; next-note chance ≈ {chance}"
    if t < MIN_REVIEWED:
        return f"not saturated: {t} of at least {MIN_REVIEWED} non-noise notes reviewed blind"
    return f"not saturated: {since} notes since the last new category; next-note chance ≈ {chance}"
