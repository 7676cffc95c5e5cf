"""A marriage to a foreigner without a Vietnamese number through the officials' API, on both
backends: the spouse's name, nationality and passport on the citizen's record, its version and
event, the rules that hold for it, and the divorce and death that follow."""

from __future__ import annotations

import httpx

from core.db import Database
from tests.registry.officials import adult, events, post, read, rows

FOREIGN = {
    "spouse_name": "kim  ji-yeon",
    "spouse_nationality": "KR",
    "spouse_passport_number": "m 1234 5678",
    "date": "2015-04-30",
    "legal_basis": "Giấy chứng nhận kết hôn 45/2015",
}
LINKED = {"marital_status", "spouse_name", "spouse_nationality", "spouse_passport_number"}


async def test_a_citizen_marries_a_foreigner_by_name_nationality_and_passport(
    api: httpx.AsyncClient, database: Database
) -> None:
    husband = await adult(api, "Hoàng Văn Minh", "male")
    response = await post(api, husband, "marriage", FOREIGN)
    assert response.status_code == 200, response.text
    assert set(response.json()["changed_fields"]) == LINKED
    record = await read(api, husband)
    assert record["marital_status"] == "married"
    assert record["spouse_id_number"] is None
    assert (record["spouse_name"], record["spouse_nationality"]) == ("Kim Ji-Yeon", "KR")
    assert record["spouse_passport_number"] == "M12345678"
    (version,) = await rows(
        database,
        "SELECT * FROM citizen_version WHERE id_number = :n AND kind = 'marriage'",
        n=husband,
    )
    assert str(version["event_date"]) == "2015-04-30"
    (event,) = await events(database, action="registry.marriage")
    assert (event["subject"], event["outcome"]) == (husband, "granted")
    assert set(event["fields"]) == LINKED  # names, never values


async def test_a_foreign_spouse_needs_all_three_and_no_number(api: httpx.AsyncClient) -> None:
    one = await adult(api, "Hoàng Văn Minh", "male")
    partial = await post(api, one, "marriage", {**FOREIGN, "spouse_passport_number": None})
    assert partial.status_code == 422
    assert [e["pointer"] for e in partial.json()["errors"]] == ["#/spouse_passport_number"]
    other = await adult(api, "Lý Thị Mai", "female")
    both = await post(api, one, "marriage", {**FOREIGN, "spouse_id_number": other})
    assert both.status_code == 422
    neither = await post(api, one, "marriage", {"date": "2015-04-30", "legal_basis": "x"})
    assert neither.status_code == 422
    assert neither.json()["errors"][0]["pointer"] == "#/spouse_id_number"
    vietnamese = await post(api, one, "marriage", {**FOREIGN, "spouse_nationality": "VN"})
    assert vietnamese.json()["errors"][0]["pointer"] == "#/spouse_nationality"
    unknown = await post(api, one, "marriage", {**FOREIGN, "spouse_nationality": "K1"})
    assert unknown.json()["errors"][0]["pointer"] == "#/spouse_nationality"
    passport = await post(api, one, "marriage", {**FOREIGN, "spouse_passport_number": "Ω-1"})
    assert passport.json()["errors"][0]["pointer"] == "#/spouse_passport_number"
    assert (await read(api, one))["marital_status"] == "single"


async def test_a_married_citizen_cannot_marry_a_foreigner(api: httpx.AsyncClient) -> None:
    one = await adult(api, "Hoàng Văn Minh", "male")
    assert (await post(api, one, "marriage", FOREIGN)).status_code == 200
    again = await post(api, one, "marriage", {**FOREIGN, "spouse_passport_number": "B7654321"})
    assert again.status_code == 409
    assert again.json()["reason"] == "married"


async def test_divorce_from_a_foreigner_clears_the_spouse_and_passport(
    api: httpx.AsyncClient,
) -> None:
    one = await adult(api, "Hoàng Văn Minh", "male")
    await post(api, one, "marriage", FOREIGN)
    divorced = await post(api, one, "divorce", {"date": "2020-01-02", "legal_basis": "BA 3/2020"})
    assert divorced.status_code == 200, divorced.text
    record = await read(api, one)
    assert record["marital_status"] == "divorced"
    assert record["spouse_name"] is None
    assert record["spouse_passport_number"] is None
    history = (await api.get(f"/api/v1/officials/citizens/{one}/history")).json()
    assert history["versions"][0]["previous"]["spouse_passport_number"] == "M12345678"


async def test_the_death_of_a_citizen_married_to_a_foreigner_is_recorded(
    api: httpx.AsyncClient,
) -> None:
    one = await adult(api, "Hoàng Văn Minh", "male")
    await post(api, one, "marriage", FOREIGN)
    died = await post(api, one, "death", {"death_date": "2024-02-02", "legal_basis": "KT 9/2024"})
    assert died.status_code == 200, died.text
    assert set(died.json()["changed_fields"]) == {"status", "death_date"}
