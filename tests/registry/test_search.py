"""Officials' search: by old card number, by folded name and partial birth date, keyset pages."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from core.db import Database
from core.errors import ValidationFailed
from registry.reads import decode_cursor, encode_cursor
from registry.schemas import SUMMARY_FIELDS
from tests.auth import bearer
from tests.faults import fail_audit_inserts
from tests.registry.officials import (
    BASE,
    events,
    post,
    register,
)


async def search(api: httpx.AsyncClient, **params: Any) -> dict[str, Any]:
    response = await api.get(f"{BASE}/citizens", params=params)
    assert response.status_code == 200, response.text
    page: dict[str, Any] = response.json()
    return page


async def ids(api: httpx.AsyncClient, **params: Any) -> set[str]:
    return {item["id_number"] for item in (await search(api, **params))["items"]}


async def with_birth_date(api: httpx.AsyncClient, birth_date: str, **more: Any) -> str:
    """A person born 2003-05-14 whose record is then corrected to a less precise date."""
    number = str((await register(api, **more))["id_number"])
    if birth_date != "2003-05-14":
        response = await post(
            api, number, "corrections", {"birth_date": birth_date, "legal_basis": "x"}
        )
        assert response.status_code == 200, response.text
    return number


async def test_search_by_old_card_number(api: httpx.AsyncClient, database: Database) -> None:
    number = (await register(api))["id_number"]
    other = (await register(api, full_name="Lê Văn Hai", gender="male"))["id_number"]
    for target in (number, other):
        await post(api, target, "corrections", {"old_id_number": "012345678", "legal_basis": "x"})
    await post(
        api,
        (await register(api))["id_number"],
        "corrections",
        {"old_id_number": "987654321", "legal_basis": "x"},
    )
    page = await search(api, old_id_number="012345678")
    assert [item["id_number"] for item in page["items"]] == sorted([number, other])
    assert page["next_cursor"] is None
    assert set(page["items"][0]) == set(SUMMARY_FIELDS)
    for target in (number, other):
        [event] = await events(database, action="registry.search", subject=target)
        assert event["outcome"] == "granted"
        assert set(event["fields"]) == set(SUMMARY_FIELDS)
        assert event["purpose"] == "civil_registration"


async def test_search_by_name_ignores_case_diacritics_and_spacing(api: httpx.AsyncClient) -> None:
    number = (await register(api))["id_number"]  # Nguyễn Thị Minh Anh, 2003-05-14
    await register(api, full_name="Nguyễn Thị Minh Ánh")  # folds to the same name
    await register(api, full_name="Nguyễn Thị Minh")
    await register(api, birth_date="2004-05-14")
    for name in (
        "Nguyễn Thị Minh Anh",
        "nguyen thi minh anh",
        "NGUYỄN   THỊ MINH ANH",
        "Nguye\u0302\u0303n Thi\u0323 Minh Anh",  # decomposed (NFD) input
    ):
        found = await ids(api, name=name, birth_date="2003-05-14")
        assert len(found) == 2, name
        assert number in found
    assert await ids(api, name="Nguyen Thi Minh", birth_date="2003") != set()
    assert await ids(api, name="Nguyen Thi Minh Anh", birth_date="2003-05-15") == set()


async def test_a_partial_birth_date_matches_the_year_or_month(api: httpx.AsyncClient) -> None:
    day = await with_birth_date(api, "2003-05-14")
    month = await with_birth_date(api, "2003-05")
    year = await with_birth_date(api, "2003")
    other_month = await with_birth_date(api, "2003-11-30")
    name = "nguyen thi minh anh"
    assert await ids(api, name=name, birth_date="2003") == {day, month, year, other_month}
    # A record known only to the year or month may fall in the month or on the day asked.
    assert await ids(api, name=name, birth_date="2003-05") == {day, month, year}
    assert await ids(api, name=name, birth_date="2003-05-14") == {day, month, year}
    assert await ids(api, name=name, birth_date="2003-11") == {year, other_month}
    assert await ids(api, name=name, birth_date="2003-12") == {year}
    assert await ids(api, name=name, birth_date="2002") == set()
    assert await ids(api, name=name, birth_date="2004-05") == set()
    [summary] = (await search(api, name=name, birth_date="2003-01"))["items"]
    assert summary["birth_date"] == "2003"


async def test_pages_cover_every_match_exactly_once(
    api: httpx.AsyncClient, database: Database
) -> None:
    expected = {
        (await register(api, full_name="Trần Văn Bình", gender="male"))["id_number"]
        for _ in range(23)
    }
    await register(api, full_name="Trần Văn Bính", gender="male", birth_date="2004-01-01")
    seen: list[str] = []
    cursor: str | None = None
    pages = 0
    while True:
        params: dict[str, Any] = {"name": "tran van binh", "birth_date": "2003", "limit": 5}
        if cursor is not None:
            params["cursor"] = cursor
        page = await search(api, **params)
        pages += 1
        assert len(page["items"]) <= 5
        seen.extend(item["id_number"] for item in page["items"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert pages == 5
    assert seen == sorted(expected)
    searched = await events(database, action="registry.search")
    assert sorted(e["subject"] for e in searched) == sorted(expected)
    assert {e["outcome"] for e in searched} == {"granted"}


async def test_an_exact_last_page_has_no_cursor(api: httpx.AsyncClient) -> None:
    for _ in range(4):
        await register(api)
    first = await search(api, name="nguyen thi minh anh", birth_date="2003", limit=2)
    second = await search(
        api, name="nguyen thi minh anh", birth_date="2003", limit=2, cursor=first["next_cursor"]
    )
    assert len(second["items"]) == 2
    assert second["next_cursor"] is None


async def test_no_match_records_one_not_found_event(
    api: httpx.AsyncClient, database: Database
) -> None:
    await register(api)
    page = await search(api, name="Không Có Ai", birth_date="1999")
    assert page == {"items": [], "next_cursor": None}
    [event] = await events(database, action="registry.search")
    assert event["outcome"] == "not_found"
    assert event["subject"] is None
    assert event["fields"] == []
    assert "Không" not in str(event)


@pytest.mark.parametrize(
    ("params", "invalid"),
    [
        ({}, {"name", "birth_date"}),
        ({"name": "Nguyễn Văn A"}, {"birth_date"}),
        ({"birth_date": "2003"}, {"name"}),
        ({"old_id_number": "012345678", "name": "A", "birth_date": "2003"}, {"old_id_number"}),
        ({"old_id_number": "01234567X"}, {"old_id_number"}),
        ({"old_id_number": "0123456789"}, {"old_id_number"}),
        ({"name": "A1", "birth_date": "2003"}, {"name"}),
        ({"name": "An", "birth_date": "2003-13"}, {"birth_date"}),
        ({"name": "An", "birth_date": "03-05-2003"}, {"birth_date"}),
        ({"name": "An", "birth_date": "\u0662\u0660\u0660\u0663"}, {"birth_date"}),  # Arabic-Indic
        ({"name": "An", "birth_date": "\uff12\uff10\uff10\uff13-05"}, {"birth_date"}),  # fullwidth
        ({"name": "An", "birth_date": "2003", "limit": 0}, {"limit"}),
        ({"name": "An", "birth_date": "2003", "limit": 101}, {"limit"}),
        ({"name": "An", "birth_date": "2003", "cursor": "bm90LWEtY3Vyc29y"}, {"cursor"}),
        ({"name": "An", "birth_date": "2003", "cursor": "!!"}, {"cursor"}),
        ({"name": "An", "birth_date": "2003", "sort": "name"}, {"sort"}),
    ],
)
async def test_bad_search_parameters_are_a_422(
    api: httpx.AsyncClient, database: Database, params: dict[str, Any], invalid: set[str]
) -> None:
    response = await api.get(f"{BASE}/citizens", params=params)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert {e["parameter"] for e in response.json()["errors"]} == invalid
    assert await events(database) == []


def test_cursors_round_trip_and_refuse_anything_else() -> None:
    cursor = encode_cursor("001303000001")
    assert decode_cursor(cursor) == "001303000001"
    assert "001303000001" not in cursor
    for forged in (cursor + "=", cursor[:-1], encode_cursor("00130300000")):
        with pytest.raises(ValidationFailed) as refused:
            decode_cursor(forged)
        assert refused.value.errors[0].parameter == "cursor"


async def test_search_needs_the_official_role(api: httpx.AsyncClient) -> None:
    path = f"{BASE}/citizens"
    params = {"old_id_number": "012345678"}
    anonymous = await api.get(path, params=params, headers={"authorization": ""})
    assert anonymous.status_code == 401
    assert (await api.get(path, params=params, headers=bearer("tok-auditor"))).status_code == 403


async def test_a_failing_audit_insert_means_a_search_returns_nothing(
    api: httpx.AsyncClient, database_url: str
) -> None:
    await register(api)
    await fail_audit_inserts(database_url)
    response = await api.get(
        f"{BASE}/citizens", params={"name": "nguyen thi minh anh", "birth_date": "2003"}
    )
    assert response.status_code == 503
    assert "Nguyễn" not in response.text
