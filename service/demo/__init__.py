"""The demo: project ``demo`` with the Nestling notes, one finished run, a reviewer and a lead."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rich.console import Console
from sqlalchemy import select

from service.auth import Role, add_user, create_key
from service.context import Services
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


def answer_key() -> dict[str, Any]:
    """The intended category of every demo note (for tests): {"categories", "labels"}."""
    data: dict[str, Any] = json.loads((DEMO_DIR / "answer_key.json").read_text())
    return data


def prepare_demo(services: Services) -> DemoInfo:
    """Create (or reuse) the demo project with a finished run ready to review."""
    notes = parse_jsonl((DEMO_DIR / "notes.jsonl").read_bytes(), Limits(10_000, 10_000))
    with services.db.transaction() as session:
        project = get_or_create_project(session, DEMO_PROJECT)
        for username, password, role in DEMO_USERS:
            add_user(session, username, password, project, role)
        keys = {
            role.value: create_key(session, project, role, f"demo-{role.value}")
            for role in (Role.reviewer, Role.lead, Role.client)
        }
        project_id = project.id
        finished = session.scalar(
            select(Run.id)
            .where(Run.project_id == project_id, Run.status == "succeeded")
            .order_by(Run.id.desc())
            .limit(1)
        )
    if finished is None:
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
        run = create_run(services, project, batch_id=result.batch_id, seed=0, created_by="demo")
        if claim_run(services, run.id):
            execute_run(services, run.id, echo=lambda *_: None)
        finished = run.id
    return DemoInfo(DEMO_PROJECT, finished, DEMO_USERS, keys)


def print_demo(info: DemoInfo, base_url: str, console: Console) -> None:
    console.print(
        f"\n[bold]axial demo[/bold]: project {info.project!r}, run {info.run_id} "
        f"ready to review at {base_url}/runs/{info.run_id}"
    )
    for username, password, role in info.users:
        console.print(
            f"  sign in as {role.value}: username [bold]{username}[/bold] "
            f"password [bold]{password}[/bold]"
        )
    console.print(
        "  the run starts in blind mode: a reviewer labels its audit sample first; "
        f"the lead dashboard is {base_url}/projects/{info.project}/dashboard"
    )
    for role_name, key in info.keys.items():
        console.print(f"  API key ({role_name}): {key}")
    console.print(f"  API docs: {base_url}/docs\n")
