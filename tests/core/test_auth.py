"""``require(...)`` authenticates through the Authenticator plugged in at app creation."""

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated

import httpx
import pytest
from fastapi import Depends, FastAPI, Request
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import Principal, require
from core.settings import Settings
from registry.app import create_app
from tests.http import asgi_client

TOKENS = {
    "tok-official": Principal("official", "staff-7", roles=frozenset({"official"})),
    "tok-agency": Principal(
        "agency", "bank-1", roles=frozenset({"agency"}), scopes=frozenset({"verify"})
    ),
}


class BearerTable:
    """A real Authenticator over a fixed token table (identity provides the production one)."""

    async def authenticate(self, request: Request, session: AsyncSession) -> Principal | None:
        assert isinstance(session, AsyncSession)  # the request's unit of work is passed in
        header = request.headers.get("authorization", "")
        scheme, _, token = header.partition(" ")
        return TOKENS.get(token) if scheme.lower() == "bearer" else None


def build(app: FastAPI) -> FastAPI:
    @app.get("/t/official")
    async def official(p: Annotated[Principal, Depends(require("official"))]) -> dict[str, str]:
        return {"actor": p.actor_id}

    @app.get("/t/lookup")
    async def lookup(
        p: Annotated[Principal, Depends(require("agency", scopes=["lookup"]))],
    ) -> dict[str, str]:
        return {"actor": p.actor_id}

    @app.get("/t/any")
    async def any_(p: Annotated[Principal, Depends(require())]) -> dict[str, str]:
        return {"actor": p.actor_type}

    return app


@pytest.fixture
async def client(settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    # A migrated database: a refusal at the gate is recorded in the audit log.
    app = build(create_app(settings, authenticator=BearerTable()))
    async with asgi_client(app) as c:
        yield c


def bearer(token: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token}"}


async def test_no_credentials_is_401_with_challenge(client: httpx.AsyncClient) -> None:
    response = await client.get("/t/official")
    assert response.status_code == 401
    assert response.headers["www-authenticate"].startswith("Bearer")
    assert response.json()["code"] == "unauthenticated"
    assert (await client.get("/t/official", headers=bearer("forged"))).status_code == 401


async def test_role_is_checked(client: httpx.AsyncClient) -> None:
    ok = await client.get("/t/official", headers=bearer("tok-official"))
    assert ok.status_code == 200
    assert ok.json() == {"actor": "staff-7"}
    denied = await client.get("/t/official", headers=bearer("tok-agency"))
    assert denied.status_code == 403
    assert "official" in denied.json()["detail"]


async def test_missing_scope_names_it(client: httpx.AsyncClient) -> None:
    response = await client.get("/t/lookup", headers=bearer("tok-agency"))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    assert "lookup" in response.json()["detail"]


async def test_require_without_roles_accepts_any_principal(client: httpx.AsyncClient) -> None:
    response = await client.get("/t/any", headers=bearer("tok-agency"))
    assert response.json() == {"actor": "agency"}


async def test_default_authenticator_admits_nobody(tmp_path: Path) -> None:
    settings = Settings(environment="test", database_url=f"sqlite+aiosqlite:///{tmp_path}/b.db")
    app = build(create_app(settings))
    async with asgi_client(app) as c:
        response = await c.get("/t/any", headers=bearer("tok-official"))
    assert response.status_code == 401
