"""What an app remembers between requests (signing keys, token validations, client rows,
ceremony purges, prepared inserts) belongs to that app, made by the composition root: two apps
built in one process share none of it."""

from __future__ import annotations

from typing import cast

import pytest
from fastapi import FastAPI
from sqlalchemy import Table

from core.db import Database
from core.settings import Settings
from identity import keys
from identity import repository as identity_repo
from identity.models import RevokedToken
from identity.oidc import tokens
from identity.services import IdentityServices
from registry.app import create_app
from tests.http import asgi_client
from tests.identity.factories import make_agency


def services(app: FastAPI) -> IdentityServices:
    found: IdentityServices = app.state.identity
    return found


@pytest.fixture
def apps(settings: Settings, database: Database) -> tuple[FastAPI, FastAPI]:
    """Two apps built in this process, on one database."""
    return create_app(settings, database=database), create_app(settings, database=database)


async def test_a_token_validated_by_one_app_is_not_remembered_by_another(
    apps: tuple[FastAPI, FastAPI], database: Database, settings: Settings
) -> None:
    first, second = apps
    client_id, secret = await make_agency(database, settings, scopes=["verify"])
    async with asgi_client(first) as web:
        answer = await web.post(
            "/token", data={"grant_type": "client_credentials"}, auth=(client_id, secret)
        )
    token = answer.json()["access_token"]
    async with database.unit_of_work() as session:
        await tokens.validate_access_token(session, services(first).tokens, token)
    assert services(first).tokens.memory.remembered_client_token(settings, token) is not None
    assert services(second).tokens.memory.remembered_client_token(settings, token) is None


async def test_a_signing_key_decrypted_by_one_app_is_not_handed_to_another(
    apps: tuple[FastAPI, FastAPI], database: Database, settings: Settings
) -> None:
    first, second = (services(app).tokens.signing for app in apps)
    async with database.unit_of_work() as session:
        key = await keys.active_key(session, settings, "ES256", cache=first)
        assert await keys.active_key(session, settings, "ES256", cache=first) is key
        other = await keys.active_key(session, settings, "ES256", cache=second)
    assert other.kid == key.kid
    assert other is not key


@pytest.mark.postgresql_only  # built from the driver's row (SQLite reads through the ORM)
async def test_a_client_row_built_by_one_app_is_not_handed_to_another(
    apps: tuple[FastAPI, FastAPI], database: Database, settings: Settings
) -> None:
    first, second = (services(app).tokens.clients for app in apps)
    client_id, _ = await make_agency(database, settings)
    async with database.unit_of_work() as session:
        client = await identity_repo.detached_client(session, client_id, built=first)
        again = await identity_repo.detached_client(session, client_id, built=first)
        other = await identity_repo.detached_client(session, client_id, built=second)
    assert client is not None
    assert again is client
    assert other is not None
    assert other.client_id == client.client_id
    assert other is not client


async def test_a_ceremony_purge_by_one_app_does_not_delay_another(
    apps: tuple[FastAPI, FastAPI], database: Database
) -> None:
    first, second = (services(app).challenge_purge for app in apps)
    async with database.unit_of_work() as session:
        assert first.due(session)
        assert not first.due(session)
        assert second.due(session)


async def test_apps_with_their_own_databases_share_no_prepared_inserts(settings: Settings) -> None:
    first, second = (create_app(settings).state.database for _ in range(2))
    table = cast(Table, RevokedToken.__table__)
    names = ("jti", "expires_at")
    try:
        prepared = first.row_inserts.prepared(table, names, first.engine.dialect)
        assert first.row_inserts.prepared(table, names, first.engine.dialect) is prepared
        other = second.row_inserts.prepared(table, names, second.engine.dialect)
        assert other.sql == prepared.sql
        assert other is not prepared
    finally:
        for database in (first, second):
            await database.dispose()
