"""review_ui talks to the service facade only: never to the libraries or the ORM directly."""

from __future__ import annotations

import ast
from pathlib import Path

import review_ui

FORBIDDEN = ("clustering", "judges", "service.storage", "sklearn", "numpy", "torch")


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text(), filename=str(path))
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
    return names


def test_review_ui_imports_only_the_service_facade() -> None:
    files = sorted(Path(review_ui.__file__).parent.rglob("*.py"))
    assert files
    bad = {
        f"{path.name}: {name}"
        for path in files
        for name in imported_modules(path)
        if any(name == f or name.startswith(f + ".") for f in FORBIDDEN)
    }
    assert bad == set()
