"""Agency API: citizen aliases and per-agency rate-limit buckets.

Revision ID: 0005
Revises: 0004
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.models import UTCDateTime

revision: str = "0005"
down_revision: str | None = "0004"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Apply this revision."""
    op.create_table(
        "citizen_alias",
        sa.Column("alias", sa.String(length=16), nullable=False),
        sa.Column("citizen_id", sa.String(length=12), nullable=False),
        sa.Column("label", sa.String(length=64), nullable=True),
        sa.Column("created_by", sa.String(length=128), nullable=False),
        sa.Column(
            "created_at",
            UTCDateTime(),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("expires_at", UTCDateTime(), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.CheckConstraint("length(alias) = 16", name=op.f("ck_citizen_alias_alias_length")),
        sa.PrimaryKeyConstraint("alias", name=op.f("pk_citizen_alias")),
    )
    with op.batch_alter_table("citizen_alias", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_citizen_alias_citizen_id"), ["citizen_id"], unique=False
        )
        batch_op.create_index("ix_citizen_alias_expires_at", ["expires_at"], unique=False)

    op.create_table(
        "rate_bucket",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("tokens", sa.Float(), nullable=False),
        sa.Column("granted", sa.Boolean(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_rate_bucket")),
    )


def downgrade() -> None:
    """Revert this revision."""
    op.drop_table("rate_bucket")
    with op.batch_alter_table("citizen_alias", schema=None) as batch_op:
        batch_op.drop_index("ix_citizen_alias_expires_at")
        batch_op.drop_index(batch_op.f("ix_citizen_alias_citizen_id"))

    op.drop_table("citizen_alias")
