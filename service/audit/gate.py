"""The blind-first gate: which audit notes a reviewer must label before seeing proposals.

:func:`pending_blind_audit` lists the sample notes a reviewer has not labelled blind yet;
:func:`blind_gate` says whether the reviewer must label them before seeing proposals
(``must_audit_first``: the run is in blind mode, the reviewer has not seen the judge's work
for the run yet, and notes are pending); :func:`gated` and :func:`require_audit_done` apply it
to a caller. :func:`require_audit_done` is the one door to the judge's work for a run: every
read of proposals, the queue or unclustered notes and every workflow action passes it, and
once it lets the caller through it records the reveal (:mod:`service.audit.reveal`).

"The same reviewer" is the caller's ``actor`` (key or user id), never the display name: two
keys created with one name have a gate each. Events older than migration 0003 whose name
matched no single key or user have no ``actor_id``; for those the display name still counts.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select
from sqlalchemy.orm import Session

from service.audit.draw import drawn_notes
from service.audit.reveal import reveal, revealed_at
from service.auth import Principal, Role
from service.domain import EventMode, ReviewAction
from service.errors import BadInput, MustAuditFirst, NotFound
from service.storage.models import ApiKey, Membership, ReviewEvent, Run, User

ACTOR_ID = re.compile(r"^(key|user):(\d+)$")


def authored_by(actor: str, name: str | None = None) -> ColumnElement[bool]:
    """Review events by ``actor`` (and, for events without an actor id, by display ``name``)."""
    if name is None:
        return ReviewEvent.actor_id == actor
    legacy = and_(ReviewEvent.actor_id.is_(None), ReviewEvent.actor == name)
    return or_(ReviewEvent.actor_id == actor, legacy)


def _labelled_by(session: Session, run_id: int, actor: str, name: str | None) -> set[int]:
    """Notes the reviewer has a (non-reverted) blind label for in the run."""
    events = session.execute(
        select(ReviewEvent.id, ReviewEvent.note_ids).where(
            ReviewEvent.run_id == run_id,
            ReviewEvent.mode == EventMode.blind,
            ReviewEvent.action == ReviewAction.audit_label,
            authored_by(actor, name),
        )
    ).all()
    reverted = set(
        session.scalars(
            select(ReviewEvent.reverts_event_id).where(
                ReviewEvent.run_id == run_id, ReviewEvent.action == ReviewAction.revert
            )
        )
    )
    return {int(n) for eid, notes in events if eid not in reverted for n in notes}


def pending_blind_audit(
    session: Session, run_id: int, actor: str, name: str | None = None
) -> list[int]:
    """The run's audit notes the reviewer has not labelled blind yet, in presentation order."""
    done = _labelled_by(session, run_id, actor, name)
    return [n for n in drawn_notes(session, run_id) if n not in done]


@dataclass(frozen=True, slots=True)
class BlindGate:
    """Whether a reviewer must finish the blind audit before seeing a run's proposals.

    Attributes:
        run_id: The run.
        reviewer: The reviewer's display name.
        actor: The reviewer's identity (``key:<id>`` or ``user:<id>``).
        blind_mode: The run is in blind mode (a lead turned it on).
        sample_size: Notes in the run's audit sample.
        pending_note_ids: Sample notes the reviewer has not labelled blind, in order.
        revealed_at: When the judge's work for the run was first shown to the reviewer; from
            then on their audit labels are revisions and the gate no longer holds them.
        must_audit_first: ``blind_mode``, not revealed and notes pending: show the audit first.
    """

    run_id: int
    reviewer: str
    actor: str
    blind_mode: bool
    sample_size: int
    pending_note_ids: tuple[int, ...]
    revealed_at: datetime | None
    must_audit_first: bool

    def to_json(self) -> dict[str, Any]:
        return {
            "run_id": self.run_id,
            "reviewer": self.reviewer,
            "actor": self.actor,
            "blind_mode": self.blind_mode,
            "sample_size": self.sample_size,
            "labelled": self.sample_size - len(self.pending_note_ids),
            "pending_note_ids": list(self.pending_note_ids),
            "revealed": self.revealed_at is not None,
            "revealed_at": self.revealed_at.isoformat() if self.revealed_at else None,
            "must_audit_first": self.must_audit_first,
        }


def blind_gate(session: Session, run: Run, actor: str, name: str) -> BlindGate:
    """The blind-first gate of the reviewer ``actor`` (display ``name``) on ``run``."""
    pending = pending_blind_audit(session, run.id, actor, name)
    size = len(drawn_notes(session, run.id))
    seen = revealed_at(session, run.id, actor)
    return BlindGate(
        run_id=run.id,
        reviewer=name,
        actor=actor,
        blind_mode=bool(run.blind_mode),
        sample_size=size,
        pending_note_ids=tuple(pending),
        revealed_at=seen,
        must_audit_first=bool(run.blind_mode) and seen is None and bool(pending),
    )


def resolve_reviewer(session: Session, project_id: int, who: str) -> tuple[str, str]:
    """A reviewer of the project named by actor id (``key:12``) or display name: (actor, name).

    Raises:
        NotFound: No key or user of the project has that id or name.
        BadInput: The display name is shared (two keys named alike): name the actor id.
    """
    match = ACTOR_ID.match(who)
    if match:
        kind, number = match[1], int(match[2])
        if kind == "key":
            key = session.get(ApiKey, number)
            if key is not None and key.project_id == project_id:
                return who, f"key:{key.name}"
        else:
            user = session.get(User, number)
            if user is not None and session.get(Membership, (number, project_id)) is not None:
                return who, user.username
    found = [
        (f"key:{k.id}", f"key:{k.name}")
        for k in session.scalars(select(ApiKey).where(ApiKey.project_id == project_id))
        if f"key:{k.name}" == who
    ]
    user = session.scalar(select(User).where(User.username == who))
    if user is not None and session.get(Membership, (user.id, project_id)) is not None:
        found.append((f"user:{user.id}", user.username))
    if not found:
        raise NotFound(f"no reviewer {who!r} in this project", field="reviewer")
    if len(found) > 1:
        raise BadInput(
            f"{len(found)} reviewers are named {who!r}; name one by its id "
            + " or ".join(a for a, _ in found),
            field="reviewer",
        )
    return found[0]


def gated(session: Session, run: Run, principal: Principal) -> list[int]:
    """The audit notes ``principal`` must label before seeing ``run``'s proposals.

    Empty unless the run is in blind mode, the caller is a *reviewer* in its project and the
    judge's work for the run has not been shown to them: a lead switches blind mode and sees
    everything, a client never labels, and a reviewer who has seen the proposals (blind mode
    was off, then turned on) could only give revisions, which the gate does not wait for.
    """
    if not run.blind_mode or principal.role_in(run.project_id) is not Role.reviewer:
        return []
    if revealed_at(session, run.id, principal.actor) is not None:
        return []
    return pending_blind_audit(session, run.id, principal.actor, principal.name)


def require_audit_done(
    session: Session, run: Run, principal: Principal, via: str = "proposals"
) -> None:
    """The door to the judge's work for ``run``: 409 ``must_audit_first`` while :func:`gated`
    lists notes (blind-first, METRICS.md §2); otherwise records the reveal and lets through."""
    pending = gated(session, run, principal)
    if pending:
        raise MustAuditFirst(
            f"run {run.id} is in blind mode: label its audit sample first "
            f"({len(pending)} of {len(drawn_notes(session, run.id))} notes left)",
            field="run_id",
            run_id=run.id,
            pending=len(pending),
            audit=f"/api/v1/runs/{run.id}/audit",
        )
    reveal(session, run, principal, via)
