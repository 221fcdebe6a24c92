"""Tables. Portable column types only, so the same Alembic migrations run on SQLite and PostgreSQL.

Immutable (insert-only): note, embedding, proposal, proposal_member, review_event, audit_draw,
judge_reveal.
Projections (rebuilt from review_event by ``service.review.projection``): proposal_state, category,
note_assignment.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any, ClassVar

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

ID = BigInteger().with_variant(Integer(), "sqlite")


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    type_annotation_map: ClassVar[dict[Any, Any]] = {
        dict[str, Any]: JSON,
        list[Any]: JSON,
        datetime: DateTime(timezone=True),
    }


class Project(Base):
    __tablename__ = "project"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    name: Mapped[str] = mapped_column(String(100), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ApiKey(Base):
    __tablename__ = "api_key"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    name: Mapped[str] = mapped_column(String(100))
    role: Mapped[str] = mapped_column(String(20))
    prefix: Mapped[str] = mapped_column(String(16))
    key_hash: Mapped[str] = mapped_column(String(64), unique=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    revoked_at: Mapped[datetime | None] = mapped_column(default=None)


class User(Base):
    __tablename__ = "app_user"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    username: Mapped[str] = mapped_column(String(100), unique=True)
    password_hash: Mapped[str] = mapped_column(String(255))
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Membership(Base):
    __tablename__ = "membership"
    user_id: Mapped[int] = mapped_column(ForeignKey("app_user.id"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))


class ApiKeyGrant(Base):
    """A role for a key in a project other than its own (a lead key that created the project)."""

    __tablename__ = "api_key_grant"
    key_id: Mapped[int] = mapped_column(ForeignKey("api_key.id"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), primary_key=True)
    role: Mapped[str] = mapped_column(String(20))


class UiSession(Base):
    """A signed-in browser: the cookie carries a random token, this row its SHA-256.

    Deleted on logout, by a password change, by a lead (revoke) and when expired."""

    __tablename__ = "ui_session"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    token_hash: Mapped[str] = mapped_column(String(64), unique=True)
    user_id: Mapped[int | None] = mapped_column(ForeignKey("app_user.id"), index=True)
    key_id: Mapped[int | None] = mapped_column(ForeignKey("api_key.id"), index=True)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    expires_at: Mapped[datetime] = mapped_column(index=True)


class Batch(Base):
    __tablename__ = "batch"
    __table_args__ = (UniqueConstraint("project_id", "idempotency_key"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), default=None)
    payload_sha256: Mapped[str] = mapped_column(String(64))
    source: Mapped[str] = mapped_column(String(20))
    submitted_by: Mapped[str | None] = mapped_column(String(200), default=None)
    # who it was (Principal.actor: "key:<id>" | "user:<id>"); NULL when unknown (before 0004)
    submitted_by_actor: Mapped[str | None] = mapped_column(String(100), default=None)
    n_received: Mapped[int] = mapped_column(Integer)
    n_stored: Mapped[int] = mapped_column(Integer)
    n_duplicates: Mapped[int] = mapped_column(Integer)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Note(Base):
    __tablename__ = "note"
    __table_args__ = (UniqueConstraint("project_id", "external_id"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    batch_id: Mapped[int] = mapped_column(ForeignKey("batch.id"), index=True)
    text: Mapped[str] = mapped_column(Text)
    text_sha256: Mapped[str] = mapped_column(String(64), index=True)
    external_id: Mapped[str | None] = mapped_column(String(200), default=None)
    trace_id: Mapped[str | None] = mapped_column(String(200), default=None)
    trace_url: Mapped[str | None] = mapped_column(String(2000), default=None)
    author: Mapped[str | None] = mapped_column(String(200), default=None)
    meta: Mapped[dict[str, Any] | None] = mapped_column("metadata", JSON, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Embedding(Base):
    __tablename__ = "embedding"
    model_id: Mapped[str] = mapped_column(String(300), primary_key=True)
    text_sha256: Mapped[str] = mapped_column(String(64), primary_key=True)
    dim: Mapped[int] = mapped_column(Integer)
    vector: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class Run(Base):
    __tablename__ = "run"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batch.id"), default=None)
    scope: Mapped[str] = mapped_column(String(20))
    seed: Mapped[int] = mapped_column(Integer)
    params: Mapped[dict[str, Any]] = mapped_column(JSON)
    config_hash: Mapped[str] = mapped_column(String(64))
    status: Mapped[str] = mapped_column(String(20), index=True)
    stage: Mapped[str] = mapped_column(String(20))
    done: Mapped[int] = mapped_column(Integer, default=0)
    total: Mapped[int] = mapped_column(Integer, default=0)
    timings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    error: Mapped[str | None] = mapped_column(Text, default=None)
    judge_id: Mapped[str | None] = mapped_column(String(200), default=None)
    judge_version: Mapped[str | None] = mapped_column(String(300), default=None)
    n_notes: Mapped[int] = mapped_column(Integer, default=0)
    n_clusters: Mapped[int] = mapped_column(Integer, default=0)
    n_unclustered: Mapped[int] = mapped_column(Integer, default=0)
    n_judge_failed: Mapped[int] = mapped_column(Integer, default=0)
    blind_mode: Mapped[bool] = mapped_column(Boolean, default=False)
    created_by: Mapped[str | None] = mapped_column(String(200), default=None)
    # who started it (Principal.actor); NULL when unknown (before 0004)
    created_by_actor: Mapped[str | None] = mapped_column(String(100), default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    started_at: Mapped[datetime | None] = mapped_column(default=None)
    finished_at: Mapped[datetime | None] = mapped_column(default=None)
    heartbeat_at: Mapped[datetime | None] = mapped_column(default=None)
    # which worker holds (or last held) the run: host:pid:name, set when it is claimed
    worker: Mapped[str | None] = mapped_column(String(200), default=None)


class RunNote(Base):
    """Which notes a run covered, and where the clusterer put each (immutable)."""

    __tablename__ = "run_note"
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id"), primary_key=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("note.id"), primary_key=True, index=True)
    cluster_label: Mapped[int] = mapped_column(Integer)
    raw_label: Mapped[int] = mapped_column(Integer)
    probability: Mapped[float] = mapped_column(Float)
    reassigned: Mapped[bool] = mapped_column(Boolean, default=False)


class Cluster(Base):
    __tablename__ = "cluster"
    __table_args__ = (UniqueConstraint("run_id", "label"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id"), index=True)
    label: Mapped[int] = mapped_column(Integer)
    size: Mapped[int] = mapped_column(Integer)
    keywords: Mapped[list[Any]] = mapped_column(JSON)
    representative_note_ids: Mapped[list[Any]] = mapped_column(JSON)
    nearest_labels: Mapped[list[Any]] = mapped_column(JSON)


class Proposal(Base):
    """A judge's (or a split's) proposal. Immutable: decisions live in proposal_state."""

    __tablename__ = "proposal"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id"), index=True)
    cluster_id: Mapped[int | None] = mapped_column(ForeignKey("cluster.id"), default=None)
    parent_proposal_id: Mapped[int | None] = mapped_column(ForeignKey("proposal.id"), default=None)
    origin: Mapped[str] = mapped_column(String(20))
    name: Mapped[str] = mapped_column(String(300))
    definition: Mapped[str] = mapped_column(Text)
    keywords: Mapped[list[Any]] = mapped_column(JSON, default=list)
    judge_id: Mapped[str] = mapped_column(String(200))
    judge_version: Mapped[str] = mapped_column(String(300))
    confidence: Mapped[float] = mapped_column(Float, default=0.0)
    matched_category_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    misfit_note_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    judge_failed: Mapped[bool] = mapped_column(Boolean, default=False)
    failure_reason: Mapped[str | None] = mapped_column(Text, default=None)
    raw_output: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    tokens: Mapped[int | None] = mapped_column(Integer, default=None)
    latency_ms: Mapped[float | None] = mapped_column(Float, default=None)
    created_by_event_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProposalMember(Base):
    __tablename__ = "proposal_member"
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposal.id"), primary_key=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("note.id"), primary_key=True, index=True)
    rank: Mapped[int] = mapped_column(Integer)
    reassigned: Mapped[bool] = mapped_column(Boolean, default=False)


class Category(Base):
    """Projection: a confirmed category of a project."""

    __tablename__ = "category"
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    name: Mapped[str] = mapped_column(String(300))
    definition: Mapped[str] = mapped_column(Text, default="")
    origin: Mapped[str] = mapped_column(String(20))
    origin_proposal_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    status: Mapped[str] = mapped_column(String(20), default="active")
    merged_into_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    created_at: Mapped[datetime] = mapped_column(default=utcnow)


class ProposalState(Base):
    """Projection: the current decision on a proposal, with its optimistic-lock version."""

    __tablename__ = "proposal_state"
    proposal_id: Mapped[int] = mapped_column(ForeignKey("proposal.id"), primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id"), index=True)
    status: Mapped[str] = mapped_column(String(20))
    version: Mapped[int] = mapped_column(Integer, default=1)
    name: Mapped[str] = mapped_column(String(300))
    definition: Mapped[str] = mapped_column(Text)
    category_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    member_note_ids: Mapped[list[Any]] = mapped_column(JSON)
    last_event_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    updated_by: Mapped[str | None] = mapped_column(String(200), default=None)
    updated_at: Mapped[datetime | None] = mapped_column(default=None)
    claimed_by: Mapped[str | None] = mapped_column(String(200), default=None)  # display name
    # who holds the claim (Principal.actor: "key:<id>" | "user:<id>"); compared, never the name
    claimed_by_actor: Mapped[str | None] = mapped_column(String(100), default=None)
    claim_expires_at: Mapped[datetime | None] = mapped_column(default=None)


class NoteAssignment(Base):
    """Projection: a note's current human label (category, or noise) from workflow review."""

    __tablename__ = "note_assignment"
    note_id: Mapped[int] = mapped_column(ForeignKey("note.id"), primary_key=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"), index=True)
    category_id: Mapped[int | None] = mapped_column(BigInteger, default=None, index=True)
    is_noise: Mapped[bool] = mapped_column(Boolean, default=False)
    event_id: Mapped[int] = mapped_column(BigInteger)


class ReviewEvent(Base):
    """Insert-only log of every human (and system) decision."""

    __tablename__ = "review_event"
    __table_args__ = (Index("ix_review_event_project_id_id", "project_id", "id"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True, autoincrement=True)
    project_id: Mapped[int] = mapped_column(ForeignKey("project.id"))
    run_id: Mapped[int | None] = mapped_column(ForeignKey("run.id"), default=None, index=True)
    actor: Mapped[str] = mapped_column(String(200))  # display name (two keys may share one)
    # who it was: "key:<id>" or "user:<id>" (Principal.actor); NULL on events older than 0003
    # whose name matched no single key or user
    actor_id: Mapped[str | None] = mapped_column(String(100), default=None)
    actor_kind: Mapped[str] = mapped_column(String(20), default="human")
    created_at: Mapped[datetime] = mapped_column(default=utcnow)
    action: Mapped[str] = mapped_column(String(30))
    mode: Mapped[str] = mapped_column(String(20), default="workflow")
    judge_visible: Mapped[bool] = mapped_column(Boolean, default=True)
    proposal_id: Mapped[int | None] = mapped_column(BigInteger, default=None, index=True)
    category_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    note_ids: Mapped[list[Any]] = mapped_column(JSON, default=list)
    before: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    after: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)
    reverts_event_id: Mapped[int | None] = mapped_column(BigInteger, default=None)
    client_uuid: Mapped[str | None] = mapped_column(String(100), default=None)
    # a revision (mode 'revised'): the author's blind audit_label event it replaces, if any
    replaces_event_id: Mapped[int | None] = mapped_column(BigInteger, default=None)


class AuditDraw(Base):
    """The blind audit sample of a run, drawn when the run finishes (before anyone reviews)."""

    __tablename__ = "audit_draw"
    __table_args__ = (UniqueConstraint("run_id", "note_id"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id"), index=True)
    note_id: Mapped[int] = mapped_column(ForeignKey("note.id"))
    position: Mapped[int] = mapped_column(Integer)
    stratum: Mapped[str] = mapped_column(String(100))
    inclusion_prob: Mapped[float] = mapped_column(Float)
    seed: Mapped[int] = mapped_column(Integer)
    drawn_at: Mapped[datetime] = mapped_column(default=utcnow)


class JudgeReveal(Base):
    """When the judge's work for a run was first shown to someone (insert-only, one per actor).

    Written by every read or action that shows or acts on the run's proposals, queue or
    unclustered notes (``service.audit.reveal``). An audit label its author gives after this
    moment is a revision (``mode='revised'``), never a blind label.
    """

    __tablename__ = "judge_reveal"
    __table_args__ = (UniqueConstraint("run_id", "actor_id"),)
    id: Mapped[int] = mapped_column(ID, primary_key=True)
    run_id: Mapped[int] = mapped_column(ForeignKey("run.id"), index=True)
    actor_id: Mapped[str] = mapped_column(String(100))
    actor: Mapped[str] = mapped_column(String(200))  # display name at the time
    via: Mapped[str] = mapped_column(String(50))  # what showed it: "proposals", "confirm", …
    watermark: Mapped[int] = mapped_column(BigInteger, default=0)  # last review event id then
    revealed_at: Mapped[datetime] = mapped_column(default=utcnow)
