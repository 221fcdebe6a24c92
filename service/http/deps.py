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
from sqlalchemy.orm import Session

from service.auth import Principal, principal_for_key, principal_for_key_id, principal_for_user
from service.context import Services
from service.errors import Unauthenticated


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def unit_of_work(request: Request) -> Iterator[Session]:
    """The request's one transaction: commits when the handler returns, rolls back on error."""
    with services(request).db.transaction() as session:
        yield session


def authenticate(request: Request, session: Session) -> Principal:
    """The caller, from ``Authorization: Bearer <key>`` or the UI session cookie; else 401."""
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Authorization header must be 'Bearer <API key>'")
        return principal_for_key(session, token.strip())
    cookie = request.session if "session" in request.scope else {}
    if cookie.get("user_id") is not None:
        return principal_for_user(session, int(cookie["user_id"]))
    if cookie.get("key_id") is not None:
        return principal_for_key_id(session, int(cookie["key_id"]))
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
