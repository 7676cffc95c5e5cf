"""The import's "new numbers only" rule (registry.bulk.repository.insert_new) is one rule on both
databases (PostgreSQL through its staging table, SQLite in one statement): a number already
registered is left untouched, a number repeated in the batch is inserted once with its first
row's values, and the numbers inserted are returned."""

from __future__ import annotations

from datetime import date

from sqlalchemy import select

from core.db import Database
from registry.bulk import repository as bulk_repo
from registry.models import Citizen
from registry.record import parse_record
from tests.registry.import_rows import ACTOR, person

TODAY = date(2025, 6, 1)


def parsed(i: int, **changes: str) -> dict[str, object]:
    return parse_record({**person(i), **changes}, today=TODAY)


async def test_only_numbers_not_yet_registered_are_inserted_once(database: Database) -> None:
    async with database.unit_of_work() as session:
        job = await bulk_repo.create_job(session, "d" * 64, "people.csv")
        run = await bulk_repo.create_run(
            session,
            job.id,
            actor_type=ACTOR.actor_type,
            actor_id=ACTOR.actor_id,
            legal_basis="test",
        )
        first = await bulk_repo.insert_new(session, [parsed(1), parsed(2)], run_id=run)
        batch = [
            parsed(2, permanent_address="Số 9, Phố Mới"),  # registered: untouched
            parsed(3),
            parsed(4),
            parsed(3, permanent_address="Số 9, Phố Mới"),  # repeated: the first row wins
            parsed(1),  # registered
            parsed(4),  # repeated with the same values
        ]
        second = await bulk_repo.insert_new(session, batch, run_id=run)
        empty = await bulk_repo.insert_new(session, [], run_id=run)
        stored = dict(
            (await session.execute(select(Citizen.id_number, Citizen.permanent_address))).all()
        )
    numbers = {i: person(i)["id_number"] for i in (1, 2, 3, 4)}
    assert sorted(first) == sorted([numbers[1], numbers[2]])
    assert sorted(second) == sorted([numbers[3], numbers[4]])
    assert empty == []
    assert stored == {numbers[i]: person(i)["permanent_address"] for i in (1, 2, 3, 4)}
