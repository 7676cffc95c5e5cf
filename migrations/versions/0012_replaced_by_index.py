"""An index on citizen.replaced_by, holding only the records that have a successor.

replaced_by points from a record to the one that replaced it (a legal change of gender issues a
new number): a key from citizen to itself, set on very few records. Without an index on it,
checking the key when a number is deleted or changed, finding the record that a number
replaced, and validating the key (which a first load does once at its end) all read the whole
table. With it, validating the key after a first load reads almost nothing
(docs/performance.md, "Validating replaced_by"). The index holds only the records with a
successor, so it stays almost empty and costs a load next to nothing.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-03
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0012"
down_revision: str | None = "0011"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

NAME = "ix_citizen_replaced_by"
PARTIAL = sa.text("replaced_by IS NOT NULL")


def upgrade() -> None:
    """Index the records that were replaced, by their successor."""
    op.create_index(
        NAME, "citizen", ["replaced_by"], postgresql_where=PARTIAL, sqlite_where=PARTIAL
    )


def downgrade() -> None:
    """No index on replaced_by."""
    op.drop_index(NAME, table_name="citizen")
