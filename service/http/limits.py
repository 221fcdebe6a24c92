"""Bounded request bodies and hostile input refused at the door: a pure ASGI middleware.

Outermost in the app (before the CSRF check, sessions, authentication and any parsing), it
matches the request to its route and then, in this order:

1. path and query parameters: NUL characters, and integers a 64-bit column cannot hold in the
   parameters the route declares ``int`` or names ``*_id`` → 422 naming the parameter;
2. a body sent without any credentials (no ``Authorization`` header, no session cookie) to a
   route that needs a caller → 401 (303 to the sign-in page for a browser), body unread;
3. the body, counted as it arrives (``Content-Length`` or chunked): over the route class's limit
   → 413 at once. The bytes read so far are spooled (in memory up to :data:`SPOOL_BYTES`, then
   a temporary file), so a rejected body costs little memory whatever its size;
4. JSON bodies of API routes: nesting depth, NUL, lone surrogates, non-finite numbers and
   integers out of range → 422 naming the field (``groups.0.1``); form posts: NUL, and ids out
   of range in ``int`` and ``*_id`` fields, ``g<note id>`` field names and ``p:``/``c:`` values.

Then the route gets the body as if it came straight from the client. Limits per route class
(:class:`RouteClass`) come from the settings and are read per request.
"""

from __future__ import annotations

import re
import tempfile
import typing
from collections.abc import Iterator
from dataclasses import dataclass
from enum import StrEnum
from typing import Any
from urllib.parse import parse_qsl, quote

from fastapi.dependencies.models import Dependant
from fastapi.params import Form
from fastapi.routing import iter_route_contexts
from starlette.datastructures import Headers
from starlette.responses import JSONResponse, RedirectResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from service.errors import PayloadTooLarge, ServiceError, Unauthenticated
from service.http.deps import principal
from service.inputs import check_int, check_text, check_tree, decode_utf8, dotted, load_json
from service.settings import Settings

SPOOL_BYTES = 1 << 20  # a body's bytes kept in memory while counting; the rest go to a file
BATCH_PATHS = frozenset({"/api/v1/projects/{project}/batches"})
SESSION_COOKIE = "axial_session"  # the UI's sign-in cookie (service.sessions.COOKIE)
_NUMBERED_FIELD = re.compile(r"[A-Za-z_]+(\d+)")  # g<note id> fields of the split form
_REFERENCE = re.compile(r"[a-z]:(-?\d+)")  # p:<proposal id>, c:<category id> in form values


class RouteClass(StrEnum):
    """Route classes, each with its own body limit setting."""

    batch = "batch"  # batch uploads: AXIAL_MAX_BODY_BYTES
    api = "api"  # every other /api/ route: AXIAL_MAX_JSON_BODY_BYTES
    form = "form"  # the review pages' form posts: AXIAL_MAX_FORM_BODY_BYTES


SETTING = {
    RouteClass.batch: "max_body_bytes",
    RouteClass.api: "max_json_body_bytes",
    RouteClass.form: "max_form_body_bytes",
}


@dataclass(frozen=True, slots=True)
class RouteInfo:
    kind: RouteClass
    needs_caller: bool
    int_params: frozenset[tuple[str, str]]  # (path|query|form, name)


class _Disconnected(Exception):
    """The client went away before its body was complete: nothing to answer."""


def _is_int(annotation: Any) -> bool:
    if annotation is int:
        return True
    return any(_is_int(arg) for arg in typing.get_args(annotation))


def _dependants(root: Dependant) -> list[Dependant]:
    found, stack = [], [root]
    while stack:
        dep = stack.pop()
        found.append(dep)
        stack.extend(dep.dependencies)
    return found


def route_info(dependant: Dependant | None, template: str, method: str) -> RouteInfo:
    """What the middleware needs to know about a route: its class, whether it needs a caller
    (``CallerDep`` anywhere in its dependencies) and its ``int`` path, query and form fields."""
    if template in BATCH_PATHS and method == "POST":
        kind = RouteClass.batch
    else:
        kind = RouteClass.api if template.startswith("/api/") else RouteClass.form
    if dependant is None:
        return RouteInfo(kind, False, frozenset())
    deps = _dependants(dependant)
    ints = set()
    for dep in deps:
        for where, fields in (("path", dep.path_params), ("query", dep.query_params)):
            ints |= {(where, f.alias) for f in fields if _is_int(f.field_info.annotation)}
        ints |= {
            ("form", f.alias)
            for f in dep.body_params
            if isinstance(f.field_info, Form) and _is_int(f.field_info.annotation)
        }
    needs_caller = any(dep.call is principal for dep in deps)
    return RouteInfo(kind, needs_caller, frozenset(ints))


@dataclass(frozen=True, slots=True)
class _Route:
    regex: re.Pattern[str]
    methods: frozenset[str] | None
    template: str
    dependant: Dependant | None


def _flatten(app: Any) -> Iterator[_Route]:
    """Every route of the app in routing order, included routers flattened (as FastAPI's
    OpenAPI sees them). Lazily: FastAPI builds an included router's route contexts the first
    time they are needed (about 0.15 s of CPU for all of this app's), and routing a request
    builds only those up to its match."""
    for ctx in iter_route_contexts(getattr(app, "routes", [])):
        regex = getattr(ctx, "path_regex", None)
        if regex is None:
            continue
        methods = ctx.methods
        yield _Route(
            regex,
            frozenset(methods) if methods else None,
            ctx.path_format or "",
            getattr(ctx, "dependant", None),
        )


class _RouteTable:
    """The app's routes, read from :func:`_flatten` only as far as a lookup needs."""

    def __init__(self, app: Any) -> None:
        self._pending: Iterator[_Route] | None = _flatten(app)
        self._read: list[_Route] = []

    def __iter__(self) -> Iterator[_Route]:
        yield from self._read
        while self._pending is not None:
            route = next(self._pending, None)
            if route is None:
                self._pending = None
                return
            self._read.append(route)
            yield route


def _names_an_id(name: str) -> bool:
    """Fields some routes take as text and turn into ids themselves (``?run_id=``)."""
    return name == "id" or name.endswith(("_id", "_ids"))


def _check_int_text(value: str, field: str) -> None:
    digits = value.removeprefix("-")
    if digits.isdigit():
        if len(digits) > 19:
            check_int(2**63, field)
        check_int(int(value), field)


class BodyLimitMiddleware:
    """Pure ASGI: see the module docstring. ``settings`` is read on every request."""

    def __init__(
        self, app: ASGIApp, settings: Settings, session_cookie: str = SESSION_COOKIE
    ) -> None:
        self.app = app
        self.settings = settings
        self.session_cookie = session_cookie
        self._routes: dict[tuple[str, str], RouteInfo] = {}
        self._table: _RouteTable | None = None

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        headers = Headers(scope=scope)
        try:
            info = self._check_params(scope)
            if not self._has_body(headers):
                await self.app(scope, receive, send)
                return
            if info.needs_caller and not self._has_credentials(headers):
                await self._unauthenticated(scope, receive, send, headers)
                return
            body = await self._read(receive, headers, info.kind)
            self._check_body(info, headers, body)
        except _Disconnected:
            return
        except ServiceError as exc:
            await JSONResponse(exc.to_json(), status_code=exc.status)(scope, receive, send)
            return
        await self.app(scope, _replay(body, receive), send)

    def _match(self, scope: Scope) -> tuple[RouteInfo, dict[str, str]]:
        if self._table is None:
            self._table = _RouteTable(scope.get("app"))
        path, method = scope["path"], scope["method"]
        best: tuple[_Route, dict[str, str]] | None = None
        for route in self._table:
            found = route.regex.match(path)
            if found is None:
                continue
            if route.methods is None or method in route.methods:
                best = (route, found.groupdict())
                break
            best = best or (route, found.groupdict())
        if best is None:
            return route_info(None, path, method), {}
        route, params = best
        key = (route.template, method)
        info = self._routes.get(key)
        if info is None:
            info = self._routes[key] = route_info(route.dependant, route.template, method)
        return info, params

    def _check_params(self, scope: Scope) -> RouteInfo:
        info, path_params = self._match(scope)
        for name, value in path_params.items():
            check_text(str(value), name)
            if ("path", name) in info.int_params:
                _check_int_text(str(value), name)
        query = scope.get("query_string", b"").decode("latin-1")
        for name, value in parse_qsl(query, keep_blank_values=True):
            check_text(name, name)
            check_text(value, name)
            if ("query", name) in info.int_params or _names_an_id(name):
                _check_int_text(value, name)
        return info

    @staticmethod
    def _has_body(headers: Headers) -> bool:
        if "chunked" in headers.get("transfer-encoding", "").lower():
            return True
        return headers.get("content-length", "").strip() not in ("", "0")

    def _has_credentials(self, headers: Headers) -> bool:
        if headers.get("authorization"):
            return True
        return f"{self.session_cookie}=" in headers.get("cookie", "")

    async def _unauthenticated(
        self, scope: Scope, receive: Receive, send: Send, headers: Headers
    ) -> None:
        path: str = scope["path"]
        if not path.startswith("/api/") and "text/html" in headers.get("accept", ""):
            response: Any = RedirectResponse(f"/login?next={quote(path)}", status_code=303)
        else:
            exc = Unauthenticated(
                "sign in: send 'Authorization: Bearer <API key>' (create one with "
                "'axial keys create --project P --role R')"
            )
            response = JSONResponse(exc.to_json(), status_code=exc.status)
        await response(scope, receive, send)

    async def _read(self, receive: Receive, headers: Headers, kind: RouteClass) -> bytes:
        setting = SETTING[kind]
        limit: int = getattr(self.settings, setting)

        def too_large() -> PayloadTooLarge:
            return PayloadTooLarge(
                f"request body over {limit} bytes, the limit of {kind.value} routes "
                f"(AXIAL_{setting.upper()})",
                field="body",
                limit=limit,
            )

        declared = headers.get("content-length", "")
        if declared.isdigit() and int(declared) > limit:
            raise too_large()
        size = 0
        with tempfile.SpooledTemporaryFile(max_size=SPOOL_BYTES) as spool:
            while True:
                message = await receive()
                if message["type"] == "http.disconnect":
                    raise _Disconnected
                chunk: bytes = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    raise too_large()
                spool.write(chunk)
                if not message.get("more_body", False):
                    break
            spool.seek(0)
            return spool.read()

    def _check_body(self, info: RouteInfo, headers: Headers, body: bytes) -> None:
        ctype = headers.get("content-type", "").split(";")[0].strip().lower()
        if info.kind is RouteClass.api and body and (ctype == "" or ctype.endswith("json")):
            check_tree(load_json(decode_utf8(body)), dotted, check_ints=True)
        elif ctype == "application/x-www-form-urlencoded":
            for name, value in parse_qsl(body.decode("utf-8", "replace"), keep_blank_values=True):
                check_text(name, name)
                check_text(value, name)
                numbered = _NUMBERED_FIELD.fullmatch(name)
                if numbered:
                    _check_int_text(numbered[1], name)
                reference = _REFERENCE.fullmatch(value.strip())
                if reference:
                    _check_int_text(reference[1], name)
                if ("form", name) in info.int_params or _names_an_id(name):
                    _check_int_text(value.strip(), name)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands the app the whole body once, then the client's own messages."""
    sent = False

    async def replay() -> Message:
        nonlocal sent
        if not sent:
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await receive()

    return replay
