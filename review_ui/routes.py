"""Server-rendered review pages, mounted on the app by ``install(app)``.

Pages: ``/login`` (and ``POST /logout``; ``/account/password`` in :mod:`review_ui.account`),
``/`` (your projects), ``/projects/{project}/runs``, ``/runs/{id}`` (the
queue), ``/proposals/{id}``, ``/runs/{id}/unclustered``, ``/projects/{project}/categories``,
``/runs/{id}/audit``, ``/runs/{id}/file`` (:mod:`review_ui.filing`). Actions are plain form
posts (``review_ui.forms``) answered by 303.
Rendering and error pages live in :mod:`review_ui.rendering`. Each request is one unit of work:
the caller is authenticated and the page read in the same transaction (``SessionDep``,
``CallerDep``); pages reach the database only through ``service`` functions.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles
from sqlalchemy.orm import Session

from review_ui import pages
from review_ui.account import router as account_router
from review_ui.docs import router as docs_router
from review_ui.filing import router as filing_router
from review_ui.forms import router as forms_router
from review_ui.rendering import HERE, render, safe_next, see_other
from review_ui.security import SecurityMiddleware
from service import scopes
from service.audit.draw import AuditSize
from service.auth import Principal, login, principal_for_key
from service.context import Services
from service.errors import Unauthenticated
from service.http.deps import CallerDep, ServicesDep, SessionDep, hide_other_projects
from service.review.views import my_projects
from service.review.views import project_id as project_id_of
from service.sessions import COOKIE, LoginThrottle, end_session, start_session

router = APIRouter(include_in_schema=False)
# A project, run or proposal of a project the caller has no role in answers as an unknown one (404,
# the API's rule): the same dependency as every /api/v1 route, on every page and form with an id.
HIDDEN = [Depends(hide_other_projects)]


def install(app: FastAPI) -> None:
    """Mount the review UI on ``app``: pages, form posts, static files, security headers."""
    app.add_middleware(SecurityMiddleware)
    settings = app.state.services.settings
    app.state.login_throttle = LoginThrottle(
        settings.login_max_failures, settings.login_max_failures_per_address,
        settings.login_window_s,
    )  # fmt: skip
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)
    app.include_router(forms_router, dependencies=HIDDEN)
    app.include_router(filing_router, dependencies=HIDDEN)
    app.include_router(docs_router)
    app.include_router(account_router)


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    return render(
        request,
        "login.html",
        pages.LoginPage(pages.chrome(request, None, "Sign in"), safe_next(next)),
    )


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


def _set_session_cookie(request: Request, response: Response, token: str, svc: Services) -> None:
    settings = svc.settings
    secure = settings.cookie_secure == "true" or (
        settings.cookie_secure == "auto" and request.url.scheme == "https"
    )
    response.set_cookie(
        COOKIE, token, max_age=settings.session_ttl_s, path="/", secure=secure,
        httponly=True, samesite="lax",
    )  # fmt: skip


def _login_page(request: Request, next: str, error: str, status: int) -> Response:
    page = pages.LoginPage(pages.chrome(request, None, "Sign in"), safe_next(next), error)
    return render(request, "login.html", page, status)


@router.post("/login")
def login_post(
    request: Request,
    session: SessionDep,
    svc: ServicesDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    api_key: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Sign in with a username and password, or with an API key: a new server-side session
    (:mod:`service.sessions`). Too many failures for the username or from the address: 429."""
    throttle: LoginThrottle = request.app.state.login_throttle
    name = "" if api_key.strip() else username
    wait = throttle.retry_after(name, _address(request))
    if wait:
        response = _login_page(
            request, next, f"Too many failed sign-ins: try again in {wait} s.", 429
        )
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        if api_key.strip():
            key_id = principal_for_key(session, api_key.strip()).key_id
            token = start_session(session, svc.settings.session_ttl_s, key_id=key_id)
        else:
            user = login(session, username, password)
            token = start_session(session, svc.settings.session_ttl_s, user_id=user.id)
    except Unauthenticated as exc:
        throttle.failed(name, _address(request))
        return _login_page(request, next, exc.message, 401)
    throttle.succeeded(name)
    end_session(session, request.cookies.get(COOKIE, ""))  # the browser's previous one
    request.session.clear()
    response = see_other(safe_next(next))
    _set_session_cookie(request, response, token, svc)
    return response


@router.post("/logout")
def logout(request: Request, session: SessionDep) -> Response:
    """Sign out: the session is deleted on the server, so its cookie no longer works anywhere."""
    end_session(session, request.cookies.get(COOKIE, ""))
    request.session.clear()
    response = see_other("/login")
    response.delete_cookie(COOKIE, path="/")
    return response


@router.get("/")
def home(request: Request, session: SessionDep, who: CallerDep) -> Response:
    projects = my_projects(session, who)
    if len(projects) == 1:
        return see_other(f"/projects/{projects[0][0]}/runs")
    return render(
        request, "home.html", pages.HomePage(pages.chrome(request, who, "Projects"), projects)
    )


@router.get("/projects/{project}/runs", dependencies=HIDDEN)
def runs(request: Request, project: str, session: SessionDep, who: CallerDep) -> Response:
    return render(request, "runs.html", pages.runs_page(request, session, who, project))


@router.get("/runs/{run_id}", dependencies=HIDDEN)
def queue(request: Request, run_id: int, session: SessionDep, who: CallerDep) -> Response:
    scopes.readable_run(session, who, run_id)  # a client: only the runs it started
    return render(request, "queue.html", pages.queue_page(request, session, who, run_id))


@router.get("/proposals/{proposal_id}", dependencies=HIDDEN)
def proposal(
    request: Request, proposal_id: int, session: SessionDep, who: CallerDep, suggest: int = 0
) -> Response:
    scopes.readable_proposal_run(session, who, proposal_id)
    page = pages.proposal_page(request, session, who, proposal_id, suggest=bool(suggest))
    return render(request, "proposal.html", page)


@router.get("/runs/{run_id}/unclustered", dependencies=HIDDEN)
def unclustered(request: Request, run_id: int, session: SessionDep, who: CallerDep) -> Response:
    scopes.readable_run(session, who, run_id)
    page = pages.unclustered_page(request, session, who, run_id)
    return render(request, "unclustered.html", page)


@router.get("/projects/{project}/categories", dependencies=HIDDEN)
def categories(request: Request, project: str, session: SessionDep, who: CallerDep) -> Response:
    page = pages.categories_page(request, session, who, project)
    return render(request, "categories.html", _own_notes_only(session, who, project, page))


def _own_notes_only(
    session: Session, who: Principal, project: str, page: pages.CategoriesPage
) -> pages.CategoriesPage:
    """A client sees the categories' names and counts, and only its own notes in them."""
    project_id = project_id_of(session, who, project, "read")
    if scopes.sees_every_note(who, project_id):
        return page
    own = scopes.own_note_ids(session, who, project_id)
    cats = [replace(c, notes=[n for n in c.notes if n.note_id in own]) for c in page.categories]
    return replace(page, categories=cats)


@router.get("/runs/{run_id}/audit", dependencies=HIDDEN)
def audit(
    request: Request, run_id: int, session: SessionDep, who: CallerDep, svc: ServicesDep
) -> Response:
    page = pages.audit_page(request, session, who, run_id, AuditSize.of(svc.settings))
    return render(request, "audit.html", page)
