"""Request dependencies, defined once: the shared services, the request's unit of work, the caller.

Every route that touches the database takes :data:`SessionDep`: one transaction per request,
opened before the handler and committed after it returns (rolled back if it raises), before the
response is sent. :data:`CallerDep` authenticates inside that same transaction, so the caller
and the action are read and written together. Handlers that do blocking work are plain ``def``
(FastAPI runs them in its thread pool), never ``async def``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy import event, select
from sqlalchemy.orm import Session

from service.auth import Principal, principal_for_key
from service.context import Services
from service.errors import NotFound, Unauthenticated
from service.sessions import COOKIE, session_principal
from service.storage.models import Batch, Project, Proposal, Run

HELD = "axial_held"  # session.info key: the request's objects, held strongly


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def _hold(session: Session, instance: object) -> None:
    session.info.setdefault(HELD, []).append(instance)


def hold_for_request(session: Session) -> None:
    """Keep every object the session loads or stores until the request ends.

    SQLAlchemy's identity map holds objects weakly: a proposal or run that one step of a request
    read (authentication, the project check, the scope check) and let go is gone when the next
    step asks for it, and ``session.get`` reads it again. Held for the request, each row is read
    once per request (refreshed only where a step asks for it: ``populate_existing``).
    """
    event.listen(session, "loaded_as_persistent", _hold)
    event.listen(session, "pending_to_persistent", _hold)


def unit_of_work(request: Request) -> Iterator[Session]:
    """The request's one transaction: commits when the handler returns, rolls back on error."""
    with services(request).db.transaction() as session:
        hold_for_request(session)
        yield session


def authenticate(request: Request, session: Session) -> Principal:
    """The caller, from ``Authorization: Bearer <key>`` or the UI session cookie; else 401."""
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Authorization header must be 'Bearer <API key>'")
        return principal_for_key(session, token.strip())
    cookie = request.cookies.get(COOKIE)
    if cookie:
        return session_principal(session, cookie)
    raise Unauthenticated(
        "sign in: send 'Authorization: Bearer <API key>' (create one with "
        "'axial keys create --project P --role R')"
    )


ServicesDep = Annotated[Services, Depends(services)]
# scope="function": the transaction ends (commits) after the handler, before the response is
# sent, so a client that reads what it just wrote always finds it.
SessionDep = Annotated[Session, Depends(unit_of_work, scope="function")]


def principal(request: Request, session: SessionDep) -> Principal:
    """The authenticated caller, read in the request's unit of work."""
    return authenticate(request, session)


CallerDep = Annotated[Principal, Depends(principal)]


# -- one answer for "elsewhere" and "nowhere" ---------------------------------------------------

MAX_ID = 2**63 - 1


def _path_id(request: Request, name: str) -> int | None:
    """A path (or query) id to check, or None when it is absent or not a valid id (validation
    answers those)."""
    raw = request.path_params.get(name, request.query_params.get(name))
    if not isinstance(raw, str) or not raw.isdigit() or int(raw) > MAX_ID:
        return None
    return int(raw)


def _project_of(session: Session, field: str, row_id: int) -> int | None:
    """The project a batch, run or proposal belongs to; None if there is no such thing."""
    if field == "batch_id":
        batch = session.get(Batch, row_id)
        return batch.project_id if batch else None
    run_id: int | None = row_id
    if field == "proposal_id":
        proposal = session.get(Proposal, row_id)
        run_id = proposal.run_id if proposal else None
    run = session.get(Run, run_id) if run_id is not None else None
    return run.project_id if run else None


def _visible_ids(request: Request, session: Session, caller: Principal) -> None:
    for field, noun in (("batch_id", "batch"), ("run_id", "run"), ("proposal_id", "proposal")):
        found_id = _path_id(request, field)
        if found_id is None:
            continue
        if _project_of(session, field, found_id) not in caller.roles:
            raise NotFound(f"no {noun} {found_id}", field=field)


def hide_other_projects(request: Request, session: SessionDep, caller: CallerDep) -> None:
    """Every ``/api/v1`` route: a project, batch, run or proposal the caller has no role in
    answers exactly as one that does not exist (404 naming the path field; ``run_id`` and
    ``batch_id`` in the query too), so a key cannot learn what other projects hold. Role
    checks (403) come after, inside the caller's projects.
    """
    name = request.path_params.get("project")
    if isinstance(name, str):
        project_id = session.scalar(select(Project.id).where(Project.name == name))
        if project_id is None or project_id not in caller.roles:
            raise NotFound(f"no project named {name!r}", field="project")
    _visible_ids(request, session, caller)
