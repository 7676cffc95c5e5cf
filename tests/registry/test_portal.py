"""The citizen portal in-process: sign-in through the portal's own OIDC client, my record."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from core.db import Database
from core.settings import Settings
from tests.identity.factories import CITIZEN_ID, make_account, make_citizen, sign_in


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


async def test_the_portal_signs_in_through_its_own_client_and_shows_my_record(
    app: FastAPI, database: Database, settings: Settings
) -> None:
    await make_citizen(database)
    await make_account(database, settings)
    async with browser(app, settings) as web:
        assert (await web.get("/portal")).headers["location"].startswith("/portal/login")
        page = await portal_sign_in(web)
        assert page.status_code == 200, page.text
        assert "Nguyễn Thị Minh Anh" in page.text and "12 Hàng Bạc" in page.text
        assert page.headers["cache-control"] == "no-store"
        assert "frame-ancestors 'none'" in page.headers["content-security-policy"]
        cookie = page.headers.get("set-cookie", "")
        assert "registry_portal=" not in cookie or "httponly" in cookie.lower()
    async with database.unit_of_work() as session:
        rows = (
            await session.execute(
                text("SELECT subject, detail FROM audit_event WHERE action = 'portal.view'")
            )
        ).all()
    assert [r.subject for r in rows] == [CITIZEN_ID]
