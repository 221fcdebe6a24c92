"""The composition root: ``create_app(settings)`` builds storage, embedder, judge and worker,
and mounts the JSON API (:mod:`service.http`) and the review pages (:mod:`review_ui`)."""

from __future__ import annotations

import logging
import secrets
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from typing import Any

from fastapi import Depends, FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse, Response
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.middleware.sessions import SessionMiddleware

from clustering import Embedder
from judges import Judge
from review_ui.dashboard import router as dashboard_router
from review_ui.rendering import render_error
from review_ui.routes import install as install_ui
from service.context import Services
from service.errors import BadInput, NotFound, ServiceError
from service.http import account as http_account
from service.http import agreement as http_agreement
from service.http import api as http_api
from service.http import filing as http_filing
from service.http import review as http_review
from service.http.deps import checked_in_unit, hide_other_projects
from service.http.limits import BodyLimitMiddleware
from service.runs.worker import Worker, new_worker_id
from service.settings import Settings

log = logging.getLogger("axial")


def create_app(
    settings: Settings | None = None,
    *,
    embedder: Embedder | None = None,
    judge: Judge | None = None,
    start_worker: bool = True,
    warm_up: bool = True,
) -> FastAPI:
    """Build the app. Tests pass their own settings (and a shared, real embedder).

    Args:
        settings: the configuration; read from ``AXIAL_*`` environment variables when omitted.
        embedder: an already loaded embedder to reuse (built lazily from settings otherwise).
        judge: the judge to use (built from settings otherwise).
        start_worker: run queued runs in a background thread of this process (the default for
            SQLite and the demo); ``axial serve --no-worker`` leaves them to ``axial worker``
            processes. On shutdown the thread gets 30 s to finish its run, then releases it
            back to the queue.
        warm_up: load the model and compile the clustering kernels when the worker starts, so
            the first run does not pay for them (tests turn it off).
    """
    settings = settings or Settings()
    services = Services.build(settings, embedder=embedder, judge=judge)
    worker = Worker(services, warm=warm_up, worker_id=new_worker_id("web"))

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        if start_worker:
            worker.start()
        try:
            yield
        finally:
            worker.stop()

    app = FastAPI(
        title="axial",
        version="0.1.0",
        description="Notes on LLM traces in, a counted, human-verified failure taxonomy out.",
        lifespan=lifespan,
        docs_url=None,  # /docs and /redoc come from review_ui.docs, with no CDN
        redoc_url=None,
    )
    app.state.services = services
    app.state.worker = worker
    secret = settings.session_secret.get_secret_value() if settings.session_secret else None
    app.add_middleware(
        SessionMiddleware,
        secret_key=secret or secrets.token_urlsafe(32),
        session_cookie="axial_ui",  # flash messages only; who is signed in: service.sessions
        same_site="lax",
        https_only=settings.cookie_secure == "true",
    )
    _install_error_handlers(app)
    _include_routers(app)
    # Outermost: bodies are counted (413) and hostile input refused (422) before anything else.
    app.add_middleware(BodyLimitMiddleware, settings=settings)
    return app


def app_from_environment() -> FastAPI:
    """One web process of ``axial serve --processes N``: settings from ``AXIAL_*`` (the
    database and session secret the serving command set), no run worker (the command's own
    process executes queued runs)."""
    return create_app(start_worker=False, warm_up=False)


def _include_routers(app: FastAPI) -> None:
    hidden = [Depends(hide_other_projects)]  # another project's ids answer as unknown ones
    app.include_router(http_api.router, dependencies=hidden)
    # its routes check the caller in the thread that runs them (service.http.deps.in_one_thread)
    app.include_router(http_review.router, dependencies=[Depends(checked_in_unit)])
    app.include_router(http_filing.router, dependencies=[Depends(checked_in_unit)])
    app.include_router(http_agreement.router, dependencies=hidden)
    app.include_router(http_account.router, dependencies=hidden)
    install_ui(app)
    app.include_router(dashboard_router, dependencies=hidden)


_ROUTING = {404: "no page or route at this path", 405: "this path does not take that method"}


def _wants_json(request: Request) -> bool:
    return request.url.path.startswith("/api/") or "text/html" not in request.headers.get(
        "accept", ""
    )


def _install_error_handlers(app: FastAPI) -> None:
    @app.exception_handler(ServiceError)
    async def _service_error(request: Request, exc: ServiceError) -> Response:
        if not _wants_json(request):
            return render_error(request, exc)
        return JSONResponse(exc.to_json(), status_code=exc.status)

    @app.exception_handler(StarletteHTTPException)
    async def _no_route(request: Request, exc: StarletteHTTPException) -> Response:
        """Starlette's own answers (no such path, method not allowed) in our shape: the error
        page for a browser, ``{error, message, field}`` for everyone else."""
        error = NotFound if exc.status_code == 404 else ServiceError
        found = error(_ROUTING.get(exc.status_code, str(exc.detail)), field="path")
        found.status = exc.status_code
        found.code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http")
        if not _wants_json(request):
            return render_error(request, found)
        return JSONResponse(found.to_json(), status_code=exc.status_code, headers=exc.headers)

    @app.exception_handler(RequestValidationError)
    async def _validation_error(request: Request, exc: RequestValidationError) -> Response:
        errors: list[dict[str, Any]] = []
        for err in exc.errors():
            loc = [str(p) for p in err.get("loc", ()) if p not in ("body", "query", "path")]
            errors.append({"field": ".".join(loc) or "body", "reason": err.get("msg", "")})
        first = errors[0] if errors else {"field": "body", "reason": "invalid"}
        if not _wants_json(request):  # a page: the error page (or the proposal, re-shown)
            return render_error(
                request, BadInput(f"{first['field']}: {first['reason']}", field=first["field"])
            )
        body = {
            "error": "invalid_input",
            "message": f"{first['field']}: {first['reason']}",
            "field": first["field"],
            "errors": errors,
        }
        return JSONResponse(body, status_code=422)
