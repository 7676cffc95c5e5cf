"""Agency rate buckets hand out several tokens at once (a worker's lease).

Revision ID: 0007
Revises: 0006
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0007"
down_revision: str | None = "0006"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    with op.batch_alter_table("rate_bucket", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("taken", sa.Integer(), nullable=False, server_default=sa.text("0"))
        )


def downgrade() -> None:
    """Revert this revision."""
    with op.batch_alter_table("rate_bucket", schema=None) as batch_op:
        batch_op.drop_column("taken")
