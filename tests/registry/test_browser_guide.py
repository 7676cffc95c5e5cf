"""The start page, the agency quick start, /docs and /redoc in real Chromium with the network cut.

Every request for another host than this machine is aborted (as on a network without
internet) and recorded; so is every message Chromium logs about the Content-Security-Policy.
Swagger UI and ReDoc must still show the API's operations (and an integrator, authorized in
Swagger UI with an agency's client_credentials, verifies a citizen from it), and the guide's
pages must read in Vietnamese and English, at desktop width and at phone width (390x844)
without scrolling sideways. Screenshots: test-artifacts/screenshots/docs-*.png.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from urllib.parse import urlsplit

import pytest
from playwright.async_api import BrowserContext, ConsoleMessage, Page, Route, ViewportSize, expect

from core.db import Database
from core.settings import Settings
from registry.agency import repository as agency_repo
from registry.agency.policy import parse_policy, purposes
from registry.app import create_app
from registry.guide.pages import AGENCY_GUIDE, DOORS
from registry.guide.reference import EXAMPLE_PURPOSE
from tests.browser import SCREENSHOTS, LiveServer, shot
from tests.identity.factories import make_agency, make_citizen

pytestmark = pytest.mark.postgresql_only  # one backend is enough for the browser

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
# Swagger UI renders a large document in the browser, and a live call answers: on a busy
# machine that takes longer than Playwright's default 5 s for an expectation.
RENDERED = 30_000
LOCAL_HOSTS = {"localhost", "127.0.0.1", "[::1]", "::1"}
# Operations of the agency API, as the OpenAPI document names them.
VERIFY_SUMMARY = "Verify a citizen's attributes (yes/no)"
LOOKUP_PATH = "/api/v1/citizens/{id}"


@dataclass
class Offline:
    """What the page tried to fetch from elsewhere, and what the CSP refused."""

    blocked: list[str] = field(default_factory=list)
    refused: list[str] = field(default_factory=list)

    def check(self) -> None:
        """Nothing left this machine and nothing was refused."""
        assert self.blocked == [], f"requests for other hosts: {self.blocked}"
        assert self.refused == [], f"refused by the CSP: {self.refused}"


@pytest.fixture
async def offline(browser_context: BrowserContext) -> Offline:
    """Cut the browser off every host but this machine, and listen for CSP refusals."""
    seen = Offline()

    async def only_local(route: Route) -> None:
        url = route.request.url
        if urlsplit(url).hostname in LOCAL_HOSTS:
            await route.continue_()
        else:
            seen.blocked.append(url)
            await route.abort("internetdisconnected")

    await browser_context.route("**/*", only_local)

    def listen(page: Page) -> None:
        def on_console(message: ConsoleMessage) -> None:
            if "Content Security Policy" in message.text:
                seen.refused.append(message.text)

        page.on("console", on_console)

    browser_context.on("page", listen)
    return seen


@pytest.fixture
def served(database_url: str, live_server: LiveServer) -> str:
    """The app on a live server; its URL."""
    settings = Settings(environment="test", database_url=database_url, public_url=live_server.url)
    live_server.start(create_app(settings))
    return live_server.url


async def photograph(page: Page, name: str, *, full_page: bool = True) -> None:
    """docs-<name>.png at desktop width and docs-<name>-phone.png at 390x844, which must not
    scroll sideways. Swagger UI and ReDoc are photographed as the screen shows them (not
    ``full_page``: ReDoc's whole reference is some metres long)."""

    async def take(suffix: str) -> None:
        if full_page:
            await shot(page, f"docs-{name}{suffix}")
        else:
            SCREENSHOTS.mkdir(parents=True, exist_ok=True)
            await page.screenshot(path=str(SCREENSHOTS / f"docs-{name}{suffix}.png"))

    await take("")
    await page.set_viewport_size(PHONE)
    try:
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{name} scrolls sideways on a phone ({width}px)"
        await take("-phone")
    finally:
        await page.set_viewport_size(DESKTOP)


async def test_swagger_ui_shows_the_operations_with_the_network_cut(
    served: str, page: Page, offline: Offline
) -> None:
    await page.goto(served + "/docs")
    operations = page.locator(".opblock")
    await expect(operations.first).to_be_visible(timeout=RENDERED)
    assert await operations.count() >= 20
    verify = page.locator(".opblock-summary", has_text="/api/v1/verify").first
    await expect(verify).to_contain_text(VERIFY_SUMMARY)
    await expect(page.locator(".information-container")).to_contain_text("Agency quick start")
    await expect(page.locator("html")).to_have_attribute("lang", "vi")
    await expect(page.locator("#agency-guide")).to_have_text("Hướng dẫn nhanh cho cơ quan")
    # An operation opens, with its parameters and answers.
    lookup = page.locator(".opblock-summary", has_text=LOOKUP_PATH).first
    await lookup.click()
    await expect(page.locator(".opblock.is-open .parameters")).to_contain_text(
        "purpose", timeout=RENDERED
    )
    await photograph(page, "swagger", full_page=False)
    # "Try it out" calls this origin (CSP connect-src 'self') and shows the answer.
    purposes_op = page.locator(".opblock", has_text="/api/v1/purposes").first
    await purposes_op.locator(".opblock-summary").click()
    await purposes_op.get_by_role("button", name="Try it out").click()
    await purposes_op.get_by_role("button", name="Execute").click()
    answer = purposes_op.locator(".live-responses-table .response .response-col_status").first
    await expect(answer).to_have_text("200", timeout=RENDERED)
    await expect(purposes_op.locator(".live-responses-table")).to_contain_text(
        "court.order", timeout=RENDERED
    )
    offline.check()

    # The bar's link leads to the quick start in the same language.
    await page.click("#agency-guide")
    await expect(page).to_have_url(served + AGENCY_GUIDE + "?lang=vi")
    await expect(page.locator("h1")).to_have_text("Hướng dẫn nhanh cho cơ quan")
    offline.check()


async def test_redoc_shows_the_operations_with_the_network_cut(
    served: str, page: Page, offline: Offline
) -> None:
    await page.goto(served + "/redoc?lang=en")
    heading = page.locator("h2", has_text=VERIFY_SUMMARY).first
    await expect(heading).to_be_visible(timeout=20_000)
    await expect(page.locator("h1").first).to_contain_text("National population")
    await expect(page.locator("#agency-guide")).to_have_text("Agency quick start")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    # The side menu names the operations too; its search runs in a worker from a blob.
    await expect(page.get_by_role("menuitem").first).to_be_visible()
    await page.get_by_placeholder("Search...").fill("lookup")
    # The index is built in the worker after the page renders: on a busy machine, seconds.
    results = page.locator("[data-role='search:results']").first
    await expect(results).to_be_visible(timeout=30_000)
    await photograph(page, "redoc", full_page=False)
    offline.check()


async def test_the_agency_quick_start_reads_in_both_languages_on_a_phone_too(
    served: str, page: Page, offline: Offline, browser_context: BrowserContext
) -> None:
    await browser_context.grant_permissions(["clipboard-read", "clipboard-write"], origin=served)
    await page.goto(served + AGENCY_GUIDE)
    await expect(page.locator("h1")).to_have_text("Hướng dẫn nhanh cho cơ quan")
    await expect(page.locator("#base-url")).to_have_text(served)
    await expect(page.locator("#curl-token")).to_contain_text(served + "/token")
    court = purposes()["court.order"]
    row = page.locator("#purpose-list tr", has_text=court.code)
    await expect(row).to_contain_text(court.name_vi)
    await expect(page.locator("#problem-field-not-allowed")).to_contain_text("403")
    await expect(page.locator("#field-list")).to_contain_text("Nơi thường trú")
    # Each example has a copy button that puts the command on the clipboard.
    await page.locator("button.guide-copy").nth(2).click()
    await expect(page.locator("button.guide-copy").nth(2)).to_have_text("Đã sao chép")
    copied = await page.evaluate("navigator.clipboard.readText()")
    assert copied.startswith('curl -s -u "$CLIENT_ID:$CLIENT_SECRET"')
    assert served + "/token" in copied
    await photograph(page, "agency")

    await page.click("header a.lang")
    await expect(page.locator("html")).to_have_attribute("lang", "en")
    await expect(page.locator("h1")).to_have_text("Agency quick start")
    await expect(row).to_contain_text(court.name_en)
    await expect(page.locator("#field-list")).to_contain_text("Permanent address")
    await expect(page.locator("main")).not_to_contain_text("Hướng dẫn")
    await photograph(page, "agency-en")
    offline.check()


async def test_the_start_page_leads_each_kind_of_user_to_their_place(
    served: str, page: Page, offline: Offline
) -> None:
    await page.goto(served + "/")
    await expect(page.locator("html")).to_have_attribute("lang", "vi")
    await expect(page.locator("#door-citizen h2")).to_have_text("Công dân")
    for door in DOORS:
        await expect(page.locator(f"#door-{door.key} a.guide-go")).to_be_visible()
    await photograph(page, "start")

    await page.goto(served + "/?lang=en")
    await expect(page.locator("#door-citizen h2")).to_have_text("Citizen")
    await photograph(page, "start-en")

    # A citizen's door leads to the sign-in page; the agency's to the quick start.
    await page.goto(served + "/")
    await page.click("#door-citizen a.guide-go")
    await expect(page.locator("#login")).to_be_visible()
    await page.goto(served + "/")
    await page.click("#door-agency a.guide-go")
    await expect(page.locator("h1")).to_have_text("Hướng dẫn nhanh cho cơ quan")
    offline.check()


async def test_an_integrator_verifies_from_swagger_ui_with_the_agencys_token(
    database_url: str, live_server: LiveServer, page: Page, offline: Offline
) -> None:
    settings = Settings(environment="test", database_url=database_url, public_url=live_server.url)
    seeding = Database(settings)
    try:
        citizen = await make_citizen(seeding)
        client_id, secret = await make_agency(seeding, settings, scopes=["verify"])
        policy = parse_policy({"actions": ["verify"], "purposes": [EXAMPLE_PURPOSE]})
        async with seeding.unit_of_work() as session:
            await agency_repo.set_policy(session, client_id, policy.to_json())
    finally:
        await seeding.dispose()
    live_server.start(create_app(settings))
    await page.goto(live_server.url + "/docs")

    # Authorize: the agency's client_credentials flow, the token fetched from this origin.
    await page.locator(".auth-wrapper .authorize").click()
    scheme = page.locator(".auth-container", has_text="agencyToken")
    await scheme.locator("input#client_id_clientCredentials").fill(client_id)
    await scheme.locator("input#client_secret_clientCredentials").fill(secret)
    await scheme.locator("label[for='verify-clientCredentials-checkbox-agencyToken']").click()
    await scheme.get_by_role("button", name="Apply given OAuth2 credentials").click()
    await expect(scheme.locator("h6", has_text="Authorized")).to_be_visible(timeout=RENDERED)
    await page.locator(".dialog-ux .close-modal").click()

    # Try the verification with that token.
    verify = page.locator(".opblock", has_text="/api/v1/verify").first
    await verify.locator(".opblock-summary").click()
    await verify.get_by_role("button", name="Try it out").click()
    body = {
        "id_number": citizen,
        "purpose": EXAMPLE_PURPOSE,
        "claims": {"full_name": "Nguyễn Thị Minh Anh", "birth_date": "2003-05-14"},
    }
    await verify.locator("textarea.body-param__text").fill(json.dumps(body, ensure_ascii=False))
    await verify.get_by_role("button", name="Execute").click()
    status = verify.locator(".live-responses-table .response .response-col_status").first
    await expect(status).to_have_text("200", timeout=RENDERED)
    await expect(verify.locator(".live-responses-table .microlight").first).to_contain_text(
        '"match": true', timeout=RENDERED
    )
    await status.scroll_into_view_if_needed()
    await page.screenshot(path=str(SCREENSHOTS / "docs-swagger-verify.png"))
    offline.check()
