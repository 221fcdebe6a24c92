"""Rendering for the review pages: templates, redirects, and service errors shown as pages.

Errors on pages come through :func:`render_error`: sign-in redirects, a conflict on a
proposal re-renders the proposal with the new state and who changed it, anything else
``error.html`` with the status and, when someone is signed in, the usual header. The re-render runs after the failed request's unit of work
rolled back, so it reads the proposal in a unit of work of its own.
"""

from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path

from fastapi import Request
from fastapi.responses import RedirectResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, FileSystemLoader

from review_ui import humane, pages
from service.auth import Principal, Role
from service.domain import ProposalStatus, RejectReason
from service.errors import MustAuditFirst, ServiceError, Unauthenticated
from service.http.deps import authenticate, unit_of_work

HERE = Path(__file__).parent
# A request's unit of work as a context manager, for work after the request's own has ended.
fresh_unit_of_work = contextmanager(unit_of_work)
templates = Jinja2Templates(
    env=Environment(loader=FileSystemLoader(HERE / "templates"), autoescape=True)
)
# Templates compare states and roles with the service's enums, not with raw strings.
templates.env.globals.update(ProposalStatus=ProposalStatus, RejectReason=RejectReason, Role=Role)
# Dates in words (the ISO form in a title), durations, and a run's progress stage by stage.
templates.env.globals.update(run_progress=humane.run_progress)
templates.env.filters.update(when=humane.when, ago=humane.ago, seconds=humane.seconds)


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
            with fresh_unit_of_work(request) as session:
                who = authenticate(request, session)
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
    where = pages.chrome(request, _signed_in(request), "Error")
    error = pages.ErrorPage(where, exc.status, exc.code, exc.message, exc.detail.get("field"))
    return render(request, "error.html", error, exc.status)


def _signed_in(request: Request) -> Principal | None:
    """Who is signed in, for the error page's header (None when no one is, or it cannot tell)."""
    try:
        with fresh_unit_of_work(request) as session:
            return authenticate(request, session)
    except ServiceError:
        return None
