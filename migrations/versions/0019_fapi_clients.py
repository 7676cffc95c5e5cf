"""fapi_clients: the per-client profile (standard or fapi2), pushed requests, DPoP.

oauth_client gains its profile, whether it must push its authorization requests (RFC 9126)
and whether its tokens must be DPoP-bound (RFC 9449); a grant keeps the thumbprint of the key
its tokens are bound to. pushed_request holds the pushed authorization requests until used or
expired; spent_proof the DPoP proofs' ids seen, until their proofs could no longer pass.

Revision ID: 0019
Revises: 0018
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

from core.models import UTCDateTime

revision: str = "0019"
down_revision: str | None = "0018"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the client's profile and flags, the grant's DPoP key, and the two new tables."""
    with op.batch_alter_table("oauth_client") as batch:
        batch.add_column(
            sa.Column("profile", sa.String(length=8), nullable=False, server_default="standard")
        )
        batch.add_column(
            sa.Column("require_par", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.add_column(
            sa.Column("dpop_bound", sa.Boolean(), nullable=False, server_default=sa.false())
        )
        batch.create_check_constraint(
            op.f("ck_oauth_client_profile"), "profile IN ('standard', 'fapi2')"
        )
    with op.batch_alter_table("oauth_grant") as batch:
        batch.add_column(sa.Column("dpop_jkt", sa.String(length=43), nullable=True))
    op.create_table(
        "pushed_request",
        sa.Column("request_hash", sa.String(length=64), nullable=False),
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("params", sa.Text(), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.Column("used_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_client.client_id"],
            name=op.f("fk_pushed_request_client_id_oauth_client"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("request_hash", name=op.f("pk_pushed_request")),
    )
    op.create_index(
        op.f("ix_pushed_request_expires_at"), "pushed_request", ["expires_at"], unique=False
    )
    op.create_table(
        "spent_proof",
        sa.Column("proof_hash", sa.String(length=64), nullable=False),
        sa.Column("expires_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("proof_hash", name=op.f("pk_spent_proof")),
    )
    op.create_index(op.f("ix_spent_proof_expires_at"), "spent_proof", ["expires_at"], unique=False)


def downgrade() -> None:
    """Drop the tables and columns this revision added."""
    op.drop_index(op.f("ix_spent_proof_expires_at"), table_name="spent_proof")
    op.drop_table("spent_proof")
    op.drop_index(op.f("ix_pushed_request_expires_at"), table_name="pushed_request")
    op.drop_table("pushed_request")
    with op.batch_alter_table("oauth_grant") as batch:
        batch.drop_column("dpop_jkt")
    with op.batch_alter_table("oauth_client") as batch:
        batch.drop_constraint(op.f("ck_oauth_client_profile"), type_="check")
        batch.drop_column("dpop_bound")
        batch.drop_column("require_par")
        batch.drop_column("profile")
