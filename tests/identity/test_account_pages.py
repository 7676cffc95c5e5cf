"""The account pages a citizen uses without being signed in, on both backends: self-enrolment
(level 1), the in-person code (level 2), a forgotten password recovered with a passkey, and
unlocking, which needs the passkey when the identity has one. Each refusal is shown beside its
field and recorded."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import delete, select

from audit.models import AuditEvent
from core.auth import Principal
from core.db import Database
from core.settings import Settings
from identity import accounts
from identity import repository as identity_repo
from identity.devices import describe_agent
from identity.models import Passkey
from tests.identity.authenticator import SoftAuthenticator
from tests.identity.factories import (
    CITIZEN_ID,
    PASSWORD,
    add_passkey,
    context,
    form_field,
    make_account,
    make_citizen,
    make_staff,
    password_session,
)
from tests.registry.portal_sessions import browser

NEW_PASSWORD = "sông Hồng mùa lũ 2026"
OFFICIAL = Principal("official", "clerk-9", roles=frozenset({"official"}))
DECLARED = {
    "id_number": CITIZEN_ID,
    "full_name": "nguyễn thị  Minh Anh",
    "birth_date": "14/05/2003",
    "card_issue_date": "01/06/2021",
    "new_password": PASSWORD,
    "new_password_again": PASSWORD,
}


@pytest.fixture
async def web(app: FastAPI, settings: Settings) -> AsyncIterator[httpx.AsyncClient]:
    """A cookie-keeping browser on the app."""
    async with browser(app, settings) as client:
        yield client


async def submit(web: httpx.AsyncClient, page: str, action: str, **data: str) -> httpx.Response:
    """Open ``page`` and post its form to ``action`` like a browser (with its CSRF token)."""
    opened = await web.get(page)
    assert opened.status_code == 200, opened.text
    return await web.post(action, data={"csrf": form_field(opened.text, "csrf"), **data})


async def events(database: Database, action: str) -> list[AuditEvent]:
    """The audit events of one action, oldest first."""
    stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
    async with database.unit_of_work() as session:
        return list((await session.execute(stmt)).scalars())


def detail(event: AuditEvent) -> dict[str, object]:
    """An event's detail."""
    return dict(json.loads(event.detail or "{}"))


async def account_state(database: Database) -> tuple[str, str | None, int]:
    """The citizen's account: status, lock reason, level."""
    async with database.unit_of_work() as session:
        account = await identity_repo.account_by_citizen(session, CITIZEN_ID)
        assert account is not None
        return account.status, account.lock_reason, account.level


async def proof(web: httpx.AsyncClient, authenticator: SoftAuthenticator, use: str) -> str:
    """A passkey proof for the form ``use`` names, made by the browser's passkey."""
    csrf = form_field((await web.get("/login")).text, "csrf")
    begun = await web.post("/webauthn/login/begin", json={}, headers={"x-csrf-token": csrf})
    done = await web.post(
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


async def signs_in(web: httpx.AsyncClient, password: str) -> bool:
    """Whether the password signs the citizen in."""
    page = await web.get("/login")
    answer = await web.post(
        "/login",
        data={"csrf": form_field(page.text, "csrf"), "login": CITIZEN_ID, "password": password},
    )
    return answer.status_code == 303


# ------------------------------------------------------------------------------ sign-in page


async def test_the_sign_in_page_links_to_every_way_in(web: httpx.AsyncClient) -> None:
    page = await web.get("/login")
    for link in ("/recover", "/enrol", "/activate", "/unlock"):
        assert f'href="{link}"' in page.text, link


async def test_a_locked_sign_in_links_to_unlocking_and_says_what_locking_does(
    web: httpx.AsyncClient, settings: Settings, database: Database
) -> None:
    await make_citizen(database)
    await make_account(database, settings)
    async with database.unit_of_work() as session:
        account = await identity_repo.account_by_citizen(session, CITIZEN_ID)
        assert account is not None
        await accounts.lock(session, account)
    page = await web.get("/login", params={"lang": "en"})
    refused = await web.post(
        "/login",
        data={"csrf": form_field(page.text, "csrf"), "login": CITIZEN_ID, "password": PASSWORD},
    )
    assert refused.status_code == 403
    assert 'id="locked-help"' in refused.text and 'href="/unlock"' in refused.text
    assert "nobody can sign in with this identity" in refused.text


# ------------------------------------------------------------------------------ enrolment


async def test_declared_data_matching_the_record_enrols_at_level_1(
    web: httpx.AsyncClient, database: Database
) -> None:
    await make_citizen(database)
    enrolled = await submit(web, "/enrol", "/enrol", **DECLARED)
    assert enrolled.status_code == 303, enrolled.text
    assert enrolled.headers["location"] == "/login?notice=enrolled"
    notice = await web.get(enrolled.headers["location"])
    assert "Đã tạo danh tính điện tử của bạn" in notice.text
    assert await account_state(database) == ("active", None, 1)
    (event,) = await events(database, "identity.enrol")
    assert event.outcome == "granted" and event.subject == CITIZEN_ID
    assert await signs_in(web, PASSWORD)


async def test_declared_data_that_does_not_match_is_refused_and_recorded(
    web: httpx.AsyncClient, database: Database
) -> None:
    await make_citizen(database)
    refused = await submit(web, "/enrol", "/enrol", **{**DECLARED, "birth_date": "15/05/2003"})
    assert refused.status_code == 403
    assert "không khớp với hồ sơ" in refused.text
    assert 'value="15/05/2003"' in refused.text  # what was typed stays
    (event,) = await events(database, "identity.enrol")
    assert event.outcome == "denied" and event.subject == CITIZEN_ID
    async with database.unit_of_work() as session:
        assert await identity_repo.account_by_citizen(session, CITIZEN_ID) is None


async def test_enrolment_errors_stand_beside_their_fields_in_english_too(
    web: httpx.AsyncClient, database: Database
) -> None:
    await make_citizen(database)
    await web.get("/enrol", params={"lang": "en"})
    wrong = await submit(
        web,
        "/enrol",
        "/enrol",
        id_number="12345",
        full_name=" ",
        birth_date="2003-05-14",
        card_issue_date="31/02/2021",
        new_password="short",
        new_password_again="short",
    )
    assert wrong.status_code == 400
    for name in ("id_number", "full_name", "birth_date", "card_issue_date", "new_password"):
        assert f'id="{name}-error"' in wrong.text, name
    assert "exactly 12 digits" in wrong.text and "at least 8 characters" in wrong.text
    assert "day/month/year" in wrong.text
    assert not await events(database, "identity.enrol")


async def test_two_different_new_passwords_are_refused_beside_the_second(
    web: httpx.AsyncClient, database: Database
) -> None:
    await make_citizen(database)
    wrong = await submit(web, "/enrol", "/enrol", **{**DECLARED, "new_password_again": "x" * 12})
    assert wrong.status_code == 400 and 'id="new_password_again-error"' in wrong.text


async def test_a_citizen_with_an_identity_is_told_to_sign_in(
    web: httpx.AsyncClient, settings: Settings, database: Database
) -> None:
    await make_citizen(database)
    await make_account(database, settings)
    again = await submit(web, "/enrol", "/enrol", **DECLARED)
    assert again.status_code == 409 and "đã có danh tính điện tử" in again.text


async def test_the_enrolment_form_without_its_csrf_token_is_refused(
    web: httpx.AsyncClient, database: Database
) -> None:
    await make_citizen(database)
    refused = await web.post("/enrol", data=DECLARED)
    assert refused.status_code == 403 and "Biểu mẫu đã hết hạn" in refused.text
    assert not await events(database, "identity.enrol")


# ------------------------------------------------------------------------------ level 2


async def issued_code(database: Database, settings: Settings) -> str:
    """An activation code an official issued to the citizen after checking them in person."""
    async with database.unit_of_work() as session:
        code, _ = await accounts.issue_activation_code(
            session, context(settings), official=OFFICIAL, citizen_id=CITIZEN_ID
        )
    return code


async def test_an_activation_code_raises_to_level_2_and_sets_the_password(
    web: httpx.AsyncClient, settings: Settings, database: Database
) -> None:
    await make_citizen(database)
    await make_account(database, settings)
    code = await issued_code(database, settings)
    done = await submit(
        web,
        "/activate",
        "/activate",
        id_number=CITIZEN_ID,
        code=code.lower(),
        new_password=NEW_PASSWORD,
        new_password_again=NEW_PASSWORD,
    )
    assert done.status_code == 303 and done.headers["location"] == "/login?notice=activated"
    assert await account_state(database) == ("active", None, 2)
    assert await signs_in(web, NEW_PASSWORD) and not await signs_in(web, PASSWORD)


async def test_a_wrong_activation_code_is_refused_beside_the_code_and_recorded(
    web: httpx.AsyncClient, settings: Settings, database: Database
) -> None:
    await make_citizen(database)
    refused = await submit(
        web,
        "/activate",
        "/activate",
        id_number=CITIZEN_ID,
        code="ABCD-EFGH-JKLM",
        new_password=NEW_PASSWORD,
        new_password_again=NEW_PASSWORD,
    )
    assert refused.status_code == 403 and 'id="code-error"' in refused.text
    (event,) = await events(database, "identity.activate")
    assert event.outcome == "denied" and event.subject == CITIZEN_ID


async def test_an_activation_code_unlocks_what_its_owner_locked(
    web: httpx.AsyncClient, settings: Settings, database: Database
) -> None:
    await make_citizen(database)
    account_id = await make_account(database, settings)
    await add_passkey(database, settings, account_id, SoftAuthenticator())
    await locked(database)
    code = await issued_code(database, settings)
    await submit(
        web,
        "/activate",
        "/activate",
        id_number=CITIZEN_ID,
        code=code,
        new_password=NEW_PASSWORD,
        new_password_again=NEW_PASSWORD,
    )
    assert await account_state(database) == ("active", None, 2)
    (event,) = await events(database, "identity.unlock")
    assert detail(event) == {"method": "code"}


# ------------------------------------------------------------------------------ recovery


@pytest.fixture
async def with_passkey(settings: Settings, database: Database) -> SoftAuthenticator:
    """The citizen's identity with a registered passkey (the authenticator that holds it)."""
    await make_citizen(database)
    account_id = await make_account(database, settings)
    authenticator = SoftAuthenticator()
    await add_passkey(database, settings, account_id, authenticator)
    return authenticator


def another_browser(app: FastAPI, settings: Settings) -> httpx.AsyncClient:
    """A second browser on an app a first one already started."""
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    return httpx.AsyncClient(transport=transport, base_url=settings.public_url)


async def test_a_passkey_recovers_a_forgotten_password_and_ends_every_session(
    web: httpx.AsyncClient,
    app: FastAPI,
    settings: Settings,
    database: Database,
    with_passkey: SoftAuthenticator,
) -> None:
    async with another_browser(app, settings) as elsewhere:
        await password_session(elsewhere, CITIZEN_ID, PASSWORD)
        assert (await elsewhere.get("/account")).status_code == 200
        held = await proof(web, with_passkey, "recover")
        done = await submit(
            web,
            "/recover",
            "/recover",
            proof=held,
            new_password=NEW_PASSWORD,
            new_password_again=NEW_PASSWORD,
        )
        assert done.status_code == 303 and done.headers["location"] == "/login?notice=recovered"
        assert (await elsewhere.get("/account")).status_code == 303  # signed out
        assert await signs_in(web, NEW_PASSWORD) and not await signs_in(web, PASSWORD)
    (event,) = await events(database, "identity.password.recover")
    assert event.outcome == "granted" and detail(event) == {"method": "passkey"}


async def test_a_proof_from_an_unknown_ceremony_is_refused_and_recorded(
    web: httpx.AsyncClient, database: Database, with_passkey: SoftAuthenticator
) -> None:
    csrf = form_field((await web.get("/login")).text, "csrf")
    begun = await web.post("/webauthn/login/begin", json={}, headers={"x-csrf-token": csrf})
    refused = await web.post(
        "/webauthn/proof/complete",
        json={
            "challenge_id": "not-a-ceremony",
            "credential": with_passkey.get(begun.json()["options"]),
            "use": "recover",
        },
        headers={"x-csrf-token": csrf},
    )
    assert refused.status_code == 400 and refused.json()["code"] == "passkey-invalid"
    (event,) = await events(database, "identity.passkey.proof")
    assert event.outcome == "denied" and detail(event) == {
        "use": "recover",
        "reason": "passkey-invalid",
    }


async def test_a_proof_needs_the_pages_csrf_header(
    web: httpx.AsyncClient, with_passkey: SoftAuthenticator
) -> None:
    body = {"challenge_id": "x", "credential": {}, "use": "unlock"}
    assert (await web.post("/webauthn/proof/complete", json=body)).status_code == 403


async def test_a_recovery_proof_is_spent_once(
    web: httpx.AsyncClient, with_passkey: SoftAuthenticator
) -> None:
    held = await proof(web, with_passkey, "recover")
    fields = {"proof": held, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
    assert (await submit(web, "/recover", "/recover", **fields)).status_code == 303
    again = await submit(web, "/recover", "/recover", **fields)
    assert again.status_code == 403 and "không hợp lệ hoặc đã hết hạn" in again.text


async def test_a_proof_made_by_a_passkey_removed_since_is_refused(
    web: httpx.AsyncClient, database: Database, with_passkey: SoftAuthenticator
) -> None:
    held = await proof(web, with_passkey, "recover")
    async with database.unit_of_work() as session:  # the owner (or a staff reset) removes it
        await session.execute(delete(Passkey))
    refused = await submit(
        web,
        "/recover",
        "/recover",
        proof=held,
        new_password=NEW_PASSWORD,
        new_password_again=NEW_PASSWORD,
    )
    assert refused.status_code == 403
    (event,) = await events(database, "identity.password.recover")
    assert event.outcome == "denied" and detail(event)["reason"] == "proof"
    assert await signs_in(web, PASSWORD)


@pytest.mark.parametrize("use", ["recover", "unlock"])
async def test_a_staff_passkey_neither_recovers_nor_unlocks(
    web: httpx.AsyncClient, settings: Settings, database: Database, use: str
) -> None:
    # Staff come back through an administrator's enrolment code only (identity.staff).
    staff_id = await make_staff(database, settings)
    authenticator = SoftAuthenticator()
    await add_passkey(database, settings, staff_id, authenticator)
    held = await proof(web, authenticator, use)
    if use == "recover":
        fields = {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
        refused = await submit(web, "/recover", "/recover", proof=held, **fields)
        action = "identity.password.recover"
    else:
        refused = await submit(web, "/unlock", "/unlock/passkey", proof=held)
        action = "identity.unlock"
    assert refused.status_code == 403
    (event,) = await events(database, action)
    assert event.outcome == "denied" and detail(event)["reason"] == "staff"


async def test_a_proof_made_for_unlocking_does_not_recover_and_is_recorded(
    web: httpx.AsyncClient, database: Database, with_passkey: SoftAuthenticator
) -> None:
    held = await proof(web, with_passkey, "unlock")
    refused = await submit(
        web,
        "/recover",
        "/recover",
        proof=held,
        new_password=NEW_PASSWORD,
        new_password_again=NEW_PASSWORD,
    )
    assert refused.status_code == 403
    (event,) = await events(database, "identity.password.recover")
    assert event.outcome == "denied" and detail(event)["reason"] == "proof"
    assert await signs_in(web, PASSWORD)


async def test_a_refused_new_password_keeps_the_proof_for_the_next_try(
    web: httpx.AsyncClient, with_passkey: SoftAuthenticator
) -> None:
    held = await proof(web, with_passkey, "recover")
    mine = {"new_password": CITIZEN_ID, "new_password_again": CITIZEN_ID}
    refused = await submit(web, "/recover", "/recover", proof=held, **mine)
    assert refused.status_code == 400 and 'id="new_password-error"' in refused.text
    assert form_field(refused.text, "proof") == held
    fields = {"proof": held, "new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
    assert (await submit(web, "/recover", "/recover", **fields)).status_code == 303


async def test_recovery_without_a_passkey_proof_asks_for_one(
    web: httpx.AsyncClient, database: Database
) -> None:
    fields = {"new_password": NEW_PASSWORD, "new_password_again": NEW_PASSWORD}
    refused = await submit(web, "/recover", "/recover", **fields)
    assert refused.status_code == 400 and "Hãy xác nhận bằng khóa truy cập" in refused.text


# ------------------------------------------------------------------------------ unlock


async def locked(database: Database) -> None:
    """The citizen locks their identity."""
    async with database.unit_of_work() as session:
        account = await identity_repo.account_by_citizen(session, CITIZEN_ID)
        assert account is not None
        await accounts.lock(session, account)


async def test_with_a_passkey_the_password_alone_does_not_unlock(
    web: httpx.AsyncClient, database: Database, with_passkey: SoftAuthenticator
) -> None:
    await locked(database)
    refused = await submit(web, "/unlock", "/unlock", id_number=CITIZEN_ID, password=PASSWORD)
    assert refused.status_code == 403 and "Mật khẩu thôi không đủ" in refused.text
    assert await account_state(database) == ("locked", "citizen", 1)
    (event,) = await events(database, "identity.unlock")
    assert event.outcome == "denied"
    assert detail(event) == {"method": "pwd", "reason": "passkey_required"}


async def test_with_a_passkey_the_api_refuses_a_password_unlock_too(
    web: httpx.AsyncClient, database: Database, with_passkey: SoftAuthenticator
) -> None:
    await locked(database)
    refused = await web.post(
        "/api/v1/identity/unlock", json={"id_number": CITIZEN_ID, "password": PASSWORD}
    )
    assert refused.status_code == 403 and refused.json()["code"] == "passkey-required"
    assert await account_state(database) == ("locked", "citizen", 1)


async def test_the_passkey_unlocks_and_the_citizen_signs_in_again(
    web: httpx.AsyncClient, database: Database, with_passkey: SoftAuthenticator
) -> None:
    await locked(database)
    held = await proof(web, with_passkey, "unlock")
    done = await submit(web, "/unlock", "/unlock/passkey", proof=held)
    assert done.status_code == 303 and done.headers["location"] == "/login?notice=unlocked"
    assert await account_state(database) == ("active", None, 1)
    (event,) = await events(database, "identity.unlock")
    assert event.outcome == "granted" and detail(event) == {"method": "passkey"}
    assert await signs_in(web, PASSWORD)


async def test_a_forged_unlock_proof_is_refused_and_recorded(
    web: httpx.AsyncClient, database: Database, with_passkey: SoftAuthenticator
) -> None:
    await locked(database)
    refused = await submit(web, "/unlock", "/unlock/passkey", proof="forged-proof")
    assert refused.status_code == 403 and 'id="form-error"' in refused.text
    (event,) = await events(database, "identity.unlock")
    assert event.outcome == "denied" and detail(event)["reason"] == "proof"
    assert await account_state(database) == ("locked", "citizen", 1)


async def test_the_unlock_page_says_what_locking_does_in_both_languages(
    web: httpx.AsyncClient,
) -> None:
    vietnamese = await web.get("/unlock", params={"locked": "1"})
    assert 'id="lock-meaning"' in vietnamese.text and "đăng xuất ở mọi nơi" in vietnamese.text
    english = await web.get("/unlock", params={"lang": "en"})
    assert "Unlock with a passkey" in english.text and "nobody can sign in" in english.text


# ------------------------------------------------------------------------------ devices


@pytest.mark.parametrize(
    ("agent", "browser_name", "system", "phone"),
    [
        (
            "Mozilla/5.0 (Linux; Android 14; SM-A546E) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Mobile Safari/537.36",
            "Chrome",
            "Android",
            True,
        ),
        (
            "Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 "
            "(KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1",
            "Safari",
            "iPhone",
            True,
        ),
        (
            "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) "
            "Chrome/126.0.0.0 Safari/537.36 Edg/126.0.2592.87",
            "Edge",
            "Windows",
            False,
        ),
        (
            "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
            "Firefox",
            "Linux",
            False,
        ),
        ("python-httpx/0.27", None, None, False),
        (None, None, None, False),
    ],
)
def test_a_user_agent_is_read_as_a_browser_and_a_system(
    agent: str | None, browser_name: str | None, system: str | None, phone: bool
) -> None:
    device = describe_agent(agent)
    assert (device.browser, device.system, device.phone) == (browser_name, system, phone)


async def test_a_password_session_neither_adds_nor_removes_a_passkey_once_there_is_one(
    web: httpx.AsyncClient, database: Database, with_passkey: SoftAuthenticator
) -> None:
    # A stolen password must not plant a passkey (which would then unlock and recover the
    # identity) nor remove the owner's (after which the password alone would unlock it).
    csrf = await password_session(web, CITIZEN_ID, PASSWORD)
    planted = await web.post("/webauthn/register/begin", json={}, headers={"x-csrf-token": csrf})
    assert planted.status_code == 403 and planted.json()["code"] == "passkey-required"
    (key,) = (await web.get("/api/v1/me/passkeys")).json()
    removed = await web.delete(f"/api/v1/me/passkeys/{key['id']}", headers={"x-csrf-token": csrf})
    assert removed.status_code == 403
    refusals = await events(database, "identity.passkey.add") + await events(
        database, "identity.passkey.remove"
    )
    denied = [detail(e)["reason"] for e in refusals if e.outcome == "denied"]
    assert denied == ["passkey_session", "passkey_session"]
