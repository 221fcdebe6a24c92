"""Commands that only read or write the database start fast: they import no model stack.

``axial --help``, ``categories``, ``keys``, ``users``, ``export`` and ``db upgrade`` are run in a
fresh interpreter (the way a shell runs them) and must leave torch, sentence-transformers,
transformers, onnxruntime, UMAP, numba, scikit-learn, SciPy and the openai SDK unimported: those are
what made them take seconds. NumPy too: only ranking and splitting need it (0.1–0.15 s of every
``categories`` start). Checked on ``sys.modules``, not on a timing.
"""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HEAVY = (
    "torch",
    "sentence_transformers",
    "transformers",
    "onnxruntime",
    "umap",
    "numba",
    "sklearn",
    "scipy",
    "openai",
    "numpy",
)
CODE = """
import json, sys
from service.cli import _state, app
done = []
for args in json.loads(sys.argv[1]):
    _state.clear()
    try:
        app(args, prog_name="axial")
    except SystemExit as exc:
        done.append(exc.code)
heavy = [m for m in json.loads(sys.argv[2]) if m in sys.modules]
print(json.dumps({"exit_codes": done, "heavy": heavy}))
"""


def run_cli(*commands: list[str], heavy: tuple[str, ...] = HEAVY) -> dict[str, list[object]]:
    out = subprocess.run(
        [sys.executable, "-c", CODE, json.dumps(commands), json.dumps(heavy)],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    result: dict[str, list[object]] = json.loads(out.stdout.strip().splitlines()[-1])
    return result


def test_help_imports_no_model_stack() -> None:
    assert run_cli(["--help"]) == {"exit_codes": [0], "heavy": []}


def test_help_imports_no_database_layer_either() -> None:
    layer = ("sqlalchemy", "alembic", "pydantic_settings", "service.storage.models")
    assert run_cli(["--help"], heavy=layer) == {"exit_codes": [0], "heavy": []}


def test_database_commands_import_no_model_stack(tmp_path: Path) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'axial.db'}"]
    result = run_cli(
        [*db, "db", "upgrade"],
        [*db, "keys", "create", "--project", "p", "--role", "lead"],
        [*db, "users", "add", "ana", "--project", "p", "--password", "correct horse"],
        [*db, "categories", "--project", "p", "--json"],
        [*db, "categories", "--project", "p"],
        [*db, "export", "--project", "p", "--category", "1"],  # no such category: exit 2
    )
    assert result == {"exit_codes": [0, 0, 0, 0, 0, 2], "heavy": []}


def test_a_database_at_head_is_not_handed_to_alembic(tmp_path: Path) -> None:
    db = ["--db", f"sqlite:///{tmp_path / 'axial.db'}"]
    assert run_cli([*db, "db", "upgrade"]) == {"exit_codes": [0], "heavy": []}
    result = run_cli(
        [*db, "keys", "create", "--project", "p", "--role", "lead"],
        [*db, "categories", "--project", "p"],
        [*db, "db", "upgrade"],  # already at head: nothing to do
        heavy=("alembic", "mako"),
    )
    assert result == {"exit_codes": [0, 0, 0], "heavy": []}


def test_the_web_app_imports_no_model_stack() -> None:
    """``axial serve`` builds the app in each web process; a run imports the model stack in the
    worker when it needs it (scikit-learn and SciPy's statistics were 1 s of every start)."""
    heavy = [m for m in HEAVY if m not in ("numpy", "scipy")] + ["scipy.stats"]
    code = "import json, sys; import service.app; print(json.dumps([m for m in sys.argv[1:] if m in sys.modules]))"
    out = subprocess.run(
        [sys.executable, "-c", code, *heavy], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads(out.stdout.strip().splitlines()[-1]) == []
