"""Declarative base with a stable constraint naming convention, and shared column types."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, DateTime, MetaData, String, TypeDecorator, type_coerce
from sqlalchemy.engine import Dialect
from sqlalchemy.orm import DeclarativeBase
from sqlalchemy.types import TypeEngine

# Alembic needs deterministic names to alter or drop constraints later.
NAMING_CONVENTION = {
    "ix": "ix_%(column_0_label)s",
    "uq": "uq_%(table_name)s_%(column_0_N_name)s",
    "ck": "ck_%(table_name)s_%(constraint_name)s",
    "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
    "pk": "pk_%(table_name)s",
}

metadata = MetaData(naming_convention=NAMING_CONVENTION)


class Base(DeclarativeBase):
    """Base class of every table; one metadata for one linear migration history."""

    metadata = metadata


def code(length: int) -> TypeEngine[str]:
    """A string that is a code, not words (ID numbers, aliases, folded search keys).

    On PostgreSQL it compares byte by byte (``COLLATE "C"``): a code has no language to sort by,
    and the database's own locale (``C.UTF-8``, ``vi_VN.UTF-8``...) compares through strcoll,
    which costs more and rules out abbreviated sort keys: building citizen's indexes after a
    load and COPY into it are much cheaper this way (docs/performance.md, "Code collation").
    Every column holding the same kind of value must use it too: PostgreSQL
    refuses to compare two columns of different collations.
    """
    return String(length).with_variant(String(length, collation="C"), "postgresql")


class UTCDateTime(TypeDecorator[datetime]):
    """A timezone-aware UTC timestamp on every backend (SQLite stores it naive, as UTC)."""

    impl = DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if value.tzinfo is None:
            raise ValueError("naive datetimes are not accepted; use timezone-aware UTC")
        value = value.astimezone(UTC)
        return value.replace(tzinfo=None) if dialect.name == "sqlite" else value

    def process_result_value(self, value: Any, dialect: Dialect) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, str):  # raw SQLite text, e.g. from CURRENT_TIMESTAMP
            value = datetime.fromisoformat(value)
        if not isinstance(value, datetime):
            raise TypeError(f"expected a datetime from the database, got {type(value).__name__}")
        if value.tzinfo is None:
            return value.replace(tzinfo=UTC)
        return value.astimezone(UTC)


def _sqlite_instant(value: datetime) -> str:
    # SQLite stores a database-clock timestamp as UTC text with milliseconds
    # ('YYYY-MM-DD HH:MM:SS.fff', the migrations' default), so compare text with text in that
    # very format: the index stays usable and equal instants compare equal. Rounding up to the
    # next millisecond keeps both bounds exact:
    # t >= x  <=>  t >= ceil_ms(x), and t < x  <=>  t < ceil_ms(x).
    value = value.astimezone(UTC)
    if value.microsecond % 1000:
        value += timedelta(microseconds=1000 - value.microsecond % 1000)
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def instant_bounds(
    column: Any, dialect: str, *, since: datetime | None = None, until: datetime | None = None
) -> list[ColumnElement[bool]]:
    """``since <= column < until`` (each bound only when given; timezone-aware) for a
    database-clock UTCDateTime column, exact on both databases."""
    conditions: list[ColumnElement[bool]] = []
    if dialect == "sqlite":
        as_text = type_coerce(column, String())
        if since is not None:
            conditions.append(as_text >= _sqlite_instant(since))
        if until is not None:
            conditions.append(as_text < _sqlite_instant(until))
        return conditions
    if since is not None:
        conditions.append(column >= since)
    if until is not None:
        conditions.append(column < until)
    return conditions
