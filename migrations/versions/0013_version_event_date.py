"""citizen_version.event_date: the day a life event happened, where the record has no field for it.

A marriage or a divorce is registered with the date it took place, which was checked (not in
the future, not before a spouse's birth) and then lost: the record keeps the marital status
and the spouse, not since when. Each spouse's version row of the event now keeps it; other
versions leave it NULL (a birth, a death or a disappearance has its date in the record).

Revision ID: 0013
Revises: 0012
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0013"
down_revision: str | None = "0012"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    """Add the column (NULL for every version written before)."""
    with op.batch_alter_table("citizen_version") as batch:
        batch.add_column(sa.Column("event_date", sa.Date(), nullable=True))


def downgrade() -> None:
    """Drop it."""
    with op.batch_alter_table("citizen_version") as batch:
        batch.drop_column("event_date")
