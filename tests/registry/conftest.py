"""Fixtures shared by the registry's tests."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from core.db import Database
from core.settings import Settings
from registry.agency import fastlane
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
    """The paths the fast lane answered itself (not handed to the app)."""
    seen: list[str] = []
    original = fastlane.AgencyFastLane._serve  # noqa: SLF001

    async def counting(self: Any, scope: Any, *args: Any, **kwargs: Any) -> None:
        await original(self, scope, *args, **kwargs)
        # The lane's own route templates (the app's router puts its route objects there).
        if scope.get("route") in (fastlane._LOOKUP_ROUTE, fastlane._VERIFY_ROUTE):  # noqa: SLF001
            seen.append(scope["path"])

    monkeypatch.setattr(fastlane.AgencyFastLane, "_serve", counting)
    return seen


@pytest.fixture
async def slow(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The same app without the fast lane: every call goes through FastAPI's routes."""
    plain = settings.model_copy(update={"agency_fast_lane": False})
    async with asgi_client(registry_app(plain, database)) as web:
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
