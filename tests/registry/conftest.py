"""Fixtures shared by the registry's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from core.db import Database
from core.settings import Settings
from registry.agency import api as agency_api
from registry.agency.grouped import Outcome
from registry.agency.memory import AgencyMemory
from registry.agency.policy import Policy
from tests.http import asgi_client
from tests.identity.factories import make_citizen
from tests.registry.agencies import ANH_RECORD, DUC, LAN, Env, registry_app
from tests.registry.officials import AS_OFFICIAL, officials_app


@pytest.fixture
async def env(settings: Settings, database: Database) -> AsyncIterator[Env]:
    """The app, and the three citizens of these tests."""
    async with asgi_client(registry_app(settings, database)) as web:
        await make_citizen(database, **ANH_RECORD)
        await make_citizen(
            database,
            id_number=DUC,
            full_name="trần văn  đức",
            birth_date="1950",
            gender="male",
            card_number=None,
            card_issue_date=None,
            card_expiry_date=None,
            card_issue_place=None,
        )
        await make_citizen(
            database,
            id_number=LAN,
            full_name="Lê Thị Lan",
            birth_date="1985-03",
            birth_province="079",
            card_number=LAN,
            nationality="VN",
        )
        yield Env(settings, database, web)


@pytest.fixture
def served(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """The calls the grouped statement answered (the others took the full path)."""
    seen: list[str] = []

    def counting(name: str) -> Any:
        original = getattr(agency_api, name)

        async def count(*args: Any, **kwargs: Any) -> Outcome:
            outcome: Outcome = await original(*args, **kwargs)
            if outcome.answer is not None:
                seen.append(name)
            return outcome

        return count

    for name in ("grouped_lookup", "grouped_verify"):
        monkeypatch.setattr(agency_api, name, counting(name))
    return seen


class _Forgetful(AgencyMemory):
    """Remembers no policy: every call takes the full path."""

    def saw_policy(self, client_id: str, stored: str, policy: Policy) -> None:
        return None


@pytest.fixture
async def slow(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The same app without the grouped statement: every call takes the full path."""
    app = registry_app(settings, database)
    app.state.agency_memory = _Forgetful()
    async with asgi_client(app) as web:
        yield web


@pytest.fixture
def officials(settings: Settings, database: Database) -> FastAPI:
    """The app whose officials and auditors are the bearer tokens of tests.registry.officials."""
    return officials_app(settings, database)


@pytest.fixture
async def api(officials: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """A client of the officials' app, calling as the official."""
    async with asgi_client(officials) as c:
        c.headers.update(AS_OFFICIAL)
        yield c
