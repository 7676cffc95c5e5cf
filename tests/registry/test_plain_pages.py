"""Every portal and console page a citizen and an auditor can reach, in Vietnamese and in
English, speaks plainly: no raw code, no ISO date, no English label on a Vietnamese page, no
JSON. The crawl follows each page's links from the record page and the console's home."""

from __future__ import annotations

import re
from collections.abc import Iterator
from html.parser import HTMLParser
from urllib.parse import urlencode, urlsplit

import httpx
import pytest
from fastapi import FastAPI

from audit import recording
from audit.worker import AuditWorker
from core.auth import Principal
from core.db import Database
from core.errors import all_error_types
from core.settings import Settings
from registry.app import create_app  # noqa: F401 - every error type is defined once it is
from registry.portal import disputes, labels
from registry.portal.session import SESSION_COOKIE
from tests.identity.factories import (
    CITIZEN_ID,
    make_account,
    make_agency,
    make_citizen,
    make_staff,
)
from tests.registry.portal_sessions import browser, portal_sign_in, session_cookie
from tools.catalogs import read

pytestmark = pytest.mark.postgresql_only  # the pages, not the backend, are under test

# Technical artefacts a page shows as they are: hashes, signed notes, event ids.
VERBATIM = {"pre", "code", "script", "style"}
# Links the crawl does not follow: downloads, the chart (an image), sign-out, forms' targets.
NOT_PAGES = re.compile(r"\.(csv|ndjson|svg)|/logout|/portal/login|/account|/static/")
ISO_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")
JSON = re.compile(r'[{\[]\s*"[A-Za-z_]+"\s*:')
# A code in place of its name: snake_case or dotted lower-case identifiers (birth_date,
# agency.lookup, kyc.account_opening), a code of the record's lists, a zero-led number.
CODE = re.compile(r"\b[a-z]+(?:_[a-z]+)+\b|\b[a-z]+\.[a-z_]+\b|^0\d{1,2}$")
RAW_VALUES = {
    "male",
    "female",
    "married",
    "single",
    "divorced",
    "widowed",
    "alive",
    "deceased",
    "missing",
    "granted",
    "denied",
    "agency",
    "official",
    "auditor",
    "citizen",
    "open",
    "answered",
    "closed",
}
PAGES_MAX = 80


class Page(HTMLParser):
    """A page's visible text (each text node apart) and its links."""

    def __init__(self) -> None:
        super().__init__()
        self.texts: list[str] = []
        self.links: list[str] = []
        self._skip = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in VERBATIM:
            self._skip += 1
        href = dict(attrs).get("href")
        if tag == "a" and href:
            self.links.append(href)

    def handle_endtag(self, tag: str) -> None:
        if tag in VERBATIM and self._skip:
            self._skip -= 1

    def handle_data(self, data: str) -> None:
        if not self._skip and data.strip():
            self.texts.append(" ".join(data.split()))


def english_labels() -> list[str]:
    """The English translations of the registry's pages of two words or more (one word may be
    a proper name used in both languages)."""
    out: list[str] = []
    for message in read("registry"):
        text = message.string if isinstance(message.string, str) else ""
        msgid = message.id if isinstance(message.id, str) else ""
        plain = re.sub(r"\{[a-z_]+\}", "", text).strip(" :.,()")
        if plain and plain != msgid and len(plain.split()) >= 2 and "{" not in plain:
            out.append(plain)
    return out


def faults(path: str, html: str, locale: str, english: list[str]) -> Iterator[str]:
    """What on one page is not plain language."""
    parsed = Page()
    parsed.feed(html)
    text = "\n".join(parsed.texts)
    if ISO_DATE.search(text):
        yield f"{path} [{locale}]: ISO date {ISO_DATE.search(text)}"
    if JSON.search(text) or html.lstrip().startswith(("{", "[")):
        yield f"{path} [{locale}]: JSON"
    for node in parsed.texts:
        found = CODE.search(node)
        if found:
            yield f"{path} [{locale}]: code {found.group(0)!r} in {node!r}"
        if node.strip(" ()·:,.") in RAW_VALUES:
            yield f"{path} [{locale}]: raw value {node!r}"
    if locale == "vi":
        for label in english:
            if label in text:
                yield f"{path} [vi]: English label {label!r}"


async def crawl(web: httpx.AsyncClient, starts: list[str], inside: str) -> dict[str, str]:
    """Every page reachable from ``starts`` by links under ``inside``: path -> HTML (vi)."""
    seen: dict[str, str] = {}
    queue = list(starts)
    while queue and len(seen) < PAGES_MAX:
        path = queue.pop(0)
        if path in seen:
            continue
        response = await web.get(path)
        assert response.status_code < 500, (path, response.text)
        if response.status_code in (302, 303):
            continue
        seen[path] = response.text
        parsed = Page()
        parsed.feed(response.text)
        for href in parsed.links:
            target = urlsplit(href)
            if target.netloc or not target.path.startswith(inside) or NOT_PAGES.search(href):
                continue
            query = "&".join(p for p in target.query.split("&") if p and not p.startswith("lang="))
            link = target.path + ("?" + query if query else "")
            if link not in seen:
                queue.append(link)
    return seen


async def check_both_languages(
    web: httpx.AsyncClient, pages: dict[str, str], english: list[str]
) -> list[str]:
    """Each crawled page in Vietnamese (as crawled) and again in English."""
    found: list[str] = []
    for path, html in pages.items():
        found.extend(faults(path, html, "vi", english))
        joiner = "&" if "?" in path else "?"
        en = await web.get(path + joiner + urlencode({"lang": "en"}))
        assert '<html lang="en">' in en.text, path
        found.extend(faults(path, en.text, "en", english))
    await web.get("/portal?lang=vi")  # the switch sticks: back to Vietnamese
    return found


async def seed(database: Database, settings: Settings, bank: str) -> None:
    """An agency's granted and refused lookups, an official's read, a question about one."""
    agency = Principal("agency", bank, roles=frozenset({"agency"}), on_behalf_of="GDV-12")
    official = Principal("official", "lan.pt", roles=frozenset({"official"}))
    async with database.unit_of_work() as session:
        uid = await recording.record(
            session,
            actor=agency,
            action="agency.lookup",
            outcome="granted",
            subject=CITIZEN_ID,
            fields=("full_name", "birth_date", "permanent_address"),
            purpose="kyc.account_opening",
        )
        await recording.record(
            session,
            actor=agency,
            action="agency.lookup",
            outcome="denied",
            subject=CITIZEN_ID,
            fields=("religion",),
            purpose="kyc.account_opening",
            detail={"refusal": "field-not-allowed"},
        )
        await recording.record(
            session, actor=official, action="registry.read", outcome="granted", subject=CITIZEN_ID
        )
        citizen = Principal("citizen", CITIZEN_ID, roles=frozenset({"citizen"}))
        await disputes.question_access(session, citizen, event_uid=uid, reason="Vì sao?")


async def test_every_page_speaks_plainly_in_both_languages(
    app: FastAPI, settings: Settings, database: Database
) -> None:
    await make_citizen(
        database,
        marital_status="married",
        spouse_name="Lê Văn Nam",
        spouse_nationality="FR",
        religion="Công giáo",
        blood_type="AB-",
        household_relationship="Vợ",
        father_name="Nguyễn Văn Hùng",
        father_nationality="VN",
    )
    await make_account(database, settings)
    bank, _ = await make_agency(database, settings, name="Ngân hàng Thương mại Cổ phần Thử nghiệm")
    await make_staff(
        database, settings, username="lan.pt", display_name="Phạm Thị Lan", office="Công an phường"
    )
    auditor = await make_staff(database, settings, username="kiemtoan", roles=("auditor",))
    await seed(database, settings, bank)
    english = english_labels()
    problems: list[str] = []
    async with browser(app, settings) as web:
        assert (await portal_sign_in(web)).status_code == 200
        citizen_pages = await crawl(web, ["/portal", "/portal/access"], "/portal")
        assert any("/question" in p for p in citizen_pages), list(citizen_pages)
        assert any("/proof" in p for p in citizen_pages), list(citizen_pages)
        problems += await check_both_languages(web, citizen_pages, english)
    worker = AuditWorker(database, app.state.audit_signer, origin=settings.audit_origin)
    await worker.sequence_pending()
    await worker.checkpoint()
    async with browser(app, settings) as web:
        web.cookies.set(SESSION_COOKIE, await session_cookie(database, settings, auditor))
        starts = ["/console", "/console?subject=" + CITIZEN_ID, "/console/disputes"]
        console_pages = await crawl(web, starts, "/console")
        assert any("/console/events/" in p for p in console_pages), list(console_pages)
        assert "/console/checkpoints" in console_pages
        problems += await check_both_languages(web, console_pages, english)
        for lang in ("vi", "en"):  # the chart is an image, but its tooltips are text
            chart = await web.get("/console/chart.svg", params={"lang": lang})
            if ISO_DATE.search(chart.text):
                problems.append(f"/console/chart.svg [{lang}]: ISO date")
        for missing in ("/khong-co", "/portal/access/khong-co/question"):
            page = await web.get(missing, headers={"accept": "text/html"})
            problems += faults(missing, page.text, "vi", english)
    assert problems == [], "\n".join(problems)


def test_the_check_catches_each_kind_of_fault() -> None:
    english = english_labels()

    def found(body: str, locale: str = "vi") -> list[str]:
        return list(faults("/x", f"<html><body>{body}</body></html>", locale, english))

    assert found("<td>14/05/2003</td><td>Nữ</td><code>2024-05-01</code>") == []
    assert found("<td>2003-05-14</td>")  # an ISO date
    assert found('<p>{"code": "not-found"}</p>')  # JSON
    assert found("<td>female</td>") and found("<td>granted</td>")  # raw values
    assert found("<td>agency.lookup</td>") and found("<td>birth_date</td>")  # codes
    assert found("<td>001</td>")  # a province code
    assert found("<td>Date of birth</td>")  # English on a Vietnamese page
    assert not found("<td>Date of birth</td>", "en")


def test_every_refusal_an_agency_or_the_gate_records_has_a_reason_in_words() -> None:
    refusals = {cls.code for cls in all_error_types() if 400 <= cls.status < 500}
    refusals -= {"bad-request", "method-not-allowed", "payload-too-large"}
    refusals -= {"unsupported-media-type"}
    assert sorted(refusals - labels.DENIAL_REASONS.keys()) == []
