"""Question this access: a citizen questions an agency's access from the access log, the
question is recorded, and auditors see it in the console by the agency's name and move it on."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from audit import recording
from audit.events import DISPUTE_OPENED, DISPUTE_STATUS
from audit.models import AuditEvent
from core.auth import Principal
from core.db import Database
from core.settings import Settings
from registry.portal.session import SESSION_COOKIE
from tests.identity.factories import (
    CITIZEN_ID,
    form_field,
    make_account,
    make_agency,
    make_citizen,
    make_staff,
)
from tests.registry.portal_sessions import browser, portal_sign_in, session_cookie

AGENCY_NAME = "Ngân hàng Thương mại Cổ phần Thử nghiệm"
OFFICIAL_NAME = "Phạm Thị Lan"
OFFICE = "Công an phường Hàng Bạc"


@dataclass
class Env:
    """A citizen signed in to the portal, the app, an agency's and an official's accesses."""

    app: FastAPI
    settings: Settings
    database: Database
    web: httpx.AsyncClient
    agency_event: str
    official_event: str


async def add(
    database: Database,
    actor: Principal,
    action: str,
    *,
    fields: tuple[str, ...] = (),
    purpose: str | None = None,
) -> str:
    """One event about the citizen in its own unit of work; its event id."""
    async with database.unit_of_work() as session:
        return await recording.record(
            session,
            actor=actor,
            action=action,
            outcome="granted",
            subject=CITIZEN_ID,
            fields=fields,
            purpose=purpose,
        )


@pytest.fixture
async def env(app: FastAPI, settings: Settings, database: Database) -> AsyncIterator[Env]:
    """The citizen, an agency that looked them up, an official who read the record."""
    await make_citizen(database)
    await make_account(database, settings)
    bank, _ = await make_agency(database, settings, name=AGENCY_NAME)
    await make_staff(
        database, settings, username="lan.pt", display_name=OFFICIAL_NAME, office=OFFICE
    )
    agency_event = await add(
        database,
        Principal("agency", bank, roles=frozenset({"agency"})),
        "agency.lookup",
        fields=("full_name",),
        purpose="kyc.account_opening",
    )
    official_event = await add(
        database, Principal("official", "lan.pt", roles=frozenset({"official"})), "registry.read"
    )
    async with browser(app, settings) as web:
        assert (await portal_sign_in(web)).status_code == 200
        yield Env(app, settings, database, web, agency_event, official_event)


async def events(database: Database, action: str) -> list[AuditEvent]:
    """Recorded events of one action, oldest first."""
    async with database.unit_of_work() as session:
        stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list((await session.execute(stmt)).scalars())


def row(html: str, uid: str) -> str:
    """The access log's row of one event."""
    found = re.search(rf'<tr data-event="{uid}">.*?</tr>', html, re.S)
    assert found, uid
    return found.group(0)


async def question(env: Env, uid: str, reason: str) -> httpx.Response:
    """Open the question page of an access and send the form."""
    page = await env.web.get(f"/portal/access/{uid}/question")
    assert page.status_code == 200, page.text
    return await env.web.post(
        f"/portal/access/{uid}/question",
        data={"csrf": form_field(page.text, "csrf"), "reason": reason},
    )


async def test_the_access_log_names_agencies_and_officials_with_their_office(env: Env) -> None:
    log = (await env.web.get("/portal/access")).text
    assert AGENCY_NAME in row(log, env.agency_event)
    official = row(log, env.official_event)
    assert f"{OFFICIAL_NAME}, {OFFICE} (cán bộ)" in official
    assert "Xem hồ sơ" in official and "registry.read" not in official
    assert "lan.pt" not in official


async def test_the_citizens_own_views_fold_into_one_line_per_day(env: Env) -> None:
    for _ in range(3):
        await env.web.get("/portal")
    log = (await env.web.get("/portal/access")).text
    own = re.search(r'<ul id="own-days".*?</ul>', log, re.S)
    assert own is not None
    lines = re.findall(r"<li data-day=", own.group(0))
    assert len(lines) == 1
    assert "Hồ sơ của tôi" in own.group(0) and "lần" in own.group(0)
    # None of the citizen's own views is a row of the access table.
    table = re.search(r'<table id="access".*?</table>', log, re.S)
    assert table is not None and "Bạn<" not in table.group(0)


async def test_a_citizen_questions_an_agencys_access_and_an_auditor_answers(
    env: Env, settings: Settings, database: Database
) -> None:
    sent = await question(env, env.agency_event, "Tôi không mở tài khoản ở ngân hàng này.")
    assert sent.status_code == 303 and sent.headers["location"] == "/portal/access?done=questioned"
    log = (await env.web.get(sent.headers["location"])).text
    assert "Đã gửi câu hỏi." in log
    assert 'data-status="open"' in row(log, env.agency_event)
    (opened,) = await events(database, DISPUTE_OPENED)
    assert opened.subject == CITIZEN_ID and opened.outcome == "granted"
    assert env.agency_event in str(opened.detail)

    # Asking twice says so.
    again = await question(env, env.agency_event, "")
    assert again.headers["location"] == "/portal/access?error=questioned_before"

    auditor_id = await make_staff(database, settings, username="kiemtoan", roles=("auditor",))
    async with browser(env.app, settings) as console:
        console.cookies.set(SESSION_COOKIE, await session_cookie(database, settings, auditor_id))
        listed = await console.get("/console/disputes", params={"status": "open"})
        assert listed.status_code == 200, listed.text
        assert AGENCY_NAME in listed.text and "Tôi không mở tài khoản" in listed.text
        assert "Đang chờ trả lời" in listed.text and CITIZEN_ID in listed.text
        dispute = re.search(r'data-dispute="([0-9a-f-]{36})"', listed.text)
        assert dispute is not None
        changed = await console.post(
            f"/console/disputes/{dispute.group(1)}",
            data={
                "csrf": form_field(listed.text, "csrf"),
                "status": "answered",
                "answer": "Ngân hàng đã tra cứu nhầm; đã yêu cầu giải trình.",
            },
        )
        assert changed.status_code == 303 and changed.headers["location"].endswith("done=1")
        english = (await console.get("/console/disputes", params={"lang": "en"})).text
        assert "Answered" in english and "Ngân hàng đã tra cứu nhầm" in english
    (status,) = await events(database, DISPUTE_STATUS)
    assert status.subject == CITIZEN_ID and status.actor_id == "kiemtoan"
    log = (await env.web.get("/portal/access")).text
    assert "Đã trả lời" in row(log, env.agency_event)


async def test_a_citizen_cannot_question_their_own_view_and_the_refusal_is_recorded(
    env: Env, database: Database
) -> None:
    mine = (await events(database, "portal.view"))[0]  # the record page, after the sign-in
    page = await env.web.get(f"/portal/access/{mine.event_uid}/question")
    assert page.status_code == 404
    access = await env.web.get("/portal/access")
    refused = await env.web.post(
        f"/portal/access/{mine.event_uid}/question",
        data={"csrf": form_field(access.text, "csrf"), "reason": ""},
    )
    assert refused.status_code == 404
    (denied,) = await events(database, DISPUTE_OPENED)
    assert denied.outcome == "denied" and denied.subject == CITIZEN_ID


async def test_a_too_long_question_is_refused_beside_the_field(
    env: Env, database: Database
) -> None:
    sent = await question(env, env.agency_event, "x" * 501)
    assert sent.status_code == 400
    assert 'id="reason-error"' in sent.text and "tối đa 500 ký tự" in sent.text
    assert await events(database, DISPUTE_OPENED) == []


async def test_an_auditor_cannot_set_an_unknown_status(
    env: Env, settings: Settings, database: Database
) -> None:
    await question(env, env.agency_event, "")
    auditor_id = await make_staff(database, settings, username="kiemtoan", roles=("auditor",))
    async with browser(env.app, settings) as console:
        console.cookies.set(SESSION_COOKIE, await session_cookie(database, settings, auditor_id))
        listed = await console.get("/console/disputes")
        dispute = re.search(r'data-dispute="([0-9a-f-]{36})"', listed.text)
        assert dispute is not None
        changed = await console.post(
            f"/console/disputes/{dispute.group(1)}",
            data={"csrf": form_field(listed.text, "csrf"), "status": "deleted"},
        )
        assert changed.headers["location"].endswith("error=1")
    assert await events(database, DISPUTE_STATUS) == []


async def test_the_console_picks_agencies_and_officials_by_name(
    env: Env, settings: Settings, database: Database
) -> None:
    auditor_id = await make_staff(database, settings, username="kiemtoan", roles=("auditor",))
    async with browser(env.app, settings) as console:
        console.cookies.set(SESSION_COOKIE, await session_cookie(database, settings, auditor_id))
        home = (await console.get("/console")).text
        assert f">{AGENCY_NAME}</option>" in home
        assert f'<option value="lan.pt">{OFFICIAL_NAME}, {OFFICE}</option>' in home
        found = (await console.get("/console", params={"actor_id": "lan.pt"})).text
    assert f"{OFFICIAL_NAME}, {OFFICE} (cán bộ)" in found and "Xem hồ sơ" in found
    assert env.official_event in found and env.agency_event not in found


async def test_nobody_answers_a_question_about_their_own_access(
    env: Env, settings: Settings, database: Database
) -> None:
    both = await make_staff(database, settings, username="tuan.kt", roles=("official", "auditor"))
    own = await add(
        database, Principal("official", "tuan.kt", roles=frozenset({"official"})), "registry.read"
    )
    await question(env, own, "Ai đã xem hồ sơ của tôi?")
    async with browser(env.app, settings) as console:
        console.cookies.set(SESSION_COOKIE, await session_cookie(database, settings, both))
        listed = await console.get("/console/disputes")
        dispute = re.search(r'data-dispute="([0-9a-f-]{36})"', listed.text)
        assert dispute is not None
        changed = await console.post(
            f"/console/disputes/{dispute.group(1)}",
            data={"csrf": form_field(listed.text, "csrf"), "status": "closed"},
        )
        assert changed.headers["location"].endswith("error=1")
    (refused,) = await events(database, DISPUTE_STATUS)
    assert refused.outcome == "denied" and refused.actor_id == "tuan.kt"
    log = (await env.web.get("/portal/access")).text
    assert 'data-status="open"' in row(log, own)
