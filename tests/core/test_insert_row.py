"""core.db.insert_row: one INSERT straight to the driver on PostgreSQL, as SQLAlchemy would
make it (bound values, defaults, errors, order), and through SQLAlchemy on SQLite."""

from datetime import UTC, datetime, timedelta, timezone

import pytest
from sqlalchemy import ForeignKey, Integer, String, Table, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

from core.db import Database, dialect_of, insert_row
from core.models import UTCDateTime


class Scratch(DeclarativeBase):
    pass


class Parent(Scratch):
    __tablename__ = "scratch_parent_row"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)


class Child(Scratch):
    __tablename__ = "scratch_child_row"

    id: Mapped[str] = mapped_column(String(20), primary_key=True)
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("scratch_parent_row.id"))
    at: Mapped[datetime] = mapped_column(UTCDateTime)
    note: Mapped[str] = mapped_column(String(20), default="none given")


class Computed(Scratch):
    __tablename__ = "scratch_computed_row"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    made: Mapped[str] = mapped_column(String(20), default=lambda: "computed")


CHILD: Table = Child.__table__  # type: ignore[assignment]
COMPUTED: Table = Computed.__table__  # type: ignore[assignment]


@pytest.fixture
async def scratch(database: Database) -> Database:
    async with database.engine.begin() as conn:
        await conn.run_sync(Scratch.metadata.create_all)
    return database


async def test_a_row_goes_in_with_its_values_bound_as_the_columns_bind_them(
    scratch: Database,
) -> None:
    hanoi = timezone(timedelta(hours=7))
    at = datetime(2026, 12, 3, 9, 30, tzinfo=hanoi)
    async with scratch.unit_of_work() as session:
        await insert_row(session, CHILD, {"id": "a", "parent_id": None, "at": at})
    async with scratch.unit_of_work() as session:
        row = (await session.execute(select(Child))).scalar_one()
        assert row.at == at  # the same instant
        assert row.at.tzinfo is not None and row.at.utcoffset() == timedelta(0)
        assert row.at == datetime(2026, 12, 3, 2, 30, tzinfo=UTC)
        assert row.note == "none given"  # the column's Python-side default, as SQLAlchemy adds


async def test_a_duplicate_key_is_sqlalchemys_integrity_error_and_writes_nothing(
    scratch: Database,
) -> None:
    now = datetime.now(UTC)
    async with scratch.unit_of_work() as session:
        await insert_row(session, CHILD, {"id": "a", "at": now})

    async def both() -> None:
        async with scratch.unit_of_work() as session:
            await insert_row(session, CHILD, {"id": "b", "at": now})
            await insert_row(session, CHILD, {"id": "a", "at": now})

    with pytest.raises(IntegrityError):  # the app answers it 409, as from session.execute
        await both()
    async with scratch.unit_of_work() as session:
        ids = (await session.execute(select(Child.id))).scalars().all()
    assert ids == ["a"]  # "b" went with the failed unit of work


async def test_pending_orm_rows_go_in_first(scratch: Database) -> None:
    # The child's foreign key needs the parent, which the ORM only holds until it flushes.
    async with scratch.unit_of_work() as session:
        await session.execute(select(Parent))  # the unit of work has begun
        session.add(Parent(id=7))
        await insert_row(session, CHILD, {"id": "c", "parent_id": 7, "at": datetime.now(UTC)})
    async with scratch.unit_of_work() as session:
        child = (await session.execute(select(Child))).scalar_one()
        assert child.parent_id == 7


async def test_a_computed_default_must_be_given_on_postgresql(scratch: Database) -> None:
    async with scratch.unit_of_work() as session:
        if dialect_of(session) == "postgresql":
            with pytest.raises(TypeError, match="scratch_computed_row.made"):
                await insert_row(session, COMPUTED, {"id": 1})
        else:  # SQLAlchemy's own INSERT computes it
            await insert_row(session, COMPUTED, {"id": 1})
        await insert_row(session, COMPUTED, {"id": 2, "made": "given"})
    async with scratch.unit_of_work() as session:
        made = (await session.execute(select(Computed.made).where(Computed.id == 2))).scalar()
    assert made == "given"
