"""Browser safety: a Content-Security-Policy on pages and a cross-site check on unsafe requests.

CSRF (like Datasette's): a POST/PUT/PATCH/DELETE without ``Authorization: Bearer`` (that is,
one the browser may have sent with our session cookie) is refused with 403 when the browser
says it came from another site — ``Sec-Fetch-Site`` other than ``same-origin``/``none`` or,
without that header, an ``Origin`` whose host differs from ``Host``. Clients that send neither
header are not browsers and cannot be driven by another site. The session cookie is also
``SameSite=lax``, so most cross-site posts arrive without it anyway.
"""

from __future__ import annotations

import json
from html import escape
from typing import Any
from urllib.parse import urlsplit

from starlette.datastructures import Headers, MutableHeaders
from starlette.types import ASGIApp, Message, Receive, Scope, Send

CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
    "object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)
SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS", "TRACE"})
# The API documentation (review_ui/docs.py): scripts from this site only, like every page;
# Swagger UI and ReDoc set styles at run time, and ReDoc runs its search in a blob: worker.
DOCS_PATHS = ("/docs", "/redoc")
DOCS_CSP = (
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data:; worker-src 'self' blob:; font-src 'self' data:; object-src 'none'; "
    "base-uri 'none'; form-action 'self'; frame-ancestors 'none'"
)


def cross_site_reason(method: str, headers: Headers) -> str | None:
    """Why an unsafe, cookie-borne request looks cross-site; ``None`` when it is fine."""
    if method in SAFE_METHODS or headers.get("authorization"):
        return None
    site = headers.get("sec-fetch-site")
    if site is not None:
        return None if site in ("same-origin", "none") else f"Sec-Fetch-Site is {site!r}"
    origin = headers.get("origin")
    if origin is None:
        return None
    if origin == "null" or urlsplit(origin).netloc != headers.get("host", ""):
        return f"Origin {origin!r} is not this site"
    return None


class SecurityMiddleware:
    """Pure ASGI: refuses cross-site unsafe requests, adds CSP and friends to HTML responses."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        reason = cross_site_reason(scope["method"], Headers(scope=scope))
        if reason is not None:
            await _refuse(scope, send, reason)
            return
        path: str = scope["path"]

        async def send_with_headers(message: Message) -> None:
            if message["type"] == "http.response.start":
                headers = MutableHeaders(scope=message)
                headers.setdefault("X-Content-Type-Options", "nosniff")
                headers.setdefault("Referrer-Policy", "same-origin")
                is_html = headers.get("content-type", "").startswith("text/html")
                if is_html:
                    docs = path in DOCS_PATHS
                    headers["Content-Security-Policy"] = DOCS_CSP if docs else CSP
                    headers["X-Frame-Options"] = "DENY"
            await send(message)

        await self.app(scope, receive, send_with_headers)


async def _refuse(scope: Scope, send: Send, reason: str) -> None:
    message = f"cross-site request refused: {reason}"
    body: Any
    if scope["path"].startswith("/api/"):
        body = json.dumps({"error": "forbidden", "message": message}).encode()
        kind = b"application/json"
    else:
        body = f"<!doctype html><title>Forbidden</title><p>403: {escape(message)}</p>".encode()
        kind = b"text/html; charset=utf-8"
    await send(
        {
            "type": "http.response.start",
            "status": 403,
            "headers": [(b"content-type", kind), (b"content-length", str(len(body)).encode())],
        }
    )
    await send({"type": "http.response.body", "body": body})
