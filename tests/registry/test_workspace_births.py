"""Registering a birth from the workspace's form: the API's rules beside the fields, the typed
values kept, CSRF, parents found by ID number or entered, and the new ID number shown."""

from __future__ import annotations

import re

from tests.identity.factories import CITIZEN_ID
from tests.registry.workspace_harness import Desk, desk, error_beside, typed_value

__all__ = ["desk"]

NEW = "/workspace/births/new"


def child(**overrides: str) -> dict[str, str]:
    form = {
        "full_name": "lê  văn an",
        "birth_date": "02/03/2024",
        "gender": "male",
        "birth_province": "001",
        "ethnicity": "01",
        "nationality": "VN",
        "birth_place": "Bệnh viện Bạch Mai",
        "permanent_address": "12 Hàng Bạc, Hoàn Kiếm, Hà Nội",
        "household_id": "HN-000123",
        "household_relationship": "con",
        "legal_basis": "Trích lục khai sinh số 12/2024",
    }
    form.update(overrides)
    return form


async def test_a_birth_is_registered_and_the_new_number_shown(desk: Desk) -> None:
    posted = await desk.submit(NEW, child(mother_id_number=CITIZEN_ID, father_name="lê văn bình"))
    assert posted.status_code == 303, posted.text
    location = posted.headers["location"]
    found = re.fullmatch(r"/workspace/citizens/(001224[0-9]{6})\?done=birth", location)
    assert found is not None, location
    number = found.group(1)
    page = await desk.web.get(location)
    assert page.status_code == 200
    assert f'<strong id="new-id-number">{number}</strong>' in page.text
    assert "Đã đăng ký khai sinh." in page.text
    # The mother found by her number, the father entered: both by name on the record.
    assert "Nguyễn Thị Minh Anh" in page.text
    assert "Lê Văn Bình" in page.text
    assert "Trích lục khai sinh số 12/2024" in page.text  # the history's legal basis
    assert "Trần Văn Bình <code>clerk.hoankiem</code>" in page.text  # who recorded it
    (birth,) = [e for e in await desk.events("registry.birth") if e["subject"] == number]
    assert birth["actor_id"] == "clerk.hoankiem"
    (mother,) = [e for e in await desk.events("registry.birth") if e["subject"] == CITIZEN_ID]
    assert mother["fields"] == ["full_name", "nationality"]


async def test_errors_are_shown_beside_their_fields_and_the_values_kept(desk: Desk) -> None:
    posted = await desk.submit(
        NEW, child(full_name="", birth_date="31/02/2024", household_id="HN 1", legal_basis="")
    )
    assert posted.status_code == 422
    html = posted.text
    assert error_beside(html, "full_name") == "Trường này là bắt buộc."
    assert error_beside(html, "birth_date") == "Nhập ngày theo dạng dd/mm/yyyy."
    assert error_beside(html, "legal_basis") == "Trường này là bắt buộc."
    assert typed_value(html, "household_id") == "HN 1"
    assert typed_value(html, "birth_date") == "31/02/2024"
    assert 'id="f-gender" name="gender"' in html and '<option value="male" selected>' in html
    assert await desk.citizens() == 1

    # The API's own rules (registry.record) come back beside their fields too.
    posted = await desk.submit(NEW, child(birth_date="02/03/2099", household_id="HN 1"))
    assert posted.status_code == 422
    assert error_beside(posted.text, "birth_date") == "Ngày này chưa đến."
    assert error_beside(posted.text, "household_id") == (
        "Số hộ gồm 1–20 chữ cái, chữ số hoặc dấu gạch."
    )
    assert await desk.citizens() == 1


async def test_a_parent_number_that_names_no_record_is_refused_and_recorded(desk: Desk) -> None:
    posted = await desk.submit(NEW, child(father_id_number="001080009999"))
    assert posted.status_code == 422
    assert error_beside(posted.text, "father_id_number") == (
        "Không có hồ sơ nào mang số định danh cá nhân này."
    )
    assert typed_value(posted.text, "father_id_number") == "001080009999"
    (refusal,) = await desk.events("registry.birth")
    assert (refusal["outcome"], refusal["subject"]) == ("not_found", "001080009999")
    assert await desk.citizens() == 1


async def test_a_form_without_its_csrf_token_records_nothing(desk: Desk) -> None:
    await desk.web.get(NEW)  # the browser has its CSRF cookie
    posted = await desk.web.post(NEW, data={**child(), "csrf": "forged"})
    assert posted.status_code == 403
    assert 'data-notice="expired"' in posted.text
    missing = await desk.web.post(NEW, data=child())
    assert missing.status_code == 403
    assert await desk.citizens() == 1
    assert await desk.events("registry.birth") == []


async def test_the_form_speaks_english(desk: Desk) -> None:
    page = await desk.web.get(NEW, params={"lang": "en"})
    assert "Register a birth" in page.text
    assert '<option value="female">Female</option>' in page.text
    assert '<option value="VN" selected>Vietnam</option>' in page.text
    posted = await desk.submit(NEW, child(full_name=""))
    assert "This field is required." in posted.text  # the language switch stuck (cookie)


async def test_a_parent_is_looked_up_by_number_before_the_form_is_sent(desk: Desk) -> None:
    form = child(full_name="", mother_id_number=CITIZEN_ID, lookup="mother_id_number")
    found = await desk.submit(NEW, form)
    assert found.status_code == 200, found.text
    assert typed_value(found.text, "mother_name") == "Nguyễn Thị Minh Anh"
    assert '<option value="VN" selected>' in found.text
    assert "Nguyễn Thị Minh Anh · 14/05/2003" in found.text
    assert 'id="e-full_name"' not in found.text  # a look-up judges nothing else yet
    assert await desk.citizens() == 1
    (read,) = await desk.events("registry.read")
    assert (read["subject"], read["outcome"]) == (CITIZEN_ID, "granted")

    unknown = await desk.submit(
        NEW, child(father_id_number="001080009999", lookup="father_id_number")
    )
    assert unknown.status_code == 422
    assert error_beside(unknown.text, "father_id_number") == (
        "Không có hồ sơ nào mang số định danh cá nhân này."
    )
    assert (await desk.events("registry.read"))[-1]["outcome"] == "not_found"
