"""The ``axial`` command: serve, worker, ingest, run, categories, db upgrade, keys, users.

Every command works on the database named by ``--db`` or ``AXIAL_DATABASE_URL``
(default ``sqlite:///axial.db``).
"""

from __future__ import annotations

import json
import logging
import os
import signal
import sys
import threading
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn
from rich.table import Table

from service.domain import Role, RunStatus
from service.errors import NotFound, ServiceError

if TYPE_CHECKING:
    from service.context import Services
    from service.settings import Settings

app = typer.Typer(
    help="axial: notes on LLM traces in, a counted failure taxonomy out.",
    no_args_is_help=True,
    add_completion=False,
)
db_app = typer.Typer(help="Database maintenance.", no_args_is_help=True)
keys_app = typer.Typer(help="API keys.", no_args_is_help=True)
users_app = typer.Typer(help="UI logins.", no_args_is_help=True)
app.add_typer(db_app, name="db")
app.add_typer(keys_app, name="keys")
app.add_typer(users_app, name="users")
console = Console(stderr=True)
_state: dict[str, Any] = {}


def _remember_db(value: str | None) -> str | None:
    if value:
        _state["db"] = value
    return value


ProjectOpt = Annotated[str, typer.Option("--project", "-p", help="Project name.")]
# --db before the command (`axial --db URL keys create …`) or after it (`axial keys create … --db URL`)
DbOpt = Annotated[
    str | None,
    typer.Option(
        "--db",
        help="Database URL (else AXIAL_DATABASE_URL).",
        callback=_remember_db,
        expose_value=False,
    ),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Print JSON for scripts.")]


@app.callback()
def main(
    db: Annotated[
        str | None, typer.Option("--db", help="Database URL (else AXIAL_DATABASE_URL).")
    ] = None,
) -> None:
    _remember_db(db)


def settings() -> Settings:
    from service.settings import Settings  # pydantic-settings: not for `axial --help`

    return Settings(database_url=_state["db"]) if _state.get("db") else Settings()


def services() -> Services:
    from service.context import Services

    if "services" not in _state:
        _state["services"] = Services.build(settings())
    services_: Services = _state["services"]
    return services_


def existing_services() -> Services:
    """:func:`services` for a read-only command: a SQLite file that is not there is an error
    (exit 2), not a new empty database created in the current folder."""
    from pathlib import Path

    from sqlalchemy.engine import make_url

    url = make_url(settings().database_url)
    path = url.database if url.get_backend_name() == "sqlite" else None
    if path and path != ":memory:" and not Path(path).exists():
        console.print(
            f"[red]error[/red]: no database at {path}: name one with --db URL or "
            "AXIAL_DATABASE_URL (`make demo`'s is sqlite:///axial-demo.db)",
            soft_wrap=True,
        )
        raise typer.Exit(code=2)
    return services()


def fail(exc: ServiceError) -> typer.Exit:
    console.print(f"[red]error[/red]: {exc.message}")
    if isinstance(exc, NotFound) and exc.detail.get("field") == "project":  # another db file?
        from sqlalchemy.engine import make_url

        url = make_url(settings().database_url).render_as_string(hide_password=True)
        console.print(
            f"  (in {url}; name another database with --db URL or AXIAL_DATABASE_URL: "
            "`make demo`'s is sqlite:///axial-demo.db)",
            soft_wrap=True,
        )
    return typer.Exit(code=2)


@app.command()
def serve(
    demo: Annotated[
        bool, typer.Option("--demo", help="Create the demo project and run first.")
    ] = False,
    host: Annotated[str, typer.Option(help="Interface to bind.")] = "127.0.0.1",
    port: Annotated[int, typer.Option(help="Port to listen on.")] = 8000,
    with_worker: Annotated[
        bool,
        typer.Option(
            "--worker/--no-worker",
            help="Execute queued runs in this process (default); --no-worker leaves them to "
            "`axial worker` processes.",
        ),
    ] = True,
    processes: Annotated[
        int,
        typer.Option(
            "--processes",
            min=1,
            max=64,
            help="Web processes answering on the port (uvicorn workers): 2 on a 2-core machine "
            "under many reviewers. Each keeps its own sign-in throttle (N processes allow up to "
            "N times the failed sign-ins) and caches; SQLite writers of all take turns through "
            "a lock file beside the database; the run worker stays in this process.",
        ),
    ] = 1,
    db: DbOpt = None,
) -> None:
    """Serve the API and the review UI."""
    import uvicorn

    from service.app import create_app
    from service.runs.worker import fail_dead_runs

    cfg = settings()
    application = create_app(cfg, start_worker=with_worker)
    svc = application.state.services
    _report_dead(fail_dead_runs(svc))  # at once, also when --no-worker
    if demo:
        from service.demo import prepare_demo, print_demo

        print_demo(prepare_demo(svc, console), f"http://{host}:{port}", console)
    if processes == 1:
        uvicorn.run(application, host=host, port=port, log_level="info")
        return
    _serve_processes(cfg, application, with_worker, host, port, processes)


def _serve_processes(
    cfg: Settings, application: Any, with_worker: bool, host: str, port: int, processes: int
) -> None:
    """``processes`` uvicorn workers, each building the app from the environment (this
    process's database and one session secret for all, so any of them reads a cookie another
    signed); queued runs execute in this process's worker thread."""
    import secrets

    import uvicorn

    os.environ["AXIAL_DATABASE_URL"] = cfg.database_url
    if cfg.session_secret is None:
        os.environ["AXIAL_SESSION_SECRET"] = secrets.token_urlsafe(32)
    worker = application.state.worker
    if with_worker:
        worker.start()
    try:
        uvicorn.run(
            "service.app:app_from_environment", factory=True, workers=processes, host=host,
            port=port, log_level="info",
        )  # fmt: skip
    finally:
        worker.stop()


@app.command()
def worker(
    once: Annotated[
        bool, typer.Option("--once", help="Execute the queued runs, then exit.")
    ] = False,
    warm_up: Annotated[
        bool,
        typer.Option(
            "--warm-up/--no-warm-up",
            help="Load the model and compile the clustering kernels before the first run.",
        ),
    ] = True,
    poll: Annotated[
        float, typer.Option(min=0.05, help="Seconds between polls of an empty queue.")
    ] = 0.5,
    db: DbOpt = None,
) -> None:
    """Execute queued runs until stopped (SIGINT/SIGTERM release the run in hand).

    Any number of workers, on any machines, can share one PostgreSQL database; each run is
    executed by exactly one of them. On SIGINT or SIGTERM the worker stops claiming, puts the
    run it holds back in the queue (for itself later or another worker: results are stored only
    when a run succeeds, and its embeddings are cached) and exits 0. With ``--once`` it exits
    when the queue is empty: 0, or 1 when a run it executed failed. At start (and at every
    poll) it fails the runs held by workers on this host whose process no longer exists.
    """
    from service.runs.worker import Worker, fail_dead_runs, new_worker_id

    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    logging.getLogger("alembic").setLevel(logging.WARNING)  # not "Context impl SQLiteImpl."
    svc = services()
    _report_dead(fail_dead_runs(svc))  # at once, before the model loads
    runner = Worker(svc, poll_s=poll, warm=warm_up, once=once, worker_id=new_worker_id())
    stop = threading.Event()

    def on_signal(signum: int, _frame: object) -> None:
        typer.echo(f"{signal.Signals(signum).name}: stopping", err=True)
        stop.set()

    signal.signal(signal.SIGINT, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    url = svc.db.engine.url.render_as_string(hide_password=True)
    typer.echo(f"worker {runner.worker_id} on {url}", err=True)  # plain: scripts read it
    runner.start()
    while runner.is_alive() and not stop.wait(0.2):
        pass
    released = runner.stop(timeout=0)
    if released is not None:
        typer.echo(f"run {released} released back to the queue", err=True)
    failed = _failed_runs(svc, runner.executed)
    typer.echo(f"runs executed: {len(runner.executed)}, failed: {len(failed)}", err=True)
    code = 1 if once and failed else 0
    if runner.is_alive():  # still computing the released run: do not wait for it
        svc.db.dispose()
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)
    raise typer.Exit(code=code)


def _report_dead(run_ids: list[int]) -> None:
    """Say which runs a starting process failed because their worker on this host is gone."""
    for run_id in run_ids:
        typer.echo(f"run {run_id} failed: its worker is gone", err=True)


def _failed_runs(svc: Any, run_ids: list[int]) -> list[int]:
    from sqlalchemy import select

    from service.storage.models import Run

    if not run_ids:
        return []
    with svc.db.transaction() as session:
        return list(
            session.scalars(
                select(Run.id).where(Run.id.in_(run_ids), Run.status == RunStatus.failed)
            )
        )


@app.command()
def ingest(
    file: Annotated[Path, typer.Argument(exists=True, dir_okay=False, help="CSV or JSONL file.")],
    project: ProjectOpt,
    db: DbOpt = None,
) -> None:
    """Store the notes of a CSV/JSONL file (text, id/external_id, trace_id, author columns)."""
    from service.notes.batches import get_or_create_project, store_batch
    from service.notes.ingest import Limits, parse_csv, parse_jsonl

    svc = services()
    limits = Limits(svc.settings.max_note_chars, 10**9)
    parse = parse_csv if file.suffix.lower() == ".csv" else parse_jsonl
    try:
        notes = parse(file.read_bytes(), limits)
        with svc.db.transaction() as session:
            project_id = get_or_create_project(session, project).id
    except ServiceError as exc:
        raise fail(exc) from exc
    size = svc.settings.max_batch_notes
    stored = dupes = 0
    with _progress() as bar:
        task = bar.add_task("ingest", total=len(notes))
        for start in range(0, len(notes), size):
            chunk = notes[start : start + size]
            result = store_batch(
                svc.db, project_id, chunk, source=file.suffix.lstrip("."), submitted_by="cli"
            )
            stored, dupes = stored + result.n_stored, dupes + result.n_duplicates
            bar.update(task, advance=len(chunk))
    console.print(f"{stored} notes stored, {dupes} duplicates skipped, project {project!r}")


@app.command()
def run(
    project: ProjectOpt,
    batch: Annotated[int | None, typer.Option(help="Cluster only this batch.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed (default from settings).")] = None,
    as_json: JsonOpt = False,
    db: DbOpt = None,
) -> None:
    """Embed, cluster and judge the project's notes not yet decided (or one batch)."""
    from service.auth import project_by_name
    from service.cli_progress import run_with_progress

    svc = services()
    try:
        with svc.db.transaction() as session:
            proj = project_by_name(session, project)
        run_id = run_with_progress(svc, proj, batch, seed, console)
    except ServiceError as exc:
        raise fail(exc) from exc
    finished = _finished_run(svc, run_id)
    if as_json:
        typer.echo(json.dumps(finished, indent=2, default=str))
    else:
        _print_run(finished)
    if finished["run"]["status"] != RunStatus.succeeded:
        raise typer.Exit(code=1)


def _finished_run(svc: Any, run_id: int) -> dict[str, Any]:
    from service.review import views
    from service.runs.create import get_run
    from service.runs.read import run_row

    current = get_run(svc, run_id)
    with svc.db.transaction() as session:
        proposals = views.run_proposals(session, run_id)
        run = run_row(session, current).to_json()
    return {
        "run": run,
        "proposals": [
            {
                "id": p.row.proposal_id,
                "name": p.row.name,
                "definition": p.definition,
                "judge_id": p.row.judge_id,
                "judge_failed": p.row.judge_failed,
                "count": p.row.size,
                "keywords": p.keywords,
                "members": [m.external_id for m in p.members],
            }
            for p in proposals
        ],
    }


def _print_run(finished: dict[str, Any]) -> None:
    r = finished["run"]
    if r["status"] != RunStatus.succeeded:
        console.print(f"[red]run {r['id']} {r['status']}[/red]: {r['error']}")
        return
    out = Console()
    out.print(  # a heading line, not the table's title: a title wraps to the table's width
        f"run {r['id']}: {r['n_notes']} notes, {r['n_clusters']} proposals, "
        f"{r['n_unclustered']} unclustered · judge {r['judge_id']}",
        style="bold",
    )
    table = Table()
    table.add_column("proposal", justify="right")
    table.add_column("notes", justify="right")
    table.add_column("name")
    for p in finished["proposals"]:
        table.add_row(str(p["id"]), str(p["count"]), p["name"])
    out.print(table)


@app.command()
def categories(project: ProjectOpt, as_json: JsonOpt = False, db: DbOpt = None) -> None:
    """Confirmed categories with counts, and the latest run's proposals still pending review."""
    from service.auth import project_by_name
    from service.review import views

    svc = existing_services()
    try:
        with svc.db.transaction() as session:
            proj = project_by_name(session, project)
            confirmed = views.project_categories(session, proj.id)
            run_id, pending = views.pending_proposals(session, proj.id)
    except ServiceError as exc:
        raise fail(exc) from exc
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "project": project,
                    "categories": [c.to_json() for c in confirmed],
                    "pending_run_id": run_id,
                    "pending": [
                        {
                            "id": p.proposal_id,
                            "name": p.name,
                            "count": p.size,
                            "judge_id": p.judge_id,
                        }
                        for p in pending
                    ],
                },
                indent=2,
            )
        )
        return
    out = Console()
    if confirmed:
        out.print(f"confirmed categories of {project}", style="bold")
        table = Table()
        for column in ("notes", "of", "category"):
            table.add_column(column, justify="left" if column == "category" else "right")
        for c in confirmed:
            table.add_row(str(c.count), str(c.of), c.name)
        out.print(table)
    else:
        out.print(
            f"{project} has no confirmed categories yet: a reviewer confirms a run's proposals "
            "in the review UI (axial serve) or through the API."
        )
    if pending:
        out.print(
            f"proposed by run {run_id}, pending human review (not yet categories)", style="bold"
        )
        table = Table()
        for column in ("notes", "proposal", "judge"):
            table.add_column(column, justify="right" if column == "notes" else "left")
        for p in pending:
            table.add_row(str(p.size), p.name, p.judge_id)
        out.print(table)


@app.command("export")
def export_category(
    project: ProjectOpt,
    category: Annotated[int, typer.Option(help="Category id (see `axial categories --json`).")],
    fmt: Annotated[str, typer.Option("--format", help="jsonl or csv.")] = "jsonl",
    db: DbOpt = None,
) -> None:
    """Print a confirmed category's notes as golden eval cases."""
    from service.auth import project_by_name
    from service.notes import export

    try:
        with existing_services().db.transaction() as session:
            proj = project_by_name(session, project)
            cases = export.golden_cases(session, proj.id, category)
    except ServiceError as exc:
        raise fail(exc) from exc
    typer.echo(export.to_csv(cases) if fmt == "csv" else export.to_jsonl(cases), nl=False)


@db_app.command("upgrade")
def db_upgrade(db: DbOpt = None) -> None:
    """Apply all migrations."""
    from service.storage.db import Database

    Database(settings().database_url).upgrade()
    console.print("database is up to date")


def _in_project(project: str, work: Any) -> Any:
    """Run ``work(session, project)`` in one transaction, creating the project if needed."""
    from service.notes.batches import get_or_create_project

    try:
        with services().db.transaction() as session:
            return work(session, get_or_create_project(session, project))
    except ServiceError as exc:
        raise fail(exc) from exc


@keys_app.command("create")
def keys_create(
    project: ProjectOpt,
    role: Annotated[Role, typer.Option(help="Role of the key.")],
    name: Annotated[str, typer.Option(help="A name for the key.")] = "cli",
    db: DbOpt = None,
) -> None:
    """Print a new API key (shown once; stored hashed). Creates the project if needed."""
    from service.auth import create_key

    typer.echo(_in_project(project, lambda session, proj: create_key(session, proj, role, name)))


@users_app.command("add")
def users_add(
    username: Annotated[str, typer.Argument(help="Login name.")],
    project: ProjectOpt,
    role: Annotated[Role, typer.Option(help="Role in the project.")] = Role.reviewer,
    password: Annotated[
        str, typer.Option(prompt=True, hide_input=True, confirmation_prompt=True)
    ] = "",
    db: DbOpt = None,
) -> None:
    """Create a UI login with a role in a project (or change an existing one's)."""
    from service.auth import add_user

    _in_project(project, lambda session, proj: add_user(session, username, password, proj, role))
    console.print(f"user {username!r} is {role.value} of {project!r}")


def _progress() -> Progress:
    return Progress(
        TextColumn("{task.description:>8}"),
        BarColumn(),
        MofNCompleteColumn(),
        TimeElapsedColumn(),
        console=console,
    )
