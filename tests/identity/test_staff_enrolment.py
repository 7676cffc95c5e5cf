"""A staff member's first sign-in and the enrolment code of a reset, over HTTP: the code is
single use, expires, is spent after five wrong attempts, and each try is recorded; a password
sign-in refused for a staff member with a passkey says what to do in the user's language;
a reset ends the sessions and revokes the tokens."""

from __future__ import annotations

import json
import re

import httpx
from sqlalchemy import text

from core.db import Database
from core.settings import Settings
from identity import staff
from tests.identity.authenticator import SoftAuthenticator
from tests.identity.factories import (
    STAFF_PASSWORD,
    STAFF_USERNAME,
    add_passkey,
    browser_csrf,
    context,
    form_field,
    make_staff,
    passkey_sign_in,
)

ADMIN = staff.operator_principal("test-operator")


async def reset(database: Database, settings: Settings, username: str = STAFF_USERNAME) -> str:
    """Reset the staff member as an operator would; the enrolment code."""
    async with database.unit_of_work() as session:
        code, _ = await staff.reset(session, context(settings), actor=ADMIN, username=username)
        return code


async def enrol(
    web: httpx.AsyncClient, code: str, username: str = STAFF_USERNAME
) -> httpx.Response:
    page = await web.get("/staff/enrol")
    assert page.status_code == 200, page.text
    return await web.post(
        "/staff/enrol",
        data={"csrf": form_field(page.text, "csrf"), "req": "", "username": username, "code": code},
    )


async def enrol_events(database: Database) -> list[tuple[str, str, dict[str, object]]]:
    async with database.unit_of_work() as session:
        found = await session.execute(
            text(
                "SELECT actor_id, outcome, detail FROM audit_event "
                "WHERE action = 'identity.staff.enrol' ORDER BY id"
            )
        )
        return [(r[0], r[1], json.loads(r[2])) for r in found.all()]


async def test_the_code_opens_a_session_that_may_only_register_a_passkey(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await make_staff(database, settings, roles=("auditor",))
    code = await reset(database, settings)
    signed_in = await enrol(web, code.lower().replace("-", " "))  # as typed, case and spaces
    assert signed_in.status_code == 303, signed_in.text
    assert signed_in.headers["location"] == "/staff/passkey"
    seen = (await web.get("/test/whoami")).json()
    assert seen["roles"] == ["staff_enrolment"]
    assert seen["auth_methods"] == ["otp"]
    step = await web.get("/staff/passkey")
    assert step.status_code == 200
    assert 'id="passkey-enrol"' in step.text
    assert await enrol_events(database) == [
        (STAFF_USERNAME, "granted", {"username": STAFF_USERNAME})
    ]


async def test_the_code_is_single_use(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await make_staff(database, settings)
    code = await reset(database, settings)
    assert (await enrol(web, code)).status_code == 303
    again = await enrol(web, code)
    assert again.status_code == 401
    assert "đã được dùng hoặc đã hết hạn" in again.text
    assert [e[1:] for e in await enrol_events(database)][-1] == ("denied", {"reason": "used"})


async def test_an_expired_code_is_refused(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await make_staff(database, settings)
    code = await reset(database, settings)
    async with database.unit_of_work() as session:
        await session.execute(
            text("UPDATE staff_enrolment_code SET expires_at = CURRENT_TIMESTAMP")
        )
    refused = await enrol(web, code)
    assert refused.status_code == 401
    assert "registry_session" not in refused.headers.get("set-cookie", "")
    assert [e[1:] for e in await enrol_events(database)] == [("denied", {"reason": "expired"})]


async def test_five_wrong_codes_spend_the_code(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await make_staff(database, settings)
    code = await reset(database, settings)
    for _ in range(staff.MAX_CODE_ATTEMPTS):
        wrong = await enrol(web, "AAAA-BBBB-CCCC")
        assert wrong.status_code == 401
        assert 'id="enrol-error"' in wrong.text
    spent = await enrol(web, code)
    assert spent.status_code == 401
    reasons = [e[2]["reason"] for e in await enrol_events(database)]
    assert reasons == ["wrong"] * staff.MAX_CODE_ATTEMPTS + ["spent"]


async def test_an_unknown_username_is_refused_like_a_wrong_code(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await make_staff(database, settings)
    code = await reset(database, settings)
    refused = await enrol(web, code, username="someone.else")
    assert refused.status_code == 401
    assert await enrol_events(database) == [("anonymous", "denied", {"reason": "unknown"})]


async def test_a_disabled_account_cannot_use_its_code(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await make_staff(database, settings)
    code = await reset(database, settings)
    async with database.unit_of_work() as session:
        await staff.disable(session, actor=ADMIN, username=STAFF_USERNAME)
    assert (await enrol(web, code)).status_code == 401
    assert [e[2] for e in await enrol_events(database)] == [{"reason": "disabled"}]


async def test_a_first_password_sign_in_goes_on_to_the_passkey_step(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    await make_staff(database, settings)
    csrf = await browser_csrf(web)
    signed_in = await web.post(
        "/login",
        data={"csrf": csrf, "req": "", "login": STAFF_USERNAME, "password": STAFF_PASSWORD},
    )
    assert signed_in.status_code == 303
    assert signed_in.headers["location"] == "/staff/passkey"


async def test_a_passkey_sign_in_without_a_service_goes_to_the_staff_home(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    staff_id = await make_staff(database, settings)
    authenticator = SoftAuthenticator()
    await add_passkey(database, settings, staff_id, authenticator)
    done = await passkey_sign_in(web, await browser_csrf(web), authenticator)
    assert done.json() == {"redirect": "/staff"}


async def test_a_password_refused_for_a_passkey_says_what_to_do_in_the_users_language(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    staff_id = await make_staff(database, settings)
    await add_passkey(database, settings, staff_id, SoftAuthenticator())
    for lang, said in (
        ("vi", "hãy đề nghị quản trị viên cấp mã đăng ký"),
        ("en", "ask an administrator for an enrolment code"),
    ):
        csrf = form_field((await web.get("/login", params={"lang": lang})).text, "csrf")
        refused = await web.post(
            "/login",
            data={"csrf": csrf, "req": "", "login": STAFF_USERNAME, "password": STAFF_PASSWORD},
        )
        assert refused.status_code == 403
        alert = re.search(r'<p class="error" role="alert"[^>]*>([^<]*)</p>', refused.text)
        assert alert is not None
        assert said in alert.group(1)
        assert "Staff sign in with their passkey" not in refused.text
        # The passkey button comes first, and the way back with a code is linked.
        assert refused.text.index('id="passkey-login"') < refused.text.index('id="submit"')
        assert 'href="/staff/enrol"' in refused.text


async def test_a_reset_ends_the_sessions_and_the_password(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    staff_id = await make_staff(database, settings)
    authenticator = SoftAuthenticator()
    await add_passkey(database, settings, staff_id, authenticator)
    csrf = await browser_csrf(web)
    assert (await passkey_sign_in(web, csrf, authenticator)).status_code == 200
    assert (await web.get("/test/whoami")).json()["roles"] == ["official"]
    await reset(database, settings)
    assert (await web.get("/test/whoami")).status_code == 401
    # The lost passkey no longer signs in, nor does the old password.
    lost = await passkey_sign_in(web, csrf, authenticator)
    assert lost.status_code == 400
    assert "not registered" in lost.text
    refused = await web.post(
        "/login",
        data={"csrf": csrf, "req": "", "login": STAFF_USERNAME, "password": STAFF_PASSWORD},
    )
    assert refused.status_code == 401
