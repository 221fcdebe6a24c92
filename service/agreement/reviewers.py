"""Per-reviewer figures: blind audit size, agreement with the judge and with other reviewers.

For each reviewer with blind labels or workflow actions in the scope's runs:

- ``blind_labelled``: audited notes they labelled blind (their last label per note);
- ``judge_disagreement``: how often their blind label differs from the judge's mapped label
  (Wilson; notes of unmapped proposals left out);
- ``agreement_with_others``: on notes another reviewer also labelled blind, the share of
  (their label, the other's label) pairs that agree (Wilson), with Cohen's-κ-free raw
  agreement because the pairs span many labels and few notes;
- ``workflow_actions``: their non-reverted workflow actions in those runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import Any

from judges.agreement import Label, wilson
from service.agreement.data import RunView
from service.agreement.log import LogState
from service.agreement.shapes import interval


def _labels(state: LogState, views: Sequence[RunView]) -> dict[tuple[int, int], dict[str, Label]]:
    """(run, note) → reviewer → reconciled blind label, for the scope's runs."""
    scope = {v.data.run_id for v in views}
    out: dict[tuple[int, int], dict[str, Label]] = defaultdict(dict)
    for b in state.blind:
        if b.run_id in scope:
            out[(b.run_id, b.note_id)][b.reviewer] = state.reconcile(b.raw)
    return out


def _reviewer(
    name: str,
    labels: dict[tuple[int, int], dict[str, Label]],
    judge: dict[tuple[int, int], Label],
    actions: int,
) -> dict[str, Any]:
    mine = {key: by[name] for key, by in labels.items() if name in by}
    judged = [(lab, judge[key]) for key, lab in mine.items() if key in judge]
    pairs = [
        (lab, other)
        for key, lab in mine.items()
        for who, other in labels[key].items()
        if who != name
    ]
    return {
        "reviewer": name,
        "blind_labelled": len(mine),
        "judge_disagreement": interval(wilson(sum(a != b for a, b in judged), len(judged)))
        if judged
        else None,
        "double_coded_notes": sum(1 for key in mine if len(labels[key]) > 1),
        "agreement_with_others": interval(wilson(sum(a == b for a, b in pairs), len(pairs)))
        if pairs
        else None,
        "workflow_actions": actions,
    }


def reviewers_json(state: LogState, views: Sequence[RunView]) -> list[dict[str, Any]]:
    """One row per reviewer of the scope, by name."""
    labels = _labels(state, views)
    judge = {(v.data.run_id, a.note_id): a.judge for v in views for a in v.audit}
    scope = {v.data.run_id for v in views}
    actions: dict[str, int] = defaultdict(int)
    for (actor, run_id), count in state.actors.items():
        if run_id in scope:
            actions[actor] += count
    names = {who for by in labels.values() for who in by} | set(actions)
    return [_reviewer(n, labels, judge, actions.get(n, 0)) for n in sorted(names)]
