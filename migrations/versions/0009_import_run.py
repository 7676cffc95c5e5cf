"""Imported records name their import run instead of each having a version-1 row.

A bulk load wrote one citizen_version row per record, all saying the same thing (kind import,
the run's actor and legal basis, every field). On PostgreSQL that row cost about as much as the
record itself: its foreign-key check, its primary key and its index (docs/performance.md,
"Import run instead of version rows"). Now each run of ``registry import`` is one import_run
row, and a record it created names it in citizen.import_run_id; readers of history show that
run as version 1, valid from the record's created_at. Version rows written before this
revision stay as they are.

citizen.import_run_id has no foreign key, for the same reason (its per-row check would cost
half as much as the record's own COPY). What the key would protect is kept another way: the
import only writes run ids it has just inserted, and import_run rows can be neither changed
nor deleted (triggers below, on both backends).

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-02
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0009"
down_revision: str | None = "0008"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

_ID = sa.BigInteger().with_variant(sa.Integer(), "sqlite")


def upgrade() -> None:
    """Create import_run and citizen.import_run_id; make import_run append-only."""
    op.create_table(
        "import_run",
        sa.Column("id", _ID, autoincrement=True),
        sa.Column("job_id", _ID, nullable=False),
        sa.Column("actor_type", sa.String(16), nullable=False),
        sa.Column("actor_id", sa.String(128), nullable=False),
        sa.Column("legal_basis", sa.String(300), nullable=False),
        sa.Column(
            "started_at",
            sa.DateTime(timezone=True),
            nullable=False,
            server_default=sa.text("CURRENT_TIMESTAMP"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_run")),
        sa.ForeignKeyConstraint(
            ["job_id"], ["import_job.id"], name=op.f("fk_import_run_job_id_import_job")
        ),
    )
    with op.batch_alter_table("citizen", schema=None) as batch_op:
        batch_op.add_column(sa.Column("import_run_id", sa.BigInteger(), nullable=True))
    if op.get_bind().dialect.name == "postgresql":
        op.execute(
            """
            CREATE FUNCTION import_run_refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
            BEGIN
                RAISE EXCEPTION 'import runs are history: % on import_run refused', TG_OP
                    USING ERRCODE = 'insufficient_privilege';
            END
            $$
            """
        )
        op.execute(
            "CREATE TRIGGER import_run_append_only BEFORE UPDATE OR DELETE ON import_run "
            "FOR EACH ROW EXECUTE FUNCTION import_run_refuse_change()"
        )
        op.execute(
            "CREATE TRIGGER import_run_no_truncate BEFORE TRUNCATE ON import_run "
            "FOR EACH STATEMENT EXECUTE FUNCTION import_run_refuse_change()"
        )
        return
    for operation in ("UPDATE", "DELETE"):
        op.execute(
            f"CREATE TRIGGER import_run_no_{operation.lower()} BEFORE {operation} ON import_run "
            f"BEGIN SELECT RAISE(ABORT, 'import runs are history: {operation} on import_run "
            "refused'); END"
        )


def downgrade() -> None:
    """Write each imported record's version 1 as a row again, then drop them."""
    op.execute(
        "INSERT INTO citizen_version (id_number, version, valid_from, kind, is_correction, "
        "legal_basis, actor_type, actor_id, changed_fields, previous) "
        "SELECT c.id_number, 1, c.created_at, 'import', false, r.legal_basis, r.actor_type, "
        "r.actor_id, '[\"*\"]', NULL FROM citizen c JOIN import_run r ON r.id = c.import_run_id "
        "WHERE NOT EXISTS (SELECT 1 FROM citizen_version v "
        "WHERE v.id_number = c.id_number AND v.version = 1)"
    )
    with op.batch_alter_table("citizen", schema=None) as batch_op:
        batch_op.drop_column("import_run_id")
    op.drop_table("import_run")
    if op.get_bind().dialect.name == "postgresql":
        op.execute("DROP FUNCTION IF EXISTS import_run_refuse_change()")
