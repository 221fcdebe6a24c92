"""Server-rendered review pages, mounted on the app by ``install(app)``.

Pages: ``/login``, ``/`` (your projects), ``/projects/{project}/runs``, ``/runs/{id}`` (the
queue), ``/proposals/{id}``, ``/runs/{id}/unclustered``, ``/projects/{project}/categories``,
``/runs/{id}/audit``. Actions are plain form posts (``review_ui.forms``) answered by 303.
Errors on pages come through :func:`render_error`: sign-in redirects, a conflict on a
proposal re-renders the proposal with the new state and who changed it, anything else
``error.html`` with the status.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, Form, Request
from fastapi.responses import RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from review_ui import pages
from review_ui.security import SecurityMiddleware
from service.auth import Principal, login, principal_for_key
from service.context import Services
from service.deps import principal, services
from service.errors import MustAuditFirst, ServiceError, Unauthenticated

HERE = Path(__file__).parent
templates = Jinja2Templates(
    env=Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
)
router = APIRouter(include_in_schema=False)
Svc = Annotated[Services, Depends(services)]
Who = Annotated[Principal, Depends(principal)]


def install(app: FastAPI) -> None:
    """Mount the review UI on ``app``: pages, form posts, static files, security headers."""
    from review_ui.forms import router as forms_router

    app.add_middleware(SecurityMiddleware)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    app.include_router(router)
    app.include_router(forms_router)


def render(request: Request, name: str, page: object, status: int = 200) -> Response:
    return templates.TemplateResponse(request, name, {"page": page}, status_code=status)


def see_other(url: str) -> RedirectResponse:
    return RedirectResponse(url, status_code=303)


def safe_next(value: str | None) -> str:
    """Only same-site paths: '/x', never '//host' or 'http://…'."""
    if value and value.startswith("/") and not value.startswith("//") and "\\" not in value:
        return value
    return "/"


def render_error(request: Request, exc: ServiceError) -> Response:
    """A service error on a page: sign in, re-show a proposal after a conflict, or error.html."""
    if isinstance(exc, Unauthenticated):
        target = request.url.path if request.method == "GET" else request.headers.get("referer")
        if target and target.startswith(str(request.base_url)):
            target = "/" + target[len(str(request.base_url)) :]
        return see_other(f"/login?next={safe_next(target)}")
    if isinstance(exc, MustAuditFirst):  # blind-first: the audit sample, then the proposals
        pages.flash(request, "Blind mode: label the audit sample before seeing proposals.")
        return see_other(f"/runs/{exc.detail['run_id']}/audit")
    proposal_id = request.path_params.get("proposal_id")
    if request.method == "POST" and proposal_id is not None and exc.status in (409, 422):
        try:
            who = principal(request)
            with services(request).db.transaction() as session:
                page = pages.proposal_page(
                    request, session, who, int(proposal_id), error=exc.message
                )
            return render(request, "proposal.html", page, exc.status)
        except ServiceError:
            pass
    back = request.headers.get("referer", "")
    if (
        request.method == "POST"
        and exc.status in (409, 422)
        and back.startswith(str(request.base_url))
    ):
        pages.flash(request, f"Not done: {exc.message}")
        return see_other(safe_next("/" + back[len(str(request.base_url)) :]))
    error = pages.ErrorPage(pages.chrome(request, None, "Error"), exc.status, exc.code, exc.message)
    return render(request, "error.html", error, exc.status)


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
    svc: Svc,
    username: Annotated[str, Form()] = "",
    password: Annotated[str, Form()] = "",
    api_key: Annotated[str, Form()] = "",
    next: Annotated[str, Form()] = "/",
) -> Response:
    """Sign in with a username and password, or with an API key (the session keeps its id)."""
    try:
        with svc.db.transaction() as session:
            request.session.clear()
            if api_key.strip():
                key_id = principal_for_key(session, api_key.strip()).key_id
                request.session["key_id"] = key_id
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
def home(request: Request, svc: Svc, who: Who) -> Response:
    from service.review.views import my_projects

    with svc.db.transaction() as session:
        projects = my_projects(session, who)
    if len(projects) == 1:
        return see_other(f"/projects/{projects[0][0]}/runs")
    return render(
        request, "home.html", pages.HomePage(pages.chrome(request, who, "Projects"), projects)
    )


@router.get("/projects/{project}/runs")
def runs(request: Request, project: str, svc: Svc, who: Who) -> Response:
    with svc.db.transaction() as session:
        page = pages.runs_page(request, session, who, project)
    return render(request, "runs.html", page)


@router.get("/runs/{run_id}")
def queue(request: Request, run_id: int, svc: Svc, who: Who) -> Response:
    with svc.db.transaction() as session:
        page = pages.queue_page(request, session, who, run_id)
    return render(request, "queue.html", page)


@router.get("/proposals/{proposal_id}")
def proposal(request: Request, proposal_id: int, svc: Svc, who: Who, suggest: int = 0) -> Response:
    with svc.db.transaction() as session:
        page = pages.proposal_page(request, session, who, proposal_id, suggest=bool(suggest))
    return render(request, "proposal.html", page)


@router.get("/runs/{run_id}/unclustered")
def unclustered(request: Request, run_id: int, svc: Svc, who: Who) -> Response:
    with svc.db.transaction() as session:
        page = pages.unclustered_page(request, session, who, run_id)
    return render(request, "unclustered.html", page)


@router.get("/projects/{project}/categories")
def categories(request: Request, project: str, svc: Svc, who: Who) -> Response:
    with svc.db.transaction() as session:
        page = pages.categories_page(request, session, who, project)
    return render(request, "categories.html", page)


@router.get("/runs/{run_id}/audit")
def audit(request: Request, run_id: int, svc: Svc, who: Who) -> Response:
    with svc.db.transaction() as session:
        page = pages.audit_page(request, session, who, run_id)
    return render(request, "audit.html", page)
