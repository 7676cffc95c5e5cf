"""Codes compare byte by byte on PostgreSQL (COLLATE "C").

ID numbers, old ID numbers, card numbers, household ids, aliases and the folded search form of
names are codes: nothing sorts them by a language's rules. Under the database's locale
(C.UTF-8 here, vi_VN.UTF-8 or en_US.UTF-8 on many servers) every comparison went through
strcoll, and PostgreSQL gives up abbreviated sort keys for such text. With "C" the indexes a
first load builds at its end, and a COPY into a table keyed by the number, take much less
time (docs/performance.md, "Code collation").

Every column holding one of these values changes together: PostgreSQL refuses to compare two
columns whose collations differ (a join of citizen_alias.citizen_id with citizen.id_number,
say). Only the collation changes, so no table is rewritten; the indexes on these columns are
rebuilt, and the foreign keys to citizen.id_number are checked again. SQLite has no locale
collation and is left as it is.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0010"
down_revision: str | None = "0009"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

# table -> ((column, varchar length), ...)
CODES: dict[str, tuple[tuple[str, int], ...]] = {
    "citizen": (
        ("id_number", 12), ("name_folded", 100), ("household_id", 20),
        ("father_id_number", 12), ("mother_id_number", 12), ("spouse_id_number", 12),
        ("representative_id_number", 12), ("card_number", 12), ("old_id_number", 9),
        ("replaced_by", 12),
    ),
    "citizen_version": (("id_number", 12),),
    "citizen_alias": (("alias", 16), ("citizen_id", 12)),
    "account": (("citizen_id", 12),),
    "activation_code": (("citizen_id", 12),),
    "audit_event": (("subject", 16),),
}  # fmt: skip


def _collate(collation: str) -> None:
    if op.get_bind().dialect.name != "postgresql":
        return
    for table, columns in CODES.items():
        changes = ", ".join(
            f'ALTER COLUMN {name} TYPE varchar({length}) COLLATE "{collation}"'
            for name, length in columns
        )
        op.execute(f"ALTER TABLE {table} {changes}")


def upgrade() -> None:
    """Codes compare as bytes."""
    _collate("C")


def downgrade() -> None:
    """Codes compare under the database's locale again."""
    _collate("default")
