"""server-side UI sessions, who submitted a batch or started a run, grants of keys

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-03 02:30:00.000000

``ui_session``: one row per signed-in browser, keyed by the SHA-256 of the random token its
cookie carries; logout, a password change and a lead delete rows, and rows expire.
``batch.submitted_by_actor`` and ``run.created_by_actor`` record who it was (``key:<id>`` or
``user:<id>``), so that a client reads its own batches and runs even when two keys share a name.
Existing rows are backfilled where the display name names exactly one key of the project
(``key:<name>``) or one user; an ambiguous name stays NULL (only reviewers and leads read those).
``api_key_grant``: a role for a key in a project other than its own (the lead key that created
a project through the API leads it too).
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def _backfill(table: str, name_column: str, actor_column: str) -> None:
    conn = op.get_bind()
    users = {
        str(name): int(uid)
        for uid, name in conn.execute(sa.text("SELECT id, username FROM app_user"))
    }
    keys: dict[tuple[int, str], list[int]] = {}
    for kid, project_id, name in conn.execute(sa.text("SELECT id, project_id, name FROM api_key")):
        keys.setdefault((int(project_id), f"key:{name}"), []).append(int(kid))
    pairs = conn.execute(sa.text(f"SELECT DISTINCT project_id, {name_column} FROM {table}")).all()
    update = sa.text(
        f"UPDATE {table} SET {actor_column} = :actor WHERE project_id = :project_id "
        f"AND {name_column} = :name"
    )
    for project_id, name in pairs:
        if name is None:
            continue
        found = keys.get((int(project_id), str(name)), [])
        if len(found) == 1:
            actor = f"key:{found[0]}"
        elif not found and str(name) in users:
            actor = f"user:{users[str(name)]}"
        else:
            continue
        conn.execute(update, {"actor": actor, "project_id": project_id, "name": name})


def upgrade() -> None:
    op.create_table(
        "ui_session",
        sa.Column("id", ID, nullable=False),
        sa.Column("token_hash", sa.String(length=64), nullable=False),
        sa.Column("user_id", ID, nullable=True),
        sa.Column("key_id", ID, nullable=True),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("expires_at", sa.DateTime(timezone=True), nullable=False),
        sa.ForeignKeyConstraint(["user_id"], ["app_user.id"]),
        sa.ForeignKeyConstraint(["key_id"], ["api_key.id"]),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("token_hash"),
    )
    op.create_index("ix_ui_session_user_id", "ui_session", ["user_id"], unique=False)
    op.create_index("ix_ui_session_key_id", "ui_session", ["key_id"], unique=False)
    op.create_index("ix_ui_session_expires_at", "ui_session", ["expires_at"], unique=False)
    op.create_table(
        "api_key_grant",
        sa.Column("key_id", ID, nullable=False),
        sa.Column("project_id", ID, nullable=False),
        sa.Column("role", sa.String(length=20), nullable=False),
        sa.ForeignKeyConstraint(["key_id"], ["api_key.id"]),
        sa.ForeignKeyConstraint(["project_id"], ["project.id"]),
        sa.PrimaryKeyConstraint("key_id", "project_id"),
    )
    with op.batch_alter_table("batch", schema=None) as batch_op:
        batch_op.add_column(sa.Column("submitted_by_actor", sa.String(length=100), nullable=True))
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.add_column(sa.Column("created_by_actor", sa.String(length=100), nullable=True))
    _backfill("batch", "submitted_by", "submitted_by_actor")
    _backfill("run", "created_by", "created_by_actor")


def downgrade() -> None:
    with op.batch_alter_table("run", schema=None) as batch_op:
        batch_op.drop_column("created_by_actor")
    with op.batch_alter_table("batch", schema=None) as batch_op:
        batch_op.drop_column("submitted_by_actor")
    op.drop_table("api_key_grant")
    op.drop_index("ix_ui_session_expires_at", table_name="ui_session")
    op.drop_index("ix_ui_session_key_id", table_name="ui_session")
    op.drop_index("ix_ui_session_user_id", table_name="ui_session")
    op.drop_table("ui_session")
