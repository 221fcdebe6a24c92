"""blind means blind: review_event.actor_id and replaces_event_id, judge_reveal

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-01 12:00:00.000000

``review_event.actor_id`` is the stable identity of an event's author (``key:<id>`` or
``user:<id>``); ``actor`` stays the display name. Existing events are backfilled where the
display name names exactly one user (``<username>``) or one key of the event's project
(``key:<key name>``); an ambiguous name (two keys sharing it) stays NULL, and readers then fall
back to the display name for that event. ``replaces_event_id`` links a revised audit label to
the blind label it replaces. ``judge_reveal`` records when the judge's work for a run was first
shown to an actor.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _backfill() -> None:
    conn = op.get_bind()
    users = {
        str(name): int(uid)
        for uid, name in conn.execute(sa.text("SELECT id, username FROM app_user"))
    }
    keys: dict[tuple[int, str], list[int]] = {}
    for kid, project_id, name in conn.execute(sa.text("SELECT id, project_id, name FROM api_key")):
        keys.setdefault((int(project_id), f"key:{name}"), []).append(int(kid))
    pairs = conn.execute(sa.text("SELECT DISTINCT project_id, actor FROM review_event")).all()
    update = sa.text(
        "UPDATE review_event SET actor_id = :actor_id WHERE project_id = :project_id "
        "AND actor = :actor"
    )
    for project_id, actor in pairs:
        found = keys.get((int(project_id), str(actor)), [])
        if len(found) == 1:
            actor_id = f"key:{found[0]}"
        elif not found and str(actor) in users:
            actor_id = f"user:{users[str(actor)]}"
        else:
            continue
        conn.execute(update, {"actor_id": actor_id, "project_id": project_id, "actor": actor})


def upgrade() -> None:
    with op.batch_alter_table("review_event", schema=None) as batch_op:
        batch_op.add_column(sa.Column("actor_id", sa.String(length=100), nullable=True))
        batch_op.add_column(sa.Column("replaces_event_id", sa.BigInteger(), nullable=True))
    _backfill()
    op.create_table(
        "judge_reveal",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("run_id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), nullable=False),
        sa.Column("actor_id", sa.String(length=100), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("via", sa.String(length=50), nullable=False),
        sa.Column("watermark", sa.BigInteger(), nullable=False),
        sa.Column("revealed_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["run_id"], ["run.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("run_id", "actor_id"),
    )
    op.create_index("ix_judge_reveal_run_id", "judge_reveal", ["run_id"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_judge_reveal_run_id", table_name="judge_reveal")
    op.drop_table("judge_reveal")
    with op.batch_alter_table("review_event", schema=None) as batch_op:
        batch_op.drop_column("replaces_event_id")
        batch_op.drop_column("actor_id")
