"""The Authenticator's session-cookie path and its bearer-header parsing, as a browser or an
attacker meets them: staff roles only after a passkey, CSRF on unsafe methods, idle and absolute
timeouts, and malformed Authorization headers.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import httpx
import pytest
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from sqlalchemy import text

from core.clock import utcnow
from core.db import Database
from core.settings import Settings
from tests.http import asgi_client
from tests.identity.authenticator import SoftAuthenticator
from tests.identity.factories import (
    CITIZEN_ID,
    PASSWORD,
    STAFF_PASSWORD,
    STAFF_USERNAME,
    browser_csrf,
    make_account,
    make_citizen,
    make_staff,
    passkey_sign_in,
    password_session,
    probe_app,
)

COOKIE = "registry_session"


@pytest.fixture
async def citizen(database: Database, settings: Settings) -> str:
    """A citizen with an electronic identity; the ID number."""
    await make_citizen(database)
    await make_account(database, settings)
    return CITIZEN_ID


def problem(response: httpx.Response, status: int) -> dict[str, object]:
    assert response.status_code == status, response.text
    assert response.headers["content-type"] == "application/problem+json"
    body: dict[str, object] = response.json()
    return body


async def set_session_times(database: Database, **times: object) -> None:
    """Move the sign-in sessions' clocks, as time passing would."""
    assignments = ", ".join(f"{name} = :{name}" for name in times)
    async with database.unit_of_work() as session:
        await session.execute(text(f"UPDATE login_session SET {assignments}"), times)


# ------------------------------------------------------------------------------ staff roles


async def staff_password_session(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> str:
    """An official with a password and no passkey yet, signed in with it; the CSRF token."""
    await make_staff(database, settings, roles=("official",))
    return await password_session(web, STAFF_USERNAME, STAFF_PASSWORD)


async def register_passkey(
    web: httpx.AsyncClient, csrf: str
) -> tuple[httpx.Response, SoftAuthenticator]:
    """Register a passkey in the session; the answer and the authenticator holding the key."""
    authenticator = SoftAuthenticator()
    begun = await web.post("/webauthn/register/begin", json={}, headers={"x-csrf-token": csrf})
    assert begun.status_code == 200, begun.text
    done = await web.post(
        "/webauthn/register/complete",
        json={
            "challenge_id": begun.json()["challenge_id"],
            "credential": authenticator.create(begun.json()["options"]),
            "name": "YubiKey 5",
        },
        headers={"x-csrf-token": csrf},
    )
    return done, authenticator


async def staff_with_passkey(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> tuple[str, SoftAuthenticator]:
    """An official who signed in with a password and registered a passkey; CSRF token and key."""
    csrf = await staff_password_session(web, database, settings)
    done, authenticator = await register_passkey(web, csrf)
    assert done.status_code == 201, done.text
    return csrf, authenticator


async def test_a_staff_password_session_only_holds_the_enrolment_role(
    web: httpx.AsyncClient, database: Database, settings: Settings, citizen: str
) -> None:
    csrf = await staff_password_session(web, database, settings)
    seen = (await web.get("/test/whoami")).json()
    assert seen["roles"] == ["staff_enrolment"]
    assert seen["auth_methods"] == ["pwd"]
    code_path = f"/api/v1/officials/citizens/{citizen}/activation-code"
    problem(await web.post(code_path, headers={"x-csrf-token": csrf}), 403)


async def test_a_staff_password_session_may_register_the_first_passkey(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    csrf = await staff_password_session(web, database, settings)
    done, _ = await register_passkey(web, csrf)
    assert done.status_code == 201, done.text


async def test_staff_with_a_passkey_are_refused_a_password_alone(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await staff_with_passkey(web, database, settings)
    async with asgi_client(probe_app(settings, database)) as other:
        page_csrf = await browser_csrf(other)
        refused = await other.post(
            "/login",
            data={"csrf": page_csrf, "login": STAFF_USERNAME, "password": STAFF_PASSWORD},
        )
        assert refused.status_code == 403
        assert COOKIE not in refused.headers.get("set-cookie", "")


async def test_a_staff_passkey_sign_in_holds_the_staff_roles(
    web: httpx.AsyncClient, database: Database, settings: Settings, citizen: str
) -> None:
    csrf, authenticator = await staff_with_passkey(web, database, settings)
    signed_in = await passkey_sign_in(web, csrf, authenticator)
    assert signed_in.status_code == 200, signed_in.text
    seen = (await web.get("/test/whoami")).json()
    assert seen["actor_type"] == "official"
    assert seen["actor_id"] == STAFF_USERNAME
    assert seen["roles"] == ["official"]
    assert seen["auth_methods"] == ["hwk", "user"]
    code_path = f"/api/v1/officials/citizens/{citizen}/activation-code"
    issued = await web.post(code_path, headers={"x-csrf-token": csrf})
    assert issued.status_code == 201, issued.text
    assert issued.json()["code"]


async def test_a_citizen_session_holds_the_citizen_role(
    web: httpx.AsyncClient, citizen: str
) -> None:
    await password_session(web, citizen, PASSWORD)
    assert (await web.get("/test/whoami")).json() == {
        "actor_type": "citizen",
        "actor_id": citizen,
        "roles": ["citizen"],
        "scopes": [],
        "auth_methods": ["pwd"],
    }
    assert (await web.get("/api/v1/me/passkeys")).json() == []


# ------------------------------------------------------------------------------ CSRF


async def test_an_unsafe_request_with_a_session_cookie_needs_the_csrf_header(
    web: httpx.AsyncClient, database: Database, settings: Settings, citizen: str
) -> None:
    csrf = await password_session(web, citizen, PASSWORD)
    assert (await web.get("/test/whoami")).status_code == 200  # safe methods need no header
    body = problem(await web.post("/test/whoami"), 403)
    assert "X-CSRF-Token" in str(body["detail"])
    # A token minted for another browser's CSRF cookie does not fit this one.
    async with asgi_client(probe_app(settings, database)) as attacker:
        foreign = await browser_csrf(attacker)
    assert foreign != csrf
    problem(await web.post("/test/whoami", headers={"x-csrf-token": foreign}), 403)
    # A forged cross-site lock changes nothing ...
    problem(await web.post("/api/v1/me/lock"), 403)
    async with database.unit_of_work() as session:
        status = await session.execute(text("SELECT status FROM account"))
        assert status.scalar() == "active"
    # ... while the page's own request, with the header, goes through.
    assert (await web.post("/test/whoami", headers={"x-csrf-token": csrf})).status_code == 200
    locked = await web.post("/api/v1/me/lock", headers={"x-csrf-token": csrf})
    assert locked.status_code == 200
    assert locked.json()["status"] == "locked"


# ------------------------------------------------------------------------------ timeouts


@pytest.mark.parametrize(("kind", "idle"), [("citizen", 1800), ("staff", 600)])
async def test_an_idle_session_ends(
    web: httpx.AsyncClient, database: Database, settings: Settings, kind: str, idle: int
) -> None:
    if kind == "citizen":
        await make_citizen(database)
        await make_account(database, settings)
        await password_session(web, CITIZEN_ID, PASSWORD)
    else:
        await make_staff(database, settings)
        await password_session(web, STAFF_USERNAME, STAFF_PASSWORD)
    now = utcnow()
    # Just inside the idle limit: the session lives, and the request counts as activity.
    await set_session_times(database, last_seen_at=now - timedelta(seconds=idle - 30))
    assert (await web.get("/test/whoami")).status_code == 200
    async with database.unit_of_work() as session:
        touched = (await session.execute(text("SELECT last_seen_at FROM login_session"))).scalar()
    assert touched is not None
    assert (utcnow() - _aware(touched)) < timedelta(seconds=30)
    # Past it: the session is over, and knocking again does not count as activity.
    stale = utcnow() - timedelta(seconds=idle + 1)
    await set_session_times(database, last_seen_at=stale)
    for _ in range(2):
        problem(await web.get("/test/whoami"), 401)
    async with database.unit_of_work() as session:
        seen = (await session.execute(text("SELECT last_seen_at FROM login_session"))).scalar()
    assert abs(_aware(seen) - stale) < timedelta(seconds=1)


def _aware(value: object) -> datetime:
    """A timestamp read back with raw SQL (SQLite gives text), as an aware datetime."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    assert isinstance(value, datetime)
    return value if value.tzinfo else value.replace(tzinfo=UTC)


async def test_a_session_past_its_absolute_timeout_ends_however_active(
    web: httpx.AsyncClient, database: Database, citizen: str
) -> None:
    await password_session(web, citizen, PASSWORD)
    assert (await web.get("/test/whoami")).status_code == 200
    # Seen a second ago, but signed in longer ago than the absolute limit allows.
    await set_session_times(
        database, last_seen_at=utcnow(), expires_at=utcnow() - timedelta(seconds=1)
    )
    problem(await web.get("/test/whoami"), 401)
    problem(await web.get("/api/v1/me/passkeys"), 401)


async def test_a_locked_identity_loses_its_session(
    web: httpx.AsyncClient, database: Database, citizen: str
) -> None:
    await password_session(web, citizen, PASSWORD)
    async with database.unit_of_work() as session:
        await session.execute(
            text("UPDATE account SET status = 'locked', lock_reason = 'official'")
        )
    problem(await web.get("/test/whoami"), 401)


async def test_sign_out_ends_the_session(web: httpx.AsyncClient, citizen: str) -> None:
    csrf = await password_session(web, citizen, PASSWORD)
    cookie = web.cookies[COOKIE]
    done = await web.post("/logout", data={"csrf": csrf})
    assert done.status_code == 200
    web.cookies.set(COOKIE, cookie)  # a copy of the cookie kept by an attacker
    problem(await web.get("/test/whoami"), 401)


@pytest.mark.parametrize("cookie", ["", "x", "A" * 43, "A" * 101, "\x7f", "%00"])
async def test_an_unknown_session_cookie_is_no_session(web: httpx.AsyncClient, cookie: str) -> None:
    web.cookies.set(COOKIE, cookie)
    body = problem(await web.get("/test/whoami"), 401)
    assert body["code"] == "unauthenticated"


async def test_the_session_cookie_is_host_only_and_secure_over_https(
    database: Database, database_url: str, citizen: str
) -> None:
    secure = Settings(environment="test", database_url=database_url, public_url="https://id.vn")
    app = probe_app(secure, database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url="https://testserver") as web,
    ):
        csrf = await browser_csrf(web)  # the CSRF cookie is Secure too: an https browser
        response = await web.post(
            "/login", data={"csrf": csrf, "req": "", "login": citizen, "password": PASSWORD}
        )
    assert response.status_code == 303, response.text
    cookie = response.headers["set-cookie"]
    assert cookie.startswith("__Host-registry_session=")
    attributes = [part.strip().lower() for part in cookie.split(";")]
    assert {"secure", "httponly", "path=/", "samesite=lax"} <= set(attributes)
    assert not any(part.startswith("domain=") for part in attributes)


async def test_a_login_name_with_a_nul_character_is_refused(web: httpx.AsyncClient) -> None:
    """PostgreSQL text cannot hold NUL: the outside-text check (core.inputs) answers a 422
    naming the field, not a 500, and nobody is signed in."""
    csrf = await browser_csrf(web)
    for login in (STAFF_USERNAME + "\x00", "00130300451\x00"):
        response = await web.post(
            "/login", data={"csrf": csrf, "req": "", "login": login, "password": "whatever!"}
        )
        assert response.status_code == 422, response.text
        assert response.json()["errors"][0]["parameter"] == "login"
        assert COOKIE not in response.headers.get("set-cookie", "")


# ------------------------------------------------------------------------------ bearer parsing


@pytest.mark.parametrize(
    "header",
    ["Basic dXNlcjpwYXNz", "Bearer", "Bearer    ", "Bearertoken", "Token abc", "bearer", "MAC x"],
)
async def test_a_malformed_authorization_header_is_invalid_request(
    web: httpx.AsyncClient, citizen: str, header: str
) -> None:
    await password_session(web, citizen, PASSWORD)  # a live cookie is no fallback
    response = await web.get("/test/whoami", headers={"authorization": header})
    problem(response, 401)
    assert response.headers["www-authenticate"] == (
        'Bearer realm="registry", error="invalid_request"'
    )


async def test_an_invalid_bearer_token_is_not_rescued_by_the_session_cookie(
    web: httpx.AsyncClient, citizen: str
) -> None:
    await password_session(web, citizen, PASSWORD)
    response = await web.get("/test/whoami", headers={"authorization": "Bearer abc.def.ghi"})
    problem(response, 401)
    assert 'error="invalid_token"' in response.headers["www-authenticate"]


async def test_no_credentials_at_all_is_a_bare_challenge(web: httpx.AsyncClient) -> None:
    """RFC 6750 3.1: without any credentials the challenge carries no error code."""
    response = await web.get("/test/whoami")
    problem(response, 401)
    assert response.headers["www-authenticate"] == 'Bearer realm="registry"'


@hypothesis_settings(
    max_examples=75,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(header=st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80))
async def test_any_authorization_header_is_refused_cleanly(
    web: httpx.AsyncClient, header: str
) -> None:
    """Random header values: 401 with an RFC 6750 challenge, never a 500 and never a principal."""
    response = await web.get("/test/whoami", headers={"authorization": header})
    problem(response, 401)
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith('Bearer realm="registry", error=')
    scheme, _, token = header.partition(" ")
    expected = (
        "invalid_token" if scheme.lower() == "bearer" and token.strip() else "invalid_request"
    )
    assert f'error="{expected}"' in challenge
