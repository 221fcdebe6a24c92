"""/docs and /redoc render the API from files shipped with axial, on a closed network, under a CSP."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.review_ui.conftest import LiveServer, screenshot

pytestmark = pytest.mark.browser


def close_the_network(page: Any, live: LiveServer) -> list[str]:
    """Abort every request that leaves the live server; return what was attempted."""
    own = urlsplit(live.url).netloc
    leaving: list[str] = []

    def route(r: Any) -> None:
        if urlsplit(r.request.url).netloc in (own, ""):
            r.continue_()
        else:
            leaving.append(r.request.url)
            r.abort()

    page.route("**/*", route)
    return leaving


def test_swagger_ui_renders_every_operation_without_a_cdn(page: Any, live: LiveServer) -> None:
    leaving = close_the_network(page, live)
    response = page.goto("/docs")
    csp = response.headers["content-security-policy"]
    assert (
        "script-src 'self'" in csp
        and "unsafe-inline" not in csp.split("script-src")[1].split(";")[0]
    )
    page.wait_for_selector(".opblock", timeout=20_000)
    paths = page.locator(".opblock-summary-path").all_inner_texts()
    assert any(p.replace("\u200b", "") == "/api/v1/projects/{project}/batches" for p in paths)
    assert len(paths) >= 25
    screenshot(page, "api-docs")
    assert leaving == []
    assert page.console_errors == []


def test_redoc_renders_the_reference_without_a_cdn(page: Any, live: LiveServer) -> None:
    leaving = close_the_network(page, live)
    response = page.goto("/redoc")
    assert "script-src 'self'" in response.headers["content-security-policy"]
    page.get_by_text("/api/v1/projects/{project}/batches").first.wait_for(timeout=20_000)
    assert leaving == []
    # ReDoc's "API docs by Redocly" credit points at a logo on its CDN: the CSP blocks it,
    # which is the only thing the page asks of another site
    blocked = [e for e in page.console_errors if "cdn.redoc.ly" in e and "Content Security" in e]
    assert [e for e in page.console_errors if e not in blocked] == []
