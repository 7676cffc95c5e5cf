"""Portal sessions in tests: a cookie-keeping browser on the public URL, the sign-in through the
portal's own OIDC client, and a session made directly (as the callback would make it)."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI

from core.clock import utcnow
from core.db import Database
from core.settings import Settings
from identity import repository as identity_repo
from identity.models import Grant
from registry.portal.session import PORTAL_CLIENT_ID, start_session
from tests.identity.factories import sign_in


@asynccontextmanager
async def browser(app: FastAPI, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping client on the public URL's origin (the portal's redirects are absolute)."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with app.router.lifespan_context(app):
        async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as client:
            yield client


async def portal_sign_in(web: httpx.AsyncClient, next_path: str = "/portal") -> httpx.Response:
    """Sign in through /portal/login like a browser; the response of the page asked for."""
    start = await web.get("/portal/login", params={"next": next_path})
    assert start.status_code == 303
    back = await sign_in(web, start.headers["location"])
    # The provider redirects to the portal's callback on this same origin.
    while back.status_code in (302, 303):
        back = await web.get(back.headers["location"])
    return back


async def session_cookie(
    database: Database, settings: Settings, account_id: str, *, amr: str = "hwk user"
) -> str:
    """A portal session of the account (as the callback would make it); the cookie value."""
    async with database.unit_of_work() as session:
        account = await identity_repo.account_by_id(session, account_id)
        assert account is not None
        grant = Grant(
            id=str(uuid.uuid4()),
            client_id=PORTAL_CLIENT_ID,
            account_id=account_id,
            scope="openid",
            auth_time=utcnow(),
            acr="urn:vn:registry:loa:2:passkey",
            amr=amr,
        )
        session.add(grant)
        await session.flush()
        return await start_session(
            session, settings, account=account, grant_id=grant.id, amr=amr, kind="console"
        )
