"""Start-up preparation: the signing keys and the portal's client, made once however many
workers start together."""

import asyncio
from collections.abc import Sequence

import pytest
from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.settings import Settings
from identity import keys
from identity import repository as identity_repo
from identity.models import Client, SigningKey
from registry.app import prepare
from registry.portal.session import PORTAL_CLIENT_ID
from tests.turns import LookBarrier


@pytest.mark.postgresql_only  # the workers take turns under PostgreSQL's advisory lock
async def test_workers_starting_together_make_one_set_of_keys_and_one_portal_client(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Four workers of a first start, each with its own engine (its own process in production).
    workers = [database, *(Database(settings) for _ in range(3))]
    # Each worker, having looked for the keys (and then for the portal's client), waits until
    # every other one has looked too, is waiting for a lock or is done: without the locks all
    # four find none, and each makes its own; with them, they take turns.
    key_turns = LookBarrier(database, len(workers))
    client_turns = LookBarrier(database, len(workers))
    real_active_rows, real_client = keys._active_rows, identity_repo.client

    async def active_rows(session: AsyncSession, alg: str) -> Sequence[SigningKey]:
        rows = await real_active_rows(session, alg)
        if alg == "RS256":
            await key_turns.after_look()
        return rows

    async def client(session: AsyncSession, client_id: str) -> Client | None:
        found = await real_client(session, client_id)
        if client_id == PORTAL_CLIENT_ID:
            await client_turns.after_look()
        return found

    async def start(db: Database) -> None:
        await client_turns.run(key_turns.run(prepare(db, settings)))

    monkeypatch.setattr(keys, "_active_rows", active_rows)
    monkeypatch.setattr(identity_repo, "client", client)
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
