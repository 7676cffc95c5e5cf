"""Plain Vietnamese in real Chromium: a citizen reads the record by name, questions an
agency's access from the access log; an auditor finds the question in the console by the
agency's name and answers it; the citizen sees the answer's status. Error pages are pages.

Desktop (1280x800) and phone (390x844), Vietnamese and English; screenshots
test-artifacts/screenshots/plain-*.png (``-phone`` for the phone, ``-en`` for English).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.async_api import Browser, Page, ViewportSize, expect

from core.db import Database
from core.settings import Settings
from registry.agency import repository as agency_repo
from registry.agency.policy import parse_policy
from registry.app import create_app
from registry.portal.session import SESSION_COOKIE
from tests.browser import LiveServer, shot
from tests.identity.factories import (
    CITIZEN_ID,
    PASSWORD,
    make_account,
    make_agency,
    make_citizen,
    make_staff,
)
from tests.registry.portal_sessions import session_cookie

pytestmark = pytest.mark.postgresql_only  # one backend is enough for the browser

AGENCY_NAME = "Ngân hàng Thương mại Cổ phần Thử nghiệm"
PURPOSE = "kyc.account_opening"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
REASON = "Tôi chưa từng mở tài khoản ở ngân hàng này."
ANSWER = "Ngân hàng đã tra cứu nhầm hồ sơ; đã yêu cầu giải trình."


@dataclass
class Site:
    """The served app, its database, the auditor's account and the agency's client."""

    url: str
    settings: Settings
    database: Database
    auditor_id: str
    agency: httpx.AsyncClient


@pytest.fixture
async def site(database_url: str, live_server: LiveServer) -> AsyncIterator[Site]:
    """A married citizen with an electronic identity, a bank with a lookup policy and token,
    an auditor; the app (with a route that fails, for the server error page)."""
    settings = Settings(environment="test", database_url=database_url, public_url=live_server.url)
    seeding = Database(settings)
    try:
        await make_citizen(
            seeding,
            marital_status="married",
            spouse_name="Pierre Martin",
            spouse_nationality="FR",
            religion="Phật giáo",
            blood_type="O",
            household_id="HB-0012",
            household_relationship="Vợ",
            father_name="Nguyễn Văn Hùng",
            father_nationality="VN",
            mother_name="Trần Thị Mai",
            mother_nationality="VN",
        )
        await make_account(seeding, settings)
        auditor_id = await make_staff(
            seeding,
            settings,
            username="kiemtoan.hanoi",
            display_name="Đỗ Minh Châu",
            office="Thanh tra Bộ Công an",
            roles=("auditor",),
        )
        agency_id, secret = await make_agency(
            seeding, settings, name=AGENCY_NAME, scopes=["lookup"]
        )
        policy = {
            "actions": ["lookup"],
            "fields": ["full_name", "birth_date"],
            "purposes": [PURPOSE],
        }
        async with seeding.unit_of_work() as session:
            await agency_repo.set_policy(session, agency_id, parse_policy(policy).to_json())
        app = create_app(settings)

        @app.get("/loi-thu-nghiem", include_in_schema=False)
        async def failing() -> None:
            raise RuntimeError("a deliberate failure")

        live_server.start(app)
        async with httpx.AsyncClient(base_url=live_server.url, timeout=10) as agency:
            token = await agency.post(
                "/token",
                data={"grant_type": "client_credentials", "scope": "lookup"},
                auth=(agency_id, secret),
            )
            assert token.status_code == 200, token.text
            agency.headers["Authorization"] = "Bearer " + token.json()["access_token"]
            yield Site(live_server.url, settings, seeding, auditor_id, agency)
    finally:
        await seeding.dispose()


async def photograph(page: Page, name: str) -> None:
    """plain-<name>.png at desktop width, plain-<name>-phone.png at 390x844 (which must not
    scroll sideways)."""
    await shot(page, f"plain-{name}")
    await page.set_viewport_size(PHONE)
    try:
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"] + 1, f"{name} scrolls sideways on a phone ({width}px)"
        await shot(page, f"plain-{name}-phone")
    finally:
        await page.set_viewport_size(DESKTOP)


async def both_languages(page: Page, name: str) -> None:
    """The page in Vietnamese, then in English (the switch), then back to Vietnamese."""
    await photograph(page, name)
    await page.click("header a.lang")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await photograph(page, f"{name}-en")
    await page.click("header a.lang")
    await expect(page.locator("html")).to_have_attribute("lang", "vi")


async def test_a_citizen_questions_an_agencys_access_and_an_auditor_answers_it(
    site: Site, page: Page, browser: Browser
) -> None:
    url = site.url
    looked = await site.agency.get(
        f"/api/v1/citizens/{CITIZEN_ID}",
        params={"fields": "full_name,birth_date", "purpose": PURPOSE},
    )
    assert looked.status_code == 200, looked.text
    event_id = looked.json()["event_id"]
    refused = await site.agency.get(
        f"/api/v1/citizens/{CITIZEN_ID}", params={"fields": "religion", "purpose": PURPOSE}
    )
    assert refused.status_code == 403, refused.text

    # The record: names, not codes; dates dd/mm/yyyy; cards; no death date.
    await page.goto(url + "/portal/login")
    await page.fill("#login", CITIZEN_ID)
    await page.fill("#password", PASSWORD)
    await page.click("#submit")
    await expect(page).to_have_url(url + "/portal")
    identity = page.locator("#record-identity")
    await expect(identity.locator('[data-field="gender"] .value')).to_have_text("Nữ")
    await expect(identity.locator('[data-field="ethnicity"] .value')).to_have_text("Kinh")
    await expect(identity.locator('[data-field="nationality"] .value')).to_have_text("Việt Nam")
    await expect(page.locator('[data-field="birth_date"] .value')).to_have_text("14/05/2003")
    await expect(page.locator('[data-field="birth_province"] .value')).to_have_text("Hà Nội")
    await expect(page.locator('[data-field="marital_status"] .value')).to_have_text("Đã kết hôn")
    await expect(page.locator('[data-field="spouse"] .value')).to_have_text(
        "Pierre Martin · Quốc tịch: Pháp"
    )
    await expect(page.locator('[data-field="death_date"]')).to_have_count(0)
    await expect(page.locator('[data-field="status"]')).to_have_count(0)
    await both_languages(page, "record")
    await page.goto(url + "/portal?lang=en")
    await expect(page.locator('[data-field="gender"] .value')).to_have_text("Female")
    await expect(page.locator('[data-field="spouse"] .value')).to_have_text(
        "Pierre Martin · Nationality: France"
    )
    await page.goto(url + "/portal?lang=vi")

    # The access log: the bank by name first, the citizen's own views folded per day.
    await page.click("a[href='/portal/access']")
    row = page.locator(f'tr[data-event="{event_id}"]')
    await expect(row.locator(".who")).to_have_text(AGENCY_NAME)
    await expect(page.locator("#own-days li")).to_have_count(1)
    await row.locator("a.ask").click()
    await expect(page.locator("h1")).to_have_text("Đặt câu hỏi về lần truy cập")
    await expect(page.locator("#questioned-access .who")).to_have_text(AGENCY_NAME)
    await page.fill("#reason", REASON)
    await both_languages(page, "question")
    await page.fill("#reason", REASON)
    await page.click("#send-question")
    await expect(page).to_have_url(url + "/portal/access?done=questioned")
    await expect(page.locator("#done")).to_contain_text("Đã gửi câu hỏi.")
    await expect(row.locator(".question .status")).to_have_text("Đang chờ trả lời")
    await both_languages(page, "access")

    # The auditor (signed in with a passkey: a console session) finds it by the bank's name.
    auditor = await browser.new_context(
        locale="vi-VN", timezone_id="Asia/Ho_Chi_Minh", viewport=DESKTOP
    )
    try:
        cookie = await session_cookie(site.database, site.settings, site.auditor_id)
        await auditor.add_cookies([{"name": SESSION_COOKIE, "value": cookie, "url": url}])
        console = await auditor.new_page()
        await console.goto(url + "/console")
        await console.select_option("#f-actor_id", label=AGENCY_NAME)
        await console.click("#search")
        results = console.locator("#results tbody tr")
        await expect(results).to_have_count(2)
        denied = console.locator("#results tbody tr", has_text="Bị từ chối")
        await expect(denied).to_contain_text("Trường thông tin ngoài phạm vi được phép")
        await expect(denied).to_contain_text("Mở tài khoản (định danh khách hàng)")
        await both_languages(console, "console-search")
        await denied.get_by_role("link").click()
        await expect(console.locator("#reason")).to_have_text(
            "Trường thông tin ngoài phạm vi được phép"
        )
        await both_languages(console, "console-event")

        await console.click("#nav-disputes")
        dispute = console.locator("#disputes tbody tr")
        await expect(dispute).to_have_count(1)
        await expect(dispute.locator(".accessor")).to_have_text(AGENCY_NAME)
        await expect(dispute).to_contain_text(REASON)
        await expect(dispute).to_contain_text("Đang chờ trả lời")
        await both_languages(console, "console-disputes")
        await dispute.locator("select").select_option("answered")
        await dispute.locator("textarea").fill(ANSWER)
        await dispute.get_by_role("button").click()
        await expect(console.locator("#done")).to_have_text("Đã cập nhật câu hỏi.")
        await expect(dispute).to_have_attribute("data-status", "answered")
        await expect(dispute).to_contain_text(ANSWER)
        await console.select_option("#d-status", "answered")
        await console.click("#apply-dispute-filter")
        await expect(dispute).to_have_count(1)
        await both_languages(console, "console-disputes-answered")
    finally:
        await auditor.close()

    # The citizen sees where the question stands.
    await page.goto(url + "/portal/access")
    await expect(row.locator(".question .status")).to_have_text("Đã trả lời")
    await expect(row.locator(".question .answer")).to_have_text(ANSWER)
    refusal = page.locator("#access tbody tr", has_text="Bị từ chối")
    await expect(refusal.locator(".reason")).to_have_text(
        "Trường thông tin ngoài phạm vi được phép"
    )
    await photograph(page, "access-answered")


async def test_browsers_get_error_pages_in_their_language(site: Site, page: Page) -> None:
    url = site.url
    await page.goto(url + "/khong-co-trang-nay")
    await expect(page.locator("#error-title")).to_have_text("Không tìm thấy trang")
    await photograph(page, "error-404")
    await page.goto(url + "/khong-co-trang-nay?lang=en")
    await expect(page.locator("#error-title")).to_have_text("Page not found")
    await photograph(page, "error-404-en")
    await page.goto(url + "/loi-thu-nghiem?lang=vi")
    await expect(page.locator("#error-title")).to_have_text("Đã có lỗi xảy ra")
    assert "deliberate" not in await page.content()
    await photograph(page, "error-500")
    await page.goto(url + "/api/v1/me/passkeys")
    await expect(page.locator("#error-title")).to_have_text("Phiên đăng nhập đã hết hạn")
    await page.click("#error-link")
    await expect(page).to_have_url(re.compile(re.escape(url) + r"/login\?"))
    await page.goto(url + "/api/v1/me/passkeys?lang=en")
    await expect(page.locator("#error-title")).to_have_text("Your session has expired")
    await photograph(page, "error-session-en")
    # An API client keeps problem+json.
    async with httpx.AsyncClient(base_url=url) as api:
        problem = await api.get("/khong-co-trang-nay")
    assert problem.headers["content-type"] == "application/problem+json"
