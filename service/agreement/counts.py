"""Corrected category counts (METRICS.md §3) and saturation (§5) for a set of runs.

Counts use one run per batch (the latest in the scope), so a note is never counted twice.

- **Tier A** when every stratum of every such run has at least one blind-labelled note: the
  strata of all runs are pooled into one stratified estimate (§3.3; the runs' posterior draws
  are independent, so ``T_c`` sums them).
- **Tier B** for a single run whose audit is incomplete, when earlier runs of the same judge
  version have blind audits to calibrate on (§3.4, transported, with the §3.5 checks).
- **Tier C** otherwise: the raw judge count, never a corrected one, plus the audit-only share.

Saturation (§5) has two signals; the project reads saturated when either says so.

- The **live** stream is the blind audit: each audited note's first blind label (linked to the
  codebook, or the name itself while unlinked), in the order the labels were given. The audit
  is the only seeded random per-note queue of human decisions we have (workflow confirmations
  are bulk accepts, which §5 excludes). A note is a discovery only if its lineage had no
  confirmed note when it was labelled: a category confirmed in week 1 and first drawn into the
  audit in week 5 re-appears, it is not discovered again.
- The **retrospective** stream is the whole reviewed record: the final label of every decided
  note of the scope's runs (the latest run per batch), run after run, in a seeded random order
  within a run (the run's seed), so "20 notes, nothing new" is never an artefact of reviewing
  proposal by proposal. A discovery is the first confirmed note of a category lineage (a
  category merged into another is that one's lineage); lineages of earlier runs outside the
  scope are known. Same stopping rule (no discovery in the last K = 20 non-noise notes, at
  least 100 of them, Good–Turing ``f₁/N ≤ 5%``), plus the order-free rarefaction curve. A project
  whose categories stopped growing (all confirmed in week 1, nothing new since) reads saturated
  even when its audits alone are too few.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from judges.agreement import (
    AuditLabel,
    CountDisplay,
    Label,
    Saturation,
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

if TYPE_CHECKING:
    from service.agreement.links import Labels

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


def _rarefaction(runs: Sequence[RunView], lineage: Mapping[int, int]) -> dict[str, Any]:
    sizes = Counter(
        lineage.get(lab, lab) for v in runs for lab in v.workflow.values() if lab is not None
    )
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


def _live_stream(
    state: LogState, labels: Labels, lineage: Mapping[int, int], views: Sequence[RunView]
) -> tuple[list[Label], list[bool]]:
    """Each audited note's first blind label in the order given, and whether its lineage had a
    confirmed note already when it was labelled."""
    scope = {v.data.run_id for v in views}
    seen: set[tuple[int, int]] = set()
    stream: list[Label] = []
    before: list[bool] = []
    created = {lineage.get(c, c): info.event_id for c, info in sorted(state.categories.items())}
    for b in state.blind:  # ordered by each reviewer's first label event
        if b.run_id in scope and (b.run_id, b.note_id) not in seen:
            seen.add((b.run_id, b.note_id))
            root = _root(labels.blind(b)[1], lineage)
            stream.append(root)
            first = created.get(root) if root is not None and root >= 0 else None
            before.append(first is not None and first < b.first_event_id)
    return stream, before


def _root(label: Label, lineage: Mapping[int, int]) -> Label:
    return None if label is None else lineage.get(label, label)


def _record_stream(
    every_run: Sequence[RunView], scope: set[int], lineage: Mapping[int, int]
) -> tuple[list[Label], list[bool], list[dict[str, Any]]]:
    """The reviewed record of the scope's runs as a stream (see module docs), the flags of
    lineages known from earlier runs outside the scope, and what each run brought."""
    stream: list[Label] = []
    before: list[bool] = []
    per_run: list[dict[str, Any]] = []
    known: set[int] = set()
    placed: set[int] = set()
    for v in count_runs(every_run):
        notes = [n for n in v.data.notes if n in v.workflow and n not in placed]
        placed.update(notes)
        random.Random(v.data.seed).shuffle(notes)
        labels = [_root(v.workflow[n], lineage) for n in notes]
        if v.data.run_id not in scope:
            known.update(lab for lab in labels if lab is not None)
            continue
        fresh = {lab for lab in labels if lab is not None} - known - set(stream)
        per_run.append(
            {
                "run_id": v.data.run_id,
                "week": v.data.week,
                "reviewed": len(labels),
                "non_noise": sum(1 for lab in labels if lab is not None),
                "new_categories": len(fresh),
            }
        )
        stream += labels
        before += [lab is not None and lab in known for lab in labels]
    return stream, before, per_run


def _live_json(s: Saturation) -> dict[str, Any]:
    return {
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


def saturation_json(
    state: LogState,
    labels: Labels,
    lineage: Mapping[int, int],
    views: Sequence[RunView],
    every_run: Sequence[RunView],
) -> dict[str, Any]:
    """Saturation of the scope: the live blind stream and the reviewed record (§5).

    Args:
        state: The folded log.
        labels: Blind labels as codebook labels (links).
        lineage: Category → the root of its lineage.
        views: The scope's runs.
        every_run: Every run of the project (lineages of earlier runs are known).
    """
    stream, before = _live_stream(state, labels, lineage, views)
    live = saturation(stream, confirmed_before=before)
    scope = {v.data.run_id for v in views}
    record, known, per_run = _record_stream(every_run, scope, lineage)
    retro = saturation(record, confirmed_before=known)
    signal = "live" if live.saturated else "retrospective" if retro.saturated else None
    return {
        "saturated": signal is not None,
        "signal": signal,
        "message": _message(live, retro),
        "live": _live_json(live),
        "retrospective": {
            **_rarefaction(count_runs(views), lineage),
            "stream": {
                **_live_json(retro),
                "curve": [[t + 1, d] for t, d in enumerate(retro.curve)],
            },
            "runs": per_run,
        },
    }


def _chance(gt: float | None) -> str:
    return f"{gt:.0%}" if gt is not None else "unknown"


def _message(live: Saturation, retro: Saturation) -> str:
    if live.saturated:
        return (
            f"saturated: no new category in the last {live.since_last} notes; "
            f"next-note chance ≈ {_chance(live.good_turing)}"
        )
    if retro.saturated:
        return (
            f"saturated: the reviewed record's last {retro.since_last} non-noise notes brought "
            f"no new category ({retro.non_noise} reviewed); next-note chance ≈ "
            f"{_chance(retro.good_turing)}"
        )
    s, where = (
        (retro, "reviewed") if retro.non_noise >= live.non_noise else (live, "reviewed blind")
    )
    if s.non_noise < MIN_REVIEWED:
        return f"not saturated: {s.non_noise} of at least {MIN_REVIEWED} non-noise notes {where}"
    return (
        f"not saturated: {s.since_last} notes since the last new category; "
        f"next-note chance ≈ {_chance(s.good_turing)}"
    )
