"""The current review state as a projection of the proposals and the review-event log.

(Owned by the review work: this first version only creates the initial state of a run's
proposals; event application and rebuild come with the review actions.)
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.storage.models import Proposal, ProposalMember, ProposalState


def init_run_states(session: Session, run_id: int) -> None:
    """Create the pending state of every judge proposal of a finished run."""
    proposals = session.scalars(
        select(Proposal).where(Proposal.run_id == run_id, Proposal.origin == "judge")
    ).all()
    for proposal in proposals:
        members = session.scalars(
            select(ProposalMember.note_id)
            .where(ProposalMember.proposal_id == proposal.id)
            .order_by(ProposalMember.rank)
        ).all()
        session.add(
            ProposalState(
                proposal_id=proposal.id,
                run_id=run_id,
                status="pending",
                version=1,
                name=proposal.name,
                definition=proposal.definition,
                member_note_ids=list(members),
            )
        )
    session.flush()
