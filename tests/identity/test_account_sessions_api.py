"""The citizen's sessions and password over the account API (problem+json), on both backends:
the sessions listed with their device, one or all signed out, and a password change that
ends every session; each change and refusal recorded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from audit.models import AuditEvent
from core.db import Database
from core.settings import Settings
from tests.identity.factories import (
    CITIZEN_ID,
    PASSWORD,
    make_account,
    make_citizen,
    password_session,
)
from tests.registry.portal_sessions import browser

NEW_PASSWORD = "sông Hồng mùa lũ 2026"
PHONE = (
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
    "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1"
)


@pytest.fixture
async def signed_in(
    app: FastAPI, settings: Settings, database: Database
) -> AsyncIterator[tuple[httpx.AsyncClient, httpx.AsyncClient]]:
    """The citizen signed in on this browser (its CSRF header set) and on an iPhone."""
    await make_citizen(database)
    await make_account(database, settings)
    async with browser(app, settings) as web:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url=settings.public_url, headers={"user-agent": PHONE}
        ) as phone:
            await password_session(phone, CITIZEN_ID, PASSWORD)
            web.headers["x-csrf-token"] = await password_session(web, CITIZEN_ID, PASSWORD)
            yield web, phone


async def events(database: Database, action: str) -> list[AuditEvent]:
    """The audit events of one action, oldest first."""
    stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    async with database.unit_of_work() as session:
        return list((await session.execute(stmt)).scalars())


async def test_my_sessions_name_their_device(
    signed_in: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    web, _ = signed_in
    listed = (await web.get("/api/v1/me/sessions")).json()
    assert len(listed) == 2
    assert {(s["browser"], s["system"], s["method"]) for s in listed} >= {
        ("Safari", "iPhone", "pwd")
    }


async def test_one_session_is_signed_out_by_its_id(
    signed_in: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    web, phone = signed_in
    listed = (await web.get("/api/v1/me/sessions")).json()
    iphone = next(s["sid"] for s in listed if s["system"] == "iPhone")
    assert (await web.delete(f"/api/v1/me/sessions/{iphone}")).status_code == 204
    assert (await phone.get("/account")).status_code == 303
    assert (await web.get("/account")).status_code == 200
    missing = await web.delete(f"/api/v1/me/sessions/{iphone}")
    assert missing.status_code == 404
    assert missing.headers["content-type"] == "application/problem+json"


async def test_every_session_is_signed_out_at_once(
    signed_in: tuple[httpx.AsyncClient, httpx.AsyncClient], database: Database
) -> None:
    web, phone = signed_in
    ended = await web.delete("/api/v1/me/sessions")
    assert ended.status_code == 200 and ended.json() == {"ended": 2}
    assert (await phone.get("/account")).status_code == 303
    assert (await web.get("/account")).status_code == 303
    (event,) = await events(database, "identity.sessions.end")
    assert json.loads(event.detail or "{}") == {"scope": "all", "ended": 2}


async def test_a_password_change_with_the_current_one_ends_every_session(
    signed_in: tuple[httpx.AsyncClient, httpx.AsyncClient], database: Database
) -> None:
    web, phone = signed_in
    body = {"current_password": PASSWORD, "new_password": NEW_PASSWORD}
    assert (await web.post("/api/v1/me/password", json=body)).status_code == 204
    assert (await phone.get("/account")).status_code == 303
    (event,) = await events(database, "identity.password.change")
    assert event.outcome == "granted" and event.subject == CITIZEN_ID


async def test_a_wrong_current_password_is_a_401_and_recorded(
    signed_in: tuple[httpx.AsyncClient, httpx.AsyncClient], database: Database
) -> None:
    web, phone = signed_in
    body = {"current_password": "not mine at all", "new_password": NEW_PASSWORD}
    refused = await web.post("/api/v1/me/password", json=body)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    (event,) = await events(database, "identity.password.change")
    assert event.outcome == "denied"
    assert (await phone.get("/account")).status_code == 200


async def test_a_weak_new_password_is_a_422_pointing_at_it(
    signed_in: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    web, _ = signed_in
    body = {"current_password": PASSWORD, "new_password": "short"}
    refused = await web.post("/api/v1/me/password", json=body)
    assert refused.status_code == 422
    assert refused.json()["errors"][0]["pointer"] == "#/new_password"


async def test_a_cross_site_sign_out_without_the_csrf_header_is_refused(
    signed_in: tuple[httpx.AsyncClient, httpx.AsyncClient],
) -> None:
    _, phone = signed_in
    assert (await phone.delete("/api/v1/me/sessions")).status_code == 403
    assert (await phone.get("/account")).status_code == 200
