"""An administrator resets a staff member's lost passkey and the staff member enrols a new one
with the code, in real Chromium, on a desktop and on a phone, in Vietnamese and in English.

1. The administrator's first sign-in: password, then the passkey step registers a passkey and
   signs in with it at once, then the administrator's page (no sign-out on the way).
2. The administrator opens the staff member, confirms the in-person check and resets: the
   one-time enrolment code is shown with its expiry (dd/mm/yyyy HH:MM).
3. On the staff member's new device (another browser, another authenticator): the lost
   passkey's password no longer works; "activate with an enrolment code" takes the username and
   the code, the passkey step registers a new passkey, and the console opens.
4. The administrator sees the code used and the new passkey; the audit trail names who reset.

Screenshots: test-artifacts/screenshots/staff-*.png (``-en`` in English, ``-phone`` at 390x844).
"""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from playwright.async_api import Browser, BrowserContext, Page, ViewportSize, expect
from sqlalchemy import text

from core.db import Database
from core.settings import Settings
from registry.app import create_app
from tests.browser import LiveServer, add_virtual_authenticator, shot
from tests.identity.authenticator import SoftAuthenticator
from tests.identity.factories import STAFF_PASSWORD, add_passkey, make_staff

pytestmark = [pytest.mark.postgresql_only]  # one backend is enough for the browser

ADMIN = "quantri.hanoi"
CLERK = "kiemtoan.bichngoc"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}

# What each language's pages say at each step.
SAYS = {
    "vi": {
        "admin_h1": "Quản trị tài khoản cán bộ",
        "reset_h1": "Đã cấp lại khóa truy cập",
        "enrol_h1": "Kích hoạt tài khoản cán bộ bằng mã đăng ký",
        "passkey_h1": "Tạo khóa truy cập (passkey)",
        "code_wrong": "không đúng, đã được dùng hoặc đã hết hạn",
        "console_h1": "Bảng điều khiển kiểm toán",
        "used": "Đã dùng",
    },
    "en": {
        "admin_h1": "Staff accounts",
        "reset_h1": "Passkeys reset",
        "enrol_h1": "Activate a staff account with an enrolment code",
        "passkey_h1": "Create a passkey",
        "code_wrong": "wrong, already used or expired",
        "console_h1": "Audit console",
        "used": "Used",
    },
}


@dataclass
class Site:
    """The served app and a Database of the test's own."""

    url: str
    database: Database


@pytest.fixture
async def site(database_url: str, live_server: LiveServer) -> AsyncIterator[Site]:
    """An administrator (password, no passkey yet) and an auditor whose passkey was lost."""
    settings = Settings(environment="test", database_url=database_url, public_url=live_server.url)
    seeding = Database(settings)
    try:
        await make_staff(seeding, settings, username=ADMIN, roles=("administrator",))
        clerk = await make_staff(seeding, settings, username=CLERK, roles=("auditor",))
        lost = SoftAuthenticator(origin=live_server.url, rp_id="localhost")
        await add_passkey(seeding, settings, clerk, lost, name="Điện thoại cũ")
        live_server.start(create_app(settings))
        yield Site(live_server.url, seeding)
    finally:
        await seeding.dispose()


async def device(browser: Browser, lang: str, viewport: ViewportSize) -> BrowserContext:
    """A browser of its own (cookies, authenticator) in the language, at the width."""
    context = await browser.new_context(
        locale="vi-VN" if lang == "vi" else "en-GB",
        timezone_id="Asia/Ho_Chi_Minh",
        viewport=viewport,
    )
    context.set_default_timeout(10_000)
    return context


def named(step: str, lang: str, viewport: ViewportSize) -> str:
    suffix = "" if lang == "vi" else "-en"
    return f"staff-{step}{suffix}" + ("-phone" if viewport == PHONE else "")


@pytest.mark.parametrize(
    ("lang", "viewport"), [("vi", DESKTOP), ("vi", PHONE), ("en", DESKTOP), ("en", PHONE)]
)
async def test_an_administrator_resets_a_lost_passkey_and_the_staff_member_enrols_a_new_one(
    site: Site, browser: Browser, lang: str, viewport: ViewportSize
) -> None:
    says = SAYS[lang]

    async def snap(page: Page, step: str) -> None:
        await shot(page, named(step, lang, viewport))

    # 1. The administrator's first sign-in, in one flow.
    admin_ctx = await device(browser, lang, viewport)
    admin = await admin_ctx.new_page()
    await add_virtual_authenticator(admin)
    await admin.goto(site.url + "/admin/staff")
    await expect(admin).to_have_url(re.compile(re.escape(site.url) + r"/login\?"))
    await admin.fill("#login", ADMIN)
    await admin.fill("#password", STAFF_PASSWORD)
    await snap(admin, "admin-login")
    await admin.click("#submit")
    await expect(admin.locator("h1")).to_have_text(says["passkey_h1"])
    await snap(admin, "first-passkey")
    await admin.click("#passkey-enrol")
    await expect(admin).to_have_url(site.url + "/admin/staff")
    await expect(admin.locator("h1")).to_have_text(says["admin_h1"])
    await expect(admin.locator(f'tr[data-username="{CLERK}"]')).to_be_visible()
    await snap(admin, "admin-list")

    # 2. The reset, after the in-person check: the code shown once.
    await admin.click(f'tr[data-username="{CLERK}"] a')
    await expect(admin.locator("#passkeys")).to_contain_text("Điện thoại cũ")
    await snap(admin, "admin-detail")
    await admin.check("#reset-confirm")
    await admin.click("#reset")
    await expect(admin.locator("h1")).to_have_text(says["reset_h1"])
    code = (await admin.locator("#enrolment-code").inner_text()).strip()
    assert re.fullmatch(r"[A-Z2-9]{4}-[A-Z2-9]{4}-[A-Z2-9]{4}", code)
    await expect(admin.locator("#code-expires")).to_have_text(
        re.compile(r"^\d\d/\d\d/\d{4} \d\d:\d\d$")
    )
    await snap(admin, "admin-code")

    # 3. The staff member's new device: the code, a new passkey, into the console.
    clerk_ctx = await device(browser, lang, viewport)
    clerk = await clerk_ctx.new_page()
    held = await add_virtual_authenticator(clerk)
    await clerk.goto(site.url + "/login")
    await clerk.click("#staff-enrol-link a")
    await expect(clerk.locator("h1")).to_have_text(says["enrol_h1"])
    await clerk.fill("#username", CLERK)
    await clerk.fill("#code", "AAAA-BBBB-CCCC")
    await clerk.click("#enrol-submit")
    await expect(clerk.locator("#enrol-error")).to_contain_text(says["code_wrong"])
    await snap(clerk, "enrol-wrong-code")
    await clerk.fill("#code", code.lower())
    await snap(clerk, "enrol")
    await clerk.click("#enrol-submit")
    await expect(clerk.locator("h1")).to_have_text(says["passkey_h1"])
    await snap(clerk, "new-passkey")
    await clerk.click("#passkey-enrol")
    await expect(clerk).to_have_url(site.url + "/console")
    await expect(clerk.locator("h1")).to_have_text(says["console_h1"])
    (credential,) = await held.credentials()
    assert credential["isResidentCredential"] is True
    await snap(clerk, "console")

    # 4. The administrator sees the code used and the new passkey.
    await admin.goto(site.url + f"/admin/staff/{CLERK}")
    await expect(admin.locator("#code-state")).to_contain_text(says["used"])
    await expect(admin.locator("#passkeys li")).to_have_count(1)
    # The code's session gave way to the passkey's: one session open, not two.
    await expect(admin.locator("#sessions")).to_have_text("1")
    await expect(admin.locator("#passkeys")).not_to_contain_text("Điện thoại cũ")
    await snap(admin, "admin-after")
    await admin_ctx.close()
    await clerk_ctx.close()

    async with site.database.unit_of_work() as session:
        found = await session.execute(
            text(
                "SELECT actor_id, action, outcome, detail FROM audit_event "
                "WHERE action IN ('identity.staff.reset', 'identity.staff.enrol') ORDER BY id"
            )
        )
        trail = [(r[0], r[1], r[2], json.loads(r[3])) for r in found.all()]
    assert trail[0] == (
        ADMIN,
        "identity.staff.reset",
        "granted",
        {"username": CLERK, "passkeys_removed": 1},
    )
    assert [t[2] for t in trail[1:]] == ["denied", "granted"]
    assert trail[-1][0] == CLERK
