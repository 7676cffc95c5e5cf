"""Start-up preparation: the signing keys and the portal's client, made once however many
workers start together."""

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy import func, select, text
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.settings import Settings
from identity import keys
from identity.models import Client, SigningKey
from registry.app import prepare
from registry.portal.session import PORTAL_CLIENT_ID


@pytest.mark.postgresql_only  # the workers take turns under PostgreSQL's advisory lock
async def test_workers_starting_together_make_one_set_of_keys_and_one_portal_client(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Four workers of a first start, each with its own engine (its own process in production).
    workers = [database, *(Database(settings) for _ in range(3))]
    # Each worker, having looked for the keys, waits until every other one has looked too, is
    # waiting for the start-up lock or is done: without the lock all four find none, and each
    # makes its own (then its own portal client: a duplicate key); with it, they take turns.
    looked = done = 0
    real_active_rows = keys._active_rows

    async def active_rows(session: AsyncSession, alg: str) -> Sequence[SigningKey]:
        nonlocal looked
        rows = await real_active_rows(session, alg)
        if alg == "RS256":
            looked += 1
            for _ in range(2000):  # a bound, not a timing: each step is a query
                async with database.unit_of_work() as probe:
                    waiting = await probe.scalar(
                        text("SELECT count(*) FROM pg_stat_activity WHERE wait_event = 'advisory'")
                    )
                if looked + waiting + done >= len(workers):
                    break
                await asyncio.sleep(0.005)
            looked -= 1
        return rows

    async def start(db: Database) -> None:
        nonlocal done
        try:
            await prepare(db, settings)
        finally:
            done += 1

    monkeypatch.setattr(keys, "_active_rows", active_rows)
    try:
        results = await asyncio.gather(*(start(db) for db in workers), return_exceptions=True)
    finally:
        for db in workers[1:]:
            await db.dispose()
    assert [r for r in results if r is not None] == []  # no worker failed its preparation
    async with database.unit_of_work() as session:
        active = (await session.execute(select(SigningKey.alg).where(SigningKey.active))).all()
        portal = (
            await session.execute(
                select(func.count()).select_from(Client).where(Client.client_id == PORTAL_CLIENT_ID)
            )
        ).scalar_one()
    assert sorted(alg for (alg,) in active) == ["ES256", "RS256"]  # one active key each
    assert portal == 1


async def test_preparing_again_changes_nothing(database: Database, settings: Settings) -> None:
    await prepare(database, settings)
    async with database.unit_of_work() as session:
        before = sorted((await session.execute(select(SigningKey.kid))).scalars())
    await prepare(database, settings)
    async with database.unit_of_work() as session:
        after = sorted((await session.execute(select(SigningKey.kid))).scalars())
    assert after == before and len(after) == 2
