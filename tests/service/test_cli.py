"""The axial command against a real database: ingest, run, categories, keys, users, db upgrade."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from typer.testing import CliRunner

from clustering import SentenceTransformerEmbedder
from service.cli import _state, app
from service.demo import DEMO_DIR
from service.settings import Settings
from service.storage.models import ApiKey, Run

runner = CliRunner()


def axial(db_url: str, *args: str, stdin: str | None = None) -> Any:
    _state.clear()
    result = runner.invoke(app, ["--db", db_url, *args], input=stdin)
    _state.clear()
    return result


def test_ingest_run_categories(db_url: str, tmp_path: Path) -> None:
    sample = tmp_path / "notes.csv"
    lines = (DEMO_DIR / "notes.jsonl").read_text().splitlines()[:60]
    rows = [json.loads(line) for line in lines]
    with sample.open("w") as out:
        out.write("id,text,author,trace_id\n")
        for r in rows:
            text = r["text"].replace('"', '""')
            out.write(f'{r["external_id"]},"{text}",{r["author"]},{r["trace_id"]}\n')
    first = axial(db_url, "ingest", str(sample), "--project", "cli")
    assert first.exit_code == 0, first.output
    assert "60 notes stored, 0 duplicates skipped" in first.output
    again = axial(db_url, "ingest", str(sample), "--project", "cli")
    assert "0 notes stored, 60 duplicates skipped" in again.output
    result = axial(db_url, "run", "--project", "cli", "--json")
    assert result.exit_code == 0, result.output
    body = json.loads(result.stdout[result.stdout.index("{") :])
    assert body["run"]["status"] == "succeeded" and body["run"]["project"] == "cli"
    members = [m for p in body["proposals"] for m in p["members"]]
    assert set(members) <= {r["external_id"] for r in rows}
    assert len(members) + body["run"]["n_unclustered"] == 60
    cats = axial(db_url, "categories", "--project", "cli", "--json")
    assert cats.exit_code == 0, cats.output
    listed = json.loads(cats.stdout)
    assert listed["categories"] == [] and listed["pending_run_id"] == body["run"]["id"]
    assert sorted(p["count"] for p in listed["pending"]) == sorted(
        p["count"] for p in body["proposals"]
    )
    table = axial(db_url, "categories", "--project", "cli")
    assert "pending human review" in table.stdout


def test_cli_errors_are_clear(db_url: str, tmp_path: Path) -> None:
    bad = tmp_path / "bad.jsonl"
    bad.write_text('{"text": "fine"}\n{"text": \n')
    result = axial(db_url, "ingest", str(bad), "--project", "p")
    assert result.exit_code == 2 and "line 2" in result.output
    assert "no project named 'nope'" in axial(db_url, "run", "--project", "nope").output
    assert axial(db_url, "keys", "create", "--project", "p", "--role", "boss").exit_code == 2


def test_keys_and_users(db_url: str) -> None:
    made = axial(db_url, "keys", "create", "--project", "k", "--role", "reviewer", "--name", "ci")
    assert made.exit_code == 0, made.output
    key = made.stdout.strip()
    assert key.startswith("axk_") and len(key) > 30
    from service.storage.db import Database

    db = Database(db_url)
    with db.transaction() as session:
        row = session.scalar(select(ApiKey))
        assert row is not None and row.role == "reviewer" and row.name == "ci"
        assert key not in row.key_hash and row.key_hash != key  # stored hashed only
    db.dispose()
    added = axial(
        db_url,
        "users",
        "add",
        "maya",
        "--project",
        "k",
        "--role",
        "lead",
        stdin="s3cret-pass\ns3cret-pass\n",
    )
    assert added.exit_code == 0, added.output
    short = axial(db_url, "users", "add", "li", "--project", "k", "--password", "short")
    assert short.exit_code == 2 and "at least 8" in short.output
    assert axial(db_url, "db", "upgrade").exit_code == 0


def test_a_killed_run_is_marked_interrupted_and_nothing_is_lost(
    db_url: str, tmp_path: Path, embedder: Any
) -> None:
    """Kill the process mid-run; the next service start marks the run failed, notes intact."""
    assert axial(db_url, "ingest", str(DEMO_DIR / "notes.jsonl"), "--project", "k").exit_code == 0
    env = {**os.environ, "HF_HUB_OFFLINE": "1"}
    proc = subprocess.Popen(
        [sys.executable, "-m", "service", "--db", db_url, "run", "--project", "k"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    from service.storage.db import Database

    db = Database(db_url)
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        with db.transaction() as session:
            run = session.scalar(select(Run))
            if run is not None and run.status == "running" and run.stage in ("embed", "cluster"):
                break
        time.sleep(0.05)
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    with db.transaction() as session:
        assert session.scalar(select(Run)).status == "running"
    time.sleep(1.0)
    from service.app import create_app

    settings = Settings(database_url=db_url, run_stale_after_s=0.5)
    application = create_app(settings, embedder=embedder, warm_up=False)
    with TestClient(application):
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with db.transaction() as session:
                run = session.scalar(select(Run))
            if run.status == "failed":
                break
            time.sleep(0.1)
    # marked failed: by the heartbeat's staleness ("interrupted"), or at once because its
    # worker's process on this host is gone (service.runs.worker.fail_dead_runs)
    error = run.error or ""
    assert run.status == "failed" and ("interrupted" in error or "is gone" in error), error
    assert run.stage in ("embed", "cluster")
    db.dispose()
    again = axial(db_url, "run", "--project", "k", "--json")
    assert again.exit_code == 0, again.output


def test_db_is_taken_before_or_after_the_command(tmp_path: Path) -> None:
    before, after = tmp_path / "before.db", tmp_path / "after.db"
    _state.clear()
    first = runner.invoke(
        app, ["--db", f"sqlite:///{before}", "keys", "create", "-p", "a", "--role", "lead"]
    )
    _state.clear()
    second = runner.invoke(
        app, ["keys", "create", "-p", "b", "--role", "client", "--db", f"sqlite:///{after}"]
    )
    _state.clear()
    assert first.exit_code == 0 and second.exit_code == 0, first.output + second.output
    assert before.exists() and after.exists()
    listed = runner.invoke(app, ["categories", "-p", "b", "--json", "--db", f"sqlite:///{after}"])
    _state.clear()
    assert json.loads(listed.output)["project"] == "b"
    missing = runner.invoke(app, ["categories", "-p", "a", "--db", f"sqlite:///{after}"])
    _state.clear()
    assert missing.exit_code != 0 and "a" in missing.output  # project a is in the other file


def test_categories_says_when_nothing_is_confirmed_yet(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'empty.db'}"
    _state.clear()
    runner.invoke(app, ["--db", url, "keys", "create", "-p", "fresh", "--role", "lead"])
    result = runner.invoke(app, ["--db", url, "categories", "-p", "fresh"])
    _state.clear()
    assert result.exit_code == 0
    assert "no confirmed categories yet" in " ".join(result.output.split())


THIRD_PARTY = ("it/s", "%|", "Loading weights", "WARNING")
"""What tqdm, transformers' weight loading and onnxruntime's quantizer print when left alone."""


def axial_process(
    db_url: str, *args: str, timeout: float = 240
) -> subprocess.CompletedProcess[str]:
    """``axial --db URL args…`` in a fresh process on the torch backend, which loads the model
    through transformers (its "Loading weights" bar) in every process."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "AXIAL_EMBEDDING_BACKEND": "torch"}
    for name in ("HF_HUB_DISABLE_PROGRESS_BARS", "TRANSFORMERS_VERBOSITY", "TQDM_DISABLE"):
        env.pop(name, None)  # as a newcomer's shell has them: unset
    command = [sys.executable, "-m", "service", "--db", db_url, *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=timeout)


def test_run_shows_every_stage_and_no_third_party_progress(tmp_path: Path) -> None:
    """One process of ``axial run`` (SQLite: the lines come from the pipeline, whatever the
    database; tests/service/test_runs_api.py covers the stages on both)."""
    db_url = f"sqlite:///{tmp_path / 'quiet.db'}"
    sample = tmp_path / "notes.jsonl"
    sample.write_text("\n".join((DEMO_DIR / "notes.jsonl").read_text().splitlines()[:40]))
    assert axial(db_url, "ingest", str(sample), "--project", "quiet").exit_code == 0
    ran = axial_process(db_url, "run", "--project", "quiet")
    assert ran.returncode == 0, ran.stderr
    printed = ran.stdout + ran.stderr
    assert [bad for bad in THIRD_PARTY if bad in printed] == [], printed
    shown = [line.split()[0] for line in ran.stderr.splitlines() if line.strip()]
    stages = ["start", "model", "load", "embed", "match", "cluster", "judge", "store"]
    assert shown == stages, ran.stderr
    assert "40/40" in ran.stderr  # the embed line counts notes
    heading = ran.stdout.splitlines()[0]  # on one line, not wrapped to the table's width
    assert heading.startswith("run 1: 40 notes,") and heading.endswith("judge keyword-not-an-llm")


def test_loading_the_model_prints_no_progress_bar(capfd: pytest.CaptureFixture[str]) -> None:
    """Every command loads the model through these classes (``serve``, ``worker``, the demo)."""
    fresh = SentenceTransformerEmbedder()  # a new instance loads the weights again
    assert fresh.embed_batch(["a note"]).shape == (1, 384)
    out, err = capfd.readouterr()
    assert [bad for bad in THIRD_PARTY if bad in out + err] == [], out + err


def test_the_demo_says_the_reviewer_key_is_not_the_reviewer_login() -> None:
    from io import StringIO

    from rich.console import Console

    from service.demo import DEMO_USERS, DemoInfo, print_demo

    keys = {"reviewer": "axk_r", "lead": "axk_l", "client": "axk_c"}
    out = StringIO()
    print_demo(
        DemoInfo("demo", 7, DEMO_USERS, keys, 30), "http://127.0.0.1:8766", Console(file=out)
    )
    text = out.getvalue()
    assert "reviewer  axk_r  a reviewer of its own, not the `reviewer` login" in text
    assert "each with a blind audit of its own" in text and "409 must_audit_first" in text
    assert "http://127.0.0.1:8766/api/v1/runs/7/audit" in text and "(30 notes)" in text
    assert "Bearer axk_l' http://127.0.0.1:8766/api/v1/runs/7" in text  # curl with the lead key


def test_stage_lines_only_move_forward_and_every_stage_gets_one() -> None:
    from io import StringIO

    from rich.console import Console

    from service.cli_progress import RunProgress

    view = RunProgress(Console(file=StringIO()))
    with view:
        view.update("embed", 5, 10)
        view.update("load", 0, 0)  # a stale read of the run row: ignored
        view.update("embed", 3, 10)  # fewer than shown: ignored
        embed = view.bar.tasks[-1]
        assert (embed.description, embed.completed, embed.total) == ("embed", 5, 10)
        view.update("judge", 1, 4)  # match and cluster passed between two reads
        view.finish(ok=True, timings={"cluster": 1.5, "reduce": 0.5})
    assert view.shown == ["load", "embed", "match", "cluster", "judge", "store"]
    tasks = {t.description: t for t in view.bar.tasks}
    assert all(t.finished for t in tasks.values())
    assert tasks["cluster"].fields["seconds"] == 1.5 and tasks["judge"].fields["count"] == "4/4"

    failing = RunProgress(Console(file=StringIO()))
    with failing:
        failing.update("embed", 40, 40)
        failing.finish(ok=False, failed_at="cluster")  # failed before a poll saw it begin
    assert failing.shown == ["load", "embed", "match", "cluster"]  # nothing after the failure
    assert failing.bar.tasks[1].fields["count"] == "40/40"
    assert failing.bar.tasks[-1].fields["count"] == "failed"


def test_the_pipeline_tells_every_stage_as_it_begins(
    db_url: str, tmp_path: Path, embedder: Any
) -> None:
    """``axial run`` hears ``cluster`` and ``store`` begin from the pipeline itself, not from a
    later read of the run row (clustering's kernels hold the interpreter: no poll runs)."""
    from service.auth import project_by_name
    from service.context import Services
    from service.runs.create import create_run
    from service.runs.pipeline import execute_run
    from service.runs.worker import claim_run

    sample = tmp_path / "notes.jsonl"
    sample.write_text("\n".join((DEMO_DIR / "notes.jsonl").read_text().splitlines()[:40]))
    assert axial(db_url, "ingest", str(sample), "--project", "told").exit_code == 0
    svc = Services.build(Settings(database_url=db_url), embedder=embedder)
    with svc.db.transaction() as session:
        project = project_by_name(session, "told")
    run = create_run(svc, project, batch_id=None, seed=None)
    assert claim_run(svc, run.id)
    heard: list[tuple[str, int, int]] = []
    execute_run(svc, run.id, echo=lambda *told: heard.append(told))
    svc.db.dispose()
    first = {stage: (done, total) for stage, done, total in reversed(heard)}
    order = list(dict.fromkeys(stage for stage, _, _ in heard))
    assert order == ["load", "embed", "match", "cluster", "judge", "store"], heard
    assert first["load"] == (0, 0) and first["embed"] == (0, 40) and first["match"] == (0, 40)
    assert first["cluster"] == (0, 40) and first["store"] == (0, 1)
    assert heard[-1] == ("store", 0, 1) and ("embed", 40, 40) in heard


def test_an_unknown_project_names_the_database_it_was_looked_for_in(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'other.db'}"
    _state.clear()
    made = runner.invoke(app, ["--db", url, "keys", "create", "-p", "else", "--role", "lead"])
    assert made.exit_code == 0, made.output
    _state.clear()
    result = runner.invoke(app, ["--db", url, "categories", "-p", "demo"])
    _state.clear()
    text = " ".join(result.output.split())
    assert result.exit_code == 2 and "no project named 'demo'" in text
    assert f"(in {url};" in text and "sqlite:///axial-demo.db" in text


def test_read_only_commands_do_not_create_a_database(tmp_path: Path) -> None:
    nowhere = tmp_path / "typo.db"
    for args in (["categories", "-p", "demo"], ["export", "-p", "demo", "--category", "1"]):
        _state.clear()
        result = runner.invoke(app, ["--db", f"sqlite:///{nowhere}", *args])
        _state.clear()
        assert result.exit_code == 2, result.output
        assert "no database at" in " ".join(result.output.split())
        assert not nowhere.exists()
