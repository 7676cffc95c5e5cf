"""The administrator's staff pages over HTTP: only an administrator signed in with a passkey,
every view and change recorded with that administrator as the actor, CSRF on every form,
refusals beside the form, and the enrolment code shown once."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator

import httpx
import pytest
from sqlalchemy import text

from core.db import Database
from core.settings import Settings
from registry.app import create_app
from tests.identity.factories import form_field, make_staff
from tests.registry.portal_sessions import browser, session_cookie

ADMIN = "quan.tri"
CLERK = "clerk.hanoi"


@pytest.fixture
async def web(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    async with browser(create_app(settings, database=database), settings) as client:
        yield client


async def sign_in_as(
    web: httpx.AsyncClient, database: Database, settings: Settings, account_id: str
) -> None:
    web.cookies.set("registry_portal", await session_cookie(database, settings, account_id))


@pytest.fixture
async def admin(web: httpx.AsyncClient, database: Database, settings: Settings) -> str:
    """An administrator signed in to the portal with a passkey, and a clerk to administer."""
    admin_id = await make_staff(database, settings, username=ADMIN, roles=("administrator",))
    await make_staff(database, settings, username=CLERK, roles=("official",))
    await sign_in_as(web, database, settings, admin_id)
    return admin_id


async def events(database: Database) -> list[tuple[str, str, str, str, dict[str, object]]]:
    async with database.unit_of_work() as session:
        found = await session.execute(
            text(
                "SELECT actor_type, actor_id, action, outcome, detail FROM audit_event "
                "WHERE action LIKE 'identity.staff.%' ORDER BY id"
            )
        )
        return [(*r[:4], json.loads(r[4]) if r[4] else {}) for r in found.all()]


async def post(web: httpx.AsyncClient, page: str, action: str, **data: object) -> httpx.Response:
    csrf = form_field((await web.get(page)).text, "csrf")
    return await web.post(action, data={"csrf": csrf, **data})


async def test_the_list_shows_every_staff_account_and_is_recorded(
    web: httpx.AsyncClient, database: Database, admin: str
) -> None:
    page = await web.get("/admin/staff")
    assert page.status_code == 200
    assert 'data-username="clerk.hanoi"' in page.text
    assert "Cán bộ nghiệp vụ" in page.text
    english = await web.get("/admin/staff", params={"lang": "en"})
    assert "Official" in english.text
    assert ("administrator", ADMIN, "identity.staff.view", "granted") in [
        e[:4] for e in await events(database)
    ]


async def test_a_reset_shows_the_code_once_and_is_recorded_with_the_administrator(
    web: httpx.AsyncClient, database: Database, admin: str
) -> None:
    done = await post(web, f"/admin/staff/{CLERK}", f"/admin/staff/{CLERK}/reset", confirm="yes")
    assert done.status_code == 200
    code = re.search(r'id="enrolment-code">([A-Z0-9-]+)<', done.text)
    assert code is not None
    assert re.search(r'id="code-expires">\d\d/\d\d/\d{4} \d\d:\d\d<', done.text)
    detail = await web.get(f"/admin/staff/{CLERK}")
    assert code.group(1) not in detail.text
    assert "Chưa dùng" in detail.text
    (reset,) = [e for e in await events(database) if e[2] == "identity.staff.reset"]
    assert reset == (
        "administrator",
        ADMIN,
        "identity.staff.reset",
        "granted",
        {"username": CLERK, "passkeys_removed": 0},
    )


async def test_disable_enable_and_roles_from_the_page(
    web: httpx.AsyncClient, database: Database, admin: str
) -> None:
    page = f"/admin/staff/{CLERK}"
    disabled = await post(web, page, f"{page}/disable")
    assert disabled.status_code == 303
    assert 'data-status="disabled"' in (await web.get(disabled.headers["location"])).text
    assert (await post(web, page, f"{page}/enable")).status_code == 303
    roles = await post(web, page, f"{page}/roles", role=["auditor", "official"])
    assert roles.status_code == 303
    shown = await web.get(roles.headers["location"])
    assert "Kiểm toán viên, Cán bộ nghiệp vụ" in shown.text
    assert "Đã cập nhật vai trò." in shown.text
    none = await post(web, page, f"{page}/roles")
    assert none.status_code == 422
    assert "Hãy chọn ít nhất một vai trò." in none.text
    changes = [e[:3] for e in await events(database) if e[2] != "identity.staff.view"]
    assert changes == [
        ("administrator", ADMIN, "identity.staff.disable"),
        ("administrator", ADMIN, "identity.staff.enable"),
        ("administrator", ADMIN, "identity.staff.roles"),
    ]


async def test_an_administrator_cannot_disable_or_reset_themself(
    web: httpx.AsyncClient, database: Database, admin: str
) -> None:
    page = f"/admin/staff/{ADMIN}"
    assert 'id="self-note"' in (await web.get(page)).text
    refused = await post(web, page, f"{page}/disable")
    assert refused.status_code == 409
    assert "chính tài khoản của mình" in refused.text
    assert (await post(web, page, f"{page}/reset", confirm="yes")).status_code == 409


async def test_create_gives_a_code_and_errors_stand_beside_the_fields(
    web: httpx.AsyncClient, database: Database, admin: str
) -> None:
    bad = await post(web, "/admin/staff", "/admin/staff", username="có dấu", name="")
    assert bad.status_code == 422
    assert 'id="e-username"' in bad.text
    assert 'id="e-name"' in bad.text
    assert 'id="e-roles"' in bad.text
    made = await post(
        web, "/admin/staff", "/admin/staff", username="moi.vao", name="Phạm Văn Mới", role="auditor"
    )
    assert made.status_code == 200
    assert 'id="enrolment-code"' in made.text
    again = await post(
        web, "/admin/staff", "/admin/staff", username="moi.vao", name="Phạm Văn Mới", role="auditor"
    )
    assert again.status_code == 422
    assert "Đã có tài khoản cán bộ" in again.text


async def test_a_form_without_its_csrf_token_changes_nothing(
    web: httpx.AsyncClient, database: Database, admin: str
) -> None:
    refused = await web.post(f"/admin/staff/{CLERK}/disable", data={"csrf": "forged"})
    assert refused.status_code == 400
    assert "identity.staff.disable" not in [e[2] for e in await events(database)]


async def test_other_staff_are_refused_and_the_refusal_is_recorded(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    auditor = await make_staff(database, settings, username="kiem.toan", roles=("auditor",))
    await sign_in_as(web, database, settings, auditor)
    refused = await web.get("/admin/staff")
    assert refused.status_code == 403
    assert 'data-notice="forbidden"' in refused.text
    assert [e[:4] for e in await events(database)] == [
        ("auditor", "kiem.toan", "identity.staff.view", "denied")
    ]
    # The staff home sends an auditor straight to the console.
    home = await web.get("/staff")
    assert home.status_code == 303, home.text
    assert (home.status_code, home.headers["location"]) == (303, "/console")


async def test_a_password_session_is_sent_to_register_a_passkey(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    admin_id = await make_staff(database, settings, username=ADMIN, roles=("administrator",))
    web.cookies.set(
        "registry_portal", await session_cookie(database, settings, admin_id, amr="pwd")
    )
    for path in ("/admin/staff", "/staff"):
        moved = await web.get(path)
        assert (moved.status_code, moved.headers["location"]) == (303, "/staff/passkey")


async def test_signed_out_visitors_are_sent_to_sign_in(web: httpx.AsyncClient) -> None:
    moved = await web.get("/admin/staff")
    assert moved.status_code == 303
    assert moved.headers["location"] == "/portal/login?next=%2Fadmin%2Fstaff"
