"""The citizen's own account end to end in real Chromium, in Vietnamese and in English.

A citizen with a record but no electronic identity starts at the portal, enrols from the
sign-in page (level 1: the declared data match the record) and comes back signed in; adds a
passkey (Chromium's virtual authenticator) and changes the password, with the current one and
then with the passkey; signs out everywhere;
recovers the forgotten password with the passkey; locks the identity (a passkey sign-in then
leads to the unlock page, a password sign-in says what locking does); is refused unlock by the
password alone; unlocks with the passkey; and finds each of these in the security history.
Every page is photographed at desktop width (1280x800) and phone width (390x844) under
test-artifacts/screenshots/account-<language>-*.png, and none scrolls sideways on the phone.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from playwright.async_api import Page, ViewportSize, expect

from core.db import Database
from core.settings import Settings
from registry.app import create_app
from tests.browser import LiveServer, VirtualAuthenticator, shot
from tests.identity.factories import CITIZEN_ID, PASSWORD, make_citizen

pytestmark = pytest.mark.postgresql_only  # one backend is enough for the browser

DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
NEW_PASSWORD = "sông Hồng mùa lũ 2026"
BY_PASSKEY = "phố cổ Hội An 2026"
RECOVERED = "trăng rằm tháng tám 2026"


@pytest.fixture
async def served(database_url: str, live_server: LiveServer) -> AsyncIterator[str]:
    """The citizen's record (no electronic identity yet) and the app; its URL."""
    settings = Settings(environment="test", database_url=database_url, public_url=live_server.url)
    seeding = Database(settings)
    try:
        await make_citizen(seeding)
        live_server.start(create_app(settings))
        yield live_server.url
    finally:
        await seeding.dispose()


class Album:
    """account-<language>-<name>.png at desktop width and ...-phone.png at 390x844."""

    def __init__(self, page: Page, language: str) -> None:
        self.page, self.language = page, language

    async def photograph(self, name: str) -> list[Path]:
        """Both widths of the page as it is; the phone layout must not scroll sideways."""
        await expect(self.page.locator("html")).to_have_attribute("lang", self.language)
        stem = f"account-{self.language}-{name}"
        paths = [await shot(self.page, stem)]
        await self.page.set_viewport_size(PHONE)
        try:
            width = await self.page.evaluate("document.documentElement.scrollWidth")
            assert width <= PHONE["width"], f"{stem} scrolls sideways on a phone ({width}px)"
            paths.append(await shot(self.page, stem + "-phone"))
        finally:
            await self.page.set_viewport_size(DESKTOP)
        return paths


async def sign_in(page: Page, password: str) -> None:
    """Fill the provider's sign-in form and send it."""
    await page.fill("#login", CITIZEN_ID)
    await page.fill("#password", password)
    await page.click("#submit")


async def new_password(page: Page, password: str) -> None:
    """Fill a form's new password twice."""
    await page.fill("#new_password", password)
    await page.fill("#new_password_again", password)


@pytest.mark.parametrize("language", ["vi", "en"])
async def test_a_citizen_enrols_changes_recovers_locks_and_unlocks_with_the_passkey(
    served: str, page: Page, authenticator: VirtualAuthenticator, language: str
) -> None:
    url, album = served, Album(page, language)
    await page.goto(url + f"/enrol?lang={language}")  # the language cookie sticks from here

    # From the portal to the sign-in page, and from there to enrolment (the request follows).
    await page.goto(url + "/portal/login")
    await expect(page).to_have_url(re.compile(re.escape(url) + r"/login\?req="))
    await album.photograph("sign-in")
    await page.click("#to-enrol")
    await expect(page).to_have_url(re.compile(re.escape(url) + r"/enrol\?req="))
    await page.fill("#id_number", CITIZEN_ID)
    await page.fill("#full_name", "Nguyễn Thị Minh Anh")
    await page.fill("#birth_date", "14/05/2004")  # a wrong year first
    await page.fill("#card_issue_date", "01/06/2021")
    await new_password(page, PASSWORD)
    await page.click("#enrol")
    await expect(page.locator("#form-error")).to_be_visible()
    await album.photograph("enrol-refused")
    await page.fill("#birth_date", "14/05/2003")
    await new_password(page, PASSWORD)
    await page.click("#enrol")
    await expect(page).to_have_url(re.compile(re.escape(url) + r"/login\?notice=enrolled&req="))
    await expect(page.locator("#notice")).to_be_visible()
    await album.photograph("enrolled")
    await sign_in(page, PASSWORD)
    await expect(page).to_have_url(url + "/portal")

    # A passkey, then a new password confirmed with the current one.
    await page.goto(url + "/portal/security")
    await page.click("#passkey-register")
    await expect(page.locator("table#passkeys .passkey-name")).to_have_count(1)
    await expect(page.locator("table#sessions tr[data-current]")).to_have_count(1)
    await album.photograph("security")
    await page.fill("#current_password", "not my password")
    await new_password(page, NEW_PASSWORD)
    await page.click("#change-password")
    await expect(page.locator("#current_password-error")).to_be_visible()
    await album.photograph("password-refused")
    await page.fill("#current_password", PASSWORD)
    await new_password(page, NEW_PASSWORD)
    await page.click("#change-password")
    await expect(page).to_have_url(url + "/portal/security?done=password&ended=0")
    await expect(page.locator("#notice")).to_be_visible()
    await album.photograph("password-changed")
    # Again, confirmed with the passkey instead of the current password.
    await new_password(page, BY_PASSKEY)
    await page.click("#change-password-passkey")
    await expect(page).to_have_url(url + "/portal/security?done=password&ended=0")
    passkey_change = "table#security-changes tr[data-action='identity.password.change']"
    await expect(page.locator(passkey_change)).to_have_count(3)  # refused, by password, by passkey

    # Sign out everywhere, this browser too.
    await page.click("#sign-out-everywhere")
    await expect(page).to_have_url(url + "/login?notice=everywhere")
    await album.photograph("signed-out-everywhere")
    await page.goto(url + "/portal/security")
    await expect(page).to_have_url(re.compile(re.escape(url) + r"/login\?req="))

    # The password is forgotten: the passkey proves who it is, and a new one is set.
    await page.click("#to-recover")
    await expect(page).to_have_url(re.compile(re.escape(url) + r"/recover\?req="))
    await album.photograph("recover")
    await new_password(page, RECOVERED)
    await page.click("#recover-passkey")
    await expect(page).to_have_url(re.compile(re.escape(url) + r"/login\?notice=recovered&req="))
    await album.photograph("recovered")
    await sign_in(page, RECOVERED)
    await expect(page).to_have_url(url + "/portal/security")

    # Lock: signed out, and the sign-in page says what locking does and links to unlocking.
    await page.check("#lock-confirm")
    await page.click("#lock-identity")
    await expect(page).to_have_url(url + "/unlock?locked=1")
    await expect(page.locator("#lock-meaning")).to_be_visible()
    await album.photograph("unlock")
    await page.goto(url + "/login")
    await page.click("#passkey-login")  # a passkey sign-in is sent to the unlock page
    await expect(page).to_have_url(url + "/unlock")
    await page.goto(url + "/login")
    await sign_in(page, RECOVERED)
    await expect(page.locator("#locked-help")).to_be_visible()
    await album.photograph("locked-sign-in")

    # The password alone does not unlock an identity that has a passkey; the passkey does.
    await page.click("#to-unlock")
    await page.fill("#id_number", CITIZEN_ID)
    await page.fill("#password", RECOVERED)
    await page.click("#unlock")
    await expect(page.locator("#form-error")).to_be_visible()
    await expect(page.locator("#form-error")).to_contain_text(
        "Mật khẩu thôi không đủ" if language == "vi" else "password alone is not enough"
    )
    await album.photograph("unlock-refused")
    await page.click("#unlock-passkey")
    await expect(page).to_have_url(url + "/login?notice=unlocked")
    await album.photograph("unlocked")

    # Signed in again: the history lists each change, the refused unlock too.
    await page.goto(url + "/portal/security")
    await sign_in(page, RECOVERED)
    await expect(page).to_have_url(url + "/portal/security")
    changes = "table#security-changes tr"
    for action in (
        "identity.enrol",
        "identity.passkey.add",
        "identity.password.change",
        "identity.sessions.end",
        "identity.password.recover",
        "identity.lock",
        "identity.unlock",
    ):
        await expect(page.locator(f"{changes}[data-action='{action}']").first).to_be_visible()
    refused = page.locator(f"{changes}[data-action='identity.unlock'][data-outcome='denied']")
    await expect(refused).to_have_count(1)
    if language == "en":  # each action by its English name
        await expect(page.locator("table#security-changes")).not_to_contain_text("mật khẩu")
    await album.photograph("history")

    # The in-person code's page, the other way back (level 2, a new password, unlocking).
    await page.goto(url + "/activate")
    await page.fill("#id_number", CITIZEN_ID)
    await page.fill("#code", "ABCD-EFGH-JKLM")
    await new_password(page, NEW_PASSWORD)
    await page.click("#activate")
    await expect(page.locator("#code-error")).to_be_visible()
    await album.photograph("activate-refused")
