"""Claims: a reviewer marks a proposal as taken so others see it (informational, expiring).

A claim neither bumps the version nor blocks others: the version check is what prevents lost
updates. A claim is taken with a conditional update (free, mine, or expired), so two
reviewers cannot both hold one. Claims are not review events; a rebuild keeps them.
"Mine" compares the holder's identity (``claimed_by_actor``: key or user id), never the display
name (``claimed_by``, what people read): two keys created with one name are two claimers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Protocol

from sqlalchemy import or_, update
from sqlalchemy.orm import Session

from service.auth import Principal, Role
from service.errors import Conflict, Forbidden
from service.review import projection
from service.review.common import load_for_action
from service.storage.models import ProposalState, utcnow


def _aware(value: datetime | None) -> datetime | None:
    if value is not None and value.tzinfo is None:
        return value.replace(tzinfo=UTC)
    return value


class Claimed(Protocol):
    """What :func:`active_claim` reads: a proposal state, or a row of one."""

    @property
    def claimed_by(self) -> str | None: ...
    @property
    def claim_expires_at(self) -> datetime | None: ...


def _unexpired(state: Claimed, now: datetime | None) -> bool:
    until = _aware(state.claim_expires_at)
    return until is not None and until > (now or utcnow())


def active_claim(state: Claimed, now: datetime | None = None) -> str | None:
    """The display name of who holds an unexpired claim on the proposal, if anyone."""
    return state.claimed_by if state.claimed_by and _unexpired(state, now) else None


def active_claim_actor(state: ProposalState, now: datetime | None = None) -> str | None:
    """The identity (``key:<id>`` / ``user:<id>``) holding an unexpired claim, if anyone."""
    return state.claimed_by_actor if state.claimed_by_actor and _unexpired(state, now) else None


def claim(
    session: Session, principal: Principal, proposal_id: int, ttl_s: int
) -> dict[str, object]:
    """Claim a proposal for ``ttl_s`` seconds (renewing one's own claim); 409 if someone else holds it."""
    t = load_for_action(session, principal, proposal_id)
    now = utcnow()
    until = now + timedelta(seconds=ttl_s)
    result = session.execute(
        update(ProposalState)
        .where(
            ProposalState.proposal_id == proposal_id,
            or_(
                ProposalState.claimed_by_actor.is_(None),
                ProposalState.claimed_by_actor == principal.actor,
                ProposalState.claim_expires_at.is_(None),
                ProposalState.claim_expires_at < now,
            ),
        )
        .values(claimed_by=principal.name, claimed_by_actor=principal.actor, claim_expires_at=until)
        .execution_options(synchronize_session="fetch")
    )
    if result.rowcount != 1:  # type: ignore[attr-defined]
        session.refresh(t.state)
        holder = t.state.claimed_by
        raise Conflict(
            f"proposal {proposal_id} is claimed by {holder} until {t.state.claim_expires_at}",
            claimed_by=holder,
            proposal=projection.state_json(t.state),
        )
    return {
        "proposal_id": proposal_id,
        "claimed_by": principal.name,
        "expires_at": until.isoformat(),
    }


def release(session: Session, principal: Principal, proposal_id: int) -> dict[str, object]:
    """Release one's claim (a lead may release anyone's)."""
    t = load_for_action(session, principal, proposal_id)
    holder = active_claim_actor(t.state)
    is_lead = principal.role_in(t.run.project_id) == Role.lead
    if holder is not None and holder != principal.actor and not is_lead:
        raise Forbidden(
            f"proposal {proposal_id} is claimed by {t.state.claimed_by}; only they or a lead "
            "release it",
            field="proposal_id",
        )
    t.state.claimed_by, t.state.claimed_by_actor, t.state.claim_expires_at = None, None, None
    session.flush()
    return {"proposal_id": proposal_id, "claimed_by": None}
