"""Audit log tables, append-only by grant (PostgreSQL) and by trigger (both backends).

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

APP_ROLE = "registry_app"
TABLES = ("audit_event", "audit_leaf", "audit_node", "audit_batch", "audit_checkpoint")


def _now() -> sa.TextClause:
    # The database clock: microseconds on PostgreSQL, milliseconds (UTC) on SQLite.
    if op.get_bind().dialect.name == "sqlite":
        return sa.text("(strftime('%Y-%m-%d %H:%M:%f', 'now'))")
    return sa.text("CURRENT_TIMESTAMP")


def _bigint_id() -> sa.types.TypeEngine[int]:
    return sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create the audit tables, their grants (PostgreSQL) and append-only triggers."""
    is_pg = op.get_bind().dialect.name == "postgresql"
    op.create_table(
        "audit_event",
        sa.Column("id", _bigint_id(), primary_key=True, autoincrement=True),
        sa.Column("event_uid", sa.String(36), nullable=False),
        sa.Column("occurred_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=_now()),
        sa.Column("actor_type", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(128), nullable=False),
        sa.Column("on_behalf_of", sa.String(128), nullable=True),
        sa.Column("subject", sa.String(16), nullable=True),
        sa.Column("action", sa.String(64), nullable=False),
        sa.Column("fields", sa.Text(), nullable=False, server_default="[]"),
        sa.Column("purpose", sa.String(64), nullable=True),
        sa.Column("outcome", sa.String(16), nullable=False),
        sa.Column("request_id", sa.String(128), nullable=True),
        sa.Column("detail", sa.Text(), nullable=True),
        sa.Column("txid", sa.BigInteger(), nullable=True,
                  server_default=sa.text("((pg_current_xact_id())::text)::bigint")
                  if is_pg else None),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_event")),
        sa.UniqueConstraint("event_uid", name=op.f("uq_audit_event_event_uid")),
        sa.CheckConstraint(
            "outcome IN ('granted', 'denied', 'not_found', 'error')",
            name=op.f("ck_audit_event_outcome"),
        ),
        sa.CheckConstraint(
            "actor_type IN ('agency', 'citizen', 'official', 'auditor', 'administrator', "
            "'system')",
            name=op.f("ck_audit_event_actor_type"),
        ),
    )  # fmt: skip
    op.create_index("ix_audit_event_subject_id", "audit_event", ["subject", "id"])
    op.create_index("ix_audit_event_actor_id", "audit_event", ["actor_id", "id"])
    op.create_index("ix_audit_event_occurred_at", "audit_event", ["occurred_at"])
    op.create_index("ix_audit_event_txid_id", "audit_event", ["txid", "id"])

    op.create_table(
        "audit_leaf",
        sa.Column("leaf_index", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("event_id", _bigint_id(), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("leaf_index", name=op.f("pk_audit_leaf")),
        sa.UniqueConstraint("event_id", name=op.f("uq_audit_leaf_event_id")),
        sa.ForeignKeyConstraint(
            ["event_id"], ["audit_event.id"], ondelete="RESTRICT",
            name=op.f("fk_audit_leaf_event_id_audit_event"),
        ),
    )  # fmt: skip
    op.create_table(
        "audit_node",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_audit_node")),
    )
    op.create_table(
        "audit_batch",
        sa.Column("id", _bigint_id(), primary_key=True, autoincrement=True),
        sa.Column("first_leaf", sa.BigInteger(), nullable=False),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("cursor_txid", sa.BigInteger(), nullable=True),
        sa.Column("cursor_event", sa.BigInteger(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=_now()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_batch")),
        sa.UniqueConstraint("tree_size", name=op.f("uq_audit_batch_tree_size")),
    )  # fmt: skip
    op.create_table(
        "audit_checkpoint",
        sa.Column("id", _bigint_id(), primary_key=True, autoincrement=True),
        sa.Column("tree_size", sa.BigInteger(), nullable=False),
        sa.Column("root_hash", sa.LargeBinary(32), nullable=False),
        sa.Column("note", sa.Text(), nullable=False),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False,
                  server_default=_now()),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_audit_checkpoint")),
        sa.UniqueConstraint("tree_size", name=op.f("uq_audit_checkpoint_tree_size")),
    )  # fmt: skip

    if is_pg:
        _postgres_protection()
    else:
        _sqlite_protection()


def _postgres_protection() -> None:
    # The application's role: it may read and append to audit tables, never rewrite them.
    op.execute(
        f"""
        DO $$
        BEGIN
            IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '{APP_ROLE}') THEN
                CREATE ROLE {APP_ROLE} NOLOGIN;
            END IF;
        END
        $$
        """
    )
    op.execute(f"GRANT USAGE ON SCHEMA public TO {APP_ROLE}")
    # Tables created later (the domain) are fully writable by the app unless a migration says
    # otherwise; audit tables get INSERT and SELECT only.
    op.execute(
        "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
        f"GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO {APP_ROLE}"
    )
    op.execute(
        f"ALTER DEFAULT PRIVILEGES IN SCHEMA public GRANT USAGE, SELECT ON SEQUENCES TO {APP_ROLE}"
    )
    op.execute(f"GRANT SELECT ON alembic_version TO {APP_ROLE}")
    for table in TABLES:
        op.execute(f"REVOKE ALL ON {table} FROM {APP_ROLE}")
        op.execute(f"GRANT SELECT, INSERT ON {table} TO {APP_ROLE}")
    op.execute(f"GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA public TO {APP_ROLE}")
    op.execute(
        """
        CREATE FUNCTION audit_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
        BEGIN
            RAISE EXCEPTION 'audit tables are append-only: % on % refused', TG_OP, TG_TABLE_NAME
                USING ERRCODE = 'insufficient_privilege';
        END
        $$
        """
    )
    for table in TABLES:
        op.execute(
            f"CREATE TRIGGER {table}_append_only BEFORE UPDATE OR DELETE ON {table} "
            "FOR EACH ROW EXECUTE FUNCTION audit_refuse_change()"
        )
        op.execute(
            f"CREATE TRIGGER {table}_no_truncate BEFORE TRUNCATE ON {table} "
            "FOR EACH STATEMENT EXECUTE FUNCTION audit_refuse_change()"
        )


def _sqlite_protection() -> None:
    for table in TABLES:
        for operation in ("UPDATE", "DELETE"):
            op.execute(
                f"CREATE TRIGGER {table}_no_{operation.lower()} BEFORE {operation} ON {table} "
                f"BEGIN SELECT RAISE(ABORT, 'audit tables are append-only: {operation} on "
                f"{table} refused'); END"
            )


def downgrade() -> None:
    """Drop the audit tables (an operator's decision: the log itself is gone afterwards)."""
    is_pg = op.get_bind().dialect.name == "postgresql"
    for table in reversed(TABLES):
        op.drop_table(table)
    if is_pg:
        op.execute("DROP FUNCTION IF EXISTS audit_refuse_change()")
        op.execute(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
            f"REVOKE SELECT, INSERT, UPDATE, DELETE ON TABLES FROM {APP_ROLE}"
        )
        op.execute(
            "ALTER DEFAULT PRIVILEGES IN SCHEMA public "
            f"REVOKE USAGE, SELECT ON SEQUENCES FROM {APP_ROLE}"
        )
