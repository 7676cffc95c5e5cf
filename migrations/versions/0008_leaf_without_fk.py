"""audit_leaf.event_id without its foreign key to audit_event.

Each leaf's foreign-key check locked its event's row (FOR KEY SHARE): a heap write and a WAL
record on audit_event per leaf, in a burst every batch that the agency API's requests wait
behind (docs/performance.md, "Leaf without foreign key"). It protected nothing the log
does not already guarantee: audit_event only grows (grants and triggers, migration 0002), the
sequencer names only events it has just read, and verify reports a leaf whose event is missing
or altered (tests/audit/test_log.py), which a superuser could bring about with or without the
key. The unique constraint (one leaf per event) stays.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

from alembic import op

revision: str = "0008"
down_revision: str | None = "0007"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

FK = "fk_audit_leaf_event_id_audit_event"


def _sqlite_triggers() -> None:
    # Rebuilding the table (SQLite cannot drop a constraint) drops its triggers: made again as
    # migration 0002 made them.
    for operation in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER audit_leaf_no_{operation.lower()} BEFORE {operation} ON audit_leaf "
            f"BEGIN SELECT RAISE(ABORT, 'audit tables are append-only: {operation} on "
            "audit_leaf refused'); END"
        )


def upgrade() -> None:
    """Drop the foreign key."""
    if op.get_bind().dialect.name == "postgresql":
        op.drop_constraint(FK, "audit_leaf", type_="foreignkey")
        return
    with op.batch_alter_table("audit_leaf", recreate="always") as batch_op:
        batch_op.drop_constraint(FK, type_="foreignkey")
    _sqlite_triggers()


def downgrade() -> None:
    """Add the foreign key back."""
    if op.get_bind().dialect.name == "postgresql":
        op.create_foreign_key(
            FK, "audit_leaf", "audit_event", ["event_id"], ["id"], ondelete="RESTRICT"
        )
        return
    with op.batch_alter_table("audit_leaf", recreate="always") as batch_op:
        batch_op.create_foreign_key(FK, "audit_event", ["event_id"], ["id"], ondelete="RESTRICT")
    _sqlite_triggers()
