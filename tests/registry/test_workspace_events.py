"""Life events from the workspace's forms: each reaches the API's service function, comes back
with its refusals beside the fields, and the record page then shows what was recorded."""

from __future__ import annotations

import re

import httpx

from tests.identity.factories import CITIZEN_ID
from tests.registry.workspace_harness import Desk, desk, error_beside, typed_value

__all__ = ["desk"]

RECORD = f"/workspace/citizens/{CITIZEN_ID}"


async def done(desk: Desk, posted: httpx.Response, kind: str, number: str = CITIZEN_ID) -> str:
    """The record page a recorded form leads to; its HTML."""
    assert posted.status_code == 303, posted.text
    assert posted.headers["location"] == f"/workspace/citizens/{number}?done={kind}"
    page = await desk.web.get(posted.headers["location"])
    assert page.status_code == 200
    assert f'data-kind="{kind}"' in page.text
    return page.text


async def test_a_death_is_registered_from_its_form(desk: Desk) -> None:
    form = await desk.web.get(f"{RECORD}/death")
    assert "Nguyễn Thị Minh Anh" in form.text  # whose death: the form's read is recorded
    future = await desk.submit(
        f"{RECORD}/death", {"death_date": "01/01/2999", "legal_basis": "Trích lục khai tử 7/2024"}
    )
    assert future.status_code == 422
    assert error_beside(future.text, "death_date") == "Ngày này chưa đến."
    assert typed_value(future.text, "legal_basis") == "Trích lục khai tử 7/2024"
    posted = await desk.submit(
        f"{RECORD}/death", {"death_date": "02/01/2024", "legal_basis": "Trích lục khai tử 7/2024"}
    )
    html = await done(desk, posted, "death")
    assert "Đã đăng ký khai tử." in html
    assert "Thông tin đã thay đổi: Ngày mất, Tình trạng" in html
    assert '<span id="record-status">Đã mất</span>' in html
    assert "02/01/2024" in html
    assert 'id="act-death"' not in html
    (event,) = [e for e in await desk.events("registry.death") if e["outcome"] == "granted"]
    assert event["actor_id"] == "clerk.hoankiem"
    # Once dead, a second death is refused by the record's state, beside the form.
    again = await desk.submit(
        f"{RECORD}/death", {"death_date": "03/01/2024", "legal_basis": "Trích lục khai tử 8/2024"}
    )
    assert again.status_code == 422
    assert "Công dân đã được ghi nhận là đã mất." in again.text
    assert (await desk.events("registry.death"))[-1]["outcome"] == "denied"


async def test_a_marriage_to_a_foreigner_is_registered_from_its_form(desk: Desk) -> None:
    foreign = {
        "spouse_name": "John Smith",
        "spouse_nationality": "GB",
        "date": "30/04/2024",
        "legal_basis": "Giấy chứng nhận kết hôn 45/2024",
    }
    partial = await desk.submit(f"{RECORD}/marriage", foreign)
    assert partial.status_code == 422
    assert error_beside(partial.text, "spouse_passport_number") == "Trường này là bắt buộc."
    assert '<option value="GB" selected>Vương quốc Anh</option>' in partial.text
    posted = await desk.submit(
        f"{RECORD}/marriage", {**foreign, "spouse_passport_number": "123456789"}
    )
    html = await done(desk, posted, "marriage")
    assert "Đã đăng ký kết hôn." in html
    for shown in ("Đã kết hôn", "John Smith", "Vương quốc Anh", "123456789", "30/04/2024"):
        assert shown in html
    english = await desk.web.get(RECORD, params={"lang": "en"})
    assert "United Kingdom" in english.text
    assert "Married" in english.text


async def test_a_marriage_by_the_other_spouse_number_links_both(desk: Desk) -> None:
    born = await desk.submit(
        "/workspace/births/new",
        {
            "full_name": "Trần Văn Bình",
            "birth_date": "01/02/2000",
            "gender": "male",
            "birth_province": "079",
            "ethnicity": "01",
            "legal_basis": "Khai sinh 1/2000",
        },
    )
    found = re.search(r"/workspace/citizens/([0-9]{12})", born.headers["location"])
    assert found is not None
    husband = found.group(1)
    unknown = await desk.submit(
        f"{RECORD}/marriage",
        {"spouse_id_number": "079200999999", "date": "01/05/2024", "legal_basis": "KH 2/2024"},
    )
    assert error_beside(unknown.text, "spouse_id_number") == (
        "Không có hồ sơ nào mang số định danh cá nhân này."
    )
    posted = await desk.submit(
        f"{RECORD}/marriage",
        {"spouse_id_number": husband, "date": "01/05/2024", "legal_basis": "KH 2/2024"},
    )
    html = await done(desk, posted, "marriage")
    assert f'href="/workspace/citizens/{husband}"' in html
    divorce = await desk.submit(
        f"{RECORD}/divorce", {"date": "01/06/2024", "legal_basis": "Bản án 5/2024"}
    )
    html = await done(desk, divorce, "divorce")
    assert "Đã ly hôn" in html
    assert "Trần Văn Bình" in html  # the history keeps the value before


async def test_residence_name_and_missing_are_recorded_from_their_forms(desk: Desk) -> None:
    form = await desk.web.get(f"{RECORD}/residence")
    assert typed_value(form.text, "permanent_address") == "12 Hàng Bạc, Hoàn Kiếm, Hà Nội"
    same = await desk.submit(
        f"{RECORD}/residence",
        {"permanent_address": "12 Hàng Bạc, Hoàn Kiếm, Hà Nội", "legal_basis": "Đơn 1"},
    )
    assert same.status_code == 422
    assert "không có gì thay đổi" in same.text
    moved = await desk.submit(
        f"{RECORD}/residence",
        {
            "permanent_address": "12 Hàng Bạc, Hoàn Kiếm, Hà Nội",
            "temporary_address": "5 Lê Lợi, Quận 1, TP Hồ Chí Minh",
            "household_id": "HCM-42",
            "household_relationship": "con",
            "legal_basis": "Xác nhận tạm trú 3/2024",
        },
    )
    html = await done(desk, moved, "residence")
    assert "5 Lê Lợi, Quận 1, TP Hồ Chí Minh" in html
    renamed = await desk.submit(
        f"{RECORD}/name", {"full_name": "nguyễn thị minh  châu", "legal_basis": "QĐ 4/2024"}
    )
    html = await done(desk, renamed, "name")
    assert "Nguyễn Thị Minh Châu" in html
    assert "Nguyễn Thị Minh Anh" in html  # the name before, in the history
    lost = await desk.submit(
        f"{RECORD}/missing", {"missing_date": "01/03/2024", "legal_basis": "QĐ 9"}
    )
    html = await done(desk, lost, "missing")
    assert '<span id="record-status">Mất tích</span>' in html


async def test_a_gender_change_issues_a_new_number(desk: Desk) -> None:
    same = await desk.submit(f"{RECORD}/gender", {"gender": "female", "legal_basis": "QĐ 1"})
    assert error_beside(same.text, "gender") == "Đây đã là giới tính trong hồ sơ."
    posted = await desk.submit(f"{RECORD}/gender", {"gender": "male", "legal_basis": "QĐ 2/2024"})
    assert posted.status_code == 303
    found = re.fullmatch(
        r"/workspace/citizens/(001203[0-9]{6})\?done=gender", posted.headers["location"]
    )
    assert found is not None, posted.headers["location"]
    html = await done(desk, posted, "gender", found.group(1))
    assert f'<strong id="new-id-number">{found.group(1)}</strong>' in html
    old = await desk.web.get(RECORD)
    assert f'href="/workspace/citizens/{found.group(1)}"' in old.text


async def test_a_correction_records_only_what_was_changed(desk: Desk) -> None:
    form = await desk.web.get(f"{RECORD}/correction")
    assert typed_value(form.text, "birth_date") == "14/05/2003"
    unchanged = await desk.submit(
        f"{RECORD}/correction",
        {
            "full_name": "Nguyễn Thị Minh Anh",
            "birth_date": "14/05/2003",
            "ethnicity": "01",
            "birth_province": "001",
            "legal_basis": "QĐ 3",
        },
    )
    assert unchanged.status_code == 422
    assert "không có gì thay đổi" in unchanged.text
    wrong = await desk.submit(
        f"{RECORD}/correction",
        {
            "full_name": "Nguyễn Thị Minh Anh",
            "birth_date": "14/05/2004",
            "ethnicity": "01",
            "birth_province": "001",
            "legal_basis": "QĐ 3",
        },
    )
    assert error_beside(wrong.text, "birth_date") == "Không khớp với số định danh cá nhân."
    fixed = await desk.submit(
        f"{RECORD}/correction",
        {
            "full_name": "Nguyễn Thị Minh Anh",
            "birth_date": "15/05/2003",
            "ethnicity": "01",
            "birth_province": "001",
            "religion": "Phật giáo",
            "legal_basis": "Quyết định đính chính 3/2024",
        },
    )
    html = await done(desk, fixed, "correction")
    assert "15/05/2003" in html
    assert "Phật giáo" in html
    (event,) = [e for e in await desk.events("registry.correction") if e["outcome"] == "granted"]
    assert set(event["fields"]) == {"birth_date", "religion"}
