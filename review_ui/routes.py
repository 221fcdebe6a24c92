"""Server-rendered review pages, mounted on the app by ``install(app)``.

Pages: ``/login``, ``/`` (your projects), ``/projects/{project}/runs``, ``/runs/{id}`` (the
queue), ``/proposals/{id}``, ``/runs/{id}/unclustered``, ``/projects/{project}/categories``,
``/runs/{id}/audit``. Actions are plain form posts (``review_ui.forms``) answered by 303.
Rendering and error pages live in :mod:`review_ui.rendering`. Each request is one unit of work:
the caller is authenticated and the page read in the same transaction (``SessionDep``,
``CallerDep``); pages reach the database only through ``service`` functions.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, FastAPI, Form, Request
from fastapi.responses import Response
from fastapi.staticfiles import StaticFiles

from review_ui import pages
from review_ui.docs import router as docs_router
from review_ui.forms import router as forms_router
from review_ui.rendering import HERE, render, safe_next, see_other
from review_ui.security import SecurityMiddleware
from service.audit.draw import AuditSize
from service.auth import login, principal_for_key
from service.errors import Unauthenticated
from service.http.deps import CallerDep, ServicesDep, SessionDep
from service.review.views import my_projects

router = APIRouter(include_in_schema=False)


def install(app: FastAPI) -> None:
    """Mount the review UI on ``app``: pages, form posts, static files, security headers."""
    app.add_middleware(SecurityMiddleware)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)
    app.include_router(forms_router)
    app.include_router(docs_router)


@router.get("/login")
def login_form(request: Request, next: str = "/") -> Response:
    return render(
        request,
        "login.html",
        pages.LoginPage(pages.chrome(request, None, "Sign in"), safe_next(next)),
    )


@router.post("/login")
def login_post(
    request: Request,
    session: SessionDep,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    api_key: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Sign in with a username and password, or with an API key (the session keeps its id)."""
    request.session.clear()
    try:
        if api_key.strip():
            request.session["key_id"] = principal_for_key(session, api_key.strip()).key_id
        else:
            request.session["user_id"] = login(session, username, password).id
    except Unauthenticated as exc:
        page = pages.LoginPage(pages.chrome(request, None, "Sign in"), safe_next(next), exc.message)
        return render(request, "login.html", page, 401)
    return see_other(safe_next(next))


@router.post("/logout")
def logout(request: Request) -> Response:
    request.session.clear()
    return see_other("/login")


@router.get("/")
def home(request: Request, session: SessionDep, who: CallerDep) -> Response:
    projects = my_projects(session, who)
    if len(projects) == 1:
        return see_other(f"/projects/{projects[0][0]}/runs")
    return render(
        request, "home.html", pages.HomePage(pages.chrome(request, who, "Projects"), projects)
    )


@router.get("/projects/{project}/runs")
def runs(request: Request, project: str, session: SessionDep, who: CallerDep) -> Response:
    return render(request, "runs.html", pages.runs_page(request, session, who, project))


@router.get("/runs/{run_id}")
def queue(request: Request, run_id: int, session: SessionDep, who: CallerDep) -> Response:
    return render(request, "queue.html", pages.queue_page(request, session, who, run_id))


@router.get("/proposals/{proposal_id}")
def proposal(
    request: Request, proposal_id: int, session: SessionDep, who: CallerDep, suggest: int = 0
) -> Response:
    page = pages.proposal_page(request, session, who, proposal_id, suggest=bool(suggest))
    return render(request, "proposal.html", page)


@router.get("/runs/{run_id}/unclustered")
def unclustered(request: Request, run_id: int, session: SessionDep, who: CallerDep) -> Response:
    page = pages.unclustered_page(request, session, who, run_id)
    return render(request, "unclustered.html", page)


@router.get("/projects/{project}/categories")
def categories(request: Request, project: str, session: SessionDep, who: CallerDep) -> Response:
    page = pages.categories_page(request, session, who, project)
    return render(request, "categories.html", page)


@router.get("/runs/{run_id}/audit")
def audit(
    request: Request, run_id: int, session: SessionDep, who: CallerDep, svc: ServicesDep
) -> Response:
    page = pages.audit_page(request, session, who, run_id, AuditSize.of(svc.settings))
    return render(request, "audit.html", page)
