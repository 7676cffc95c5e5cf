"""The officials' workspace end to end in real Chromium, in Vietnamese and English, at desktop
(1280x800) and phone (390x844) width.

1. A clerk's staff account signs in with its password through /portal/login?next=/workspace:
   the workspace asks for a passkey; the account page registers one (virtual authenticator)
   and links to the workspace. Signed out, the clerk signs in again with the passkey.
2. The clerk finds a mother by name and year of birth and opens her record.
3. Registers her child's birth (first with a mistake, shown beside its field): the record page
   shows the new ID number.
4. Registers her marriage to a foreigner without a Vietnamese number (name, nationality,
   passport number).
5. Registers the death of an elderly citizen found by his ID number.

Every page is saved as test-artifacts/screenshots/workspace-<page>[-en][-phone].png.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest
from playwright.async_api import Page, ViewportSize, expect

from core.db import Database
from core.settings import Settings
from registry.app import create_app
from tests.browser import LiveServer, VirtualAuthenticator, shot
from tests.identity.factories import CITIZEN_ID, STAFF_PASSWORD, make_citizen, make_staff

pytestmark = [pytest.mark.postgresql_only]  # one backend is enough for the browser

CLERK = "hotich.hoankiem"
ELDER = "001045000123"
PHONE: ViewportSize = {"width": 390, "height": 844}
DESKTOP: ViewportSize = {"width": 1280, "height": 800}

# What each language calls the pages' headings (the rest is found by id).
WORDS = {
    "vi": {
        "find": "Tìm công dân",
        "birth": "Đăng ký khai sinh",
        "required": "Trường này là bắt buộc.",
        "born": "Đã đăng ký khai sinh.",
        "married": "Đã đăng ký kết hôn.",
        "dead": "Đã đăng ký khai tử.",
        "deceased": "Đã mất",
        "korea": "Hàn Quốc",
        "female": "Nữ",
    },
    "en": {
        "find": "Find a citizen",
        "birth": "Register a birth",
        "required": "This field is required.",
        "born": "The birth is registered.",
        "married": "The marriage is registered.",
        "dead": "The death is registered.",
        "deceased": "Deceased",
        "korea": "South Korea",
        "female": "Female",
    },
}


@dataclass
class Site:
    """The served app and its settings."""

    url: str
    settings: Settings


@pytest.fixture
async def site(database_url: str, live_server: LiveServer) -> AsyncIterator[Site]:
    """A mother and an elderly man on the register, a clerk without a passkey; the app."""
    settings = Settings(environment="test", database_url=database_url, public_url=live_server.url)
    seeding = Database(settings)
    try:
        await make_citizen(seeding)
        await make_citizen(
            seeding,
            id_number=ELDER,
            full_name="Trần Văn Cường",
            birth_date="1945-03-02",
            gender="male",
            card_number=None,
            card_issue_date=None,
            card_issue_place=None,
            card_expiry_date=None,
        )
        await make_staff(seeding, settings, username=CLERK, roles=("official",))
        live_server.start(create_app(settings))  # its own Database: the server has its own loop
        yield Site(live_server.url, settings)
    finally:
        await seeding.dispose()


class Camera:
    """Screenshots named for the page, the language and the width."""

    def __init__(self, page: Page, lang: str, phone: bool) -> None:
        self.page, self.lang, self.phone = page, lang, phone

    async def __call__(self, name: str) -> None:
        suffix = ("-en" if self.lang == "en" else "") + ("-phone" if self.phone else "")
        await shot(self.page, f"workspace-{name}{suffix}")


@pytest.mark.parametrize("phone", [False, True], ids=["desktop", "phone"])
@pytest.mark.parametrize("lang", ["vi", "en"])
async def test_an_official_registers_a_birth_a_marriage_to_a_foreigner_and_a_death(
    site: Site, page: Page, authenticator: VirtualAuthenticator, lang: str, phone: bool
) -> None:
    words = WORDS[lang]
    snap = Camera(page, lang, phone)
    await page.set_viewport_size(PHONE if phone else DESKTOP)
    await page.goto(site.url + f"/login?lang={lang}")  # the language switch sticks (cookie)

    # 1. The first sign-in: the password, then a passkey made on the spot (the staff's one
    #    flow, identity.staff), then straight on into the workspace.
    await page.goto(site.url + "/portal/login?next=/workspace")
    await page.fill("#login", CLERK)
    await page.fill("#password", STAFF_PASSWORD)
    await page.click("#submit")
    await expect(page).to_have_url(re.compile(re.escape(site.url + "/staff/passkey")))
    await snap("first-passkey")
    await page.fill("#passkey-name", "Khóa của cán bộ hộ tịch")
    await page.click("#passkey-enrol")
    await expect(page).to_have_url(site.url + "/workspace")
    await expect(page.locator("h1")).to_have_text(words["find"])
    await snap("find")

    # 2. Find the mother by her name and the year she was born.
    await page.fill("#f-name", "nguyen thi minh anh")
    await page.fill("#f-birth_date", "2003")
    await page.click("#find-name-submit")
    await expect(page.locator("#results tbody tr")).to_have_count(1)
    await expect(page.locator("#results")).to_contain_text("14/05/2003")
    await snap("find-results")
    await page.click(f"#results a[href='/workspace/citizens/{CITIZEN_ID}']")
    await expect(page.locator("#record-name")).to_have_text("Nguyễn Thị Minh Anh")
    await expect(page.locator('dd[data-field="gender"]')).to_have_text(words["female"])
    await snap("record")

    # 3. Her child's birth: a mistake is shown beside its field, the typed values kept.
    await page.click("#nav-birth")
    await expect(page.locator("h1")).to_have_text(words["birth"])
    await page.fill("#f-full_name", "Lê Minh Khang")
    await page.fill("#f-birth_date", "02/03/2024")
    await page.select_option("#f-gender", "male")
    await page.select_option("#f-birth_province", "001")
    await page.select_option("#f-ethnicity", "01")
    await page.fill("#f-birth_place", "Bệnh viện Phụ sản Hà Nội")
    await page.fill("#f-permanent_address", "12 Hàng Bạc, Hoàn Kiếm, Hà Nội")
    await page.fill("#f-mother_id_number", CITIZEN_ID)
    await page.click("#lookup-mother_id_number")  # the mother found by her number
    await expect(page.locator("#f-mother_name")).to_have_value("Nguyễn Thị Minh Anh")
    await expect(page.locator("#n-mother_id_number")).to_contain_text("14/05/2003")
    await expect(page.locator("#f-full_name")).to_have_value("Lê Minh Khang")
    await snap("birth-parent-found")
    await page.fill("#f-father_name", "Lê Văn Bình")
    await page.select_option("#f-father_nationality", "VN")
    await snap("birth")
    await page.click("#ws-submit")
    await expect(page.locator("#e-legal_basis")).to_have_text(words["required"])
    await expect(page.locator("#f-full_name")).to_have_value("Lê Minh Khang")
    await snap("birth-errors")
    await page.fill("#f-legal_basis", "Trích lục khai sinh số 12/2024")
    await page.click("#ws-submit")
    await expect(page.locator("#done")).to_have_attribute("data-kind", "birth")
    await expect(page.locator("#done")).to_contain_text(words["born"])
    child = await page.locator("#new-id-number").inner_text()
    assert re.fullmatch(r"001224[0-9]{6}", child)
    await expect(page.locator('dd[data-field="mother_name"]')).to_have_text("Nguyễn Thị Minh Anh")
    await snap("birth-done")

    # 4. The mother marries a foreigner without a Vietnamese number.
    await page.goto(site.url + f"/workspace/citizens/{CITIZEN_ID}")
    await page.click("#act-marriage")
    await page.fill("#f-spouse_name", "Kim Min-jun")
    await page.select_option("#f-spouse_nationality", "KR")
    await page.fill("#f-spouse_passport_number", "M12345678")
    await page.fill("#f-date", "30/04/2024")
    await page.fill("#f-legal_basis", "Giấy chứng nhận kết hôn số 45/2024")
    await snap("marriage")
    await page.click("#ws-submit")
    await expect(page.locator("#done")).to_contain_text(words["married"])
    await expect(page.locator('dd[data-field="spouse_name"]')).to_have_text("Kim Min-Jun")
    await expect(page.locator('dd[data-field="spouse_nationality"]')).to_have_text(words["korea"])
    await expect(page.locator('dd[data-field="spouse_passport_number"]')).to_have_text("M12345678")
    await snap("marriage-done")

    # 5. The death of an elderly citizen found by his ID number.
    await page.click("#nav-find")
    await page.fill("#f-id_number", ELDER)
    await page.click("#find-id-submit")
    await expect(page.locator("#record-name")).to_have_text("Trần Văn Cường")
    await page.click("#act-death")
    await page.fill("#f-death_date", "01/12/2026")
    await page.fill("#f-legal_basis", "Trích lục khai tử số 7/2026")
    await snap("death")
    await page.click("#ws-submit")
    await expect(page.locator("#done")).to_contain_text(words["dead"])
    await expect(page.locator("#record-status")).to_have_text(words["deceased"])
    await expect(page.locator("#history li")).to_have_count(1)
    await snap("death-done")
