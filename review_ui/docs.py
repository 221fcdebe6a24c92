"""The API documentation pages, served from files that ship with axial (no CDN).

``/docs`` is Swagger UI and ``/redoc`` is ReDoc, both reading ``/openapi.json``. Their
scripts are vendored under ``static/vendor/`` (``swagger-ui-dist`` and ``redoc`` from npm,
licences beside them), so the pages work on a closed network. They get a Content-Security-
Policy too: scripts only from this site, like every page; inline styles allowed, which both
libraries set at run time (see :data:`review_ui.security.DOCS_CSP`).
"""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import HTMLResponse

router = APIRouter(include_in_schema=False)
SPEC_URL = "/openapi.json"

_SWAGGER = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>axial API — Swagger UI</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/static/favicon.svg">
<link rel="stylesheet" href="/static/vendor/swagger-ui/swagger-ui.css">
</head><body>
<div id="swagger-ui" data-spec-url="{SPEC_URL}"></div>
<script src="/static/vendor/swagger-ui/swagger-ui-bundle.js"></script>
<script src="/static/docs.js"></script>
</body></html>"""

_REDOC = f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>axial API — ReDoc</title>
<meta name="viewport" content="width=device-width, initial-scale=1">
<link rel="icon" href="/static/favicon.svg">
</head><body>
<redoc spec-url="{SPEC_URL}"></redoc>
<script src="/static/vendor/redoc/redoc.standalone.js"></script>
</body></html>"""


@router.get("/docs")
def swagger_ui() -> HTMLResponse:
    """The API's operations, typed, to read and try (Swagger UI)."""
    return HTMLResponse(_SWAGGER)


@router.get("/redoc")
def redoc() -> HTMLResponse:
    """The API reference (ReDoc)."""
    return HTMLResponse(_REDOC)
