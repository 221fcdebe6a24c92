"""Projects and batches: store validated notes once, replay resubmissions, skip duplicates."""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.errors import BadInput, Conflict
from service.notes.ingest import NoteIn, find_internal_duplicates
from service.storage.db import Database, savepoint
from service.storage.models import Batch, Note, Project

PROJECT_NAME_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$"
PROJECT_NAME = re.compile(PROJECT_NAME_PATTERN)


@dataclass(frozen=True, slots=True)
class BatchResult:
    batch_id: int
    n_received: int
    n_stored: int
    n_duplicates: int
    note_ids: list[int]
    duplicates: list[dict[str, object]] = field(default_factory=list)
    replayed: bool = False


def sha256(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def validate_project_name(name: str) -> str:
    if not PROJECT_NAME.fullmatch(name or ""):  # match() would let "name\n" through
        raise BadInput(
            "project name must be 1–100 letters, digits, '.', '_' or '-', starting with a "
            "letter or digit",
            field="name",
        )
    return name


def create_project(session: Session, name: str) -> Project:
    validate_project_name(name)
    if session.scalar(select(Project).where(Project.name == name)) is not None:
        raise Conflict(f"a project named {name!r} already exists", field="name")
    project = Project(name=name)
    session.add(project)
    session.flush()
    return project


def get_or_create_project(session: Session, name: str) -> Project:
    project = session.scalar(select(Project).where(Project.name == name))
    return project or create_project(session, name)


def payload_digest(notes: list[NoteIn]) -> str:
    digest = hashlib.sha256()
    for note in notes:
        digest.update(repr((note.text, note.external_id, note.trace_id, note.author)).encode())
    return digest.hexdigest()


def store_batch(
    db: Database,
    project_id: int,
    notes: list[NoteIn],
    *,
    source: str,
    submitted_by: str | None,
    idempotency_key: str | None = None,
) -> BatchResult:
    """:func:`add_batch` in a transaction of its own (the CLI and the demo)."""
    with db.transaction() as session:
        return add_batch(
            session,
            project_id,
            notes,
            source=source,
            submitted_by=submitted_by,
            idempotency_key=idempotency_key,
        )


def add_batch(
    session: Session,
    project_id: int,
    notes: list[NoteIn],
    *,
    source: str,
    submitted_by: str | None,
    idempotency_key: str | None = None,
) -> BatchResult:
    """Store a batch in the caller's transaction; a replayed Idempotency-Key returns the
    original batch.

    Notes whose ``external_id`` already exists in the project are skipped and listed. The insert
    runs in a savepoint: when a concurrent submission with the same key commits first, the
    savepoint rolls back and the transaction answers with that batch instead.

    Raises:
        Conflict: The key was used with a different body, or a concurrent submission stored
            some of these external ids first.
    """
    digest = payload_digest(notes)
    if idempotency_key is not None:
        replay = _replay(session, project_id, idempotency_key, digest)
        if replay is not None:
            return replay
    try:
        with savepoint(session):
            return _insert(
                session, project_id, notes, source, submitted_by, idempotency_key, digest
            )
    except IntegrityError as exc:
        if idempotency_key is not None:
            replay = _replay(session, project_id, idempotency_key, digest)
            if replay is not None:
                return replay
        raise Conflict(
            "a concurrent submission stored some of these notes first; retry", field="notes"
        ) from exc


def _replay(session: Session, project_id: int, key: str, digest: str) -> BatchResult | None:
    batch = session.scalar(
        select(Batch).where(Batch.project_id == project_id, Batch.idempotency_key == key)
    )
    if batch is None:
        return None
    if batch.payload_sha256 != digest:
        raise Conflict(
            "this Idempotency-Key was already used with a different body",
            field="Idempotency-Key",
            batch_id=batch.id,
        )
    ids = list(session.scalars(select(Note.id).where(Note.batch_id == batch.id).order_by(Note.id)))
    return BatchResult(
        batch.id, batch.n_received, batch.n_stored, batch.n_duplicates, ids, replayed=True
    )


def _insert(
    session: Session,
    project_id: int,
    notes: list[NoteIn],
    source: str,
    submitted_by: str | None,
    key: str | None,
    digest: str,
) -> BatchResult:
    kept = find_internal_duplicates(notes)
    external = [n.external_id for n in kept if n.external_id is not None]
    existing: dict[str, int] = {}
    for chunk_start in range(0, len(external), 500):
        chunk = external[chunk_start : chunk_start + 500]
        rows = session.execute(
            select(Note.external_id, Note.id).where(
                Note.project_id == project_id, Note.external_id.in_(chunk)
            )
        )
        existing.update({ext: nid for ext, nid in rows if ext is not None})
    fresh = [n for n in kept if n.external_id is None or n.external_id not in existing]
    batch = Batch(
        project_id=project_id,
        idempotency_key=key,
        payload_sha256=digest,
        source=source,
        submitted_by=submitted_by,
        n_received=len(notes),
        n_stored=len(fresh),
        n_duplicates=len(notes) - len(fresh),
    )
    session.add(batch)
    session.flush()
    stored = [_note_row(project_id, batch.id, n) for n in fresh]
    session.add_all(stored)
    session.flush()
    duplicates = [{"external_id": ext, "note_id": nid} for ext, nid in existing.items()]
    return BatchResult(
        batch.id,
        len(notes),
        len(fresh),
        len(notes) - len(fresh),
        [r.id for r in stored],
        duplicates,
    )


def _note_row(project_id: int, batch_id: int, note: NoteIn) -> Note:
    return Note(
        project_id=project_id,
        batch_id=batch_id,
        text=note.text,
        text_sha256=sha256(note.text),
        external_id=note.external_id,
        trace_id=note.trace_id,
        trace_url=note.trace_url,
        author=note.author,
        meta=note.metadata,
    )


def count_notes(session: Session, project_id: int) -> int:
    return session.scalar(select(func.count()).where(Note.project_id == project_id)) or 0
