"""Request dependencies, defined once: the shared services, the request's unit of work, the caller.

Every route that touches the database takes :data:`SessionDep`: one transaction per request,
opened before the handler and committed after it returns (rolled back if it raises), before the
response is sent. :data:`CallerDep` authenticates inside that same transaction, so the caller
and the action are read and written together. Handlers that do blocking work are plain ``def``
(FastAPI runs them in its thread pool), never ``async def``.

FastAPI runs each plain ``def`` dependency in a thread of its pool, one hop each way per
dependency (about a quarter of a millisecond of CPU, and a wait for the GIL under load). So an
API key's request is authenticated and checked against the caller's projects in the unit of
work's own thread, as it opens (:func:`_check_ahead`); :func:`principal` and
:func:`hide_other_projects` only hand out what it found, or do the work themselves (in the pool)
for a request it did not do it for (a session cookie). Same checks, same order, same answers.

The review routes, filing notes included, go further (:func:`in_one_thread`): the unit, the
caller's checks, the handler, the commit and the answer's JSON in one call of the pool, instead
of four.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Iterator
from typing import Annotated, Any

from fastapi import Depends, Request, Response
from fastapi.exceptions import ResponseValidationError
from sqlalchemy import event, select
from sqlalchemy.orm import Session
from starlette.concurrency import run_in_threadpool

from service.auth import Principal, principal_for_key
from service.context import Services
from service.errors import NotFound, ServiceError, Unauthenticated
from service.sessions import COOKIE, session_principal
from service.storage.models import Batch, Project, Proposal, Run

HELD = "axial_held"  # session.info key: the request's objects, held strongly
CALLER = "axial_caller"  # session.info key: the key's caller, or why it has none (_check_ahead)
HIDDEN = "axial_hidden"  # session.info key: the project check's answer, None if it passed


def _services(request: Request) -> Services:
    svc: Services = request.app.state.services
    return svc


async def services(request: Request) -> Services:
    """The app's services (no I/O: ``async``, so FastAPI runs it without a thread hop)."""
    return _services(request)


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
    with _services(request).db.transaction() as session:
        hold_for_request(session)
        _check_ahead(request, session)
        yield session


# -- a whole request in one thread ---------------------------------------------------------------

ONE_THREAD = "__axial_one_thread__"  # set on an endpoint built by :func:`in_one_thread`
_UNIT_PARAMS = ("session", "caller")  # what the unit gives the endpoint


def in_one_thread(endpoint: Callable[..., Any]) -> Callable[..., Any]:
    """A plain ``def`` handler taking ``session: SessionDep, caller: CallerDep`` whose whole
    request runs in one call of the thread pool: its unit of work opens, the caller is
    authenticated, other projects' ids are hidden (:func:`hide_other_projects`'s check), the
    handler runs, the unit commits (rolls back if anything raised) and the answer is serialised
    to JSON bytes, in that thread and in that order.

    What :data:`SessionDep` and :data:`CallerDep` cost instead: a thread-pool hop to open the
    unit, one for the handler, one for FastAPI's check of the answer and one to close the unit,
    each a trip through the event loop and a wait for the GIL with the other requests' threads.

    FastAPI still reads the path, query and body (the route's OpenAPI is the same: the
    handler's other parameters and its return type are kept); the route's answer to a body
    that fails validation waits for the caller's checks (:func:`checks_before_invalid_input`),
    so 401 and the 404 of another project's ids still come before 422. The router's
    :func:`checked_in_unit` dependency leaves these routes' checks to the unit.
    """
    signature = inspect.signature(endpoint, eval_str=True)
    unit = [name for name in _UNIT_PARAMS if name in signature.parameters]
    kept = [p for name, p in signature.parameters.items() if name not in _UNIT_PARAMS]
    asks_request = "request" in signature.parameters
    if not asks_request:
        kept.append(
            inspect.Parameter("request", inspect.Parameter.KEYWORD_ONLY, annotation=Request)
        )

    def handler(**kwargs: Any) -> Response:
        request = kwargs["request"] if asks_request else kwargs.pop("request")
        with _services(request).db.transaction() as session:
            hold_for_request(session)
            caller = authenticate(request, session)
            _hide(request, session, caller)
            given = {"session": session, "caller": caller}
            result = endpoint(**kwargs, **{name: given[name] for name in unit})
        return _json_answer(request, result)

    functools.update_wrapper(handler, endpoint)
    handler.__signature__ = signature.replace(  # type: ignore[attr-defined]
        parameters=[p.replace(kind=inspect.Parameter.KEYWORD_ONLY) for p in kept]
    )
    setattr(handler, ONE_THREAD, True)
    return handler


def _json_answer(request: Request, result: Any) -> Response:
    """The route's answer as FastAPI would build it (its response model's check and JSON
    bytes, with the route's options and status code), in this thread."""
    if isinstance(result, Response):
        return result
    route = request.scope["route"]
    field = route.response_field
    value, errors = field.validate(result, {}, loc=("response",))
    if errors:
        raise ResponseValidationError(errors=errors, body=result)
    content = field.serialize_json(
        value,
        include=route.response_model_include,
        exclude=route.response_model_exclude,
        by_alias=route.response_model_by_alias,
        exclude_unset=route.response_model_exclude_unset,
        exclude_defaults=route.response_model_exclude_defaults,
        exclude_none=route.response_model_exclude_none,
    )
    return Response(content, status_code=route.status_code or 200, media_type="application/json")


def runs_in_one_thread(request: Request) -> bool:
    """Whether the request's route was built by :func:`in_one_thread`."""
    return getattr(getattr(request.scope.get("route"), "endpoint", None), ONE_THREAD, False)


def _check_caller(request: Request) -> None:
    """Authenticate the caller and hide other projects' ids, in a unit of its own."""
    with _services(request).db.transaction() as session:
        _hide(request, session, authenticate(request, session))


async def checked_in_unit(request: Request) -> None:
    """The review router's :func:`hide_other_projects`: a route built by :func:`in_one_thread`
    checks the caller in its own unit; any other route gets the same checks here (in a unit
    of their own, in the pool), before its own dependencies and body."""
    if not runs_in_one_thread(request):
        await run_in_threadpool(_check_caller, request)


async def checks_before_invalid_input(request: Request) -> None:
    """For a route built by :func:`in_one_thread` whose input failed validation: the caller's
    errors (401, another project's ids 404) answer first, as a route whose dependencies check
    the caller answers them; the caller passing, the 422 stands."""
    if runs_in_one_thread(request):
        await run_in_threadpool(_check_caller, request)


def _check_ahead(request: Request, session: Session) -> None:
    """For a request with an API key: authenticate it and check the path's ids against the
    caller's projects now, in this thread, keeping the answers (a caller or the error) in
    ``session.info`` for :func:`principal` and :func:`hide_other_projects`, which raise a kept
    error when the route asks for them, exactly where they raised it before. A route that asks
    for neither only paid for the reads (a key lookup, the path's rows)."""
    if not request.headers.get("authorization", ""):
        return  # a session cookie, or no credentials: principal() does it, as before
    try:
        caller = authenticate(request, session)
    except ServiceError as exc:
        session.info[CALLER] = exc
        return
    session.info[CALLER] = caller
    try:
        _hide(request, session, caller)
    except NotFound as exc:
        session.info[HIDDEN] = exc
    else:
        session.info[HIDDEN] = None


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


async def principal(request: Request, session: SessionDep) -> Principal:
    """The authenticated caller, read in the request's unit of work (by :func:`_check_ahead`
    for an API key; otherwise here, in the thread pool)."""
    found = session.info.get(CALLER)
    if found is None:
        return await run_in_threadpool(authenticate, request, session)
    if isinstance(found, ServiceError):
        raise found
    caller: Principal = found
    return caller


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


async def hide_other_projects(request: Request, session: SessionDep, caller: CallerDep) -> None:
    """Every ``/api/v1`` route: a project, batch, run or proposal the caller has no role in
    answers exactly as one that does not exist (404 naming the path field; ``run_id`` and
    ``batch_id`` in the query too), so a key cannot learn what other projects hold. Role
    checks (403) come after, inside the caller's projects.

    Checked by :func:`_check_ahead` for an API key (its answer raised here); otherwise here,
    in the thread pool.
    """
    if HIDDEN in session.info:
        hidden = session.info[HIDDEN]
        if hidden is not None:
            raise hidden
        return
    await run_in_threadpool(_hide, request, session, caller)


def _hide(request: Request, session: Session, caller: Principal) -> None:
    name = request.path_params.get("project")
    if isinstance(name, str):
        project_id = session.scalar(select(Project.id).where(Project.name == name))
        if project_id is None or project_id not in caller.roles:
            raise NotFound(f"no project named {name!r}", field="project")
    _visible_ids(request, session, caller)
