"""agency_policy: the agency policy moves from identity's oauth_client to a table of registry's.

The policy's meaning lives in registry/agency/policy.py; identity kept it as an opaque column
of its client table. Each table now has one owning package: registry reads and writes
agency_policy, identity oauth_client. Every stored policy is copied, then the column dropped;
the downgrade copies them back.

Revision ID: 0014
Revises: 0013
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0014"
down_revision: str | None = "0013"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Create agency_policy, copy each client's policy into it, drop the column."""
    op.create_table(
        "agency_policy",
        sa.Column("client_id", sa.String(length=64), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.ForeignKeyConstraint(
            ["client_id"],
            ["oauth_client.client_id"],
            name=op.f("fk_agency_policy_client_id_oauth_client"),
            ondelete="CASCADE",
        ),
        sa.PrimaryKeyConstraint("client_id", name=op.f("pk_agency_policy")),
    )
    op.execute(
        "INSERT INTO agency_policy (client_id, policy) "
        "SELECT client_id, policy FROM oauth_client WHERE policy IS NOT NULL"
    )
    with op.batch_alter_table("oauth_client") as batch:
        batch.drop_column("policy")


def downgrade() -> None:
    """Put the column back with each policy, drop agency_policy."""
    with op.batch_alter_table("oauth_client") as batch:
        batch.add_column(sa.Column("policy", sa.Text(), nullable=True))
    op.execute(
        "UPDATE oauth_client SET policy = (SELECT agency_policy.policy FROM agency_policy "
        "WHERE agency_policy.client_id = oauth_client.client_id)"
    )
    op.drop_table("agency_policy")
