"""Server-rendered review pages, mounted on the app by ``install(app)``."""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import HTMLResponse, Response

from service.errors import ServiceError


def install(app: FastAPI) -> None:
    """Mount the review UI on ``app`` (pages come later)."""


def render_error(request: Request, exc: ServiceError) -> Response:
    """Render a service error as a minimal HTML page."""
    from html import escape

    body = f"<!doctype html><title>Error</title><h1>{exc.status}</h1><p>{escape(str(exc))}</p>"
    return HTMLResponse(body, status_code=exc.status)
