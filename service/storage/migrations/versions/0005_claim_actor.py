"""who holds a claim, by identity: ``proposal_state.claimed_by_actor``

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-03 12:00:00.000000

``claimed_by`` stays the display name people read; ``claimed_by_actor`` is who holds the claim
(``key:<id>`` or ``user:<id>``, :attr:`service.auth.Principal.actor`), which every "is this my
claim?" compares, so two keys created with one name are two claimers. Claims last minutes
(``claim_ttl_s``) and are not review events: the ones taken before this revision, whose holder
is known only by name, are released.
"""

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("proposal_state", schema=None) as batch_op:
        batch_op.add_column(sa.Column("claimed_by_actor", sa.String(length=100), nullable=True))
    op.execute(
        "UPDATE proposal_state SET claimed_by = NULL, claim_expires_at = NULL "
        "WHERE claimed_by IS NOT NULL"
    )


def downgrade() -> None:
    with op.batch_alter_table("proposal_state", schema=None) as batch_op:
        batch_op.drop_column("claimed_by_actor")
