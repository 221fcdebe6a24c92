"""The lead dashboard: how often the judge's taxonomy survives human review, with intervals.

``GET /projects/{project}/dashboard`` (lead role; filters ``judge_version``, ``week``,
``run_id``) shows the headline judge error rate with its interval, n and window (or "pending
review" while audited notes wait for the run's review: blind names not linked yet, proposals
not decided), what the drawn audit buys, the judge persuasion rate of revisions; proposal
outcomes per run (stacked bars); the error per ISO week and judge version with intervals;
categories as a Pareto chart (corrected count with its interval, raw judge count, cumulative
share); the saturation curve with its stopping signal; drift alarms; per-reviewer figures.
Every number names its n and window.

Charts are Vega-Lite specs built here and handed to the page in a
``<script type="application/json">`` block; ``static/dashboard.js`` renders them with the
vendored Vega (``static/vendor/vega``) through its expression *interpreter*, so nothing needs
``unsafe-eval`` or inline scripts under the CSP (``script-src 'self'``).
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Annotated, Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import Response

from review_ui.pages import Chrome, chrome
from review_ui.rendering import render
from service.agreement.data import check_week
from service.agreement.figures import Scope, Snapshot, figures, snapshot
from service.agreement.reviewers import reviewers_json
from service.agreement.timeline import runs_json, versions_json, weeks_json
from service.audit.reveal import reveal_runs
from service.auth import Principal, project_by_name
from service.http.deps import CallerDep, SessionDep

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

router = APIRouter(include_in_schema=False)
VL = "https://vega.github.io/schema/vega-lite/v5.json"
OUTCOMES = ("accepted", "renamed", "membership_edited", "merged", "split", "rejected_noise")
COLORS = ("#2e7d32", "#81c784", "#fbc02d", "#fb8c00", "#8e24aa", "#c62828", "#bdbdbd")
WIDTH = 520


def pct(value: float | None) -> str:
    """A share as a whole percent, or an en dash when unknown."""
    return "–" if value is None else f"{100 * value:.0f}%"


@dataclass(frozen=True, slots=True)
class Chart:
    """One chart of the page: a Vega-Lite spec and the caption naming its n and window."""

    key: str
    title: str
    caption: str
    spec: dict[str, Any]


@dataclass(frozen=True, slots=True)
class Headline:
    """The headline lines (METRICS.md §2 display)."""

    error: str
    detail: str
    workflow: str
    indicative: bool
    rolling: tuple[str, ...] = ()
    persuasion: str = ""


@dataclass(frozen=True, slots=True)
class DashboardPage:
    """Everything the dashboard template shows."""

    chrome: Chrome
    project: str
    scope: Scope
    watermark: int
    computed_at: str
    headline: Headline
    charts: list[Chart]
    counts: list[dict[str, Any]]
    saturation: dict[str, Any]
    versions: list[dict[str, Any]]
    reviewers: list[dict[str, Any]]
    options: dict[str, list[str]]

    @property
    def specs(self) -> dict[str, dict[str, Any]]:
        return {c.key: c.spec for c in self.charts}


def window_text(window: dict[str, Any]) -> str:
    """ "3 runs · 2026-W47–2026-W48 · judge v1"."""
    weeks = window["weeks"]
    span = "no runs" if not weeks else weeks[0] if len(weeks) == 1 else f"{weeks[0]}–{weeks[-1]}"
    versions = ", ".join(window["judge_versions"]) or "–"
    return f"{len(window['runs'])} run(s) · {span} · judge {versions}"


def _waiting(e: dict[str, Any]) -> str:
    """Why audited notes are not in the headline yet, e.g. "12 blind names to link"."""
    parts = []
    if e.get("awaiting_links"):
        parts.append(f"{e['awaiting_links']} carry blind names the review has not linked yet")
    if e.get("awaiting_workflow"):
        parts.append(f"{e['awaiting_workflow']} await a workflow decision")
    return " and ".join(parts)


def headline(fig: dict[str, Any]) -> Headline:
    e, window = fig["judge_error_rate"], window_text(fig["window"])
    interval = f"{pct(e['value'])} (95% CI {pct(e['low'])}–{pct(e['high'])})"
    if e.get("status") == "pending_review":
        waiting = e["pending_review"]
        error = (
            f"Judge error: pending review — {waiting} of {waiting + e['n']} blind-audited notes "
            "wait for the run's review"
        )
        if e["value"] is not None:
            error += f" (so far {interval} on the {e['n']} resolved)"
    elif e["value"] is None:
        error = "Judge error: no blind audit labels yet"
    else:
        error = f"Judge error {interval}"
    n_eff = f"{e['n_eff']:g}" if e["n"] else "0"
    detail = f"blind audit n = {e['n']} (effective n {n_eff}) of {e['drawn']} drawn · {window}"
    if e.get("expected_half_width") is not None:
        detail += f" · {e['drawn']} drawn buy about ±{100 * e['expected_half_width']:.0f} pp at a 15% error"
    if _waiting(e):
        detail += f" · of the audited notes, {_waiting(e)}"
    wf, gap = fig["workflow_disagreement"], fig["anchoring_gap"]
    workflow = "workflow disagreement –"
    if wf:
        workflow = f"workflow disagreement {pct(wf['value'])} (n = {wf['n']:.0f}, diagnostic only)"
    if gap:
        workflow += f" → anchoring gap {100 * gap['value']:.0f} pp (n = {gap['n1']:.0f})"
    return Headline(
        error, detail, workflow, bool(e.get("indicative")), persuasion=persuasion_line(fig)
    )


def persuasion_line(fig: dict[str, Any]) -> str:
    """Labels changed after the judge's work was shown: the judge persuasion rate."""
    p = fig.get("judge_persuasion") or {}
    if not p.get("revisions"):
        return "judge persuasion: no label was revised after the reveal"
    r = p["rate"]
    return (
        f"judge persuasion {pct(r['value'])} (95% CI {pct(r['low'])}–{pct(r['high'])}): "
        f"{p['toward_judge']} of {p['revisions']} labels revised after seeing the judge moved "
        f"to its label ({p['changed']} changed; revisions never enter the judge error)"
    )


def rolling_lines(versions: list[dict[str, Any]]) -> tuple[str, ...]:
    """Per judge version: the rolling value over its last 4 audited runs (METRICS.md §2)."""
    lines = []
    for v in versions:
        r = v["drift"]["rolling"]
        if r is not None:
            lines.append(
                f"judge {v['judge_version']}: last {min(4, v['drift']['audited_runs'])} audited "
                f"run(s) {pct(r['value'])} (95% CI {pct(r['low'])}–{pct(r['high'])}, "
                f"n = {r['n']:.0f}, pooled counts)"
            )
    return tuple(lines)


def _bar(values: list[dict[str, Any]], x: str, y: str, color: dict[str, Any]) -> dict[str, Any]:
    return {
        "$schema": VL,
        "width": WIDTH,
        "height": 220,
        "data": {"values": values},
        "mark": {"type": "bar", "tooltip": True},
        "encoding": {
            "x": {"field": x, "type": "ordinal", "sort": None},
            "y": {"field": y, "type": "quantitative", "stack": "zero"},
            "color": color,
        },
    }


def outcomes_chart(fig: dict[str, Any]) -> Chart:
    """Proposal outcomes per run, stacked (pending proposals in grey)."""
    values = []
    for run in fig["proposal_outcomes"]["runs"]:
        mix = {**run["mix_by_proposal"], "pending": run["pending"]}
        values += [
            {"run": f"run {run['run_id']}", "outcome": o, "proposals": mix.get(o, 0)}
            for o in (*OUTCOMES, "pending")
        ]
    scale = {"domain": [*OUTCOMES, "pending"], "range": list(COLORS)}
    color = {"field": "outcome", "type": "nominal", "scale": scale, "sort": [*OUTCOMES, "pending"]}
    out = fig["proposal_outcomes"]
    caption = f"{out['decided']} decided and {out['pending']} pending proposals · " + window_text(
        fig["window"]
    )
    return Chart(
        "outcomes", "Proposal outcomes per run", caption, _bar(values, "run", "proposals", color)
    )


def weeks_chart(weeks: list[dict[str, Any]]) -> Chart:
    """Judge error per ISO week and judge version, with Wilson intervals."""
    values = [
        {"week": w["week"], "judge version": w["judge_version"], **w["judge_error_rate"]}
        for w in weeks
        if w["judge_error_rate"]["value"] is not None
    ]
    enc = {
        "x": {"field": "week", "type": "ordinal"},
        "color": {"field": "judge version", "type": "nominal"},
    }
    y = {"field": "value", "type": "quantitative", "title": "judge error", "axis": {"format": "%"}}
    spec = {
        "$schema": VL,
        "width": WIDTH,
        "height": 220,
        "data": {"values": values},
        "encoding": enc,
        "layer": [
            {"mark": "rule", "encoding": {"y": {**y, "field": "low"}, "y2": {"field": "high"}}},
            {"mark": {"type": "line", "point": True, "tooltip": True}, "encoding": {"y": y}},
        ],
    }
    n = sum(v["n"] for v in values)
    caption = f"{len(values)} week × version points · blind audit n = {n} in all · 95% Wilson"
    return Chart("weeks", "Judge error per week and judge version", caption, spec)


def _pareto_values(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """One bar per label, largest first, with the cumulative share of the shown counts."""
    shown = [r["estimate"] if r["estimate"] is not None else r["raw"] for r in rows]
    total, running, values = sum(shown) or 1, 0.0, []
    for r, count in zip(rows, shown, strict=True):
        running += count
        values.append(
            {
                "category": r["name"][:40],
                "count": count,
                "low": r["low"],
                "high": r["high"],
                "raw": r["raw"],
                "tier": r["tier"],
                "cumulative": running / total,
            }
        )
    return values


def pareto_chart(fig: dict[str, Any]) -> Chart:
    """Categories by corrected count (tier C: raw), interval, raw count, cumulative share."""
    values = _pareto_values(fig["corrected_counts"]["categories"])
    x = {"field": "category", "type": "nominal", "sort": [v["category"] for v in values]}
    q = {"type": "quantitative", "title": "notes"}
    layer = [
        {
            "mark": {"type": "bar", "tooltip": True},
            "encoding": {
                "y": {"field": "count", **q},
                "color": {"field": "tier", "type": "nominal", "scale": {"domain": ["A", "B", "C"]}},
            },
        },
        {"mark": "rule", "encoding": {"y": {"field": "low", **q}, "y2": {"field": "high"}}},
        {
            "mark": {"type": "tick", "color": "black", "size": 28, "thickness": 2},
            "encoding": {"y": {"field": "raw", **q}},
        },
    ]
    cum = {
        "mark": {"type": "line", "point": True, "color": "#555"},
        "encoding": {"y": {"field": "cumulative", "type": "quantitative", "axis": {"format": "%"}}},
    }
    spec = {
        "$schema": VL,
        "width": WIDTH,
        "height": 240,
        "data": {"values": values},
        "encoding": {"x": x},
        "layer": [{"layer": layer}, cum],
        "resolve": {"scale": {"y": "independent"}},
    }
    c = fig["corrected_counts"]
    caption = f"N = {c['batch_size']} notes · {c['audited']} blind-audited · tick = judge's count"
    return Chart("pareto", "Categories: corrected counts (Pareto)", caption, spec)


def saturation_chart(fig: dict[str, Any]) -> Chart:
    """Discoveries D(t) over the blind stream and over the reviewed record, and the
    rarefaction expectation."""
    sat = fig["saturation"]
    live = [
        {"notes": t, "categories": d, "curve": "live (blind stream)"}
        for t, d in sat["live"]["curve"]
    ]
    record = [
        {"notes": t, "categories": d, "curve": "reviewed record (run by run)"}
        for t, d in sat["retrospective"]["stream"]["curve"]
    ]
    retro = record + [
        {"notes": n, "categories": e, "curve": "expected (rarefaction, workflow)"}
        for n, e in sat["retrospective"]["curve"]
    ]
    spec = {
        "$schema": VL,
        "width": WIDTH,
        "height": 220,
        "data": {"values": live + retro},
        "mark": {"type": "line", "tooltip": True},
        "encoding": {
            "x": {"field": "notes", "type": "quantitative", "title": "non-noise notes"},
            "y": {"field": "categories", "type": "quantitative"},
            "color": {"field": "curve", "type": "nominal"},
        },
    }
    caption = (
        f"{sat['message']} · stream n = {sat['live']['non_noise']} · "
        f"workflow n = {sat['retrospective']['n']}"
    )
    return Chart("saturation", "Saturation", caption, spec)


def runs_chart(runs: list[dict[str, Any]]) -> Chart:
    """Judge error per run, in time order, with intervals (what the drift tests watch)."""
    values = [
        {"run": f"run {r['run_id']}", "judge version": r["judge_version"], **r["judge_error_rate"]}
        for r in runs
        if r["judge_error_rate"]["value"] is not None
    ]
    enc = {
        "x": {"field": "run", "type": "ordinal", "sort": None},
        "color": {"field": "judge version", "type": "nominal"},
    }
    y = {"field": "value", "type": "quantitative", "title": "judge error", "axis": {"format": "%"}}
    spec = {
        "$schema": VL,
        "width": WIDTH,
        "height": 200,
        "data": {"values": values},
        "encoding": enc,
        "layer": [
            {"mark": "rule", "encoding": {"y": {**y, "field": "low"}, "y2": {"field": "high"}}},
            {"mark": {"type": "point", "filled": True, "tooltip": True}, "encoding": {"y": y}},
        ],
    }
    return Chart("runs", "Judge error per run", f"{len(values)} audited runs · 95% Wilson", spec)


def _options(snap: Snapshot) -> dict[str, list[str]]:
    """The filter choices: every judge version, week and run of the project."""
    runs = [v.data for v in snap.runs]
    return {
        "judge_version": sorted({r.judge_version for r in runs}),
        "week": sorted({r.week for r in runs}),
        "run_id": [str(r.run_id) for r in runs],
    }


def dashboard_page(
    request: Request, session: Session, who: Principal, project: str, scope: Scope
) -> DashboardPage:
    """Compute every figure of ``scope`` once (one snapshot of the log) and lay it out."""
    proj = project_by_name(session, project)
    who.require(proj.id, "lead")
    snap = snapshot(session, proj.id)
    reveal_runs(session, proj.id, [v.data.run_id for v in snap.select(scope)], who, "dashboard")
    fig, versions = figures(snap, scope), versions_json(snap, scope)
    runs, weeks = runs_json(snap, scope), weeks_json(snap, scope)
    charts = [
        outcomes_chart(fig),
        weeks_chart(weeks),
        pareto_chart(fig),
        saturation_chart(fig),
        runs_chart(runs),
    ]
    return DashboardPage(
        chrome=chrome(request, who, f"{project} — judge agreement", project=project),
        project=project,
        scope=scope,
        watermark=snap.state.watermark,
        computed_at=snap.computed_at.isoformat(timespec="seconds"),
        headline=replace(headline(fig), rolling=rolling_lines(versions)),
        charts=charts,
        counts=fig["corrected_counts"]["categories"],
        saturation=fig["saturation"],
        versions=versions,
        reviewers=reviewers_json(snap.state, snap.select(scope), snap.labels),
        options=_options(snap),
    )


@router.get("/projects/{project}/dashboard")
def dashboard(
    request: Request,
    project: str,
    session: SessionDep,
    who: CallerDep,
    judge_version: Annotated[str | None, Query()] = None,
    week: Annotated[str | None, Query()] = None,
    run_id: Annotated[str | None, Query()] = None,
) -> Response:
    """The lead dashboard of a project (optionally one judge version, week or run)."""
    scope = Scope(
        run_id=int(run_id) if run_id and run_id.isdigit() else None,
        week=check_week(week) if week else None,
        judge_version=judge_version or None,
    )
    return render(request, "dashboard.html", dashboard_page(request, session, who, project, scope))
