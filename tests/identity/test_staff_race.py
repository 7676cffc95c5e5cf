"""Two administrators changing each other at the same moment (PostgreSQL's row locks)."""

from __future__ import annotations

import asyncio

import pytest

from core.auth import Principal
from core.db import Database
from core.errors import RegistryError
from core.settings import Settings
from identity import staff
from tests.identity.factories import make_staff


@pytest.mark.postgresql_only  # SQLite has one writer at a time: no race to lose
async def test_two_administrators_disabling_each_other_at_once_leave_one_active(
    database: Database, settings: Settings
) -> None:
    for name in ("quan.tri", "quan.tri2"):
        await make_staff(database, settings, username=name, roles=("administrator",))

    async def disable(actor: str, target: str) -> bool:
        who = Principal("administrator", actor, roles=frozenset({"administrator"}))
        try:
            async with database.unit_of_work() as session:
                await staff.disable(session, actor=who, username=target)
                await asyncio.sleep(0.3)  # the other one runs while this one is not committed
        except RegistryError:
            return False
        return True

    done = await asyncio.gather(disable("quan.tri", "quan.tri2"), disable("quan.tri2", "quan.tri"))
    assert sorted(done) == [False, True]
