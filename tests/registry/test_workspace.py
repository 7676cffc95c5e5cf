"""The officials' workspace over HTTP on both backends: who may enter (and that every refusal
is recorded), finding a citizen, the record and its history by name, and that each page view
of personal data is an audit event. Sessions are made directly (the passkey ceremony itself is
in tests/registry/test_browser_workspace.py)."""

from __future__ import annotations

import httpx

from core.db import Database
from core.settings import Settings
from registry.app import create_app
from registry.portal.session import SESSION_COOKIE
from tests.identity.factories import (
    CITIZEN_ID,
    PASSWORD,
    STAFF_PASSWORD,
    make_account,
    make_citizen,
    make_staff,
    password_session,
)
from tests.registry.portal_sessions import session_cookie
from tests.registry.workspace_harness import CLERK, Desk, desk, error_beside

__all__ = ["desk"]


async def test_nobody_signed_in_is_sent_to_sign_in_and_back(
    settings: Settings, database: Database
) -> None:
    app = create_app(settings, database=database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as web:
        page = await web.get(f"/workspace/citizens/{CITIZEN_ID}")
        assert page.status_code == 303
        assert page.headers["location"] == (
            f"/portal/login?next=%2Fworkspace%2Fcitizens%2F{CITIZEN_ID}"
        )
        start = await web.get(page.headers["location"])
        assert start.status_code == 303  # to /authorize: the portal keeps the way back


async def test_citizens_auditors_and_password_sessions_are_refused_and_recorded(
    settings: Settings, database: Database
) -> None:
    app = create_app(settings, database=database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    await make_citizen(database)
    citizen = await make_account(database, settings)
    auditor = await make_staff(database, settings, username="kiemtoan", roles=("auditor",))
    clerk = await make_staff(database, settings, username=CLERK, roles=("official",))
    cases = (
        (citizen, "hwk user", "forbidden", "not_official"),
        (auditor, "hwk user", "forbidden", "not_official"),
        (clerk, "pwd", "passkey", "passkey_required"),
    )
    async with app.router.lifespan_context(app):
        for account_id, amr, notice, _reason in cases:
            async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as web:
                cookie = await session_cookie(database, settings, account_id, amr=amr)
                web.cookies.set(SESSION_COOKIE, cookie)
                for path in ("/workspace", f"/workspace/citizens/{CITIZEN_ID}"):
                    refused = await web.get(path)
                    assert refused.status_code == 403, (path, refused.text)
                    assert f'data-notice="{notice}"' in refused.text
                    assert refused.headers["cache-control"].startswith("no-store")
                posted = await web.post(
                    f"/workspace/citizens/{CITIZEN_ID}/death",
                    data={"death_date": "01/01/2024", "legal_basis": "Trích lục khai tử 1"},
                )
                assert posted.status_code == 403
    desk = Desk(settings, database, httpx.AsyncClient(), transport)
    denied = [e for e in await desk.events("portal.view") if e["outcome"] == "denied"]
    assert [(e["actor_id"], e["detail"]["reason"]) for e in denied] == [
        (actor, reason)
        for actor, reason in (
            (CITIZEN_ID, "not_official"),
            ("kiemtoan", "not_official"),
            (CLERK, "passkey_required"),
        )
        for _ in range(3)
    ]
    # The page that named a citizen names them in its refusal.
    assert [e["subject"] for e in denied[:3]] == [None, CITIZEN_ID, CITIZEN_ID]
    assert await desk.citizens() == 1  # nothing was recorded by the refused form
    assert all(e["action"] != "registry.death" for e in await desk.events())


async def test_the_record_shows_values_by_name_and_each_view_is_recorded(desk: Desk) -> None:
    page = await desk.web.get(f"/workspace/citizens/{CITIZEN_ID}")
    assert page.status_code == 200, page.text
    html = page.text
    for shown in ("Nguyễn Thị Minh Anh", "Nữ", "14/05/2003", "Hà Nội", "Kinh", "Việt Nam"):
        assert shown in html
    for code in ("female", "2003-05-14", ">001<", ">VN<"):
        assert code not in html
    assert "Lịch sử hồ sơ" in html
    (read,) = await desk.events("registry.read")
    assert (read["actor_type"], read["actor_id"], read["subject"]) == (
        "official",
        CLERK,
        CITIZEN_ID,
    )
    assert read["outcome"] == "granted"
    assert read["purpose"] == "civil_registration"
    (history,) = await desk.events("registry.history")
    assert history["subject"] == CITIZEN_ID

    english = await desk.web.get(f"/workspace/citizens/{CITIZEN_ID}", params={"lang": "en"})
    assert "Female" in english.text
    assert "Record history" in english.text
    assert "Nữ" not in english.text
    assert len(await desk.events("registry.read")) == 2


async def test_an_unknown_number_is_a_recorded_not_found(desk: Desk) -> None:
    page = await desk.web.get("/workspace/citizens/001303999999")
    assert page.status_code == 404
    assert 'data-notice="not_found"' in page.text
    (event,) = await desk.events("registry.read")
    assert (event["outcome"], event["subject"]) == ("not_found", "001303999999")


async def test_find_by_id_number_opens_the_record(desk: Desk) -> None:
    found = await desk.web.get("/workspace", params={"by": "id", "id_number": CITIZEN_ID})
    assert found.status_code == 303
    assert found.headers["location"] == f"/workspace/citizens/{CITIZEN_ID}"
    bad = await desk.web.get("/workspace", params={"by": "id", "id_number": "12345"})
    assert bad.status_code == 422
    assert error_beside(bad.text, "id_number") == "Số định danh cá nhân gồm đúng 12 chữ số hợp lệ."
    assert 'value="12345"' in bad.text


async def test_find_by_name_and_partial_date_lists_matches_and_records_them(desk: Desk) -> None:
    found = await desk.web.get(
        "/workspace", params={"by": "name", "name": "nguyen thi minh anh", "birth_date": "05/2003"}
    )
    assert found.status_code == 200, found.text
    assert f'href="/workspace/citizens/{CITIZEN_ID}"' in found.text
    assert "14/05/2003" in found.text
    (event,) = await desk.events("registry.search")
    assert (event["subject"], event["detail"]["by"]) == (CITIZEN_ID, "name_birth_date")

    none = await desk.web.get(
        "/workspace", params={"by": "name", "name": "nguyen thi minh anh", "birth_date": "2004"}
    )
    assert 'id="no-results"' in none.text
    bad = await desk.web.get("/workspace", params={"by": "name", "name": "An", "birth_date": "x"})
    assert bad.status_code == 422
    assert "dd/mm/yyyy, mm/yyyy" in error_beside(bad.text, "birth_date")
    searched = await desk.events("registry.search")
    empty = await desk.web.get("/workspace", params={"by": "name", "name": "", "birth_date": ""})
    assert error_beside(empty.text, "name") == "Trường này là bắt buộc."
    assert error_beside(empty.text, "birth_date") == "Trường này là bắt buộc."
    assert await desk.events("registry.search") == searched  # nothing searched


async def test_find_by_old_number_checks_the_number(desk: Desk) -> None:
    bad = await desk.web.get("/workspace", params={"by": "old", "old_id_number": "12ab"})
    assert bad.status_code == 422
    assert error_beside(bad.text, "old_id_number") == "Số CMND cũ gồm đúng 9 chữ số."
    none = await desk.web.get("/workspace", params={"by": "old", "old_id_number": "012345678"})
    assert none.status_code == 200
    assert 'id="no-results"' in none.text


async def test_an_unknown_registration_is_a_page_not_json(desk: Desk) -> None:
    page = await desk.web.get(f"/workspace/citizens/{CITIZEN_ID}/adoption")
    assert page.status_code == 404
    assert page.headers["content-type"].startswith("text/html")
    assert 'data-notice="no_page"' in page.text
    assert await desk.events("registry.read") == []


async def test_the_account_page_leads_officials_and_no_one_else_to_the_workspace(
    settings: Settings, database: Database
) -> None:
    app = create_app(settings, database=database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    await make_citizen(database)
    await make_account(database, settings)
    await make_staff(database, settings, username=CLERK, roles=("official",))
    await make_staff(database, settings, username="kiemtoan", roles=("auditor",))
    people = ((CLERK, STAFF_PASSWORD, True), ("kiemtoan", STAFF_PASSWORD, False))
    async with app.router.lifespan_context(app):
        for login, password, linked in (*people, (CITIZEN_ID, PASSWORD, False)):
            async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as web:
                await password_session(web, login, password)
                page = await web.get("/account")
                assert page.status_code == 200, page.text
                assert ('id="go-workspace" href="/workspace"' in page.text) is linked


async def test_staff_landing_on_the_portal_go_to_their_own_work(
    settings: Settings, database: Database
) -> None:
    app = create_app(settings, database=database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    clerk = await make_staff(database, settings, username=CLERK, roles=("official",))
    auditor = await make_staff(database, settings, username="kiemtoan", roles=("auditor",))
    async with app.router.lifespan_context(app):
        for account_id, work in ((clerk, "/workspace"), (auditor, "/console")):
            async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as web:
                web.cookies.set(
                    SESSION_COOKIE, await session_cookie(database, settings, account_id)
                )
                landed = await web.get("/portal")
                assert landed.status_code == 303
                assert landed.headers["location"] == "/staff"  # the staff home, by role:
                home = await web.get("/staff")
                assert home.status_code == 303
                assert home.headers["location"] == work
