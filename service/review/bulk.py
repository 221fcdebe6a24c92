"""Accept carry-over proposals together: one action confirms many into their matched categories.

From a project's second batch on, most notes arrive as carry-over proposals, one per confirmed
category they matched (:mod:`service.runs.carryover`). A reviewer reads the list, moves out the
notes that do not belong, and accepts the rest at once instead of confirming each category in
turn. The action takes the ``(proposal id, version)`` pairs the reviewer looked at, so nothing
another reviewer changed since is confirmed unseen (409 ``stale_version``, nothing stored).

It records one ``confirm`` event per proposal, exactly as confirming each would, sharing a
``group`` token in their payload; :func:`service.review.undo.undo` reverts a group as one action.
All or nothing: a proposal that is not a pending carry-over proposal of the run with an active
matched category, a stale version or a repeated id refuses the whole action.
"""

from __future__ import annotations

import secrets
from collections.abc import Sequence

from sqlalchemy.orm import Session

from service.auth import Principal
from service.domain import ProposalOrigin, ProposalStatus
from service.errors import BadInput, NotFound
from service.review.actions import confirm, matched_category
from service.review.common import ActionResult, check_version, load_for_action, lock_run

MAX_PROPOSALS = 1000


def confirm_carry_overs(
    session: Session, principal: Principal, run_id: int, items: Sequence[tuple[int, int]]
) -> list[ActionResult]:
    """Confirm each ``(proposal_id, version)`` of run ``run_id`` into its matched category."""
    if not items:
        raise BadInput("name at least one proposal", field="proposals")
    if len(items) > MAX_PROPOSALS:
        raise BadInput(f"at most {MAX_PROPOSALS} proposals per call", field="proposals")
    seen: set[int] = set()
    run = lock_run(session, principal, run_id)
    for i, (proposal_id, version) in enumerate(items):
        where = f"proposals[{i}]"
        if proposal_id in seen:
            raise BadInput(f"proposal {proposal_id} is named twice", field=where)
        seen.add(proposal_id)
        target = load_for_action(session, principal, proposal_id)
        if target.run.id != run.id:
            raise NotFound(f"no proposal {proposal_id} in run {run_id}", field=where)
        if target.proposal.origin != ProposalOrigin.carry_over:
            raise BadInput(
                f"proposal {proposal_id} is not a carry-over proposal: confirm it on its own",
                field=where,
            )
        check_version(session, target.state, version)
        if target.state.status != ProposalStatus.pending:
            raise BadInput(f"proposal {proposal_id} is {target.state.status}", field=where)
        if matched_category(session, target) is None:
            raise BadInput(
                f"proposal {proposal_id}'s category is no longer active: confirm it on its own",
                field=where,
            )
    group = secrets.token_hex(8)
    return [
        confirm(session, principal, proposal_id, version, into="matched", group=group)
        for proposal_id, version in items
    ]
