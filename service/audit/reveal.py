"""The judge reveal: when anything of the judge's for a run was first shown to someone.

A blind label is only blind while its author has not seen the judge's work for the run. So
every path that shows or acts on that work records, once per (run, actor), the moment it was
first revealed: the run's proposals, queue or unclustered notes (UI or API), a proposal, a
suggested split, a claim, any workflow action, and a lead's agreement figures of the run.
Those paths all pass the blind-first gate first (:func:`service.audit.gate.require_audit_done`),
which calls :func:`reveal` once the gate lets the caller through, so no read path can forget it.

Identity is the caller's ``actor`` (key or user id), never the display name. The record is
insert-only (``judge_reveal``, unique per run and actor): the first reveal wins. Reading it
first and inserting only when it is missing keeps reads from taking SQLite's write lock; a
concurrent first reveal is absorbed by ``ON CONFLICT DO NOTHING``.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from sqlalchemy import bindparam, func, select
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.orm import Session

from service.auth import Principal
from service.storage.db import read
from service.storage.models import JudgeReveal, ReviewEvent, Run, utcnow


def revealed_at(session: Session, run_id: int, actor: str) -> datetime | None:
    """When the judge's work for the run was first shown to ``actor`` (``None``: never)."""
    found: datetime | None = session.scalar(
        select(JudgeReveal.revealed_at).where(
            JudgeReveal.run_id == run_id, JudgeReveal.actor_id == actor
        )
    )
    return found


def revealed_runs(session: Session, actor: str, run_ids: Iterable[int]) -> set[int]:
    """The runs among ``run_ids`` whose judge output ``actor`` has seen."""
    ids = sorted(set(run_ids))
    if not ids:
        return set()
    rows = read(session, _REVEALED, {"actor": actor, "ids": ids}).scalars()
    return {int(r) for r in rows}


# Read on every review request (the gate): built once (service.storage.db.read).
_REVEALED = select(JudgeReveal.run_id).where(
    JudgeReveal.actor_id == bindparam("actor"),
    JudgeReveal.run_id.in_(bindparam("ids", expanding=True)),
)


def reveal(session: Session, run: Run, principal: Principal, via: str = "proposals") -> None:
    """Record (once) that the judge's work for ``run`` is being shown to ``principal``.

    Args:
        session: The request's transaction; the record commits with what it shows.
        run: The run whose proposals, queue or unclustered notes are shown or acted on.
        principal: Who sees it.
        via: What showed it, for the record ("proposals", "agreement", …).
    """
    reveal_runs(session, run.project_id, [run.id], principal, via)


def reveal_runs(
    session: Session, project_id: int, run_ids: Iterable[int], principal: Principal, via: str
) -> None:
    """:func:`reveal` for several runs of a project (a lead's agreement figures show the
    judge's proposals of every run in their scope)."""
    ids = sorted(set(run_ids))
    seen = revealed_runs(session, principal.actor, ids)
    missing = [r for r in ids if r not in seen]
    if not missing:
        return
    watermark = session.scalar(
        select(func.max(ReviewEvent.id)).where(ReviewEvent.project_id == project_id)
    )
    rows = [
        {
            "run_id": run_id,
            "actor_id": principal.actor,
            "actor": principal.name,
            "via": via[:50],
            "watermark": int(watermark or 0),
            "revealed_at": utcnow(),
        }
        for run_id in missing
    ]
    dialect = session.get_bind().dialect.name
    insert = pg_insert if dialect == "postgresql" else sqlite_insert
    statement = insert(JudgeReveal).values(rows)
    session.execute(statement.on_conflict_do_nothing(index_elements=["run_id", "actor_id"]))
