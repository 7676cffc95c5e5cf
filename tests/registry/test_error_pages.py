"""Error pages: a browser reads a page in its language (not found, server error, locked,
expired session); an API client keeps RFC 9457 problem+json."""

from __future__ import annotations

import httpx
import pytest
from fastapi import FastAPI

from core.errors import RegistryError
from core.settings import Settings
from identity.accounts import AccountLocked
from registry.portal import errors

pytestmark = pytest.mark.postgresql_only  # no database work: one backend is enough

BROWSER = {"accept": "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"}


@pytest.fixture
async def web(app: FastAPI, settings: Settings) -> httpx.AsyncClient:
    """A client of the app that does not raise the app's errors."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=settings.public_url)


async def test_a_browser_gets_a_vietnamese_not_found_page(web: httpx.AsyncClient) -> None:
    response = await web.get("/khong-co-trang-nay", headers=BROWSER)
    assert response.status_code == 404
    assert response.headers["content-type"].startswith("text/html")
    assert "Không tìm thấy trang" in response.text and 'href="/portal"' in response.text
    assert response.headers["cache-control"] == "no-store"
    assert '"type"' not in response.text


async def test_the_not_found_page_speaks_english_when_asked(web: httpx.AsyncClient) -> None:
    response = await web.get("/nowhere", params={"lang": "en"}, headers=BROWSER)
    assert response.status_code == 404 and "Page not found" in response.text
    assert '<html lang="en">' in response.text


async def test_an_api_client_keeps_problem_json(web: httpx.AsyncClient) -> None:
    for accept in ("application/json", "*/*", "application/problem+json"):
        response = await web.get("/nowhere", headers={"accept": accept})
        assert response.status_code == 404
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["code"] == "not-found"


async def test_an_expired_session_on_the_api_is_a_sign_in_page_for_a_browser(
    web: httpx.AsyncClient,
) -> None:
    response = await web.get("/api/v1/me/passkeys", headers=BROWSER)
    assert response.status_code == 401, response.text
    assert "Phiên đăng nhập đã hết hạn" in response.text
    assert 'href="/portal/login"' in response.text


async def test_a_server_error_is_a_page_that_says_it_was_logged(
    app: FastAPI, settings: Settings
) -> None:
    @app.get("/boom", include_in_schema=False)
    async def boom() -> None:
        raise RuntimeError("deliberate")

    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as web:
        page = await web.get("/boom", headers=BROWSER)
        api = await web.get("/boom")
    assert page.status_code == 500 and "Đã có lỗi xảy ra" in page.text
    assert "Mã tra cứu" in page.text and "deliberate" not in page.text
    assert api.status_code == 500 and api.json()["code"] == "internal-error"


def test_a_locked_identity_has_a_page_that_leads_to_unlocking() -> None:
    text = errors.text_of(AccountLocked("locked"))
    assert text.link == "/portal/unlock"
    assert errors.text_of(RegistryError("x")) is errors.SERVER_ERROR
