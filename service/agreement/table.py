"""The agreement figures as one long CSV table: one row per (scope, metric, label).

Columns: ``scope_kind`` (project, run, batch, week, judge_version, reviewer: keyed by its
identity, ``key:<id>`` or ``user:<id>``), ``scope_key``,
``judge_version``, ``metric``, ``label``, ``value``, ``low``, ``high``, ``n``, ``tier``,
``watermark``, ``computed_at``. Every row of one export reflects the same watermark. Text
cells that a spreadsheet would run as a formula (names, labels) get a leading ``'``
(:func:`service.notes.export.spreadsheet_safe`).
"""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator
from typing import Any

from service.agreement.figures import Scope, Snapshot, figures
from service.agreement.reviewers import reviewers_json
from service.agreement.timeline import batches_json, runs_json, versions_json, weeks_json
from service.notes.export import spreadsheet_safe

COLUMNS = (
    "scope_kind",
    "scope_key",
    "judge_version",
    "metric",
    "label",
    "value",
    "low",
    "high",
    "n",
    "tier",
    "watermark",
    "computed_at",
)


def _iv(kind: str, key: Any, version: str, metric: str, block: dict[str, Any] | None) -> list[Any]:
    block = block or {}
    return [
        kind,
        key,
        version,
        metric,
        "",
        block.get("value"),
        block.get("low"),
        block.get("high"),
        block.get("n"),
        "",
    ]


def _project_rows(fig: dict[str, Any]) -> Iterator[list[Any]]:
    error = fig["judge_error_rate"]
    yield _iv("project", "", "", "judge_error_rate", error)
    yield ["project", "", "", "judge_error_status", error["status"], error["pending_review"],
           "", "", error["n"], ""]  # fmt: skip
    persuasion = fig["judge_persuasion"]
    yield _iv("project", "", "", "judge_persuasion", persuasion["rate"])
    yield _iv("project", "", "", "workflow_disagreement", fig["workflow_disagreement"])
    if fig["anchoring_gap"]:
        yield _iv("project", "", "", "anchoring_gap", fig["anchoring_gap"])
    if fig["human_noise"]["e_hh"]:
        yield _iv("project", "", "", "human_disagreement", fig["human_noise"]["e_hh"])
    outcomes = fig["proposal_outcomes"]
    for outcome, count in outcomes["mix_by_proposal"].items():
        yield [
            "project",
            "",
            "",
            "proposal_outcome",
            outcome,
            count,
            "",
            "",
            outcomes["decided"],
            "",
        ]
    for row in fig["corrected_counts"]["categories"]:
        yield ["project", "", "", "judge_count", row["name"], row["raw"], "", "", "", row["tier"]]
        yield [
            "project",
            "",
            "",
            "corrected_count",
            row["name"],
            row["estimate"],
            row["low"],
            row["high"],
            fig["corrected_counts"]["audited"],
            row["tier"],
        ]
    sat = fig["saturation"]
    yield [
        "project",
        "",
        "",
        "saturated",
        "",
        int(sat["saturated"]),
        "",
        "",
        sat["live"]["non_noise"],
        "",
    ]


def _series_rows(snap: Snapshot, scope: Scope) -> Iterator[list[Any]]:
    for r in runs_json(snap, scope):
        yield _iv("run", r["run_id"], r["judge_version"], "judge_error_rate", r["judge_error_rate"])
    for b in batches_json(snap, scope):
        yield _iv("batch", b["batch_id"], "", "judge_error_rate", b["judge_error_rate"])
    for w in weeks_json(snap, scope):
        yield _iv("week", w["week"], w["judge_version"], "judge_error_rate", w["judge_error_rate"])
    for v in versions_json(snap, scope):
        version = v["judge_version"]
        yield _iv("judge_version", version, version, "judge_error_rate", v["judge_error_rate"])
        yield [
            "judge_version",
            version,
            version,
            "drift_alarm",
            "",
            int(v["drift"]["alarm"]),
            "",
            "",
            v["drift"]["audited_runs"],
            "",
        ]


def _reviewer_rows(snap: Snapshot, scope: Scope) -> Iterator[list[Any]]:
    """Keyed by the reviewer's identity (two keys may share a display name); ``label`` is the
    display name."""
    for r in reviewers_json(snap.state, snap.select(scope), snap.labels):
        key, name = r["actor"], r["reviewer"]
        yield ["reviewer", key, "", "blind_labelled", name, r["blind_labelled"], "", "", "", ""]
        yield ["reviewer", key, "", "revisions", name, r["revisions"], "", "", "", ""]
        for metric in ("judge_disagreement", "agreement_with_others"):
            row = _iv("reviewer", key, "", metric, r[metric])
            row[4] = name
            yield row


def agreement_csv(snap: Snapshot, scope: Scope) -> str:
    """Every figure of the scope as CSV text (header + rows)."""
    fig = figures(snap, scope)
    stamp = [snap.state.watermark, snap.computed_at.isoformat().replace("+00:00", "Z")]  # as JSON
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(COLUMNS)
    for rows in (_project_rows(fig), _series_rows(snap, scope), _reviewer_rows(snap, scope)):
        for row in rows:
            writer.writerow([spreadsheet_safe(cell) for cell in [*row, *stamp]])
    return out.getvalue()
