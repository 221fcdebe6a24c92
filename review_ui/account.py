"""The signed-in user's own account: ``/account/password`` (change the password).

A change needs the current password (wrong ones count against the sign-in throttle) and ends
every other session of the user (:func:`service.auth.change_password`); this browser stays
signed in. Sessions that signed in with an API key have no password.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from fastapi import APIRouter, Form, Request
from fastapi.responses import Response

from review_ui import pages
from review_ui.rendering import render, see_other
from service.auth import change_password
from service.errors import BadInput
from service.http.deps import CallerDep, SessionDep
from service.sessions import COOKIE, LoginThrottle

router = APIRouter(include_in_schema=False)


@dataclass(frozen=True, slots=True)
class PasswordPage:
    chrome: pages.Chrome
    error: str | None = None


def _address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


@router.get("/account/password")
def password_form(request: Request, who: CallerDep) -> Response:
    return render(request, "password.html", PasswordPage(pages.chrome(request, who, "Password")))


@router.post("/account/password")
def password_post(
    request: Request,
    session: SessionDep,
    who: CallerDep,
    current_password: Annotated[str, Form()] = "",
    new_password: Annotated[str, Form()] = "",
) -> Response:
    """Change the password: 303 home with a message, or the form again with what was wrong
    (422; 429 with ``Retry-After`` after too many wrong current passwords)."""
    throttle: LoginThrottle = request.app.state.login_throttle
    wait = throttle.retry_after(who.name, _address(request))
    if wait:
        page = PasswordPage(pages.chrome(request, who, "Password"), f"Try again in {wait} s.")
        response = render(request, "password.html", page, 429)
        response.headers["Retry-After"] = str(wait)
        return response
    try:
        ended = change_password(
            session, who, current_password, new_password, request.cookies.get(COOKIE)
        )
    except BadInput as exc:
        if exc.detail.get("field") == "current_password":
            throttle.failed(who.name, _address(request))
        page = PasswordPage(pages.chrome(request, who, "Password"), exc.message)
        return render(request, "password.html", page, 422)
    pages.flash(request, f"Password changed; {ended} other session(s) signed out.")
    return see_other("/")
