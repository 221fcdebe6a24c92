"""Blind names linked to the codebook, and whether a run is reviewed (METRICS.md §2.1).

**Reviewed.** A run is reviewed at a watermark when none of its proposals is pending: every
judge proposal (and every split child born by then) is confirmed, rejected, merged or split.
Unclustered notes nobody assigned are then left in noise. Until then the final review is not
final, and blind names whose notes are not all decided stay unlinked.

**Links.** On a first run the blind audit is labelled in the reviewer's own words. A blind
"new category" name ``b`` of reviewer ``r`` in a run is:

1. the category of that name, if one existed when ``r`` gave the label (they named it);
2. else the category a lead linked it to (``POST /runs/{id}/audit/links``; the latest
   non-reverted ``audit_link`` event for the run, the reviewer or every reviewer, and the name);
3. else, once every note ``r`` gave ``b`` has its final label (or the run is reviewed),
   ``c*(b) = argmax_c |B_b ∩ H_c|`` over the final review (:func:`judges.agreement.link_blind_name`),
   whoever made that review: a note has one final label in axial, not one per reviewer;
4. else unlinked: the headline leaves the note out and reads "pending review"; counts and the
   live saturation stream show the name as a label of its own ("new: <name>").

Revisions are read the same way (their name's link is the same reviewer's blind name's).
Everything is folded from the log at the watermark, so links are recomputable; the evidence
(``|B_b ∩ H_c|`` per candidate) is reported with every link and stored with every override.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from judges.agreement import Label, NameLink, link_blind_name, normalise_name
from service.agreement.data import RunData
from service.agreement.log import BlindLabel, LinkOverride, LogState


@dataclass(frozen=True, slots=True)
class RunReview:
    """Whether a run's review is final at the watermark.

    Attributes:
        run_id: The run.
        pending_proposals: Its proposals still pending (judge proposals and split children).
    """

    run_id: int
    pending_proposals: tuple[int, ...]

    @property
    def reviewed(self) -> bool:
        """No proposal of the run is pending."""
        return not self.pending_proposals


def run_review(state: LogState, run: RunData) -> RunReview:
    """The run's review state at the log state's watermark."""
    born = [
        pid
        for pid, event in run.all_proposals
        if event is None or event <= state.watermark  # split children born after: not yet
    ]
    return RunReview(run.run_id, tuple(p for p in born if p not in state.decided))


@dataclass(frozen=True, slots=True)
class BlindName:
    """One reviewer's blind "new category" name in one run and its link.

    Attributes:
        run_id: The run.
        actor: The reviewer (``key:<id>``, ``user:<id>``).
        reviewer: Their display name.
        key: The normalised name (``norm`` of METRICS.md §1.4): spelling variants are one name.
        name: The name as the reviewer first wrote it.
        automatic: The link by the final review, with its evidence.
        override: A lead's link, if any (``automatic`` targets are no override).
    """

    run_id: int
    actor: str
    reviewer: str
    key: str
    name: str
    automatic: NameLink
    override: LinkOverride | None

    @property
    def source(self) -> str:
        """``lead`` (overridden), ``automatic`` (linked by the final review) or ``pending``."""
        if self.override is not None:
            return "lead"
        return "automatic" if self.automatic.linked else "pending"

    @property
    def linked(self) -> bool:
        return self.source != "pending"

    @property
    def label(self) -> Label:
        """``c*(b)``, or the lead's choice (``None`` = noise); meaningful when ``linked``."""
        if self.override is not None:
            return self.override.target[1]
        return self.automatic.label

    def evidence_json(self, state: LogState) -> list[dict[str, Any]]:
        rows: list[dict[str, Any]] = [
            {"category_id": c, "name": state.label_name(c), "notes": k}
            for c, k in self.automatic.evidence
        ]
        if self.automatic.noise:
            rows.append({"category_id": None, "name": "noise", "notes": self.automatic.noise})
        return rows

    def evidence_counts(self) -> dict[str, int]:
        """The evidence as stored with an override: ``{"category:3": 5, "noise": 1}``."""
        out = {f"category:{c}": k for c, k in self.automatic.evidence}
        if self.automatic.noise:
            out["noise"] = self.automatic.noise
        return out

    def to_json(self, state: LogState) -> dict[str, Any]:
        label = self.label if self.linked else None
        out: dict[str, Any] = {
            "blind_name": self.name,
            "name_key": self.key,
            "reviewer": self.reviewer,
            "actor": self.actor,
            "note_ids": list(self.automatic.notes),
            "status": "linked" if self.linked else "pending",
            "source": self.source,
            "category_id": label,
            "category_name": state.label_name(label) if self.linked and label is not None else None,
            "noise": self.linked and label is None,
            "evidence": self.evidence_json(state),
            "undecided": self.automatic.undecided,
            "tie": self.automatic.tie,
            "automatic_category_id": self.automatic.label if self.automatic.linked else None,
        }
        if self.override is not None:
            out["overridden_by"] = self.override.by
            out["overridden_at"] = self.override.at
            out["override_event_id"] = self.override.event_id
        return out


def _override(state: LogState, run_id: int, actor: str, key: str) -> LinkOverride | None:
    found = [
        o
        for o in (state.links.get((run_id, actor, key)), state.links.get((run_id, None, key)))
        if o
    ]
    if not found:
        return None
    latest = max(found, key=lambda o: o.event_id)
    return None if latest.target[0] == "automatic" else latest


def _named(state: LogState, b: BlindLabel) -> tuple[bool, Label]:
    """A choice that needs no link: a category, noise, or the name of a category that existed
    when the label was given. ``(False, …)`` for a name that needs a link."""
    kind, value = b.raw
    if kind == "noise":
        return True, None
    if kind == "category":
        return True, int(value)
    named = state.named_category(str(value), before_event=b.event_id)
    return (True, named) if named is not None else (False, None)


def blind_names(state: LogState, run: RunData) -> dict[tuple[str, str], BlindName]:
    """Every blind name of the run that needs a link, by (actor, normalised name)."""
    review = run_review(state, run)
    notes: dict[tuple[str, str], list[int]] = {}
    written: dict[tuple[str, str], str] = {}
    for b in state.blind:
        if b.run_id != run.run_id or _named(state, b)[0]:
            continue
        pair = (b.actor, normalise_name(str(b.raw[1])))
        notes.setdefault(pair, []).append(b.note_id)
        written.setdefault(pair, str(b.raw[1]))
    run_notes = set(run.notes)
    final = {n: state.workflow[n] for n in run_notes if n in state.workflow}
    sizes = Counter(label for label in final.values() if label is not None)
    out: dict[tuple[str, str], BlindName] = {}
    for (actor, key), members in notes.items():
        link = link_blind_name(members, final, sizes, complete=review.reviewed)
        reviewer = state.names.get(actor, actor)
        override = _override(state, run.run_id, actor, key)
        out[(actor, key)] = BlindName(
            run.run_id, actor, reviewer, key, written[(actor, key)], link, override
        )
    return out


class Labels:
    """Blind labels and revisions of a project's runs as labels of the codebook."""

    def __init__(self, state: LogState, runs: Sequence[RunData]) -> None:
        self.state = state
        self.names = {r.run_id: blind_names(state, r) for r in runs}
        self.reviews = {r.run_id: run_review(state, r) for r in runs}

    def _link(self, b: BlindLabel) -> BlindName | None:
        key = normalise_name(str(b.raw[1]))
        return self.names.get(b.run_id, {}).get((b.actor, key))

    def blind(self, b: BlindLabel) -> tuple[bool, Label]:
        """``(known, label)`` of a blind label; an unlinked name is ``(False, provisional)``."""
        known, label = _named(self.state, b)
        if known:
            return True, label
        name = self._link(b)
        if name is not None and name.linked:
            return True, name.label
        return False, self.state.provisional(str(b.raw[1]))

    def revision(self, r: BlindLabel) -> tuple[bool, Label]:
        """``(known, label)`` of a revision: a name reads as the same reviewer's blind name."""
        return self.blind(r)
