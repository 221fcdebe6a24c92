"""Request dependencies: the shared services and the authenticated caller."""

from __future__ import annotations

from fastapi import Request

from service.auth import Principal, principal_for_key, principal_for_key_id, principal_for_user
from service.context import Services
from service.errors import Unauthenticated


def services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


def principal(request: Request) -> Principal:
    """The caller, from ``Authorization: Bearer <key>`` or the UI session cookie; else 401."""
    svc = services(request)
    header = request.headers.get("authorization", "")
    if header:
        scheme, _, token = header.partition(" ")
        if scheme.lower() != "bearer" or not token.strip():
            raise Unauthenticated("Authorization header must be 'Bearer <API key>'")
        with svc.db.transaction() as session:
            return principal_for_key(session, token.strip())
    user_id = request.session.get("user_id") if "session" in request.scope else None
    key_id = request.session.get("key_id") if "session" in request.scope else None
    with svc.db.transaction() as session:
        if user_id is not None:
            return principal_for_user(session, int(user_id))
        if key_id is not None:
            return principal_for_key_id(session, int(key_id))
    raise Unauthenticated(
        "sign in: send 'Authorization: Bearer <API key>' (create one with "
        "'axial keys create --project P --role R')"
    )
