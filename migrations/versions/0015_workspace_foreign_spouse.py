"""citizen.spouse_passport_number: a spouse who is a foreigner without a Vietnamese number.

A marriage linked two records by their ID numbers; a foreign spouse has none. The record
already keeps a spouse's name and nationality without a number (as an import may); what was
missing is the document that identifies a foreign spouse, the passport number. NULL for
every record written before and for a spouse on the register.

Revision ID: 0015
Revises: 0014
Create Date: 2026-12-07
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0015"
down_revision: str | None = "0014"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the column (NULL for every record)."""
    with op.batch_alter_table("citizen") as batch:
        batch.add_column(sa.Column("spouse_passport_number", sa.String(length=20), nullable=True))


def downgrade() -> None:
    """Drop it."""
    with op.batch_alter_table("citizen") as batch:
        batch.drop_column("spouse_passport_number")
