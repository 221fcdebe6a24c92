"""What a caller may read: one rule for every route and page that shows notes.

Outside the caller's projects nothing exists (404, the same answer as for a missing id; the API
also hides project names and ids in :func:`service.http.deps.hide_other_projects`). Inside, a
``client`` reads its own batches and the runs it started, in full; of anything else it sees
names and counts, never note text: another run's queue, proposals or unclustered notes answer
403 (``run_id``), and a category's notes are cut to the ones it submitted (:func:`own_note_ids`).
"Own" compares :attr:`~service.auth.Principal.actor` (key or user id), never display names.
"""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.auth import Principal, Role
from service.errors import Forbidden, NotFound
from service.storage.models import Batch, Note, Proposal, Run


def readable_run(session: Session, caller: Principal, run_id: int, permission: str = "read") -> Run:
    """The run, if the caller may read it: 404 outside the caller's projects (and for an unknown
    run), 403 for a role without ``permission`` or a client that did not start it."""
    run = session.get(Run, run_id)
    if run is None or run.project_id not in caller.roles:
        raise NotFound(f"no run {run_id}", field="run_id")
    role = caller.require(run.project_id, permission)
    if role is Role.client and not caller.owns(run.created_by_actor):
        raise Forbidden("clients may read only the runs they started", field="run_id")
    return run


def readable_proposal_run(session: Session, caller: Principal, proposal_id: int) -> Run | None:
    """The run of a proposal the caller may read (403 as for the run); None for an unknown
    proposal, which the proposal's own reader answers with 404."""
    proposal = session.get(Proposal, proposal_id)
    if proposal is None:
        return None
    return readable_run(session, caller, proposal.run_id)


def own_note_ids(session: Session, caller: Principal, project_id: int) -> set[int]:
    """The notes of the project that came in batches the caller submitted."""
    return set(
        session.scalars(
            select(Note.id)
            .join(Batch, Batch.id == Note.batch_id)
            .where(Batch.project_id == project_id, Batch.submitted_by_actor == caller.actor)
        )
    )


def sees_every_note(caller: Principal, project_id: int) -> bool:
    """Reviewers and leads read every note of the project; clients only their own."""
    return caller.role_in(project_id) is not Role.client
