"""The demo: project ``demo`` with the Nestling notes, one finished run, a reviewer and a lead."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import select

from service.audit.draw import drawn_notes
from service.auth import Role, add_user, create_key
from service.cli_progress import run_with_progress
from service.context import Services
from service.domain import RunStatus
from service.notes.batches import get_or_create_project, store_batch
from service.notes.ingest import Limits, parse_jsonl
from service.runs.create import create_run
from service.runs.pipeline import execute_run
from service.runs.worker import claim_run
from service.storage.models import Run

DEMO_DIR = Path(__file__).parent
DEMO_PROJECT = "demo"
DEMO_USERS = (("reviewer", "axial-reviewer", Role.reviewer), ("lead", "axial-lead", Role.lead))


@dataclass(frozen=True, slots=True)
class DemoInfo:
    project: str
    run_id: int
    users: tuple[tuple[str, str, Role], ...]
    keys: dict[str, str]
    audit_size: int = 0


def answer_key() -> dict[str, Any]:
    """The intended category of every demo note (for tests): {"categories", "labels"}."""
    data: dict[str, Any] = json.loads((DEMO_DIR / "answer_key.json").read_text())
    return data


def prepare_demo(services: Services, console: Console | None = None) -> DemoInfo:
    """Create (or reuse) the demo project with a finished run ready to review.

    With a ``console``, the first start shows the run's stage lines (``axial run``'s): loading
    the model, or exporting it on the ONNX backend's first use, takes a while.
    """
    with services.db.transaction() as session:
        project = get_or_create_project(session, DEMO_PROJECT)
        for username, password, role in DEMO_USERS:
            add_user(session, username, password, project, role)
        keys = {
            role.value: create_key(session, project, role, f"demo-{role.value}")
            for role in (Role.reviewer, Role.lead, Role.client)
        }
        finished = session.scalar(
            select(Run.id)
            .where(Run.project_id == project.id, Run.status == RunStatus.succeeded)
            .order_by(Run.id.desc())
            .limit(1)
        )
    if finished is None:
        finished = _first_run(services, console)
    with services.db.transaction() as session:
        audit_size = len(drawn_notes(session, finished))
    return DemoInfo(DEMO_PROJECT, finished, DEMO_USERS, keys, audit_size)


def _first_run(services: Services, console: Console | None) -> int:
    """Store the demo notes and run the pipeline over them; the run's id."""
    notes = parse_jsonl((DEMO_DIR / "notes.jsonl").read_bytes(), Limits(10_000, 10_000))
    with services.db.transaction() as session:
        project_id = get_or_create_project(session, DEMO_PROJECT).id
    result = store_batch(
        services.db,
        project_id,
        notes,
        source="jsonl",
        submitted_by="demo",
        idempotency_key="demo-notes-v1",
    )
    with services.db.transaction() as session:
        project = get_or_create_project(session, DEMO_PROJECT)
    if console is None:
        run = create_run(services, project, batch_id=result.batch_id, seed=0, created_by="demo")
        if claim_run(services, run.id):
            execute_run(services, run.id, echo=lambda *_: None)
        return run.id
    console.print(f"preparing the demo: {len(notes)} notes through the pipeline, once")
    return run_with_progress(services, project, result.batch_id, 0, console, created_by="demo")


KEY_NOTES = {Role.reviewer.value: "a reviewer of its own, not the `reviewer` login"}


def print_demo(info: DemoInfo, base_url: str, console: Console) -> None:
    """What a newcomer needs: where to sign in, as whom, the API keys and what each one is.

    Lines are not broken by the console (``soft_wrap``): URLs and keys stay whole to copy.
    """
    api = f"{base_url}/api/v1"
    lines = [
        "",
        f"[bold]axial demo[/bold]: project {info.project!r}, run {info.run_id} ready to review",
        f"  {base_url}/runs/{info.run_id}",
        f"Sign in at {base_url}/login as",
        *(
            f"  {role.value:<9} username [bold]{user:<9}[/bold] password [bold]{password}[/bold]"
            for user, password, role in info.users
        ),
        f"The run starts in blind mode: a reviewer first labels its audit sample "
        f"({info.audit_size} notes) without the judge's proposals; a lead is never gated.",
        f"Lead dashboard: {base_url}/projects/{info.project}/dashboard",
        "",
        "API keys (send `Authorization: Bearer KEY`; new ones at every start):",
        *(
            f"  {role:<9} {key}  {KEY_NOTES.get(role, '')}".rstrip()
            for role, key in info.keys.items()
        ),
        "A key and a login are two reviewers, each with a blind audit of its own: labels given "
        "as the `reviewer` login do not unlock the reviewer key, nor the other way round. "
        f"Until the key has labelled {api}/runs/{info.run_id}/audit, its reads of proposals "
        "answer 409 must_audit_first. Review as one of them, or audit as both: two reviewers' "
        "blind labels also measure how often people disagree (human_noise).",
        "",
        f"Try: curl -s -H 'Authorization: Bearer {info.keys.get(Role.lead.value, 'KEY')}' "
        f"{api}/runs/{info.run_id}",
        f"API docs: {base_url}/docs",
        "",
    ]
    for line in lines:
        console.print(line, soft_wrap=True)
