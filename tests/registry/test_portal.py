"""The citizen portal in-process: sign-in through the portal's own OIDC client, my record."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text

from core.db import Database
from core.settings import Settings
from registry.portal.labels import FIELDS
from registry.portal.service import SHOWN_FIELDS
from registry.portal.session import PORTAL_CLIENT_ID
from tests.identity.factories import (
    CITIZEN_ID,
    code_flow_tokens,
    form_field,
    make_account,
    make_citizen,
    make_rp,
)
from tests.registry.portal_sessions import browser, portal_sign_in


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


@pytest.fixture
async def portal_web(
    app: FastAPI, database: Database, settings: Settings
) -> AsyncIterator[httpx.AsyncClient]:
    """A browser signed in to the portal as the citizen (who has an electronic identity)."""
    await make_citizen(database)
    await make_account(database, settings)
    async with browser(app, settings) as web:
        assert (await portal_sign_in(web)).status_code == 200
        yield web


async def sign_out(web: httpx.AsyncClient) -> httpx.Response:
    """Click "Đăng xuất" on a portal page."""
    page = await web.get("/portal")
    assert page.status_code == 200, page.text
    return await web.post("/portal/logout", data={"csrf": form_field(page.text, "csrf")})


async def test_one_click_signs_out_of_the_portal_and_the_provider(
    portal_web: httpx.AsyncClient, database: Database
) -> None:
    out = await sign_out(portal_web)
    assert out.status_code == 303
    done = await portal_web.get(out.headers["location"])
    assert done.status_code == 200 and "Bạn đã đăng xuất." in done.text
    # The citizen closes the tab; the next visit asks for the password again.
    back = await portal_web.get("/portal", follow_redirects=True)
    assert back.url.path == "/login", back.url
    assert 'id="password"' in back.text
    async with database.unit_of_work() as session:
        actions = (
            await session.execute(
                text("SELECT action FROM audit_event WHERE action = 'identity.logout'")
            )
        ).all()
    assert len(actions) == 1


async def test_the_refresh_tokens_of_the_session_die_with_the_portal_sign_out(
    portal_web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    client_id, secret = await make_rp(database, settings)
    # The same sign-in session serves a service, once without and once with offline_access.
    online = await code_flow_tokens(portal_web, client_id, secret, scope="openid profile")
    offline = await code_flow_tokens(
        portal_web, client_id, secret, scope="openid profile offline_access"
    )
    await sign_out(portal_web)

    async def refresh(tokens: dict[str, Any]) -> httpx.Response:
        return await portal_web.post(
            "/token",
            data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
            auth=(client_id, secret),
        )

    assert (await refresh(online)).json()["error"] == "invalid_grant"
    assert (await refresh(offline)).status_code == 200
    async with database.unit_of_work() as session:
        portal = (
            await session.execute(
                text("SELECT revoked_at FROM oauth_grant WHERE client_id = :c"),
                {"c": PORTAL_CLIENT_ID},
            )
        ).all()
    assert portal and all(row.revoked_at is not None for row in portal)


async def test_signing_out_at_the_provider_ends_the_portal_session_too(
    portal_web: httpx.AsyncClient,
) -> None:
    account = await portal_web.get("/account")
    assert account.status_code == 200, account.text
    out = await portal_web.post("/logout", data={"csrf": form_field(account.text, "csrf")})
    assert out.status_code == 200
    back = await portal_web.get("/portal")
    assert back.status_code == 303
    assert back.headers["location"].startswith("/portal/login")


def test_every_field_of_the_record_page_has_a_label_in_the_catalogs() -> None:
    # A field without one was shown under its code turned into English words ("Father
    # nationality") on the Vietnamese page.
    assert [name for name in SHOWN_FIELDS if name not in FIELDS] == []


async def test_my_record_shows_names_and_dates_in_cards_without_empty_rows(
    app: FastAPI, database: Database, settings: Settings
) -> None:
    await make_citizen(
        database,
        marital_status="married",
        spouse_name="Lê Văn Nam",
        religion="Phật giáo",
        blood_type="O-",
        father_name="Nguyễn Văn Hùng",
        father_nationality="VN",
        mother_name="Marie Dubois",
        mother_nationality="FR",
    )
    await make_account(database, settings)
    async with browser(app, settings) as web:
        page = await portal_sign_in(web)
        assert page.status_code == 200, page.text
        vi = page.text
        en = (await web.get("/portal?lang=en")).text
    for key in ("identity", "birth", "residence", "family", "card"):
        assert f'id="record-{key}"' in vi
    for shown in ("Nữ", "Kinh", "Việt Nam", "Hà Nội", "14/05/2003", "Đã kết hôn", "O, Rh âm"):
        assert shown in vi, shown
    assert "Marie Dubois · Quốc tịch: Pháp" in vi
    assert "Nguyễn Văn Hùng" in vi and "Quốc tịch: Việt Nam" not in vi
    for raw in ("female", "married", "alive", ">01<", ">001<", "2003-05-14", "Father"):
        assert raw not in vi, raw
    # A living person: no status, death or missing rows.
    for absent in ('data-field="status"', 'data-field="death_date"', 'data-field="missing_date"'):
        assert absent not in vi
    for shown in ("Female", "Vietnam", "Married", "Buddhism", "Identity card", "Mother"):
        assert shown in en, shown
    assert "Marie Dubois · Nationality: France" in en


async def test_a_refused_sign_in_is_said_in_plain_words_not_the_providers_english(
    app: FastAPI, settings: Settings
) -> None:
    async with browser(app, settings) as web:
        assert (await web.get("/portal/login")).status_code == 303  # the flow has begun
        back = await web.get(
            "/portal/callback",
            params={"error": "access_denied", "error_description": "The user denied the request"},
        )
    assert back.status_code == 400
    assert "Bạn đã không cho phép đăng nhập." in back.text
    assert "denied the request" not in back.text
