"""The index on citizen.old_id_number holds only the records that have an old number.

Searches by old number always give one, so the index never needs the records without one,
which are most of them: four in five of the generated population (fewer in older records,
more as the 9-digit cards go). It is smaller and quicker to build at the end of a first load
(docs/performance.md, "Old-number partial index").

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_citizen_old_id_number"
PARTIAL = sa.text("old_id_number IS NOT NULL")


def upgrade() -> None:
    """Only records with an old number in the index."""
    op.drop_index(NAME, table_name="citizen", if_exists=True)
    op.create_index(
        NAME, "citizen", ["old_id_number"], postgresql_where=PARTIAL, sqlite_where=PARTIAL
    )


def downgrade() -> None:
    """Every record in the index again."""
    op.drop_index(NAME, table_name="citizen", if_exists=True)
    op.create_index(NAME, "citizen", ["old_id_number"])
