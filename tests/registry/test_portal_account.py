"""The citizen's account on the portal's security page, on both backends: changing the password
(the current one or a passkey), devices and sessions (sign out one, or everywhere), and the
history of those changes. A change signs out every other session and revokes their tokens."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from audit.models import AuditEvent
from core.db import Database
from core.settings import Settings
from identity import repository as identity_repo
from identity.models import Grant, LoginSession
from tests.identity.authenticator import SoftAuthenticator
from tests.identity.factories import (
    CITIZEN_ID,
    PASSWORD,
    add_passkey,
    form_field,
    make_account,
    make_citizen,
)
from tests.registry.portal_sessions import browser, portal_sign_in

NEW_PASSWORD = "sông Hồng mùa lũ 2026"
PHONE = (
    "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/126.0.0.0 Mobile Safari/537.36"
)


@dataclass
class Env:
    """The citizen signed in to the portal here (``web``) and on a phone (``phone``)."""

    app: FastAPI
    settings: Settings
    database: Database
    web: httpx.AsyncClient
    phone: httpx.AsyncClient
    account_id: str


@pytest.fixture
async def env(app: FastAPI, settings: Settings, database: Database) -> AsyncIterator[Env]:
    """The citizen signed in twice: this browser, then a phone."""
    await make_citizen(database)
    account_id = await make_account(database, settings)
    async with browser(app, settings) as web:
        transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
        async with httpx.AsyncClient(
            transport=transport, base_url=settings.public_url, headers={"user-agent": PHONE}
        ) as phone:
            assert (await portal_sign_in(phone, "/portal/security")).status_code == 200
            assert (await portal_sign_in(web, "/portal/security")).status_code == 200
            yield Env(app, settings, database, web, phone, account_id)


async def post(env: Env, path: str, **data: str) -> httpx.Response:
    """Submit a form of the security page like a browser (with its CSRF token)."""
    page = await env.web.get("/portal/security")
    assert page.status_code == 200, page.text
    return await env.web.post(path, data={"csrf": form_field(page.text, "csrf"), **data})


async def events(database: Database, action: str) -> list[AuditEvent]:
    """The audit events of one action, oldest first."""
    stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    async with database.unit_of_work() as session:
        return list((await session.execute(stmt)).scalars())


def detail(event: AuditEvent) -> dict[str, object]:
    """An event's detail."""
    return dict(json.loads(event.detail or "{}"))


async def live_sessions(env: Env) -> list[LoginSession]:
    """The citizen's sign-in sessions that have not ended."""
    stmt = select(LoginSession).where(
        LoginSession.account_id == env.account_id, LoginSession.ended_at.is_(None)
    )
    async with env.database.unit_of_work() as session:
        return list((await session.execute(stmt)).scalars())


async def live_grants(env: Env) -> list[Grant]:
    """The citizen's grants not revoked."""
    stmt = select(Grant).where(Grant.account_id == env.account_id, Grant.revoked_at.is_(None))
    async with env.database.unit_of_work() as session:
        return list((await session.execute(stmt)).scalars())


async def signed_in(client: httpx.AsyncClient) -> bool:
    """Whether the portal still knows this browser."""
    return (await client.get("/portal/security")).status_code == 200


# ------------------------------------------------------------------------------ devices


async def test_the_devices_list_names_each_browser_its_address_and_this_device(env: Env) -> None:
    page = await env.web.get("/portal/security")
    assert page.text.count("data-session=") == 2
    assert "Chrome trên Android" in page.text
    assert 'data-current="1"' in page.text and "thiết bị này" in page.text
    assert "127.0.0.1" in page.text or "testclient" in page.text
    english = await env.web.get("/portal/security", params={"lang": "en"})
    assert "Chrome on Android" in english.text and "Sign out everywhere" in english.text


async def test_signing_out_another_device_ends_it_and_its_grants(env: Env) -> None:
    other = next(s for s in await live_sessions(env) if s.user_agent == PHONE)
    ended = await post(env, f"/portal/security/sessions/{other.sid}/end")
    assert ended.headers["location"] == "/portal/security?done=session_ended"
    assert not await signed_in(env.phone) and await signed_in(env.web)
    (event,) = await events(env.database, "identity.sessions.end")
    assert detail(event) == {"scope": "one", "ended": 1} and event.subject == CITIZEN_ID


async def test_a_session_of_someone_else_cannot_be_ended(env: Env) -> None:
    refused = await post(env, "/portal/security/sessions/not-a-session/end")
    assert refused.headers["location"] == "/portal/security?error=failed"
    assert len(await live_sessions(env)) == 2


async def test_signing_out_everywhere_ends_every_session_this_one_too(env: Env) -> None:
    done = await post(env, "/portal/security/sessions/end-all")
    assert done.status_code == 303 and done.headers["location"] == "/login?notice=everywhere"
    assert "registry_portal=" in done.headers["set-cookie"]  # deleted
    assert not await live_sessions(env) and not await live_grants(env)
    assert not await signed_in(env.phone) and not await signed_in(env.web)
    notice = await env.web.get(done.headers["location"])
    assert "Bạn đã đăng xuất khỏi mọi thiết bị" in notice.text
    (event,) = await events(env.database, "identity.sessions.end")
    assert detail(event) == {"scope": "all", "ended": 2}


# ------------------------------------------------------------------------------ password


async def change(env: Env, **fields: str) -> httpx.Response:
    """Post the change-password form."""
    return await post(env, "/portal/security/password", **fields)


NEW = {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}


async def test_a_new_password_signs_out_every_other_session_and_revokes_its_tokens(
    env: Env,
) -> None:
    before = await live_grants(env)
    done = await change(env, current_password=PASSWORD, **NEW)
    assert done.status_code == 303, done.text
    assert done.headers["location"] == "/portal/security?done=password&ended=1"
    assert await signed_in(env.web) and not await signed_in(env.phone)
    (kept,) = await live_grants(env)  # this browser's grant; the phone's revoked
    assert kept.id in {g.id for g in before} and len(before) == 2
    assert len(await live_sessions(env)) == 1
    (event,) = await events(env.database, "identity.password.change")
    assert event.outcome == "granted" and detail(event) == {"method": "pwd", "ended": 1}
    notice = await env.web.get(done.headers["location"])
    assert "Đã đổi mật khẩu" in notice.text
    assert 'data-action="identity.password.change"' in notice.text  # in the history
    english = await env.web.get("/portal/security", params={"lang": "en"})
    assert "Password change" in english.text and "Devices signed out" not in english.text


async def test_a_wrong_current_password_is_refused_beside_it_and_counted(env: Env) -> None:
    refused = await change(env, current_password="not my password", **NEW)
    assert refused.status_code == 400
    assert 'id="current_password-error"' in refused.text and "không đúng" in refused.text
    (event,) = await events(env.database, "identity.password.change")
    assert event.outcome == "denied" and detail(event) == {"method": "pwd", "reason": "credentials"}
    async with env.database.unit_of_work() as session:
        account = await identity_repo.account_by_id(session, env.account_id)
        assert account is not None and account.failed_logins == 1
    assert len(await live_sessions(env)) == 2


async def test_without_the_current_password_or_a_passkey_nothing_changes(env: Env) -> None:
    refused = await change(env, **NEW)
    assert refused.status_code == 400 and 'id="current_password-error"' in refused.text
    assert not await events(env.database, "identity.password.change")


async def test_a_weak_new_password_is_refused_beside_it(env: Env) -> None:
    refused = await change(
        env, current_password=PASSWORD, new_password=CITIZEN_ID, new_password_again=CITIZEN_ID
    )
    assert refused.status_code == 400 and 'id="new_password-error"' in refused.text
    assert len(await live_sessions(env)) == 2


async def proof(env: Env, authenticator: SoftAuthenticator, use: str = "password") -> str:
    """A passkey proof made in this browser."""
    csrf = form_field((await env.web.get("/portal/security")).text, "csrf")
    begun = await env.web.post("/webauthn/login/begin", json={}, headers={"x-csrf-token": csrf})
    done = await env.web.post(
        "/webauthn/proof/complete",
        json={
            "challenge_id": begun.json()["challenge_id"],
            "credential": authenticator.get(begun.json()["options"]),
            "use": use,
        },
        headers={"x-csrf-token": csrf},
    )
    assert done.status_code == 200, done.text
    return str(done.json()["proof"])


async def test_a_passkey_confirms_a_new_password_instead_of_the_current_one(env: Env) -> None:
    authenticator = SoftAuthenticator()
    await add_passkey(env.database, env.settings, env.account_id, authenticator)
    done = await change(env, proof=await proof(env, authenticator), **NEW)
    assert done.status_code == 303, done.text
    (event,) = await events(env.database, "identity.password.change")
    assert detail(event) == {"method": "passkey", "ended": 1}


async def test_another_citizens_passkey_does_not_confirm_a_new_password(
    env: Env,
) -> None:
    other = await make_citizen(
        env.database, id_number="001303009876", full_name="Trần Văn Bình", card_number=None
    )
    other_account = await make_account(env.database, env.settings, citizen_id=other)
    authenticator = SoftAuthenticator()
    await add_passkey(env.database, env.settings, other_account, authenticator)
    refused = await change(env, proof=await proof(env, authenticator), **NEW)
    assert refused.status_code == 400 and 'id="current_password-error"' in refused.text
    (event,) = await events(env.database, "identity.password.change")
    assert event.outcome == "denied" and detail(event)["reason"] == "proof"


async def test_a_proof_made_for_another_form_does_not_confirm_a_new_password(env: Env) -> None:
    authenticator = SoftAuthenticator()
    await add_passkey(env.database, env.settings, env.account_id, authenticator)
    refused = await change(env, proof=await proof(env, authenticator, "recover"), **NEW)
    assert refused.status_code == 400
    assert len(await live_sessions(env)) == 2
