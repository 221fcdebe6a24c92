"""Per-reviewer figures: blind audit size, agreement with the judge and with other reviewers.

One row per reviewer *identity* (``actor``: key or user id; two keys sharing a display name are
two rows with the same ``reviewer`` name) with blind labels, revisions or workflow actions in
the scope's runs:

- ``blind_labelled``: audited notes they labelled blind (their last blind label per note);
- ``judge_disagreement``: how often their blind label differs from the judge's mapped label
  (Wilson; notes of unmapped proposals and blind names not linked yet left out);
- ``agreement_with_others``: on notes another reviewer also labelled blind, the share of
  (their label, the other's label) pairs that agree (Wilson), with Cohen's-κ-free raw
  agreement because the pairs span many labels and few notes;
- ``revisions`` and ``toward_judge``: labels they gave after the judge's work was shown to
  them, and how many of those moved to the judge's label (their persuasion);
- ``workflow_actions``: their non-reverted workflow actions in those runs.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any

from judges.agreement import Label, wilson
from service.agreement.data import RunView
from service.agreement.log import LogState
from service.agreement.shapes import interval

if TYPE_CHECKING:
    from service.agreement.links import Labels


def _labels(
    state: LogState, labels: Labels, views: Sequence[RunView]
) -> dict[tuple[int, int], dict[str, Label]]:
    """(run, note) → actor → blind label in the codebook, for the scope's runs (linked only)."""
    scope = {v.data.run_id for v in views}
    out: dict[tuple[int, int], dict[str, Label]] = defaultdict(dict)
    for b in state.blind:
        if b.run_id in scope:
            known, label = labels.blind(b)
            if known:
                out[(b.run_id, b.note_id)][b.actor] = label
    return out


def _reviewer(
    actor: str,
    name: str,
    labels: dict[tuple[int, int], dict[str, Label]],
    judge: dict[tuple[int, int], Label],
    actions: int,
    revised: list[tuple[Label, Label, Label]],
    labelled: int,
) -> dict[str, Any]:
    mine = {key: by[actor] for key, by in labels.items() if actor in by}
    judged = [(lab, judge[key]) for key, lab in mine.items() if key in judge]
    pairs = [
        (lab, other)
        for key, lab in mine.items()
        for who, other in labels[key].items()
        if who != actor
    ]
    return {
        "reviewer": name,
        "actor": actor,
        "blind_labelled": labelled,
        "judge_disagreement": interval(wilson(sum(a != b for a, b in judged), len(judged)))
        if judged
        else None,
        "double_coded_notes": sum(1 for key in mine if len(labels[key]) > 1),
        "agreement_with_others": interval(wilson(sum(a == b for a, b in pairs), len(pairs)))
        if pairs
        else None,
        "revisions": len(revised),
        "toward_judge": sum(1 for b, r, j in revised if r != b and r == j),
        "workflow_actions": actions,
    }


def reviewers_json(
    state: LogState, views: Sequence[RunView], labels: Labels
) -> list[dict[str, Any]]:
    """One row per reviewer of the scope, by display name then identity."""
    found = _labels(state, labels, views)
    judge = {(v.data.run_id, a.note_id): a.judge for v in views for a in v.audit}
    scope = {v.data.run_id for v in views}
    actions: dict[str, int] = defaultdict(int)
    for (actor, run_id), count in state.actors.items():
        if run_id in scope:
            actions[actor] += count
    revised: dict[str, list[tuple[Label, Label, Label]]] = defaultdict(list)
    for v in views:
        for r in v.revisions:
            revised[r.actor].append((r.blind, r.revised, r.judge))
    labelled: dict[str, int] = defaultdict(int)
    for b in state.blind:
        if b.run_id in scope:
            labelled[b.actor] += 1
    rows = [
        _reviewer(
            a,
            state.names.get(a, a),
            found,
            judge,
            actions.get(a, 0),
            revised.get(a, []),
            labelled.get(a, 0),
        )
        for a in set(labelled) | set(actions) | set(revised)
    ]
    return sorted(rows, key=lambda r: (r["reviewer"], r["actor"]))
