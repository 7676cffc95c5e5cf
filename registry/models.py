"""Citizen records (current state), their versions (history), and import jobs and runs.

The field set follows the national population database (Law on Citizen Identification 2014
Art. 9, as amended by the Law on Residence 2020).
"""

from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Date,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, UTCDateTime, code
from registry.codes import BLOOD_TYPES, GENDERS, MARITAL, PRECISIONS, STATUSES, VERSION_KINDS

__all__ = [
    "BLOOD_TYPES",
    "GENDERS",
    "MARITAL",
    "PRECISIONS",
    "STATUSES",
    "VERSION_KINDS",
    "Citizen",
    "CitizenVersion",
    "ImportJob",
    "ImportRun",
]


def _in(column: str, values: tuple[str, ...]) -> str:
    return f"{column} IN (" + ", ".join(f"'{v}'" for v in values) + ")"


def _where_set(column: str) -> Index:
    """An index on citizen's ``column`` holding only the records where it is set."""
    where = text(f"{column} IS NOT NULL")
    return Index(f"ix_citizen_{column}", column, postgresql_where=where, sqlite_where=where)


class Citizen(Base):
    """The current state of one person's record, keyed by the 12-digit personal ID number."""

    __tablename__ = "citizen"

    id_number: Mapped[str] = mapped_column(code(12), primary_key=True)
    version: Mapped[int] = mapped_column(Integer)
    full_name: Mapped[str] = mapped_column(String(100))
    # Case- and diacritic-folded name for search (registry.names.fold).
    name_folded: Mapped[str] = mapped_column(code(100))
    other_names: Mapped[str | None] = mapped_column(String(200))
    birth_date: Mapped[date] = mapped_column(Date)
    # Older records know only the year, or year and month: the unknown parts of birth_date are 1.
    birth_date_precision: Mapped[str] = mapped_column(String(5))
    gender: Mapped[str] = mapped_column(String(6))
    birth_province: Mapped[str] = mapped_column(String(3))
    birth_place: Mapped[str | None] = mapped_column(String(200))
    hometown: Mapped[str | None] = mapped_column(String(200))
    ethnicity: Mapped[str] = mapped_column(String(2))
    religion: Mapped[str | None] = mapped_column(String(60))
    nationality: Mapped[str] = mapped_column(String(2))
    marital_status: Mapped[str] = mapped_column(String(8))
    blood_type: Mapped[str | None] = mapped_column(String(3))
    permanent_address: Mapped[str | None] = mapped_column(String(300))
    temporary_address: Mapped[str | None] = mapped_column(String(300))
    current_address: Mapped[str | None] = mapped_column(String(300))
    household_id: Mapped[str | None] = mapped_column(code(20))
    household_relationship: Mapped[str | None] = mapped_column(String(40))
    father_id_number: Mapped[str | None] = mapped_column(code(12))
    father_name: Mapped[str | None] = mapped_column(String(100))
    father_nationality: Mapped[str | None] = mapped_column(String(2))
    mother_id_number: Mapped[str | None] = mapped_column(code(12))
    mother_name: Mapped[str | None] = mapped_column(String(100))
    mother_nationality: Mapped[str | None] = mapped_column(String(2))
    spouse_id_number: Mapped[str | None] = mapped_column(code(12))
    spouse_name: Mapped[str | None] = mapped_column(String(100))
    spouse_nationality: Mapped[str | None] = mapped_column(String(2))
    # A foreign spouse without a Vietnamese number: the passport (migration 0015).
    spouse_passport_number: Mapped[str | None] = mapped_column(String(20))
    representative_id_number: Mapped[str | None] = mapped_column(code(12))
    representative_name: Mapped[str | None] = mapped_column(String(100))
    representative_nationality: Mapped[str | None] = mapped_column(String(2))
    status: Mapped[str] = mapped_column(String(8))
    death_date: Mapped[date | None] = mapped_column(Date)
    missing_date: Mapped[date | None] = mapped_column(Date)
    card_number: Mapped[str | None] = mapped_column(code(12))
    card_issue_date: Mapped[date | None] = mapped_column(Date)
    card_issue_place: Mapped[str | None] = mapped_column(String(200))
    card_expiry_date: Mapped[date | None] = mapped_column(Date)
    old_id_number: Mapped[str | None] = mapped_column(code(9))
    # A legal change of gender issues a new number; the old record points at its successor.
    replaced_by: Mapped[str | None] = mapped_column(code(12), ForeignKey("citizen.id_number"))
    # The import run that created the record, which is its version 1 (it has no version row of
    # its own); NULL for a record created otherwise. No foreign key: its per-row check cost a
    # third of a bulk load's COPY, and import_run only grows (triggers, migration 0009).
    import_run_id: Mapped[int | None] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=text("CURRENT_TIMESTAMP")
    )
    updated_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=text("CURRENT_TIMESTAMP")
    )

    __table_args__ = (
        CheckConstraint(_in("gender", GENDERS), name="gender"),
        CheckConstraint(_in("birth_date_precision", PRECISIONS), name="birth_date_precision"),
        CheckConstraint(_in("status", STATUSES), name="status"),
        CheckConstraint(_in("marital_status", MARITAL), name="marital_status"),
        CheckConstraint("length(id_number) = 12", name="id_number_length"),
        Index("ix_citizen_name_folded_birth_date", "name_folded", "birth_date"),
        # Only records that carry an old 9-digit number (a fifth of the generated population):
        # a search gives one, so NULLs are never looked up (migration 0011).
        _where_set("old_id_number"),
        Index("ix_citizen_household_id", "household_id"),
        # Only records that were replaced (a few): the key to citizen is checked through it
        # rather than by reading the whole table (migration 0012).
        _where_set("replaced_by"),
    )


class CitizenVersion(Base):
    """One version of a record: who changed what, when, why, and what the fields were before.

    The current state lives in ``citizen``; a past state is rebuilt by undoing, newest first,
    the versions after the instant asked for (each keeps the previous values of its fields).
    """

    __tablename__ = "citizen_version"

    id_number: Mapped[str] = mapped_column(
        code(12), ForeignKey("citizen.id_number"), primary_key=True
    )
    version: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime)
    kind: Mapped[str] = mapped_column(String(16))
    # A correction fixes a recording error; every other kind is a life event or import.
    is_correction: Mapped[bool] = mapped_column(default=False)
    legal_basis: Mapped[str | None] = mapped_column(String(300))
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(128))
    changed_fields: Mapped[str] = mapped_column(Text)  # JSON array of field names
    # JSON object of the changed fields' values before this version (NULL: it created the record).
    previous: Mapped[str | None] = mapped_column(Text)
    # The day the life event happened, for events whose date is no field of the record (marriage,
    # divorce: migration 0013); NULL for every other version.
    event_date: Mapped[date | None] = mapped_column(Date)

    __table_args__ = (
        CheckConstraint(_in("kind", VERSION_KINDS), name="kind"),
        Index("ix_citizen_version_valid_from", "id_number", "valid_from"),
    )


class ImportRun(Base):
    """One run of ``registry import`` on a job's file: who ran it and on what legal basis.

    It is version 1 of every record it created: an imported record names its run
    (``citizen.import_run_id``) instead of having a version row of its own, and its
    ``created_at`` (the time of the batch's transaction) is when that version became valid.
    Rows are never changed or deleted.
    """

    __tablename__ = "import_run"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    job_id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), ForeignKey("import_job.id")
    )
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(128))
    legal_basis: Mapped[str] = mapped_column(String(300))
    started_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=text("CURRENT_TIMESTAMP")
    )


class ImportJob(Base):
    """One bulk import of one file (by digest): progress for resuming, counts for the report."""

    __tablename__ = "import_job"

    id: Mapped[int] = mapped_column(
        BigInteger().with_variant(Integer(), "sqlite"), primary_key=True, autoincrement=True
    )
    file_digest: Mapped[str] = mapped_column(String(64), unique=True)
    file_name: Mapped[str] = mapped_column(String(300))
    rows_done: Mapped[int] = mapped_column(BigInteger, default=0)
    loaded: Mapped[int] = mapped_column(BigInteger, default=0)
    rejected: Mapped[int] = mapped_column(BigInteger, default=0)
    skipped: Mapped[int] = mapped_column(BigInteger, default=0)
    status: Mapped[str] = mapped_column(String(10))
    started_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=text("CURRENT_TIMESTAMP")
    )
    finished_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
