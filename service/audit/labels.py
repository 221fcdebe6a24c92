"""Blind audit: a random sample of a run's notes, labelled without seeing the judge's proposals.

When a run finishes the pipeline draws the sample (``service.audit.draw_stratified_audit``,
stratified by judge proposal; :func:`set_blind` draws it the same way if a run has none).
:func:`draw_audit_sample` is the simple alternative, kept for tests and tools: a simple random sample
without replacement of ``n = min(size, N)`` of the run's ``N`` notes, each with inclusion
probability ``n / N``, stored with the seed in ``audit_draw`` (``position`` is the random
presentation order, stratum ``all``). A lead turns blind mode on per run; reviewers then label
sample notes (an existing category, a new category name, or noise). Labels are review events
that never change the projections (a separate label stream for judge–human agreement).

**Blind means blind.** A label is blind (``mode='blind'``, ``judge_visible=False``) only while
nothing of the judge's for the run has been shown to its author (no reveal,
:mod:`service.audit.reveal`); while blind, a reviewer may still correct a label and their last
blind label counts. Once the judge's work was shown to them, every label they give is a
**revision** (``mode='revised'``, ``judge_visible=True``, ``replaces_event_id`` = the blind label
it replaces, if any): it is stored, answered 201 with ``mode: "revised"`` and
``counts_in_headline: false``, feeds the judge persuasion rate and never the judge error rate.
Refusing it (409) would lose what the reveal changed in the reviewer's mind, which is exactly
what the persuasion rate measures (METRICS.md §2, blind-first-then-reveal); storing it apart
keeps the blind label untouched, so nothing done after the reveal moves the headline.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.draw import AuditSize, draw_stratified_audit
from service.audit.gate import authored_by, gated
from service.audit.reveal import revealed_at
from service.auth import Principal
from service.domain import EventMode, ReviewAction
from service.errors import BadInput, Conflict, NotFound
from service.review.common import active_category, clean_name, load_run, record
from service.review.events import AuditLabelAfter, Footprint, SetBlindAfter, after_of
from service.storage.models import AuditDraw, Note, ReviewEvent, Run, RunNote


def draw_audit_sample(session: Session, run_id: int, size: int, seed: int) -> list[int]:
    """Draw (once) the run's blind-audit sample; returns its note ids in presentation order.

    Idempotent: if the run already has a draw, that draw is returned unchanged.
    """
    existing = session.scalars(
        select(AuditDraw.note_id).where(AuditDraw.run_id == run_id).order_by(AuditDraw.position)
    ).all()
    if existing:
        return [int(n) for n in existing]
    population = sorted(
        int(n) for n in session.scalars(select(RunNote.note_id).where(RunNote.run_id == run_id))
    )
    n = min(max(size, 0), len(population))
    if n == 0:
        return []
    drawn = random.Random(seed).sample(population, n)  # random order = presentation order
    prob = n / len(population)
    session.add_all(
        AuditDraw(
            run_id=run_id, note_id=nid, position=i, stratum="all", inclusion_prob=prob, seed=seed
        )
        for i, nid in enumerate(drawn)
    )
    session.flush()
    return drawn


@dataclass(frozen=True, slots=True)
class AuditItem:
    """One sample note as a blind reviewer sees it: no judge output, only the note.

    ``my_label`` is the caller's blind label (the one that counts); ``my_revision`` their
    latest revision after the reveal, if they gave one (left out of the JSON otherwise).
    """

    position: int
    note_id: int
    text: str
    author: str | None
    trace_url: str | None
    inclusion_prob: float
    my_label: dict[str, Any] | None
    my_revision: dict[str, Any] | None = None

    def to_json(self) -> dict[str, Any]:
        out = {
            "position": self.position, "note_id": self.note_id, "text": self.text,
            "author": self.author, "trace_url": self.trace_url,
            "inclusion_prob": self.inclusion_prob, "my_label": self.my_label,
        }  # fmt: skip
        if self.my_revision is not None:
            out["my_revision"] = self.my_revision
        return out


def _latest(
    session: Session, principal: Principal, run_id: int, mode: EventMode
) -> dict[int, tuple[int, dict[str, Any]]]:
    """The caller's latest non-reverted audit label of each note in ``mode``: (event id, label)."""
    reverted = set(
        session.scalars(
            select(ReviewEvent.reverts_event_id).where(
                ReviewEvent.run_id == run_id, ReviewEvent.action == ReviewAction.revert
            )
        )
    )
    events = session.scalars(
        select(ReviewEvent)
        .where(
            ReviewEvent.run_id == run_id,
            ReviewEvent.mode == mode,
            ReviewEvent.action == ReviewAction.audit_label,
            authored_by(principal.actor, principal.name),
        )
        .order_by(ReviewEvent.id)
    )
    labels: dict[int, tuple[int, dict[str, Any]]] = {}
    for event in events:
        if event.id in reverted:
            continue
        label = after_of(event, AuditLabelAfter).label()
        for nid in event.note_ids:
            labels[int(nid)] = (int(event.id), label)
    return labels


def my_labels(session: Session, principal: Principal, run_id: int) -> dict[int, dict[str, Any]]:
    """The caller's blind label per note of the run (their last one before the reveal)."""
    return {n: lab for n, (_, lab) in _latest(session, principal, run_id, EventMode.blind).items()}


def my_revisions(session: Session, principal: Principal, run_id: int) -> dict[int, dict[str, Any]]:
    """The caller's latest revision per note of the run (labels given after the reveal)."""
    latest = _latest(session, principal, run_id, EventMode.revised)
    return {n: lab for n, (_, lab) in latest.items()}


def audit_sample(session: Session, principal: Principal, run_id: int) -> list[AuditItem]:
    """The run's sample in presentation order, with the caller's own labels (never the judge's)."""
    load_run(session, principal, run_id, "review")
    rows = session.execute(
        select(AuditDraw, Note)
        .join(Note, Note.id == AuditDraw.note_id)
        .where(AuditDraw.run_id == run_id)
        .order_by(AuditDraw.position)
    ).all()
    mine = my_labels(session, principal, run_id)
    revised = my_revisions(session, principal, run_id)
    items = []
    for d, n in rows:
        own = (mine.get(n.id), revised.get(n.id))
        items.append(
            AuditItem(d.position, n.id, n.text, n.author, n.trace_url, d.inclusion_prob, *own)
        )
    return items


@dataclass(frozen=True, slots=True)
class AuditView:
    """The audit page and ``GET /runs/{id}/audit``: the sample and what a label would be now.

    Attributes:
        run_id: The run.
        blind_mode: The run is in blind mode (labels are accepted only then).
        revealed_at: When the judge's work for the run was first shown to the caller; from
            then on a label is a revision (``accepts == "revision"``).
        pending: Sample notes the gate still holds the caller on (blind-first).
        items: The sample with the caller's blind labels and revisions.
        sample: The audit size, the rule that set it and the interval width it buys.
    """

    run_id: int
    blind_mode: bool
    revealed_at: datetime | None
    pending: int
    items: list[AuditItem]
    sample: dict[str, Any]

    @property
    def accepts(self) -> str:
        """What a label posted now is recorded as: ``blind`` or ``revision``."""
        return "revision" if self.revealed_at is not None else "blind"

    @property
    def labelled(self) -> int:
        return sum(i.my_label is not None for i in self.items)

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "blind_mode": self.blind_mode,
            "must_audit_first": bool(self.pending),
            "pending": self.pending,
            "revealed": self.revealed_at is not None,
            "revealed_at": self.revealed_at.isoformat() if self.revealed_at else None,
            "accepts": self.accepts,
            "sample": self.sample,
            "notes": [item.to_json() for item in self.items],
        }


def audit_view(session: Session, principal: Principal, run_id: int, rule: AuditSize) -> AuditView:
    """The caller's view of the run's audit (``rule``: the configured audit size, quoted)."""
    run = load_run(session, principal, run_id, "review")
    items = audit_sample(session, principal, run_id)
    n_notes = len(session.scalars(select(RunNote.note_id).where(RunNote.run_id == run_id)).all())
    return AuditView(
        run_id=run_id,
        blind_mode=bool(run.blind_mode),
        revealed_at=revealed_at(session, run_id, principal.actor),
        pending=len(gated(session, run, principal)),
        items=items,
        sample=rule.to_json(n_notes, drawn=len(items)),
    )


def _blind_event(session: Session, principal: Principal, run: Run, note_id: int) -> int | None:
    """The caller's blind label event a revision of ``note_id`` replaces (their last one)."""
    found = _latest(session, principal, run.id, EventMode.blind).get(note_id)
    return found[0] if found else None


def label(
    session: Session,
    principal: Principal,
    run_id: int,
    note_id: int,
    *,
    category_id: int | None = None,
    new_category_name: str | None = None,
    noise: bool = False,
) -> dict[str, Any]:
    """Record a label for one sample note (the run must be in blind mode): blind while nothing of
    the judge's for the run has been shown to the caller, a revision after (see module docs)."""
    run = load_run(session, principal, run_id, "review")
    if not run.blind_mode:
        raise Conflict(f"run {run_id} is not in blind mode; a lead turns it on first")
    given = sum([category_id is not None, new_category_name is not None, bool(noise)])
    if given != 1:
        raise BadInput("give exactly one of category_id, new_category_name, noise", field="label")
    draw = session.scalar(
        select(AuditDraw).where(AuditDraw.run_id == run_id, AuditDraw.note_id == note_id)
    )
    if draw is None:
        raise NotFound(
            f"note {note_id} is not in the audit sample of run {run_id}", field="note_id"
        )
    before = gated(session, run, principal)
    choice: dict[str, Any]
    if category_id is not None:
        category = active_category(session, run.project_id, category_id, "category_id")
        choice = {"category_id": category.id}
    elif new_category_name is not None:
        choice = {"new_category_name": clean_name(new_category_name, "new_category_name")}
    else:
        choice = {"noise": True}
    after = AuditLabelAfter(position=draw.position, inclusion_prob=draw.inclusion_prob, **choice)
    revision = revealed_at(session, run_id, principal.actor) is not None
    replaces = _blind_event(session, principal, run, note_id) if revision else None
    event = record(
        session, principal, run, ReviewAction.audit_label,
        mode=EventMode.revised if revision else EventMode.blind,
        note_ids=[note_id], category_id=category_id, after=after, touched=Footprint(),
    )  # fmt: skip
    if replaces is not None:
        event.replaces_event_id = replaces
        session.flush()
    pending = gated(session, run, principal)
    out: dict[str, Any] = {
        "event_id": event.id, "run_id": run_id, "note_id": note_id, **after.stored(),
        "mode": event.mode, "counts_in_headline": not revision,
        "must_audit_first": bool(pending), "pending": len(pending),
        "proposals_opened": bool(before) and not pending,  # this label finished the sample
    }  # fmt: skip
    if revision:
        out["replaces_event_id"] = replaces
    return out


def set_blind(
    session: Session, principal: Principal, run_id: int, enabled: bool, size: AuditSize | int
) -> dict[str, Any]:
    """Lead only: turn blind mode on or off for a run (drawing the pipeline's stratified sample
    if it has none, ``size`` notes by the :class:`~service.audit.draw.AuditSize` rule)."""
    run = load_run(session, principal, run_id, "lead")
    sample = draw_stratified_audit(session, run_id, size, run.seed) if enabled else []
    run.blind_mode = enabled
    event = record(
        session, principal, run, ReviewAction.set_blind,
        after=SetBlindAfter(enabled=enabled), touched=Footprint(),
    )  # fmt: skip
    count = len(sample) if enabled else 0
    return {"event_id": event.id, "run_id": run_id, "blind_mode": enabled, "sample_size": count}
