"""The auditor console end to end in real Chromium, from the first sign-in to a verified proof.

1. An auditor's staff account signs in with its password through /portal/login?next=/console,
   registers a passkey on the step that follows and signs in with it: the console opens.
2. Signed out, the auditor signs in again with the passkey alone and reaches the console.
3. A tax office looked a citizen up through the agency API; the auditor finds that access by
   searching for the citizen, opens it, and sees its inclusion proof verified against the newest
   signed checkpoint; the checkpoints page shows consistency verified; the chart names the agency.

Every console page is saved as test-artifacts/screenshots/console-*.png, at desktop width and
at phone width (390x844, ``-phone``).
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
from playwright.async_api import Page, ViewportSize, expect

from audit.keys import load_signer
from audit.worker import AuditWorker
from core.db import Database
from core.settings import Settings
from registry.agency.policy import parse_policy
from registry.agency.repository import set_policy
from registry.app import create_app
from tests.browser import SCREENSHOTS, LiveServer, VirtualAuthenticator, shot
from tests.identity.factories import (
    CITIZEN_ID,
    STAFF_PASSWORD,
    make_agency,
    make_citizen,
    make_staff,
)

pytestmark = [pytest.mark.postgresql_only]  # one backend is enough for the browser

AUDITOR_LOGIN = "kiemtoan.hanoi"
AGENCY_NAME = "Cục Thuế thành phố Hà Nội"
PURPOSE = "tax.registration"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}


@dataclass
class Site:
    """The served app, a Database of the test's own, and the agency that looked someone up."""

    url: str
    settings: Settings
    database: Database
    agency_id: str

    async def seal(self) -> None:
        """Sequence committed events and sign a checkpoint, as the app's worker would."""
        worker = AuditWorker(
            self.database, load_signer(self.settings), origin=self.settings.audit_origin
        )
        await worker.sequence_pending()
        await worker.checkpoint()


@pytest.fixture
async def site(database_url: str, live_server: LiveServer) -> AsyncIterator[Site]:
    """A citizen, an auditor without a passkey, a tax office with a lookup policy; the app."""
    settings = Settings(environment="test", database_url=database_url, public_url=live_server.url)
    seeding = Database(settings)
    try:
        await make_citizen(seeding)
        await make_staff(seeding, settings, username=AUDITOR_LOGIN, roles=("auditor",))
        agency_id, secret = await make_agency(
            seeding, settings, name=AGENCY_NAME, scopes=["lookup"]
        )
        policy = {
            "actions": ["lookup"],
            "fields": ["full_name", "birth_date"],
            "purposes": [PURPOSE],
        }
        async with seeding.unit_of_work() as session:
            await set_policy(session, agency_id, parse_policy(policy).to_json())
        live_server.start(create_app(settings))  # its own Database: the server has its own loop
        async with httpx.AsyncClient(base_url=live_server.url) as api:
            issued = await api.post(
                "/token",
                data={"grant_type": "client_credentials", "scope": "lookup"},
                auth=(agency_id, secret),
            )
            assert issued.status_code == 200, issued.text
            looked_up = await api.get(
                f"/api/v1/citizens/{CITIZEN_ID}",
                params={"fields": "full_name,birth_date", "purpose": PURPOSE},
                headers={"Authorization": "Bearer " + issued.json()["access_token"]},
            )
            assert looked_up.status_code == 200, looked_up.text
        yield Site(live_server.url, settings, seeding, agency_id)
    finally:
        await seeding.dispose()


async def both_widths(page: Page, name: str) -> None:
    """Screenshots at desktop and phone width."""
    await shot(page, f"console-{name}")
    await page.set_viewport_size(PHONE)
    await shot(page, f"console-{name}-phone")
    await page.set_viewport_size(DESKTOP)


async def test_an_auditor_registers_a_passkey_then_verifies_an_agency_access(
    site: Site, page: Page, authenticator: VirtualAuthenticator
) -> None:
    # 1. Password sign-in, then the passkey step registers one and signs in with it at once
    #    (virtual authenticator): on to the console in one flow, no sign-out.
    await page.goto(site.url + "/portal/login?next=/console")
    await expect(page).to_have_url(re.compile(re.escape(site.url) + r"/login\?"))
    await page.fill("#login", AUDITOR_LOGIN)
    await page.fill("#password", STAFF_PASSWORD)
    await page.click("#submit")
    await expect(page).to_have_url(re.compile(re.escape(site.url) + r"/staff/passkey\?"))
    await expect(page.locator("#who")).to_have_text("Trần Văn Bình")
    await both_widths(page, "passkey-required")
    await page.fill("#passkey-name", "Khóa của kiểm toán viên")
    await page.click("#passkey-enrol")
    await expect(page).to_have_url(site.url + "/console")
    (held,) = await authenticator.credentials()
    assert held["isResidentCredential"] is True

    # 2. Signed out, the auditor signs in again with the passkey alone.
    await page.click("#portal-logout")
    await expect(page.locator("main")).to_contain_text("Bạn đã đăng xuất.")
    await page.goto(site.url + "/portal/login?next=/console")
    await page.click("#passkey-login")
    await expect(page).to_have_url(site.url + "/console")
    await expect(page.locator("h1")).to_have_text("Bảng điều khiển kiểm toán")
    chart = page.locator("#console-chart")
    await expect(chart).to_be_visible()
    # The chart is a second request: wait until the browser has it drawn.
    await page.wait_for_function(
        "() => { const img = document.querySelector('#console-chart');"
        " return img && img.complete && img.naturalWidth > 0; }"
    )
    await both_widths(page, "search")

    # 3. Seal the log (the lookup and the sign-ins), then find the tax office's access.
    await site.seal()
    await page.fill("#f-subject", CITIZEN_ID)
    await page.select_option("#f-actor_type", "agency")
    await page.click("#search")
    lookup = page.locator("#results tbody tr", has_text="Tra cứu thông tin")
    await expect(lookup).to_have_count(1)
    await expect(lookup).to_contain_text(AGENCY_NAME)
    await expect(lookup).to_contain_text("Ngày sinh, Họ, chữ đệm và tên")
    await expect(lookup).to_contain_text("Đăng ký thuế")
    await both_widths(page, "results")

    await lookup.get_by_role("link").click()
    await expect(page.locator("h1")).to_have_text("Sự kiện kiểm toán")
    await expect(page.locator("#proof")).to_have_attribute("data-state", "verified")
    await expect(page.locator("#proof-status")).to_have_text("✓ Đã xác minh")
    await expect(page.locator("#checkpoint-note")).to_contain_text(site.settings.audit_origin)
    assert int(await page.locator("#leaf-index").inner_text()) >= 0
    await both_widths(page, "event")

    # A second checkpoint (the console's own views are in the trail): consistency verified.
    await site.seal()
    await page.click('nav.portal-nav a[href="/console/checkpoints"]')
    await expect(page.locator("#checkpoints tbody tr")).to_have_count(2)
    await expect(page.locator('td.consistency[data-state="verified"]')).to_have_count(1)
    await expect(page.locator('td.consistency[data-state="verified"]')).to_contain_text(
        "✓ Đã xác minh"
    )
    await both_widths(page, "checkpoints")

    # The chart of accesses per agency per day names the tax office (the portal, a relying
    # party, is not an agency). Chromium cannot take a full-page shot of a bare SVG document,
    # so the chart is shot as the console shows it.
    await page.goto(site.url + "/console/chart.svg?days=14")
    await expect(page.locator("svg")).to_contain_text(f"{AGENCY_NAME} (tổng: 1)")
    assert "Cổng thông tin công dân" not in await page.content()
    await page.goto(site.url + "/console")
    figure = page.locator("figure.console-chart")
    await expect(figure).to_contain_text("Biểu đồ 30 ngày")
    await figure.screenshot(path=str(SCREENSHOTS / "console-chart.png"))
    await page.set_viewport_size(PHONE)
    await figure.screenshot(path=str(SCREENSHOTS / "console-chart-phone.png"))
