"""Citizen registry: current records, their versions, import jobs.

Revision ID: 0003
Revises: 0002
Create Date: 2026-11-23
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def _now() -> sa.TextClause:
    return sa.text("CURRENT_TIMESTAMP")


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def upgrade() -> None:
    """Create the citizen, citizen_version and import_job tables."""
    s = sa.String
    op.create_table(
        "citizen",
        sa.Column("id_number", s(12), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("full_name", s(100), nullable=False),
        sa.Column("name_folded", s(100), nullable=False),
        sa.Column("other_names", s(200)),
        sa.Column("birth_date", sa.Date(), nullable=False),
        sa.Column("birth_date_precision", s(5), nullable=False),
        sa.Column("gender", s(6), nullable=False),
        sa.Column("birth_province", s(3), nullable=False),
        sa.Column("birth_place", s(200)),
        sa.Column("hometown", s(200)),
        sa.Column("ethnicity", s(2), nullable=False),
        sa.Column("religion", s(60)),
        sa.Column("nationality", s(2), nullable=False),
        sa.Column("marital_status", s(8), nullable=False),
        sa.Column("blood_type", s(3)),
        sa.Column("permanent_address", s(300)),
        sa.Column("temporary_address", s(300)),
        sa.Column("current_address", s(300)),
        sa.Column("household_id", s(20)),
        sa.Column("household_relationship", s(40)),
        *[
            sa.Column(f"{who}_{what}", s(size))
            for who in ("father", "mother", "spouse", "representative")
            for what, size in (("id_number", 12), ("name", 100), ("nationality", 2))
        ],
        sa.Column("status", s(8), nullable=False),
        sa.Column("death_date", sa.Date()),
        sa.Column("missing_date", sa.Date()),
        sa.Column("card_number", s(12)),
        sa.Column("card_issue_date", sa.Date()),
        sa.Column("card_issue_place", s(200)),
        sa.Column("card_expiry_date", sa.Date()),
        sa.Column("old_id_number", s(9)),
        sa.Column("replaced_by", s(12)),
        sa.Column("created_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
        sa.Column("updated_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
        sa.PrimaryKeyConstraint("id_number", name=op.f("pk_citizen")),
        sa.ForeignKeyConstraint(
            ["replaced_by"], ["citizen.id_number"], name=op.f("fk_citizen_replaced_by_citizen")
        ),
        sa.CheckConstraint(_in("gender", ("male", "female")), name=op.f("ck_citizen_gender")),
        sa.CheckConstraint(
            _in("birth_date_precision", ("day", "month", "year")),
            name=op.f("ck_citizen_birth_date_precision"),
        ),
        sa.CheckConstraint(
            _in("status", ("alive", "deceased", "missing")), name=op.f("ck_citizen_status")
        ),
        sa.CheckConstraint(
            _in("marital_status", ("single", "married", "divorced", "widowed")),
            name=op.f("ck_citizen_marital_status"),
        ),
        sa.CheckConstraint("length(id_number) = 12", name=op.f("ck_citizen_id_number_length")),
    )
    op.create_index("ix_citizen_name_folded_birth_date", "citizen", ["name_folded", "birth_date"])
    op.create_index("ix_citizen_old_id_number", "citizen", ["old_id_number"])
    op.create_index("ix_citizen_household_id", "citizen", ["household_id"])

    op.create_table(
        "citizen_version",
        sa.Column("id_number", s(12), nullable=False),
        sa.Column("version", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("kind", s(16), nullable=False),
        sa.Column("is_correction", sa.Boolean(), nullable=False),
        sa.Column("legal_basis", s(300)),
        sa.Column("actor_type", s(16), nullable=False),
        sa.Column("actor_id", s(128), nullable=False),
        sa.Column("changed_fields", sa.Text(), nullable=False),
        sa.Column("previous", sa.Text()),
        sa.PrimaryKeyConstraint("id_number", "version", name=op.f("pk_citizen_version")),
        sa.ForeignKeyConstraint(
            ["id_number"], ["citizen.id_number"], name=op.f("fk_citizen_version_id_number_citizen")
        ),
        sa.CheckConstraint(
            _in(
                "kind",
                (
                    "birth",
                    "death",
                    "missing",
                    "residence",
                    "marriage",
                    "divorce",
                    "name_change",
                    "gender_change",
                    "correction",
                    "import",
                    "card",
                ),
            ),
            name=op.f("ck_citizen_version_kind"),
        ),  # fmt: skip
    )
    op.create_index("ix_citizen_version_valid_from", "citizen_version", ["id_number", "valid_from"])

    op.create_table(
        "import_job",
        sa.Column("id", sa.BigInteger().with_variant(sa.Integer(), "sqlite"), autoincrement=True),
        sa.Column("file_digest", s(64), nullable=False),
        sa.Column("file_name", s(300), nullable=False),
        sa.Column("rows_done", sa.BigInteger(), nullable=False),
        sa.Column("loaded", sa.BigInteger(), nullable=False),
        sa.Column("rejected", sa.BigInteger(), nullable=False),
        sa.Column("skipped", sa.BigInteger(), nullable=False),
        sa.Column("status", s(10), nullable=False),
        sa.Column("started_at", sa.DateTime(timezone=True), nullable=False, server_default=_now()),
        sa.Column("finished_at", sa.DateTime(timezone=True)),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_import_job")),
        sa.UniqueConstraint("file_digest", name=op.f("uq_import_job_file_digest")),
    )


def downgrade() -> None:
    """Drop the registry tables."""
    op.drop_table("import_job")
    op.drop_table("citizen_version")
    op.drop_table("citizen")
