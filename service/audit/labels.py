"""Blind audit: a random sample of a run's notes, labelled without seeing the judge's proposals.

When a run finishes the pipeline draws the sample (``service.audit.draw_stratified_audit``,
stratified by judge proposal; :func:`set_blind` draws it the same way if a run has none).
:func:`draw_audit_sample` is the simple alternative, kept for tests and tools: a simple random sample
without replacement of ``n = min(size, N)`` of the run's ``N`` notes, each with inclusion
probability ``n / N``, stored with the seed in ``audit_draw`` (``position`` is the random
presentation order, stratum ``all``). A lead turns blind mode on per run; reviewers then label
sample notes (an existing category, a new category name, or noise). Labels are review events
with ``mode='blind'``, ``judge_visible=False``; they never change the projections (a separate
label stream for judge–human agreement). A note labelled twice by one reviewer: the last counts.
"""

from __future__ import annotations

import random
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit.draw import draw_stratified_audit
from service.audit.gate import gated
from service.auth import Principal
from service.domain import EventMode, ReviewAction
from service.errors import BadInput, Conflict, NotFound
from service.review.common import active_category, clean_name, load_run, record
from service.review.events import AuditLabelAfter, Footprint, SetBlindAfter, after_of
from service.storage.models import AuditDraw, Note, ReviewEvent, RunNote


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
    """One sample note as a blind reviewer sees it: no judge output, only the note."""

    position: int
    note_id: int
    text: str
    author: str | None
    trace_url: str | None
    inclusion_prob: float
    my_label: dict[str, Any] | None

    def to_json(self) -> dict[str, Any]:
        return {
            "position": self.position, "note_id": self.note_id, "text": self.text,
            "author": self.author, "trace_url": self.trace_url,
            "inclusion_prob": self.inclusion_prob, "my_label": self.my_label,
        }  # fmt: skip


def my_labels(session: Session, principal: Principal, run_id: int) -> dict[int, dict[str, Any]]:
    """The caller's latest blind label per note of the run."""
    events = session.scalars(
        select(ReviewEvent)
        .where(
            ReviewEvent.run_id == run_id,
            ReviewEvent.mode == EventMode.blind,
            ReviewEvent.action == ReviewAction.audit_label,
            ReviewEvent.actor == principal.name,
        )
        .order_by(ReviewEvent.id)
    )
    labels: dict[int, dict[str, Any]] = {}
    for event in events:
        label = after_of(event, AuditLabelAfter).label()
        for nid in event.note_ids:
            labels[int(nid)] = label
    return labels


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
    return [
        AuditItem(d.position, n.id, n.text, n.author, n.trace_url, d.inclusion_prob, mine.get(n.id))
        for d, n in rows
    ]


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
    """Record a blind label for one sample note; the run must be in blind mode."""
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
    event = record(
        session, principal, run, ReviewAction.audit_label, mode=EventMode.blind,
        note_ids=[note_id], category_id=category_id, after=after, touched=Footprint(),
    )  # fmt: skip
    pending = gated(session, run, principal)
    return {
        "event_id": event.id, "run_id": run_id, "note_id": note_id, **after.stored(),
        "must_audit_first": bool(pending), "pending": len(pending),
        "proposals_opened": bool(before) and not pending,  # this label finished the sample
    }  # fmt: skip


def set_blind(
    session: Session, principal: Principal, run_id: int, enabled: bool, size: int
) -> dict[str, Any]:
    """Lead only: turn blind mode on or off for a run (drawing the pipeline's stratified sample
    if it has none)."""
    run = load_run(session, principal, run_id, "lead")
    sample = draw_stratified_audit(session, run_id, size, run.seed) if enabled else []
    run.blind_mode = enabled
    event = record(
        session, principal, run, ReviewAction.set_blind,
        after=SetBlindAfter(enabled=enabled), touched=Footprint(),
    )  # fmt: skip
    count = len(sample) if enabled else 0
    return {"event_id": event.id, "run_id": run_id, "blind_mode": enabled, "sample_size": count}
