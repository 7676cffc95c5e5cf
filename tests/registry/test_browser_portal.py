"""The citizen portal end to end in real Chromium, with the app's own audit worker running.

The citizen signs in through /portal/login (the portal's own OIDC client, password), sees an
agency lookup made moments before on "who accessed my data" with its fields and purpose, opens
its inclusion proof (verified against a checkpoint the worker signed), downloads the CSV,
allows a relying party, creates an alias, adds a passkey with Chromium's virtual authenticator,
and locks the identity: agencies and relying parties are refused until the public unlock page
unlocks it with the passkey. Every portal page is photographed at desktop width and at phone
width (390x844) under test-artifacts/screenshots/portal-*.png, and none scrolls sideways on the
phone.
"""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlencode

import httpx
import pytest
from playwright.async_api import Page, ViewportSize, expect

from core.db import Database
from core.settings import Settings
from registry.agency import repository as agency_repo
from registry.agency.policy import parse_policy
from registry.app import create_app
from tests.browser import LiveServer, VirtualAuthenticator, shot
from tests.identity.factories import (
    CITIZEN_ID,
    PASSWORD,
    make_account,
    make_agency,
    make_citizen,
    make_rp,
)

pytestmark = pytest.mark.postgresql_only  # one backend is enough for the browser

AGENCY_NAME = "Ngân hàng Thương mại Cổ phần Thử nghiệm"
RP_NAME = "Cổng dịch vụ công (thử nghiệm)"
ORDINARY = "kyc.account_opening"
DESKTOP: ViewportSize = {"width": 1280, "height": 800}
PHONE: ViewportSize = {"width": 390, "height": 844}
CLAIMS = {"full_name": "Nguyễn Thị Minh Anh", "birth_date": "2003-05-14"}


@dataclass
class Served:
    """The served app, an agency with a token, and a relying party."""

    url: str
    settings: Settings
    agency: httpx.AsyncClient
    rp_client_id: str

    async def verify(self) -> httpx.Response:
        """The agency checks the citizen's name and date of birth."""
        body = {"id_number": CITIZEN_ID, "purpose": ORDINARY, "claims": CLAIMS}
        return await self.agency.post("/api/v1/verify", json=body)

    def authorize_url(self) -> str:
        """A code-flow request of the relying party (PKCE S256)."""
        challenge = base64.urlsafe_b64encode(hashlib.sha256(secrets.token_bytes(32)).digest())
        return "/authorize?" + urlencode(
            {
                "response_type": "code",
                "client_id": self.rp_client_id,
                "redirect_uri": self.url + "/rp/callback",
                "scope": "openid profile",
                "state": secrets.token_urlsafe(8),
                "nonce": secrets.token_urlsafe(8),
                "code_challenge": challenge.rstrip(b"=").decode(),
                "code_challenge_method": "S256",
            }
        )


@pytest.fixture
async def served(database_url: str, live_server: LiveServer) -> AsyncIterator[Served]:
    """The citizen, an agency (policy and token), a relying party; the app with its worker
    sequencing every 0.1 s and signing a checkpoint every 0.3 s."""
    settings = Settings(
        environment="test",
        database_url=database_url,
        public_url=live_server.url,
        audit_sequencer_enabled=True,
        audit_sequence_interval=0.1,
        audit_checkpoint_interval=0.3,
    )
    seeding = Database(settings)
    try:
        await make_citizen(seeding)
        await make_account(seeding, settings)
        actions = ["verify", "lookup"]
        agency_id, secret = await make_agency(seeding, settings, name=AGENCY_NAME, scopes=actions)
        policy = parse_policy(
            {
                "actions": actions,
                "purposes": [ORDINARY],
                "fields": ["full_name", "birth_date", "permanent_address"],
            }
        )
        async with seeding.unit_of_work() as session:
            await agency_repo.set_policy(session, agency_id, policy.to_json())
        rp_client_id, _ = await make_rp(
            seeding,
            settings,
            name=RP_NAME,
            redirect_uris=[live_server.url + "/rp/callback"],
            post_logout_redirect_uris=[],
            scopes=["openid", "profile"],
        )
        live_server.start(create_app(settings))
        async with httpx.AsyncClient(base_url=live_server.url, timeout=10) as agency:
            token = await agency.post(
                "/token",
                data={"grant_type": "client_credentials", "scope": "verify lookup"},
                auth=(agency_id, secret),
            )
            assert token.status_code == 200, token.text
            agency.headers["Authorization"] = "Bearer " + token.json()["access_token"]
            yield Served(live_server.url, settings, agency, rp_client_id)
    finally:
        await seeding.dispose()


async def photograph(page: Page, name: str) -> list[Path]:
    """portal-<name>.png at desktop width and portal-<name>-phone.png at 390x844; the phone
    layout must not scroll sideways."""
    paths = [await shot(page, f"portal-{name}")]
    await page.set_viewport_size(PHONE)
    try:
        width = await page.evaluate("document.documentElement.scrollWidth")
        assert width <= PHONE["width"], f"{name} scrolls sideways on a phone ({width}px)"
        paths.append(await shot(page, f"portal-{name}-phone"))
    finally:
        await page.set_viewport_size(DESKTOP)
    return paths


async def test_the_citizen_sees_an_agency_lookup_proves_it_and_locks_the_identity(
    served: Served, page: Page, authenticator: VirtualAuthenticator
) -> None:
    url = served.url

    # Sign in through the portal's own client: /portal/login -> /authorize -> /login.
    await page.goto(url + "/portal/login")
    await expect(page).to_have_url(re.compile(re.escape(url) + r"/login\?"))
    await page.fill("#login", CITIZEN_ID)
    await page.fill("#password", PASSWORD)
    await page.click("#submit")
    await expect(page).to_have_url(url + "/portal")
    await expect(page.locator("html")).to_have_attribute("lang", "vi")
    await expect(page.locator("#record")).to_contain_text("Nguyễn Thị Minh Anh")
    await photograph(page, "record")

    # An agency looks the citizen up moments before they open "who accessed my data".
    looked = await served.agency.get(
        f"/api/v1/citizens/{CITIZEN_ID}",
        params={"fields": "full_name,birth_date,permanent_address", "purpose": ORDINARY},
    )
    assert looked.status_code == 200, looked.text
    event_id = looked.json()["event_id"]
    await page.click("a[href='/portal/access']")
    row = page.locator(f'tr[data-event="{event_id}"]')
    await expect(row.locator(".who")).to_have_text(AGENCY_NAME)
    await expect(row.locator(".what")).to_have_text("Tra cứu thông tin")
    await expect(row.locator(".fields")).to_have_text(
        "Họ, chữ đệm và tên, Ngày sinh, Nơi thường trú"
    )
    await expect(row.locator(".purpose")).to_have_text("Mở tài khoản (định danh khách hàng)")
    await expect(row.locator(".outcome")).to_have_text("Được phép")
    await photograph(page, "access")
    async with page.expect_download() as downloading:
        await page.click("#download-csv")
    csv_text = Path(await (await downloading.value).path()).read_text("utf-8-sig")
    assert event_id in csv_text and AGENCY_NAME in csv_text

    # Its proof: the app's worker sequences and checkpoints within a second or so.
    await row.locator("a.proof").click()
    status = page.locator("#proof-status")
    for _ in range(30):
        if "đã xác minh" in (await status.text_content() or ""):
            break
        await page.wait_for_timeout(100)
        await page.reload()
    await expect(status).to_have_text("✓ đã xác minh")
    await expect(page.locator("#checkpoint")).to_contain_text(served.settings.audit_origin)
    await expect(page.locator("#proof-event .who")).to_have_text(AGENCY_NAME)
    await photograph(page, "proof")
    await page.goto(page.url + "?lang=en")
    await expect(status).to_have_text("✓ verified")
    await page.goto(url + "/portal/access?lang=vi")

    # Allow a relying party (the identity sign-in is live: only the consent page is shown).
    await page.goto(url + served.authorize_url())
    await page.click("#allow")
    await expect(page).to_have_url(re.compile(re.escape(url) + r"/rp/callback\?code="))
    await page.goto(url + "/portal/consents")
    consent = page.locator("table#consents tr", has_text=RP_NAME)
    await expect(consent.locator(".scopes")).to_contain_text("Họ và tên")
    await photograph(page, "consents")

    # An alias ID, shown in a read-only field to copy.
    await page.goto(url + "/portal/aliases")
    await page.fill("#alias-label", "Ngân hàng")
    await page.click("#create-alias")
    await expect(page.locator("#notice")).to_have_text("Đã tạo mã định danh thay thế mới.")
    await expect(page.locator("input.alias-copy")).to_have_value(re.compile(r"^[0-9]{16}$"))
    await photograph(page, "aliases")

    # A passkey added on the security page (Chromium's virtual authenticator).
    await page.goto(url + "/portal/security")
    await expect(page.locator("#no-passkeys")).to_be_visible()
    await page.fill("#passkey-name", "Điện thoại của Minh Anh")
    await page.click("#passkey-register")
    await expect(page.locator("table#passkeys .passkey-name")).to_have_text(
        "Điện thoại của Minh Anh"
    )
    await expect(page.locator("#passkey-status")).to_be_hidden()
    (held,) = await authenticator.credentials()
    assert held["isResidentCredential"] is True
    await expect(page.locator("table#sign-ins .method").first).to_have_text("Mật khẩu")
    await photograph(page, "security")

    # Lock: the portal session ends with every other, and the public unlock page says so.
    await page.check("#lock-confirm")
    await page.click("#lock-identity")
    await expect(page).to_have_url(url + "/unlock?locked=1")
    await expect(page.locator("#notice")).to_contain_text("đã bị khóa")
    await photograph(page, "unlock")
    refused = await served.verify()
    assert refused.status_code == 403 and refused.json()["code"] == "identity-locked"
    await page.goto(url + "/portal/security")
    await expect(page).to_have_url(re.compile(re.escape(url) + r"/login\?"))  # signed out
    await page.goto(url + served.authorize_url())
    await page.fill("#login", CITIZEN_ID)
    await page.fill("#password", PASSWORD)
    await page.click("#submit")
    await expect(page.locator("p.error[role=alert]")).to_have_text(
        "Danh tính điện tử này đang bị khóa."
    )
    await photograph(page, "locked-sign-in-refused")

    # Unlock with the passkey (the password alone no longer undoes the lock once there is one);
    # the agency is answered again.
    await page.goto(url + "/unlock")
    await page.click("#unlock-passkey")
    await expect(page).to_have_url(url + "/login?notice=unlocked")
    await expect(page.locator("#notice")).to_have_text(
        "Danh tính điện tử đã được mở khóa. Bạn có thể đăng nhập lại."
    )
    await photograph(page, "unlocked")
    answered = await served.verify()
    assert answered.status_code == 200, answered.text
    assert answered.json()["match"] is True


async def test_one_click_signs_the_citizen_out_of_the_portal_and_the_provider(
    served: Served, page: Page
) -> None:
    url = served.url
    await page.goto(url + "/portal/login")
    await page.fill("#login", CITIZEN_ID)
    await page.fill("#password", PASSWORD)
    await page.click("#submit")
    await expect(page).to_have_url(url + "/portal")
    await page.click("#portal-logout")
    await expect(page).to_have_url(url + "/portal/signed-out")
    await expect(page.locator("main")).to_contain_text("Bạn đã đăng xuất.")
    await photograph(page, "signed-out")
    # Leaving here and coming back asks for the password again.
    await page.goto(url + "/portal")
    await expect(page).to_have_url(re.compile(re.escape(url) + r"/login\?"))
    await expect(page.locator("#password")).to_be_visible()
