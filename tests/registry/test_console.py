"""The auditor console in-process on both backends: the gate, search, detail with its proof,
exports, checkpoints with consistency, the chart, and that the console's own views are audited.

Auditors are staff accounts with the auditor role; their portal session is created directly with
``amr="hwk user"`` (the passkey ceremony is covered by the browser tests). The password path is
the real one: /portal/login through our own provider.
"""

from __future__ import annotations

import csv
import io
import json
import re
import uuid
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from html import unescape
from typing import Any
from urllib.parse import parse_qs, urlsplit
from xml.etree import ElementTree

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import select

from audit import recording as audit
from audit.events import Outcome
from audit.models import AuditEvent
from audit.worker import AuditWorker
from core.auth import Principal
from core.clock import VIETNAM_TIME, utcnow
from core.db import Database
from core.settings import Settings
from core.text import csv_cell
from registry.app import create_app
from registry.portal import console_service
from registry.portal.session import PORTAL_CLIENT_ID, SESSION_COOKIE
from tests.identity.factories import (
    CITIZEN_ID,
    STAFF_PASSWORD,
    make_account,
    make_agency,
    make_citizen,
    make_staff,
    sign_in,
)
from tests.registry.portal_sessions import session_cookie

AUDITOR_LOGIN = "auditor.hanoi"
OTHER_ID = "079185000123"
AGENCY_NAME = "Tổng cục Thuế"
CITIZEN = Principal("citizen", CITIZEN_ID, roles=frozenset({"citizen"}))
OFFICIAL = Principal("official", "clerk-7", roles=frozenset({"official"}))
HOSPITAL = Principal("agency", "hospital-3", roles=frozenset({"agency"}))


# ------------------------------------------------------------------------------ harness


@dataclass
class Console:
    """The app, its database, a cookie-keeping client, and the trail seeded for the test."""

    app: FastAPI
    settings: Settings
    database: Database
    web: httpx.AsyncClient
    auditor_id: str  # the auditor's account id
    bank: str  # the agency's client id
    ids: dict[str, str]

    async def seal(self) -> str:
        """Sequence every committed event and sign a checkpoint of the grown tree."""
        worker = AuditWorker(
            self.database, self.app.state.audit_signer, origin=self.settings.audit_origin
        )
        await worker.sequence_pending()
        note = await worker.checkpoint()
        assert note is not None
        return note

    async def events(self, action: str) -> list[AuditEvent]:
        """Recorded events of one action, oldest first."""
        async with self.database.sessions() as session:
            query = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
            return list((await session.execute(query)).scalars())


async def add(
    database: Database,
    actor: Principal,
    action: str,
    *,
    subject: str | None = None,
    fields: tuple[str, ...] = (),
    purpose: str | None = None,
    outcome: Outcome = "granted",
) -> str:
    """One event in its own unit of work; its event_uid."""
    async with database.unit_of_work() as session:
        return await audit.record(
            session,
            actor=actor,
            action=action,
            outcome=outcome,
            subject=subject,
            fields=fields,
            purpose=purpose,
        )


async def seed(database: Database, bank: str) -> dict[str, str]:
    """A small trail about two citizens, oldest first; the bank is a registered agency."""
    agency = Principal("agency", bank, roles=frozenset({"agency"}), on_behalf_of="teller-9")
    return {
        "verify": await add(
            database, agency, "agency.verify", subject=CITIZEN_ID, purpose="kyc.account_opening"
        ),
        "lookup_other": await add(
            database,
            agency,
            "agency.lookup",
            subject=OTHER_ID,
            fields=("full_name", "birth_date"),
            purpose="tax.filing",
        ),
        "update": await add(database, OFFICIAL, "citizen.update", subject=CITIZEN_ID),
        "denied": await add(
            database,
            HOSPITAL,
            "agency.lookup",
            subject=OTHER_ID,
            fields=("blood_type",),
            purpose="marketing",
            outcome="denied",
        ),
        "login": await add(database, CITIZEN, "identity.login", subject=CITIZEN_ID),
    }


@pytest.fixture
async def console(settings: Settings, database: Database) -> AsyncIterator[Console]:
    """A signed-in auditor (passkey session) and a seeded trail."""
    app = create_app(settings, database=database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=settings.public_url) as web,
    ):
        auditor_id = await make_staff(
            database, settings, username=AUDITOR_LOGIN, roles=("auditor",)
        )
        bank, _ = await make_agency(database, settings, name=AGENCY_NAME)
        ids = await seed(database, bank)
        web.cookies.set(SESSION_COOKIE, await session_cookie(database, settings, auditor_id))
        yield Console(app, settings, database, web, auditor_id, bank, ids)


async def page(
    console: Console,
    path: str,
    form: dict[str, str] | None = None,
    *,
    status: int = 200,
    **params: str,
) -> str:
    """GET a console page; its HTML."""
    query = {**(form or {}), **params}
    response = await console.web.get(path, params=query or None)  # {} would drop the query
    assert response.status_code == status, response.text
    assert_page_headers(response)
    return response.text


def assert_page_headers(response: httpx.Response) -> None:
    """The security headers every console response carries."""
    headers = response.headers
    assert "frame-ancestors 'none'" in headers["content-security-policy"]
    assert "img-src 'self'" in headers["content-security-policy"]
    assert headers["x-frame-options"] == "DENY"
    assert headers["referrer-policy"] == "no-referrer"
    assert headers["cache-control"] == "no-store"


def result_uids(html: str) -> list[str]:
    """The event ids of the results table, in page order."""
    return re.findall(r'<tr data-uid="([0-9a-f-]{36})"', html)


def parse_svg(svg: str) -> ElementTree.Element:
    """The chart as XML (it must be well-formed)."""
    return ElementTree.fromstring(svg)  # noqa: S314 - our own server's output


def svg_texts(root: ElementTree.Element, tag: str = "text") -> list[str]:
    """The text of every ``tag`` element of an SVG."""
    return [t.text or "" for t in root.iter("{http://www.w3.org/2000/svg}" + tag)]


def local(moment: datetime) -> str:
    """A datetime-local value in Vietnam time."""
    return moment.astimezone(VIETNAM_TIME).strftime("%Y-%m-%dT%H:%M")


# ------------------------------------------------------------------------------ the gate


async def denied_views(database: Database) -> list[tuple[str, str]]:
    """Who was refused a page: (actor_type, actor_id) of each denied portal.view event."""
    async with database.sessions() as session:
        denied = (
            await session.execute(
                select(AuditEvent.actor_type, AuditEvent.actor_id).where(
                    AuditEvent.action == "portal.view", AuditEvent.outcome == "denied"
                )
            )
        ).all()
    return [(row[0], row[1]) for row in denied]


@asynccontextmanager
async def served(settings: Settings, database: Database) -> AsyncIterator[httpx.ASGITransport]:
    """The app, started, behind a transport that answers its errors as a server would."""
    app = create_app(settings, database=database)
    async with app.router.lifespan_context(app):
        yield httpx.ASGITransport(app=app, raise_app_exceptions=False)


async def test_the_console_sends_a_visitor_to_sign_in_and_back(
    settings: Settings, database: Database
) -> None:
    async with (
        served(settings, database) as transport,
        httpx.AsyncClient(transport=transport, base_url=settings.public_url) as web,
    ):
        first = await web.get("/console", params={"subject": CITIZEN_ID})
        assert first.status_code == 303
        assert first.headers["location"].startswith("/portal/login?")
        next_path = parse_qs(urlsplit(first.headers["location"]).query)["next"]
        assert next_path == [f"/console?subject={CITIZEN_ID}"]
        for path in ("/console/checkpoints", "/console/chart.svg", "/console/export.csv"):
            assert (await web.get(path)).status_code == 303, path
    # No one to name: a visitor's refusals are not recorded.
    assert await denied_views(database) == []


async def test_an_auditor_signed_in_with_a_password_is_asked_for_a_passkey(
    settings: Settings, database: Database
) -> None:
    async with served(settings, database) as transport:
        auditor = await make_staff(database, settings, username=AUDITOR_LOGIN, roles=("auditor",))
        async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as web:
            # The real password sign-in through the portal's client: on to the passkey step
            # (registered and used at once there), never to the console with a password.
            start = await web.get("/portal/login", params={"next": "/console"})
            back = await sign_in(
                web, start.headers["location"], login=AUDITOR_LOGIN, password=STAFF_PASSWORD
            )
            while back.status_code in (302, 303):
                back = await web.get(back.headers["location"])
            assert back.status_code == 200
            assert "/staff/passkey?req=" in str(back.url)
            assert 'id="passkey-enrol"' in back.text
            # The provider refuses the portal a code for the password session meanwhile.
            again = await web.get("/portal/login", params={"next": "/console"})
            moved = await web.get(again.headers["location"])
            assert moved.headers["location"].startswith("/staff/passkey?req=")
        async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as web:
            # A portal session of a password sign-in (made before this rule) sees the notice.
            web.cookies.set(
                SESSION_COOKIE, await session_cookie(database, settings, auditor, amr="pwd")
            )
            notice = await web.get("/console")
            assert notice.status_code == 403
            assert 'data-notice="passkey"' in notice.text
            assert 'href="/staff/passkey"' in notice.text
            assert "khóa truy cập" in notice.text
            assert_page_headers(notice)
            assert re.search(r'name="csrf" value="[0-9a-f]{64}"', notice.text)  # the sign-out
            english = await web.get("/console/checkpoints", params={"lang": "en"})
            assert english.status_code == 403
            assert "Create the passkey and continue" in english.text
    # The auditor's two pages before the passkey.
    assert await denied_views(database) == [("auditor", AUDITOR_LOGIN)] * 2


async def test_citizens_officials_and_password_sessions_are_refused_the_console(
    settings: Settings, database: Database
) -> None:
    async with served(settings, database) as transport:
        official = await make_staff(database, settings, username="clerk.hue", roles=("official",))
        await make_citizen(database)
        citizen = await make_account(database, settings)
        for account_id, amr in ((citizen, "hwk user"), (official, "hwk user"), (citizen, "pwd")):
            async with httpx.AsyncClient(transport=transport, base_url=settings.public_url) as web:
                web.cookies.set(
                    SESSION_COOKIE, await session_cookie(database, settings, account_id, amr=amr)
                )
                for path in ("/console", "/console/events/x", "/console/chart.svg"):
                    refused = await web.get(path)
                    assert refused.status_code == 403, (path, refused.text)
                    assert 'data-notice="forbidden"' in refused.text
                    assert_page_headers(refused)
    # Three pages each, recorded as denied.
    denied = await denied_views(database)
    assert set(denied) == {("citizen", CITIZEN_ID), ("official", "clerk.hue")}
    assert len(denied) == 9


# ------------------------------------------------------------------------------ search


def filter_cases(console: Console) -> list[tuple[dict[str, str], list[str]]]:
    """Each filter (and a few combinations) with the seeded events it finds, newest first."""
    ids = console.ids

    def newest_first(*names: str) -> list[str]:
        return [ids[n] for n in reversed(list(ids)) if n in names]

    now = utcnow()
    yesterday = (now.astimezone(VIETNAM_TIME) - timedelta(days=1)).date().isoformat()
    return [
        ({"subject": CITIZEN_ID}, newest_first("verify", "update", "login")),
        ({"actor_id": "hospital-3"}, newest_first("denied")),
        ({"actor_type": "official"}, newest_first("update")),
        ({"action": "agency.lookup"}, newest_first("lookup_other", "denied")),
        ({"purpose": "tax.filing"}, newest_first("lookup_other")),
        ({"outcome": "denied"}, newest_first("denied")),
        ({"subject": OTHER_ID, "actor_id": console.bank}, newest_first("lookup_other")),
        ({"since": yesterday}, newest_first(*ids)),
        ({"until": yesterday}, []),
        ({"since": local(now + timedelta(minutes=2))}, []),
        (
            {
                "since": local(now - timedelta(minutes=2)),
                "until": local(now + timedelta(minutes=2)),
            },
            newest_first(*ids),
        ),
        ({"subject": "999999999999"}, []),
    ]


async def search_form(console: Console, params: dict[str, str]) -> str:
    """The console's results page for ``params``, the other filters empty as a browser sends."""
    return await page(
        console, "/console", {name: "" for name in console_service.FILTER_NAMES} | params
    )


async def test_the_console_home_shows_the_search_form_and_the_chart_but_no_results(
    console: Console,
) -> None:
    home = await page(console, "/console")
    assert 'id="console-search"' in home and 'id="results"' not in home
    assert '<img id="console-chart" src="/console/chart.svg' in home


async def test_search_by_each_filter_finds_the_right_events(console: Console) -> None:
    seeded = set(console.ids.values())
    for params, expected in filter_cases(console):
        html = await search_form(console, params)
        found = result_uids(html)
        if "since" in params:  # the console's own searches are in the trail too
            found = [uid for uid in found if uid in seeded]
        assert found == expected, params
        if not expected:
            assert 'id="no-results"' in html
        for value in params.values():  # the form is filled again with what was asked
            assert f'value="{value}"' in html or f'value="{value}" selected' in html


async def test_a_result_row_names_the_agency_its_fields_and_purpose_and_links_the_event(
    console: Console,
) -> None:
    row = await page(console, "/console", actor_id=console.bank, action="agency.lookup")
    assert f">{AGENCY_NAME} · teller-9<" in row and f">{console.bank}" not in row
    assert "Ngày sinh, Họ, chữ đệm và tên" in row and "tax.filing" in row
    assert "Tra cứu thông tin" in row and "Được phép" in row
    assert f'href="/console/events/{console.ids["lookup_other"]}?lang=vi"' in row


async def test_each_console_search_is_recorded_with_the_subject_asked_for(
    console: Console,
) -> None:
    cases = filter_cases(console)
    for params, _ in cases:
        await search_form(console, params)
    await page(console, "/console", actor_id=console.bank, action="agency.lookup")
    searches = await console.events("audit.search")
    assert len(searches) == len(cases) + 1
    assert all(e.actor_type == "auditor" and e.actor_id == AUDITOR_LOGIN for e in searches)
    assert searches[0].subject == CITIZEN_ID  # the subject searched for is on the record
    assert json.loads(searches[0].detail or "{}") == {"filters": "subject", "results": 3}


async def test_searches_page_with_a_more_link(console: Console) -> None:
    async with console.database.unit_of_work() as session:
        await audit.record_many(
            session,
            actor=HOSPITAL,
            events=[
                audit.EventSpec("agency.lookup", "granted", subject=CITIZEN_ID, purpose="treatment")
                for _ in range(60)
            ],
        )
    first = await page(console, "/console", actor_id="hospital-3")
    assert len(result_uids(first)) == console_service.PAGE_SIZE
    more = re.search(r'<a id="more" href="([^"]+)"', first)
    assert more is not None
    second = await page(console, unescape(more.group(1)))
    rest = result_uids(second)
    assert len(rest) == 61 - console_service.PAGE_SIZE
    assert not set(rest) & set(result_uids(first))
    assert rest[-1] == console.ids["denied"]
    assert 'id="more"' not in second
    assert 'value="hospital-3"' in second  # the filters stay in the form


async def test_invalid_filters_render_the_form_again_with_errors(console: Console) -> None:
    before = len(await console.events("audit.search"))
    bad = [
        ({"subject": "12345"}, "subject", "Số định danh cá nhân gồm đúng 12 chữ số."),
        ({"since": "2024-13-45"}, "since", "Nhập ngày (YYYY-MM-DD)"),
        ({"until": "yesterday"}, "until", "Nhập ngày (YYYY-MM-DD)"),
        ({"since": "2024-05-02", "until": "2024-05-01T08:00"}, "until", "không được sớm hơn"),
        ({"actor_type": "robot"}, "actor_type", "Hãy chọn một giá trị"),
        ({"outcome": "maybe"}, "outcome", "Hãy chọn một giá trị"),
        ({"action": "x" * 65}, "action", "Tối đa 64 ký tự"),
        ({"purpose": "<script>"}, "purpose", "Tối đa 64 ký tự"),
    ]
    for params, field, message in bad:
        response = await console.web.get("/console", params=params)
        assert response.status_code == 422, params
        assert_page_headers(response)
        html = response.text
        assert 'id="form-error"' in html and 'id="results"' not in html
        assert f'id="e-{field}"' in html and message in html, (params, html)
        assert "<script>" not in html  # what was typed comes back escaped
    english = await console.web.get("/console", params={"subject": "1", "lang": "en"})
    assert "A personal ID number has exactly 12 digits." in english.text
    cursor = await console.web.get("/console", params={"cursor": "not-a-cursor"})
    assert cursor.status_code == 422
    assert "Liên kết trang tiếp theo không hợp lệ" in cursor.text
    for path in ("/console/export.ndjson", "/console/export.csv"):
        refused = await console.web.get(path, params={"subject": "abc"})
        assert refused.status_code == 422
        assert 'id="e-subject"' in refused.text
    assert len(await console.events("audit.search")) == before  # nothing was searched
    assert await console.events("audit.export") == []


# ------------------------------------------------------------------------------ event detail


async def sequence(console: Console) -> None:
    """Give every committed event its leaf (no checkpoint signed)."""
    worker = AuditWorker(
        console.database, console.app.state.audit_signer, origin=console.settings.audit_origin
    )
    await worker.sequence_pending()


async def test_an_unsequenced_events_detail_says_it_is_not_in_the_tree_yet(
    console: Console,
) -> None:
    waiting = await page(console, f"/console/events/{console.ids['lookup_other']}")
    assert 'data-state="unsequenced"' in waiting
    assert "chưa được xếp vào cây Merkle" in waiting
    assert OTHER_ID in waiting and "Ngày sinh, Họ, chữ đệm và tên" in waiting


async def test_a_sequenced_events_detail_shows_its_leaf_before_a_checkpoint_covers_it(
    console: Console,
) -> None:
    await sequence(console)
    uncovered = await page(console, f"/console/events/{console.ids['lookup_other']}")
    assert 'data-state="uncovered"' in uncovered
    assert re.search(r'<dd id="leaf-index">(\d+)</dd>', uncovered) is not None


async def test_event_detail_checks_its_inclusion_proof_against_the_newest_checkpoint(
    console: Console,
) -> None:
    uid = console.ids["lookup_other"]
    await sequence(console)
    uncovered = await page(console, f"/console/events/{uid}")
    leaf = re.search(r'<dd id="leaf-index">(\d+)</dd>', uncovered)
    assert leaf is not None
    note = await console.seal()
    html = await page(console, f"/console/events/{uid}", lang="en")
    assert 'data-state="verified"' in html
    assert '<strong id="proof-status" class="verified">✓ Verified</strong>' in html
    assert f'<dd id="leaf-index">{leaf.group(1)}</dd>' in html
    size = int(note.splitlines()[1])
    assert f'<dd id="tree-size">{size}</dd>' in html
    assert f'<code id="root-hash">{note.splitlines()[2]}</code>' in html
    assert note.splitlines()[0] in html  # the checkpoint note, origin line first


async def test_an_unknown_events_detail_is_a_404(console: Console) -> None:
    missing = await page(console, f"/console/events/{uuid.uuid4()}", status=404)
    assert 'id="not-found"' in missing


async def test_event_views_are_recorded_and_only_proofs_given(console: Console) -> None:
    uid = console.ids["lookup_other"]
    await page(console, f"/console/events/{uid}")
    await sequence(console)
    await page(console, f"/console/events/{uid}")
    await console.seal()
    await page(console, f"/console/events/{uid}", lang="en")
    await page(console, f"/console/events/{uuid.uuid4()}", status=404)
    views = await console.events("audit.event_view")
    assert [v.outcome for v in views] == ["granted", "granted", "granted", "not_found"]
    assert {v.subject for v in views[:3]} == {OTHER_ID}
    proofs = await console.events("audit.proof")
    # Only the proof that was given is recorded (while uncovered, the proof was refused).
    assert [p.subject for p in proofs] == [OTHER_ID]


async def test_a_proof_that_does_not_verify_is_shown_as_not_verified(console: Console) -> None:
    await console.seal()
    # The app's verifier is the key that signed; pretend the page trusts another key.
    from audit.checkpoint import Signer

    console.app.state.audit_signer = Signer.generate(console.settings.audit_origin)
    html = await page(console, f"/console/events/{console.ids['verify']}")
    assert 'data-state="failed"' in html and "KHÔNG xác minh được" in html
    assert "checkpoint rejected" in html
    checkpoints = await page(console, "/console/checkpoints")
    assert "✗ KHÔNG hợp lệ" in checkpoints


# ------------------------------------------------------------------------------ exports


async def test_the_ndjson_export_streams_its_own_event_then_the_matching_ones(
    console: Console,
) -> None:
    ids = console.ids
    ndjson = await console.web.get("/console/export.ndjson", params={"subject": OTHER_ID})
    assert ndjson.status_code == 200
    assert_page_headers(ndjson)
    assert ndjson.headers["content-type"] == "application/x-ndjson"
    assert re.fullmatch(
        r'attachment; filename="audit-events-\d{8}T\d{6}Z\.ndjson"',
        ndjson.headers["content-disposition"],
    )
    lines = [json.loads(line) for line in ndjson.text.splitlines()]
    # The export is on the record (and committed) before the first line leaves, so it is
    # in its own output: newest first.
    assert lines[0]["action"] == "audit.export" and lines[0]["actor"]["id"] == AUDITOR_LOGIN
    assert [item["event_uid"] for item in lines[1:]] == [ids["denied"], ids["lookup_other"]]
    assert lines[2]["fields"] == ["birth_date", "full_name"]


async def test_the_csv_export_has_the_matching_events_with_formulas_defused(
    console: Console,
) -> None:
    ids = console.ids
    exported = await console.web.get(
        "/console/export.csv", params={"actor_type": "agency", "outcome": "granted"}
    )
    assert exported.status_code == 200
    assert exported.headers["content-type"] == "text/csv; charset=utf-8"
    assert exported.headers["content-disposition"].endswith('.csv"')
    rows = list(csv.DictReader(io.StringIO(exported.text)))
    assert [r["event_uid"] for r in rows] == [ids["lookup_other"], ids["verify"]]
    # A generated client id may begin with "-": the CSV defuses it as a formula (a leading ').
    assert rows[0]["actor_id"] == csv_cell(console.bank)
    assert rows[0]["on_behalf_of"] == "teller-9"
    assert rows[0]["fields"] == "birth_date full_name"
    assert rows[0]["subject"] == OTHER_ID and rows[0]["purpose"] == "tax.filing"
    assert rows[0]["leaf_index"] == ""


async def test_an_unfiltered_export_has_every_event(console: Console) -> None:
    everything = await console.web.get("/console/export.csv")
    assert len(list(csv.DictReader(io.StringIO(everything.text)))) >= len(console.ids)


async def test_each_export_is_recorded_with_its_subject_and_filter_names(
    console: Console,
) -> None:
    await console.web.get("/console/export.ndjson", params={"subject": OTHER_ID})
    await console.web.get(
        "/console/export.csv", params={"actor_type": "agency", "outcome": "granted"}
    )
    await console.web.get("/console/export.csv")
    exports = await console.events("audit.export")
    assert [(e.subject, json.loads(e.detail or "{}")["filters"]) for e in exports] == [
        (OTHER_ID, "subject"),
        (None, "actor_type,outcome"),
        (None, ""),
    ]


def test_csv_cells_cannot_start_a_spreadsheet_formula() -> None:
    item: dict[str, Any] = {
        "event_uid": "u",
        "occurred_at": "t",
        "subject": None,
        "action": "a",
        "fields": [],
        "purpose": None,
        "outcome": "granted",
        "request_id": "=HYPERLINK(1)",
        "leaf_index": 3,
        "actor": {"type": "agency", "id": "-2+3", "on_behalf_of": "@x"},
    }
    row = dict(zip(console_service.CSV_COLUMNS, console_service.csv_row(item), strict=True))
    assert row["request_id"] == "'=HYPERLINK(1)"
    assert row["actor_id"] == "'-2+3" and row["on_behalf_of"] == "'@x"
    assert row["leaf_index"] == "3" and row["subject"] == ""


# ------------------------------------------------------------------------------ checkpoints


async def test_checkpoints_page_verifies_consistency_between_consecutive_checkpoints(
    console: Console,
) -> None:
    empty = await page(console, "/console/checkpoints")
    assert 'id="no-checkpoints"' in empty
    first = await console.seal()
    await add(console.database, OFFICIAL, "citizen.update", subject=OTHER_ID)
    second = await console.seal()
    await add(console.database, OFFICIAL, "citizen.update", subject=OTHER_ID)
    third = await console.seal()
    sizes = [int(note.splitlines()[1]) for note in (first, second, third)]

    html = await page(console, "/console/checkpoints")
    assert re.findall(r'<tr data-size="(\d+)">', html) == [str(s) for s in reversed(sizes)]
    states = re.findall(r'class="consistency" data-state="(\w+)"', html)
    assert states == ["verified", "verified", "first"]
    assert f"({sizes[1]} → {sizes[2]})" in html and f"({sizes[0]} → {sizes[1]})" in html
    assert html.count("✓ Hợp lệ") == 3
    assert first.splitlines()[2] in html  # the first root
    consistency = await console.events("audit.consistency")
    assert [json.loads(e.detail or "{}") for e in consistency] == [
        {"first": sizes[1], "second": sizes[2]},
        {"first": sizes[0], "second": sizes[1]},
    ]


async def test_checkpoints_are_paged_newest_first(
    console: Console, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(console_service, "CHECKPOINTS_PER_PAGE", 2)
    sizes = []
    for _ in range(3):
        await add(console.database, OFFICIAL, "citizen.update", subject=OTHER_ID)
        sizes.append(int((await console.seal()).splitlines()[1]))
    html = await page(console, "/console/checkpoints")
    assert re.findall(r'<tr data-size="(\d+)">', html) == [str(sizes[2]), str(sizes[1])]
    # The oldest shown is still checked against its predecessor on the next page.
    assert re.findall(r'data-state="(\w+)"', html) == ["verified", "verified"]
    older = re.search(r'<a id="older" href="([^"]+)"', html)
    assert older is not None
    rest = await page(console, unescape(older.group(1)))
    assert re.findall(r'<tr data-size="(\d+)">', rest) == [str(sizes[0])]
    assert 'id="older"' not in rest


# ------------------------------------------------------------------------------ the chart


async def test_chart_counts_accesses_per_agency_per_day(console: Console) -> None:
    # The portal's own events name it as an agency actor; it is a relying party, not an agency.
    portal = Principal("agency", PORTAL_CLIENT_ID, roles=frozenset({"relying_party"}))
    await add(console.database, portal, "oidc.token", subject=CITIZEN_ID)
    response = await console.web.get("/console/chart.svg", params={"days": 7})
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/svg+xml"
    assert response.headers["cache-control"] == "no-store"
    root = parse_svg(response.text)
    assert root.tag == "{http://www.w3.org/2000/svg}svg"
    texts = svg_texts(root)
    assert f"{AGENCY_NAME} (tổng: 2)" in texts  # the name from oauth_client
    assert "hospital-3 (tổng: 1)" in texts  # no registered client: its id
    assert not [t for t in texts if "Cổng thông tin" in t or PORTAL_CLIENT_ID in t]
    today = utcnow().astimezone(VIETNAM_TIME).strftime("%d/%m")
    assert today in texts
    bars = svg_texts(root, "title")
    assert f"{AGENCY_NAME} · {utcnow().astimezone(VIETNAM_TIME).strftime('%d/%m/%Y')}: 2" in bars
    assert len([t for t in bars if t.startswith(AGENCY_NAME)]) == 1  # citizens, officials: none

    english = await console.web.get("/console/chart.svg", params={"lang": "en"})
    assert "Accesses per agency per day" in english.text
    for days in ("0", "91", "x"):
        refused = await console.web.get("/console/chart.svg", params={"days": days})
        assert refused.status_code == 422


async def test_chart_of_a_quiet_period_says_so(settings: Settings, database: Database) -> None:
    async with database.sessions() as session:
        data = await console_service.chart_data(
            session, days=3, now=utcnow(), others_label="others"
        )
    assert data.series == [] and len(data.days) == 3
    svg = console_service.chart_svg(data, title="T", empty="Nothing here", total_label="total")
    assert "Nothing here" in svg_texts(parse_svg(svg))


def test_chart_groups_small_agencies_and_escapes_names() -> None:
    days = console_service.chart_days(2, datetime(2024, 5, 1, 18, 0, tzinfo=UTC))
    assert [d.isoformat() for d in days] == ["2024-05-01", "2024-05-02"]  # 01:00 in Hà Nội
    series = [console_service.Series(f"<Cơ quan {i}> & co", [i, 1]) for i in range(9)]
    data = console_service.ChartData(days=days, series=series)
    svg = console_service.chart_svg(data, title="A & B", empty="", total_label="tổng")
    labels = svg_texts(parse_svg(svg))  # well-formed despite < & > in names
    assert "<Cơ quan 8> & co (tổng: 9)" in labels


# ------------------------------------------------------------------------------ pure rules


def test_form_times_are_vietnam_time_and_a_date_means_the_whole_day() -> None:
    form = console_service.parse_form({"since": "2024-05-01", "until": "2024-05-01"})
    assert form.filters is not None and not form.errors
    assert form.filters.since == datetime(2024, 4, 30, 17, 0, tzinfo=UTC)
    assert form.filters.until == datetime(2024, 5, 1, 17, 0, tzinfo=UTC)
    exact = console_service.parse_form({"since": "2024-05-01T08:30", "until": ""})
    assert exact.filters is not None and exact.filters.since == datetime(
        2024, 5, 1, 1, 30, tzinfo=UTC
    )
    assert exact.filters.until is None and exact.submitted
    assert not console_service.parse_form({}).submitted
    assert console_service.parse_form({"since": "2024-02-30"}).errors == {"since": "err_time"}
