"""What the review pages say in words a person reads: dates, durations and a run's progress.

Registered on the templates by :mod:`review_ui.rendering`: the ``when`` filter (a timestamp as
``<time datetime=…>3 Dec 2026, 02:25 UTC</time>``, the ISO form in its ``title``), the
``ago`` filter and :func:`run_progress` (where a run stands, stage by stage).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from markupsafe import Markup, escape

from service.domain import RunStatus
from service.runs.read import RunRow

# The stages of a run in the order the pipeline executes them, and what each one counts.
STAGES: tuple[tuple[str, str], ...] = (
    ("load", ""),
    ("embed", "notes"),
    ("match", "notes"),
    ("cluster", "notes"),
    ("judge", "clusters"),
    ("store", ""),
)
STAGE_NAMES = tuple(name for name, _ in STAGES)


def moment(value: datetime | str | None) -> datetime | None:
    """A timestamp as an aware UTC datetime; a naive one is taken to be UTC (as stored)."""
    if value is None or value == "":
        return None
    stamp = datetime.fromisoformat(value) if isinstance(value, str) else value
    return stamp.replace(tzinfo=UTC) if stamp.tzinfo is None else stamp.astimezone(UTC)


def human_date(value: datetime | str | None) -> str:
    """``3 Dec 2026, 02:25 UTC``; empty for no timestamp."""
    stamp = moment(value)
    return f"{stamp.day} {stamp:%b %Y, %H:%M} UTC" if stamp else ""


def ago(value: datetime | str | None, now: datetime | None = None) -> str:
    """How long ago, roughly: ``just now``, ``5 min ago``, ``3 h ago``, ``2 days ago``."""
    stamp = moment(value)
    if stamp is None:
        return ""
    seconds = ((now or datetime.now(UTC)) - stamp).total_seconds()
    if seconds < 0:
        return f"in {_span(-seconds)}"
    return "just now" if seconds < 45 else f"{_span(seconds)} ago"


def _span(seconds: float) -> str:
    minutes = round(seconds / 60)
    if minutes < 60:
        return f"{max(minutes, 1)} min"
    hours = round(seconds / 3600)
    if hours < 48:
        return f"{hours} h"
    return f"{round(seconds / 86400)} days"


def when(value: datetime | str | None) -> Markup:
    """A ``<time>`` element: the date in words, the ISO timestamp in ``datetime`` and ``title``."""
    stamp = moment(value)
    if stamp is None:
        return Markup("")
    iso = stamp.isoformat(timespec="seconds")
    return Markup('<time datetime="{}" title="{} ({})">{}</time>').format(
        iso, iso, escape(ago(stamp)), human_date(stamp)
    )


def seconds(value: float) -> str:
    """A duration: ``40 ms``, ``2.4 s``, ``12 s``, ``3 min 5 s``."""
    if value < 1:
        return f"{value * 1000:.0f} ms"
    if value < 10:
        return f"{value:.1f} s"
    if value < 60:
        return f"{value:.0f} s"
    whole = round(value)
    return f"{whole // 60} min {whole % 60} s"


@dataclass(frozen=True, slots=True)
class RunProgress:
    """Where a run stands, for a person: a headline, a bar while it works, the stages.

    ``stages`` lists each stage the run has finished with its time (``embed 1.2 s``);
    ``percent`` is the current stage's share done, ``None`` when no bar applies.
    """

    headline: str
    stages: list[str]
    percent: int | None = None


def run_progress(run: RunRow) -> RunProgress:
    """The run's progress in words: the current stage of how many, or what it took."""
    timings = {k: float(v) for k, v in (run.timings or {}).items() if isinstance(v, int | float)}
    finished = [f"{name} {seconds(timings[name])}" for name in STAGE_NAMES if name in timings]
    if run.status == RunStatus.succeeded:
        total = sum(timings.get(name, 0.0) for name in STAGE_NAMES)
        return RunProgress(f"done in {seconds(total)}" if timings else "done", finished)
    if run.status == RunStatus.failed:
        return RunProgress(f"failed at {run.stage}", finished)
    if run.status == RunStatus.queued or run.stage not in STAGE_NAMES:
        return RunProgress("waiting for a worker", finished, 0)
    number = STAGE_NAMES.index(run.stage) + 1
    unit = dict(STAGES)[run.stage]
    counted = f": {run.done} of {run.total} {unit}" if unit and run.total else ""
    headline = f"stage {number} of {len(STAGES)}, {run.stage}{counted}"
    return RunProgress(headline, finished, run.percent if unit else None)
