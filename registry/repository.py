"""All SQL of citizen records and their versions. Functions flush through the caller's session
and never commit. Rows travel as plain dicts of stored columns."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, datetime
from typing import Any, cast

from sqlalchemy import ColumnElement, Table, and_, bindparam, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from core.statements import Statement, insert_for
from registry.models import Citizen, CitizenVersion, ImportRun

CITIZEN = cast(Table, Citizen.__table__)
VERSION = cast(Table, CitizenVersion.__table__)
RUN = cast(Table, ImportRun.__table__)
c = CITIZEN.c
v = VERSION.c

SUMMARY_COLUMNS = (
    c.id_number,
    c.full_name,
    c.birth_date,
    c.birth_date_precision,
    c.gender,
    c.birth_province,
    c.status,
    c.replaced_by,
)


async def get_citizen(session: AsyncSession, id_number: str) -> dict[str, Any] | None:
    """The stored columns of one record, or None."""
    row = (
        (await session.execute(select(CITIZEN).where(c.id_number == id_number)))
        .mappings()
        .one_or_none()
    )
    return None if row is None else dict(row)


class CitizenColumns:
    """A read of these stored columns of one record by ID number (the directory's reads: a few
    of the record's 45 columns on every sign-in and token request): one statement for both
    databases, straight to the driver on PostgreSQL (core.statements)."""

    def __init__(self, *columns: ColumnElement[Any]) -> None:
        self.read = Statement(select(*columns).where(c.id_number == bindparam("id_number")))


async def citizen_columns(
    session: AsyncSession, id_number: str, columns: CitizenColumns
) -> dict[str, Any] | None:
    """These stored columns of one record, or None."""
    row = await columns.read.fetch_row(session, {"id_number": id_number})
    return None if row is None else dict(row)


async def insert_citizen_if_free(session: AsyncSession, values: dict[str, Any]) -> bool:
    """Insert a record unless its ID number is taken (then nothing is written): True if inserted.

    ON CONFLICT DO NOTHING instead of catching a unique violation: on PostgreSQL a failed
    INSERT would abort the transaction (a SAVEPOINT would be needed), and on SQLite the
    pysqlite driver turns a first-statement SAVEPOINT into the transaction itself, so its
    RELEASE commits (test_a_failing_audit_insert_means_a_life_event_writes_nothing would catch
    a birth whose record outlived its failed audit event).
    """
    statement = (
        insert_for(session, CITIZEN)
        .values(values)
        .on_conflict_do_nothing(index_elements=[c.id_number])
        .returning(c.id_number)
    )
    return (await session.execute(statement)).first() is not None


async def update_citizen(
    session: AsyncSession, id_number: str, *, expected_version: int, values: dict[str, Any]
) -> bool:
    """Set ``values`` and bump the version if the record is still at ``expected_version``.

    False when another transaction changed it first (optimistic concurrency: on PostgreSQL
    the UPDATE waits for that transaction and then re-checks the version).
    """
    statement = (
        update(CITIZEN)
        .where(c.id_number == id_number, c.version == expected_version)
        .values(**values, version=expected_version + 1)
        .returning(c.version)
    )
    return (await session.execute(statement)).first() is not None


async def insert_version(session: AsyncSession, values: dict[str, Any]) -> None:
    """Append one version row."""
    await session.execute(insert(VERSION), [values])


async def last_valid_from(session: AsyncSession, id_number: str) -> datetime | None:
    """When the newest version of a record became valid (its creation, for an imported record
    with no version row)."""
    newest = select(v.valid_from).where(v.id_number == id_number).order_by(v.version.desc())
    result = await session.execute(newest.limit(1))
    found = result.scalar_one_or_none()
    if found is None:
        created = await session.execute(select(c.created_at).where(c.id_number == id_number))
        found = created.scalar_one_or_none()
    return cast(datetime | None, found)


async def versions(
    session: AsyncSession, id_number: str, *, after: datetime | None = None
) -> list[dict[str, Any]]:
    """A record's versions, newest first; only those valid from after ``after`` if given.

    An imported record's version 1 is the import run that created it (migration 0009): it has
    no row of its own, so it is made here from the run and the record's ``created_at``.
    """
    query = select(VERSION).where(v.id_number == id_number)
    if after is not None:
        query = query.where(v.valid_from > after)
    found = await session.execute(query.order_by(v.version.desc()))
    rows = [dict(row) for row in found.mappings()]
    if rows and rows[-1]["version"] == 1:
        return rows
    imported = await _import_version(session, id_number)
    if imported is not None and (after is None or imported["valid_from"] > after):
        rows.append(imported)
    return rows


async def _import_version(session: AsyncSession, id_number: str) -> dict[str, Any] | None:
    """Version 1 of a record created by an import run, in the form of a version row."""
    query = (
        select(c.created_at, RUN.c.legal_basis, RUN.c.actor_type, RUN.c.actor_id)
        .join_from(CITIZEN, RUN, RUN.c.id == c.import_run_id)
        .where(c.id_number == id_number)
    )
    row = (await session.execute(query)).first()
    if row is None:
        return None
    return {
        "id_number": id_number,
        "version": 1,
        "valid_from": row.created_at,
        "kind": "import",
        "is_correction": False,
        "legal_basis": row.legal_basis,
        "actor_type": row.actor_type,
        "actor_id": row.actor_id,
        "changed_fields": '["*"]',
        "previous": None,
    }


async def search_by_old_number(
    session: AsyncSession, old_id_number: str, *, after: str | None, limit: int
) -> Sequence[dict[str, Any]]:
    """Records carrying a 9-digit card number, in ID-number order after ``after``."""
    return await _page(session, c.old_id_number == old_id_number, after=after, limit=limit)


async def search_by_name(
    session: AsyncSession,
    name_folded: str,
    *,
    earliest: date,
    latest: date,
    after: str | None,
    limit: int,
) -> Sequence[dict[str, Any]]:
    """Records with this folded name whose birth date may fall in ``earliest..latest``.

    A record's date stands for its whole day, month or year (its precision); it matches when
    that span overlaps the range. Each branch is a range on (name_folded, birth_date).
    """
    month_floor = earliest.replace(day=1)
    year_floor = earliest.replace(month=1, day=1)
    overlaps = or_(
        and_(c.birth_date_precision == "day", c.birth_date.between(earliest, latest)),
        and_(c.birth_date_precision == "month", c.birth_date.between(month_floor, latest)),
        and_(c.birth_date_precision == "year", c.birth_date.between(year_floor, latest)),
    )
    return await _page(
        session, and_(c.name_folded == name_folded, overlaps), after=after, limit=limit
    )


async def _page(
    session: AsyncSession, where: ColumnElement[bool], *, after: str | None, limit: int
) -> Sequence[dict[str, Any]]:
    query = select(*SUMMARY_COLUMNS).where(where)
    if after is not None:
        query = query.where(c.id_number > after)
    rows = (await session.execute(query.order_by(c.id_number).limit(limit))).mappings().all()
    return [dict(row) for row in rows]
