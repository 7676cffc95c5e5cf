"""plain: citizens' questions about accesses (access_dispute) and the staff's office.

A citizen who questions an access to their data leaves a dispute that auditors answer and
close in the console; the access log names an official by name and office.

Revision ID: 0018
Revises: 0017
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.models import UTCDateTime

revision: str = "0018"
down_revision: str | None = "0017"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create access_dispute; add account.office."""
    op.create_table(
        "access_dispute",
        sa.Column("id", sa.String(length=36), nullable=False),
        sa.Column("event_uid", sa.String(length=64), nullable=False),
        sa.Column("citizen_id", sa.String(length=12), nullable=False),
        sa.Column("actor_type", sa.String(length=16), nullable=False),
        sa.Column("actor_id", sa.String(length=128), nullable=False),
        sa.Column("reason", sa.String(length=500), nullable=True),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("answer", sa.String(length=1000), nullable=True),
        sa.Column("updated_by", sa.String(length=128), nullable=True),
        sa.Column(
            "created_at",
            UTCDateTime(),
            server_default=sa.text("(CURRENT_TIMESTAMP)"),
            nullable=False,
        ),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint(
            "status IN ('open', 'answered', 'closed')", name=op.f("ck_access_dispute_status")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_access_dispute")),
        sa.UniqueConstraint("event_uid", name=op.f("uq_access_dispute_event_uid")),
    )
    with op.batch_alter_table("access_dispute", schema=None) as batch_op:
        batch_op.create_index(
            batch_op.f("ix_access_dispute_citizen_id"), ["citizen_id"], unique=False
        )
        batch_op.create_index(
            "ix_access_dispute_status_created_at", ["status", "created_at"], unique=False
        )
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.add_column(sa.Column("office", sa.String(length=200), nullable=True))


def downgrade() -> None:
    """Drop account.office and access_dispute."""
    with op.batch_alter_table("account", schema=None) as batch_op:
        batch_op.drop_column("office")
    with op.batch_alter_table("access_dispute", schema=None) as batch_op:
        batch_op.drop_index("ix_access_dispute_status_created_at")
        batch_op.drop_index(batch_op.f("ix_access_dispute_citizen_id"))
    op.drop_table("access_dispute")
