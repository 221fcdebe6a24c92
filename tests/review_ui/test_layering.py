"""review_ui talks to the service facade only: never to the libraries or the ORM directly.

Pages and form posts reach the database through ``service`` functions, in the request's one
unit of work (``service.http.deps.SessionDep``): review_ui opens no transaction, runs no
query, and imports SQLAlchemy only for the ``Session`` type it passes on.
"""

from __future__ import annotations

import ast
import inspect
from pathlib import Path

import review_ui
from review_ui import dashboard, forms, routes

FORBIDDEN = ("clustering", "judges", "service.storage", "sklearn", "numpy", "torch", "sqlalchemy")
ALLOWED = {("sqlalchemy.orm", "Session")}  # the type of the session handed to service functions
# Session and connection methods that would mean review_ui does the database work itself.
DB_CALLS = frozenset(
    {"transaction", "begin", "begin_nested", "commit", "rollback", "flush", "execute",
     "scalars", "scalar", "query", "add_all", "refresh", "expire_all"}
)  # fmt: skip


def files() -> list[Path]:
    found = sorted(Path(review_ui.__file__).parent.rglob("*.py"))
    assert found
    return found


def imported_names(path: Path) -> set[tuple[str, str | None]]:
    """(module, imported name) for every import; the name is None for ``import module``."""
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[tuple[str, str | None]] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update((alias.name, None) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.update((node.module, alias.name) for alias in node.names)
    return names


def test_review_ui_imports_only_the_service_facade() -> None:
    bad = {
        f"{path.name}: {module}" + (f".{name}" if name else "")
        for path in files()
        for module, name in imported_names(path)
        if any(module == f or module.startswith(f + ".") for f in FORBIDDEN)
        and (module, name) not in ALLOWED
    }
    assert bad == set()


def test_review_ui_opens_no_transaction_and_runs_no_query() -> None:
    found = set()
    for path in files():
        source = path.read_text()
        if ".db.transaction(" in source:
            found.add(f"{path.name}: .db.transaction(")
        for node in ast.walk(ast.parse(source, filename=str(path))):
            if (
                isinstance(node, ast.Call)
                and isinstance(node.func, ast.Attribute)
                and node.func.attr in DB_CALLS
            ):
                found.add(f"{path.name}:{node.lineno}: .{node.func.attr}(")
    assert found == set()


def test_every_page_and_form_handler_is_a_plain_def() -> None:
    """Handlers do blocking database work: FastAPI runs plain ``def`` in its thread pool."""
    handlers = [r for router in (routes.router, forms.router, dashboard.router)
                for r in router.routes]  # fmt: skip
    assert len(handlers) > 20
    assert [r.path for r in handlers if inspect.iscoroutinefunction(r.endpoint)] == []
