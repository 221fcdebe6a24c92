"""Claims: a reviewer marks a proposal as taken so others see it (informational, expiring).

A claim neither bumps the version nor blocks others: the version check is what prevents lost
updates. A claim is taken with a conditional update (free, mine, or expired), so two
reviewers cannot both hold one. Claims are not review events; a rebuild keeps them.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

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


def active_claim(state: ProposalState, now: datetime | None = None) -> str | None:
    """Who holds an unexpired claim on the proposal, if anyone."""
    until = _aware(state.claim_expires_at)
    if state.claimed_by and until is not None and until > (now or utcnow()):
        return state.claimed_by
    return None


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
                ProposalState.claimed_by.is_(None),
                ProposalState.claimed_by == principal.name,
                ProposalState.claim_expires_at < now,
            ),
        )
        .values(claimed_by=principal.name, claim_expires_at=until)
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
    holder = active_claim(t.state)
    is_lead = principal.role_in(t.run.project_id) == Role.lead
    if holder is not None and holder != principal.name and not is_lead:
        raise Forbidden(
            f"proposal {proposal_id} is claimed by {holder}; only they or a lead release it"
        )
    t.state.claimed_by, t.state.claim_expires_at = None, None
    session.flush()
    return {"proposal_id": proposal_id, "claimed_by": None}
