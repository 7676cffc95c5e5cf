"""The officials' API on both backends: births, life events, corrections, and their guarantees.

Each change is checked in three places: the record, its version row, and its audit event.
"""

from __future__ import annotations

import asyncio
import json
from contextlib import AsyncExitStack
from datetime import datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import text
from sqlalchemy.ext.asyncio import AsyncSession, create_async_engine

from core.db import Database
from registry import idnumber
from registry import repository as repo
from registry.schemas import RECORD_FIELDS
from tests.auth import bearer
from tests.faults import fail_audit_inserts
from tests.registry.officials import (
    AS_OFFICIAL,
    BASE,
    adult,
    child,
    events,
    post,
    read,
    register,
    rows,
)

PROBLEM = "application/problem+json"


async def versions(database: Database, id_number: str) -> list[dict[str, Any]]:
    found = await rows(
        database,
        "SELECT * FROM citizen_version WHERE id_number = :n ORDER BY version",
        n=id_number,
    )
    for row in found:
        row["changed_fields"] = json.loads(row["changed_fields"])
        row["previous"] = None if row["previous"] is None else json.loads(row["previous"])
    return found


async def count(database: Database, table: str) -> int:
    found = await rows(database, f"SELECT count(*) AS n FROM {table}")
    return int(found[0]["n"])


def assert_version(
    row: dict[str, Any], *, kind: str, changed: set[str], correction: bool = False
) -> None:
    assert row["kind"] == kind
    assert bool(row["is_correction"]) is correction
    assert set(row["changed_fields"]) == changed
    assert row["actor_type"] == "official"
    assert row["actor_id"] == "clerk-7"
    assert row["legal_basis"]
    if row["version"] > 1:
        assert row["previous"] is not None
        assert set(row["previous"]) == changed


# ---------------------------------------------------------------------------------- births


async def born_to_parents(api: httpx.AsyncClient) -> tuple[str, str, httpx.Response]:
    """Two parents (the mother Lao) and their child's birth; their ID numbers and the answer."""
    father = await adult(api, "Nguyễn Văn Hùng", "male")
    mother = await adult(api, "Trần Thị Lan", "female", nationality="LA")
    response = await api.post(
        f"{BASE}/births", json=child(father_id_number=father, mother_id_number=mother)
    )
    assert response.status_code == 201, response.text
    return father, mother, response


async def test_a_birth_answers_where_the_new_record_is(api: httpx.AsyncClient) -> None:
    _, _, response = await born_to_parents(api)
    number = response.json()["id_number"]
    assert response.headers["location"] == f"{BASE}/citizens/{number}"


async def test_a_birth_issues_a_number_under_its_province_year_and_gender_prefix(
    api: httpx.AsyncClient,
) -> None:
    _, _, response = await born_to_parents(api)
    number = response.json()["id_number"]
    prefix = idnumber.prefix_for(province_code="001", birth_year=2003, gender="female")
    assert prefix == "001303"
    assert number.startswith(prefix)
    assert len(number) == 12


async def test_a_born_child_is_alive_single_vietnamese_and_without_a_card(
    api: httpx.AsyncClient,
) -> None:
    _, _, response = await born_to_parents(api)
    record = response.json()
    assert record["full_name"] == "Nguyễn Thị Minh Anh"
    assert record["birth_date"] == "2003-05-14"
    assert record["status"] == "alive"
    assert record["marital_status"] == "single"
    assert record["nationality"] == "VN"
    assert record["version"] == 1
    for card_field in ("card_number", "card_issue_date", "card_issue_place", "card_expiry_date"):
        assert record[card_field] is None


async def test_a_birth_answers_the_record_as_it_is_then_read(api: httpx.AsyncClient) -> None:
    _, _, response = await born_to_parents(api)
    record = response.json()
    assert await read(api, record["id_number"]) == record


async def test_a_birth_copies_the_parents_names_and_nationalities(
    api: httpx.AsyncClient,
) -> None:
    father, _, response = await born_to_parents(api)
    record = response.json()
    assert (record["father_id_number"], record["father_name"]) == (father, "Nguyễn Văn Hùng")
    assert (record["father_nationality"], record["mother_nationality"]) == ("VN", "LA")
    assert record["mother_name"] == "Trần Thị Lan"


async def test_a_birth_writes_a_first_version_without_the_empty_card(
    api: httpx.AsyncClient, database: Database
) -> None:
    _, _, response = await born_to_parents(api)
    [version] = await versions(database, response.json()["id_number"])
    assert version["version"] == 1
    assert version["previous"] is None
    assert version["kind"] == "birth"
    assert not version["is_correction"]
    assert {"id_number", "full_name", "name_folded", "father_name"} <= set(
        version["changed_fields"]
    )
    assert "card_number" not in version["changed_fields"]


async def test_a_birth_is_recorded_for_civil_registration_with_every_field(
    api: httpx.AsyncClient, database: Database
) -> None:
    _, _, response = await born_to_parents(api)
    number = response.json()["id_number"]
    [event] = await events(database, action="registry.birth", subject=number)
    assert event["outcome"] == "granted"
    assert event["actor_type"] == "official"
    assert event["actor_id"] == "clerk-7"
    assert event["purpose"] == "civil_registration"
    assert set(event["fields"]) == set(RECORD_FIELDS)


async def test_a_birth_records_the_read_of_each_parents_name_and_nationality(
    api: httpx.AsyncClient, database: Database
) -> None:
    father, mother, _ = await born_to_parents(api)
    for parent, relation in ((father, "father"), (mother, "mother")):
        own_birth, read_parent = await events(database, action="registry.birth", subject=parent)
        assert read_parent["fields"] == ["full_name", "nationality"]
        assert json.loads(read_parent["detail"]) == {"relation": relation}


async def test_a_name_that_mixes_scripts_is_refused_at_birth_registration(
    api: httpx.AsyncClient, database: Database
) -> None:
    response = await api.post(f"{BASE}/births", json=child(full_name="Nguyễn V\u0430n Bình"))
    assert response.status_code == 422, response.text
    (error,) = response.json()["errors"]
    assert error["pointer"] == "#/full_name"
    assert "U+0430 CYRILLIC SMALL LETTER A" in error["detail"]
    assert await rows(database, "SELECT id_number FROM citizen") == []


@pytest.mark.parametrize(
    ("overrides", "pointer"),
    [
        ({"full_name": "Nguyễn 3"}, "#/full_name"),
        ({"gender": "other"}, "#/gender"),
        ({"birth_date": "2003-05"}, "#/birth_date"),
        ({"birth_date": "2003-02-30"}, "#/birth_date"),
        ({"birth_date": "2999-01-01"}, "#/birth_date"),
        ({"birth_province": "999"}, "#/birth_province"),
        ({"ethnicity": "99"}, "#/ethnicity"),
        ({"household_id": "no spaces"}, "#/household_id"),
        ({"father_id_number": "12345"}, "#/father_id_number"),
        ({"legal_basis": ""}, "#/legal_basis"),
        ({"card_number": "001303000001"}, "#/card_number"),
        ({"id_number": "001303000001"}, "#/id_number"),
    ],
)
async def test_an_invalid_birth_is_a_422_with_pointers(
    api: httpx.AsyncClient, database: Database, overrides: dict[str, Any], pointer: str
) -> None:
    response = await api.post(f"{BASE}/births", json=child(**overrides))
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == PROBLEM
    assert pointer in [e.get("pointer") for e in response.json()["errors"]]
    assert await count(database, "citizen") == 0
    assert await count(database, "audit_event") == 0


async def test_every_problem_of_a_birth_is_reported_at_once(api: httpx.AsyncClient) -> None:
    body = child(full_name="Nguyễn 3", gender="x", birth_province="999", ethnicity="99")
    response = await api.post(f"{BASE}/births", json=body)
    assert response.status_code == 422
    pointers = {e["pointer"] for e in response.json()["errors"]}
    assert {"#/full_name", "#/gender", "#/birth_province", "#/ethnicity"} <= pointers


async def test_a_birth_naming_an_unknown_parent_is_refused_and_recorded(
    api: httpx.AsyncClient, database: Database
) -> None:
    response = await api.post(f"{BASE}/births", json=child(mother_id_number="001180000001"))
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == "#/mother_id_number"
    assert await count(database, "citizen") == 0
    [event] = await events(database, action="registry.birth")
    assert (event["subject"], event["outcome"]) == ("001180000001", "not_found")


async def test_fifty_concurrent_births_with_one_prefix_get_distinct_numbers(
    officials: FastAPI, api: httpx.AsyncClient, database: Database
) -> None:
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=officials, raise_app_exceptions=False),
                    base_url="http://testserver",
                    headers=AS_OFFICIAL,
                )
            )
            for _ in range(50)
        ]
        responses = await asyncio.gather(
            *(
                c.post(f"{BASE}/births", json=child(full_name=f"Lê Văn {chr(65 + i % 26)}"))
                for i, c in enumerate(clients)
            )
        )
    assert [r.status_code for r in responses] == [201] * 50, [r.text for r in responses]
    numbers = {r.json()["id_number"] for r in responses}
    assert len(numbers) == 50
    assert all(n.startswith("001303") for n in numbers)
    stored = await rows(database, "SELECT id_number FROM citizen")
    assert {r["id_number"] for r in stored} == numbers
    assert await count(database, "citizen_version") == 50


async def test_colliding_serials_are_drawn_again_under_concurrency(
    officials: FastAPI,
    api: httpx.AsyncClient,
    database: Database,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    taken = (await register(api))["id_number"]
    real = idnumber.issue_candidate
    draws: list[str] = []

    def colliding(prefix: str, *args: Any, **kwargs: Any) -> str:
        # The first 50 draws all hit the number already issued; the rest are random.
        candidate = taken if len(draws) < 50 else real(prefix)
        draws.append(candidate)
        return candidate

    monkeypatch.setattr(idnumber, "issue_candidate", colliding)
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=officials, raise_app_exceptions=False),
                    base_url="http://testserver",
                    headers=AS_OFFICIAL,
                )
            )
            for _ in range(50)
        ]
        responses = await asyncio.gather(*(c.post(f"{BASE}/births", json=child()) for c in clients))
    assert [r.status_code for r in responses] == [201] * 50
    numbers = {r.json()["id_number"] for r in responses} | {taken}
    assert len(numbers) == 51
    assert all(n.startswith("001303") for n in numbers)
    assert len(draws) >= 100  # 50 collisions, then at least one free number per birth
    assert await count(database, "citizen") == 51


async def test_a_full_prefix_is_a_503_after_bounded_retries(
    api: httpx.AsyncClient, database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    taken = (await register(api))["id_number"]
    draws: list[str] = []

    def always_taken(prefix: str, *args: Any, **kwargs: Any) -> str:
        draws.append(taken)
        return str(taken)

    monkeypatch.setattr(idnumber, "issue_candidate", always_taken)
    response = await api.post(f"{BASE}/births", json=child())
    assert response.status_code == 503
    assert response.headers["content-type"] == PROBLEM
    assert len(draws) == 20
    assert await count(database, "citizen") == 1
    assert await count(database, "citizen_version") == 1


# ---------------------------------------------------------------------------- access


# fmt: off
ENDPOINTS = [
    ("POST", "/births"),
    ("GET", "/citizens?old_id_number=012345678"),
    ("GET", "/citizens/001303000001"),
    ("GET", "/citizens/001303000001/history"),
    *[
        ("POST", f"/citizens/001303000001/{event}")
        for event in (
            "death", "missing", "residence", "marriage", "divorce", "name", "gender",
            "corrections",
        )
    ],
]
# fmt: on


@pytest.mark.parametrize(("method", "path"), ENDPOINTS)
async def test_every_endpoint_needs_the_official_role(
    api: httpx.AsyncClient, database: Database, method: str, path: str
) -> None:
    anonymous = await api.request(method, BASE + path, headers={"authorization": ""}, json={})
    assert anonymous.status_code == 401
    assert anonymous.headers["content-type"] == PROBLEM
    auditor = await api.request(method, BASE + path, headers=bearer("tok-auditor"), json={})
    assert auditor.status_code == 403
    # Refused at the role gate: the auditor's attempt is recorded, the anonymous one is not.
    named = "001303000001" if path.startswith("/citizens/") else None
    found = [(e["actor_id"], e["subject"], e["outcome"]) for e in await events(database)]
    assert found == [("auditor-1", named, "denied")]


async def test_an_unknown_citizen_is_a_recorded_404(
    api: httpx.AsyncClient, database: Database
) -> None:
    for event, body in [
        ("death", {"death_date": "2020-01-01", "legal_basis": "x"}),
        ("name", {"full_name": "Lê Văn Tám", "legal_basis": "x"}),
    ]:
        response = await post(api, "001303000001", event, body)
        assert response.status_code == 404
        assert response.headers["content-type"] == PROBLEM
    assert (await api.get(f"{BASE}/citizens/001303000001")).status_code == 404
    found = await events(database, subject="001303000001")
    assert [(e["action"], e["outcome"]) for e in found] == [
        ("registry.death", "not_found"),
        ("registry.name_change", "not_found"),
        ("registry.read", "not_found"),
    ]


async def test_a_malformed_id_number_in_the_path_is_a_422(api: httpx.AsyncClient) -> None:
    response = await api.get(f"{BASE}/citizens/12345")
    assert response.status_code == 422
    assert response.json()["errors"][0]["parameter"] == "id_number"


# ---------------------------------------------------------------------- death, missing


async def death(api: httpx.AsyncClient) -> tuple[str, httpx.Response]:
    """A citizen registered at birth, then their death; their ID number and the answer."""
    number = str((await register(api))["id_number"])
    response = await post(
        api, number, "death", {"death_date": "2024-03-01", "legal_basis": "Death cert 9/2024"}
    )
    return number, response


async def dead(api: httpx.AsyncClient) -> str:
    """A citizen registered at birth and then registered dead; their ID number."""
    number, response = await death(api)
    assert response.status_code == 200, response.text
    return number


async def test_a_death_marks_the_record_deceased_in_a_new_version(
    api: httpx.AsyncClient, database: Database
) -> None:
    number, response = await death(api)
    assert response.status_code == 200, response.text
    change = response.json()
    assert change["version"] == 2
    assert change["kind"] == "death"
    assert set(change["changed_fields"]) == {"status", "death_date"}
    record = await read(api, number)
    assert (record["status"], record["death_date"], record["version"]) == (
        "deceased",
        "2024-03-01",
        2,
    )
    version = (await versions(database, number))[-1]
    assert_version(version, kind="death", changed={"status", "death_date"})
    assert version["previous"] == {"status": "alive", "death_date": None}


async def test_a_death_is_recorded_for_civil_registration(
    api: httpx.AsyncClient, database: Database
) -> None:
    number = await dead(api)
    [event] = await events(database, action="registry.death", subject=number)
    assert event["outcome"] == "granted"
    assert set(event["fields"]) == {"status", "death_date"}
    assert event["purpose"] == "civil_registration"


async def test_a_second_death_is_a_409_recorded_as_denied(
    api: httpx.AsyncClient, database: Database
) -> None:
    number = await dead(api)
    again = await post(api, number, "death", {"death_date": "2024-03-02", "legal_basis": "x"})
    assert again.status_code == 409
    assert again.json()["reason"] == "deceased"
    refused = await events(database, action="registry.death", subject=number)
    assert [e["outcome"] for e in refused] == ["granted", "denied"]


async def test_no_life_event_changes_the_record_of_a_deceased_citizen(
    api: httpx.AsyncClient,
) -> None:
    number = await dead(api)
    for event_name, body in [
        ("residence", {"current_address": "Hà Nội"}),
        ("name", {"full_name": "Lê Thị Lan"}),
        ("missing", {"missing_date": "2024-04-01"}),
        ("gender", {"gender": "male"}),
    ]:
        late = await post(api, number, event_name, {**body, "legal_basis": "x"})
        assert late.status_code == 409, event_name
        assert late.json()["reason"] == "deceased"
    assert (await read(api, number))["version"] == 2


@pytest.mark.parametrize(
    ("death_date", "pointer"),
    [("2003-05-13", "#/death_date"), ("2999-01-01", "#/death_date"), ("1.1.2020", "#/death_date")],
)
async def test_an_impossible_death_date_is_a_422(
    api: httpx.AsyncClient, database: Database, death_date: str, pointer: str
) -> None:
    number = (await register(api))["id_number"]
    response = await post(api, number, "death", {"death_date": death_date, "legal_basis": "x"})
    assert response.status_code == 422
    assert response.json()["errors"][0]["pointer"] == pointer
    assert (await read(api, number))["status"] == "alive"
    assert len(await versions(database, number)) == 1


async def widowed(api: httpx.AsyncClient) -> tuple[str, str]:
    """A married couple whose husband then died; the husband's and the wife's ID numbers."""
    husband = await adult(api, "Phạm Văn Đức", "male")
    wife = await adult(api, "Vũ Thị Hoa", "female")
    married = await post(
        api,
        husband,
        "marriage",
        {"spouse_id_number": wife, "date": "2005-06-01", "legal_basis": "Marriage 1/2005"},
    )
    assert married.status_code == 200, married.text
    died = await post(api, husband, "death", {"death_date": "2020-01-01", "legal_basis": "x"})
    assert died.status_code == 200, died.text
    return husband, wife


async def test_a_death_widows_the_spouse(api: httpx.AsyncClient, database: Database) -> None:
    husband, wife = await widowed(api)
    widow = await read(api, wife)
    assert widow["marital_status"] == "widowed"
    assert widow["spouse_id_number"] == husband  # the late spouse stays on record
    assert_version((await versions(database, wife))[-1], kind="death", changed={"marital_status"})


async def test_the_widowing_of_the_spouse_is_recorded_on_the_spouse(
    api: httpx.AsyncClient, database: Database
) -> None:
    _, wife = await widowed(api)
    [event] = await events(database, action="registry.death", subject=wife)
    assert "marital_status" in event["fields"]


async def test_a_widow_may_marry_again(api: httpx.AsyncClient) -> None:
    _, wife = await widowed(api)
    other = await adult(api, "Đỗ Văn Nam", "male")
    again = await post(
        api, wife, "marriage", {"spouse_id_number": other, "date": "2022-01-01", "legal_basis": "x"}
    )
    assert again.status_code == 200, again.text


async def missing(api: httpx.AsyncClient) -> str:
    """A citizen registered at birth and then reported missing; their ID number."""
    number = str((await register(api))["id_number"])
    response = await post(
        api, number, "missing", {"missing_date": "2023-07-07", "legal_basis": "x"}
    )
    assert response.status_code == 200, response.text
    return number


async def test_a_missing_person_is_marked_missing_in_a_new_version(
    api: httpx.AsyncClient, database: Database
) -> None:
    number = await missing(api)
    record = await read(api, number)
    assert (record["status"], record["missing_date"]) == ("missing", "2023-07-07")
    assert_version(
        (await versions(database, number))[-1], kind="missing", changed={"status", "missing_date"}
    )
    assert len(await events(database, action="registry.missing", subject=number)) == 1


async def test_a_missing_person_cannot_be_reported_missing_again(api: httpx.AsyncClient) -> None:
    number = await missing(api)
    again = await post(api, number, "missing", {"missing_date": "2023-07-08", "legal_basis": "x"})
    assert again.status_code == 409


async def test_a_missing_person_can_be_found_dead(api: httpx.AsyncClient) -> None:
    number = await missing(api)
    died = await post(api, number, "death", {"death_date": "2024-01-01", "legal_basis": "x"})
    assert died.status_code == 200
    assert (await read(api, number))["status"] == "deceased"


# -------------------------------------------------------------------------- residence


async def test_residence_changes_only_the_fields_given(
    api: httpx.AsyncClient, database: Database
) -> None:
    number = (await register(api))["id_number"]
    response = await post(
        api,
        number,
        "residence",
        {
            "temporary_address": "  5   Lê Lợi,  Quận 1, TP Hồ Chí Minh ",
            "current_address": "5 Lê Lợi, Quận 1, TP Hồ Chí Minh",
            "legal_basis": "Temporary residence 77/2024",
        },
    )
    assert response.status_code == 200, response.text
    record = await read(api, number)
    assert record["temporary_address"] == "5 Lê Lợi, Quận 1, TP Hồ Chí Minh"
    assert record["permanent_address"] == "12 Hàng Bạc, Hoàn Kiếm, Hà Nội"
    version = (await versions(database, number))[-1]
    assert_version(version, kind="residence", changed={"temporary_address", "current_address"})
    [event] = await events(database, action="registry.residence", subject=number)
    assert event["purpose"] == "residence_management"
    assert event["fields"] == ["current_address", "temporary_address"]


async def test_a_temporary_address_can_be_cleared(api: httpx.AsyncClient) -> None:
    number = (await register(api))["id_number"]
    given = await post(
        api, number, "residence", {"temporary_address": "5 Lê Lợi, Quận 1", "legal_basis": "x"}
    )
    assert given.status_code == 200, given.text
    cleared = await post(api, number, "residence", {"temporary_address": None, "legal_basis": "x"})
    assert cleared.status_code == 200
    assert (await read(api, number))["temporary_address"] is None


async def test_a_residence_change_that_changes_nothing_or_is_invalid_is_a_422(
    api: httpx.AsyncClient, database: Database
) -> None:
    number = (await register(api))["id_number"]
    refusals: list[tuple[dict[str, Any], str]] = [
        ({"legal_basis": "x"}, "#"),
        ({"temporary_address": None, "legal_basis": "x"}, "#"),
        ({"household_id": "bad id!", "legal_basis": "x"}, "#/household_id"),
        ({"address": "x", "legal_basis": "x"}, "#/address"),
    ]
    for body, pointer in refusals:
        refused = await post(api, number, "residence", body)
        assert refused.status_code == 422, body
        assert refused.json()["errors"][0]["pointer"] == pointer
    assert len(await versions(database, number)) == 1  # no version but the birth's


# ---------------------------------------------------------------------- marriage, divorce


async def marriage(api: httpx.AsyncClient) -> tuple[str, str, httpx.Response]:
    """A husband, a wife of another nationality, and his marriage to her; their ID numbers and
    the answer."""
    husband = await adult(api, "Hoàng Văn Minh", "male")
    wife = await adult(api, "Lý Thị Mai", "female", nationality="CN")
    response = await post(
        api,
        husband,
        "marriage",
        {"spouse_id_number": wife, "date": "2010-10-10", "legal_basis": "Marriage 5/2010"},
    )
    return husband, wife, response


async def test_a_marriage_links_both_records(api: httpx.AsyncClient, database: Database) -> None:
    husband, wife, response = await marriage(api)
    assert response.status_code == 200, response.text
    assert response.json()["id_number"] == husband
    one, other = await read(api, husband), await read(api, wife)
    assert (one["marital_status"], one["spouse_id_number"]) == ("married", wife)
    assert (one["spouse_name"], one["spouse_nationality"]) == ("Lý Thị Mai", "CN")
    assert (other["marital_status"], other["spouse_id_number"]) == ("married", husband)
    assert (other["spouse_name"], other["spouse_nationality"]) == ("Hoàng Văn Minh", "VN")
    linked = {"marital_status", "spouse_id_number", "spouse_name", "spouse_nationality"}
    for number in (husband, wife):
        newest = (await versions(database, number))[-1]
        assert_version(newest, kind="marriage", changed=linked)
        assert str(newest["event_date"]) == "2010-10-10"  # a date on PostgreSQL, text on SQLite
        [event] = await events(database, action="registry.marriage", subject=number)
        assert set(event["fields"]) == linked | {"full_name", "nationality"}


async def test_a_married_person_cannot_marry_again(
    api: httpx.AsyncClient, database: Database
) -> None:
    husband, wife, response = await marriage(api)
    assert response.status_code == 200, response.text
    third = await adult(api, "Mai Thị Thu", "female")
    for a, b in [(third, husband), (husband, third), (wife, third)]:
        bigamy = await post(
            api, a, "marriage", {"spouse_id_number": b, "date": "2012-01-01", "legal_basis": "x"}
        )
        assert bigamy.status_code == 409
        assert bigamy.json()["reason"] == "married"
    assert (await read(api, third))["marital_status"] == "single"
    assert len(await versions(database, third)) == 1


async def test_marrying_oneself_is_a_422(api: httpx.AsyncClient) -> None:
    third = await adult(api, "Mai Thị Thu", "female")
    same = await post(
        api,
        third,
        "marriage",
        {"spouse_id_number": third, "date": "2012-01-01", "legal_basis": "x"},
    )
    assert same.status_code == 422
    assert same.json()["errors"][0]["pointer"] == "#/spouse_id_number"


async def test_marrying_an_unknown_id_number_is_a_422_recorded_as_not_found(
    api: httpx.AsyncClient, database: Database
) -> None:
    third = await adult(api, "Mai Thị Thu", "female")
    unknown = await post(
        api,
        third,
        "marriage",
        {"spouse_id_number": "001080999999", "date": "2012-01-01", "legal_basis": "x"},
    )
    assert unknown.status_code == 422
    assert unknown.json()["errors"][0]["pointer"] == "#/spouse_id_number"
    [lookup] = await events(database, subject="001080999999")
    assert lookup["outcome"] == "not_found"


async def test_marriage_refuses_a_deceased_spouse(api: httpx.AsyncClient) -> None:
    one = await adult(api, "Hoàng Văn Minh", "male")
    other = await adult(api, "Lý Thị Mai", "female")
    await post(api, other, "death", {"death_date": "2015-01-01", "legal_basis": "x"})
    response = await post(
        api, one, "marriage", {"spouse_id_number": other, "date": "2016-01-01", "legal_basis": "x"}
    )
    assert response.status_code == 409
    assert response.json()["reason"] == "deceased"
    assert (await read(api, one))["marital_status"] == "single"


async def test_a_marriage_whose_second_audit_insert_fails_changes_neither(
    api: httpx.AsyncClient, database: Database, database_url: str
) -> None:
    one = await adult(api, "Hoàng Văn Minh", "male")
    other = await adult(api, "Lý Thị Mai", "female")
    second = max(one, other)  # records are written in ID-number order
    before = await count(database, "audit_event")
    await fail_audit_inserts(database_url, subject=second)
    response = await post(
        api, one, "marriage", {"spouse_id_number": other, "date": "2016-01-01", "legal_basis": "x"}
    )
    assert response.status_code == 503
    assert response.json()["code"] == "audit-unavailable"
    for number in (one, other):
        assert len(await versions(database, number)) == 1
    state = await rows(database, "SELECT marital_status, version FROM citizen")
    assert all(r["marital_status"] == "single" and r["version"] == 1 for r in state)
    assert await count(database, "audit_event") == before


# On SQLite every transaction takes the single write lock when it begins (core/db.py), so no
# other writer can interleave like this: the scenario exists on PostgreSQL only.
@pytest.mark.postgresql_only
async def test_a_concurrent_change_of_the_second_spouse_is_a_409_and_changes_neither(
    api: httpx.AsyncClient,
    database: Database,
    database_url: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    one = await adult(api, "Hoàng Văn Minh", "male")
    other = await adult(api, "Lý Thị Mai", "female")
    first, second = sorted((one, other))  # records are written in ID-number order
    before = await count(database, "audit_event")
    real = repo.last_valid_from
    engine = create_async_engine(database_url)

    async def interleaved(session: AsyncSession, id_number: str) -> datetime | None:
        # Another transaction changes the second record after this one has read it and
        # before it writes.
        if id_number == first:
            async with engine.begin() as conn:
                await conn.execute(
                    text("UPDATE citizen SET version = version + 1 WHERE id_number = :n"),
                    {"n": second},
                )
        return await real(session, id_number)

    monkeypatch.setattr(repo, "last_valid_from", interleaved)
    try:
        response = await post(
            api,
            one,
            "marriage",
            {"spouse_id_number": other, "date": "2016-01-01", "legal_basis": "x"},
        )
    finally:
        await engine.dispose()
    assert response.status_code == 409
    assert response.json()["reason"] == "concurrent_change"
    state = {r["id_number"]: r for r in await rows(database, "SELECT * FROM citizen")}
    assert state[one]["marital_status"] == state[other]["marital_status"] == "single"
    assert state[first]["version"] == 1
    assert state[second]["version"] == 2  # only the other transaction's change
    assert len(await versions(database, one)) == len(await versions(database, other)) == 1
    assert await count(database, "audit_event") == before


async def test_concurrent_changes_of_one_record_never_lose_an_update(
    officials: FastAPI, api: httpx.AsyncClient, database: Database
) -> None:
    number = (await register(api))["id_number"]
    async with AsyncExitStack() as stack:
        clients = [
            await stack.enter_async_context(
                httpx.AsyncClient(
                    transport=httpx.ASGITransport(app=officials, raise_app_exceptions=False),
                    base_url="http://testserver",
                    headers=AS_OFFICIAL,
                )
            )
            for _ in range(8)
        ]
        responses = await asyncio.gather(
            *(
                post(c, number, "residence", {"current_address": f"Số {i}", "legal_basis": "x"})
                for i, c in enumerate(clients)
            )
        )
    statuses = [r.status_code for r in responses]
    assert set(statuses) <= {200, 409}
    assert 200 in statuses
    ok = statuses.count(200)
    assert len(await versions(database, number)) == 1 + ok
    assert (await read(api, number))["version"] == 1 + ok


async def test_divorce_of_an_unmarried_person_is_a_409(api: httpx.AsyncClient) -> None:
    one = await adult(api, "Hoàng Văn Minh", "male")
    not_married = await post(api, one, "divorce", {"date": "2016-01-01", "legal_basis": "x"})
    assert not_married.status_code == 409


async def divorce(api: httpx.AsyncClient) -> tuple[str, str, httpx.Response]:
    """Two people married, then her divorce; their ID numbers and the answer."""
    one = await adult(api, "Hoàng Văn Minh", "male")
    other = await adult(api, "Lý Thị Mai", "female")
    await post(
        api, one, "marriage", {"spouse_id_number": other, "date": "2016-01-01", "legal_basis": "x"}
    )
    response = await post(
        api, other, "divorce", {"date": "2019-09-09", "legal_basis": "Judgment 12/2019"}
    )
    return one, other, response


async def test_divorce_unlinks_both(api: httpx.AsyncClient, database: Database) -> None:
    one, other, response = await divorce(api)
    assert response.status_code == 200, response.text
    unlinked = {"marital_status", "spouse_id_number", "spouse_name", "spouse_nationality"}
    for number in (one, other):
        record = await read(api, number)
        assert record["marital_status"] == "divorced"
        assert record["spouse_id_number"] is None
        assert record["spouse_name"] is None
        version = (await versions(database, number))[-1]
        assert_version(version, kind="divorce", changed=unlinked)
        assert version["previous"]["marital_status"] == "married"
        assert str(version["event_date"]) == "2019-09-09"
        *_, event = await events(database, action="registry.divorce", subject=number)
        assert event["outcome"] == "granted"
        assert set(event["fields"]) == unlinked


async def test_divorced_people_may_marry_again(api: httpx.AsyncClient) -> None:
    one, other, response = await divorce(api)
    assert response.status_code == 200, response.text
    again = await post(
        api, one, "marriage", {"spouse_id_number": other, "date": "2021-01-01", "legal_basis": "x"}
    )
    assert again.status_code == 200


async def test_divorce_of_a_spouse_known_only_by_name(
    api: httpx.AsyncClient, database: Database
) -> None:
    # Older records name a spouse who has no record here (married abroad, say).
    number = await adult(api, "Hoàng Văn Minh", "male")
    corrected = await post(
        api,
        number,
        "corrections",
        {
            "marital_status": "married",
            "spouse_name": "Kim Ji-yeon",
            "spouse_nationality": "KR",
            "legal_basis": "x",
        },
    )
    assert corrected.status_code == 200, corrected.text
    response = await post(api, number, "divorce", {"date": "2019-09-09", "legal_basis": "x"})
    assert response.status_code == 200, response.text
    record = await read(api, number)
    assert (record["marital_status"], record["spouse_name"]) == ("divorced", None)
    assert (await versions(database, number))[-1]["previous"] == {
        "marital_status": "married",
        "spouse_name": "Kim Ji-Yeon",
        "spouse_nationality": "KR",
    }


# ------------------------------------------------------------------------- name, gender


async def renamed(api: httpx.AsyncClient) -> tuple[str, httpx.Response]:
    """A citizen registered at birth, then their change of name; their ID number and the answer."""
    number = str((await register(api))["id_number"])
    response = await post(
        api, number, "name", {"full_name": "trần  minh ANH", "legal_basis": "Decision 4/2024"}
    )
    return number, response


async def test_a_change_of_name_keeps_the_old_name_in_a_new_version(
    api: httpx.AsyncClient, database: Database
) -> None:
    number, response = await renamed(api)
    assert response.status_code == 200, response.text
    assert set(response.json()["changed_fields"]) == {"full_name", "name_folded"}
    assert (await read(api, number))["full_name"] == "Trần Minh Anh"
    version = (await versions(database, number))[-1]
    assert_version(version, kind="name_change", changed={"full_name", "name_folded"})
    assert version["previous"] == {
        "full_name": "Nguyễn Thị Minh Anh",
        "name_folded": "nguyen thi minh anh",
    }
    assert len(await events(database, action="registry.name_change", subject=number)) == 1


async def test_a_change_to_the_same_name_in_another_case_is_a_422(api: httpx.AsyncClient) -> None:
    number, response = await renamed(api)
    assert response.status_code == 200, response.text
    same = await post(api, number, "name", {"full_name": "TRẦN MINH ANH", "legal_basis": "x"})
    assert same.status_code == 422
    assert same.json()["errors"][0]["pointer"] == "#/full_name"


async def test_a_change_to_an_invalid_name_is_a_422(api: httpx.AsyncClient) -> None:
    number = (await register(api))["id_number"]
    bad = await post(api, number, "name", {"full_name": "R2-D2", "legal_basis": "x"})
    assert bad.status_code == 422
    assert bad.json()["errors"][0]["pointer"] == "#/full_name"


async def gender_change(api: httpx.AsyncClient) -> tuple[str, str, httpx.Response]:
    """A married man, his wife, and his change of gender; their ID numbers and the answer."""
    old = await adult(api, "Lê Văn An", "male", birth_province="079")
    spouse = await adult(api, "Lê Thị Bình", "female")
    await post(
        api, old, "marriage", {"spouse_id_number": spouse, "date": "2010-01-01", "legal_basis": "x"}
    )
    response = await post(
        api, old, "gender", {"gender": "female", "legal_basis": "Decision 8/2024"}
    )
    return old, spouse, response


async def test_a_change_to_the_same_gender_is_a_422(api: httpx.AsyncClient) -> None:
    old = await adult(api, "Lê Văn An", "male", birth_province="079")
    same = await post(api, old, "gender", {"gender": "male", "legal_basis": "x"})
    assert same.status_code == 422


async def changed_gender(api: httpx.AsyncClient) -> tuple[str, str, str]:
    """A married man who changed gender, and his wife; the old and new ID numbers, the wife's."""
    old, spouse, response = await gender_change(api)
    assert response.status_code == 201, response.text
    return old, response.json()["id_number"], spouse


async def test_a_change_of_gender_issues_a_new_number(api: httpx.AsyncClient) -> None:
    old, spouse, response = await gender_change(api)
    assert response.status_code == 201, response.text
    change = response.json()
    new = change["id_number"]
    assert change["replaces"] == old
    assert response.headers["location"] == f"{BASE}/citizens/{new}"
    # Same province (079) and birth year (1980); the century/gender digit is now female's.
    assert old[:6] == "079080"
    assert new[:6] == "079180"
    assert new != old


async def test_the_number_a_change_of_gender_replaced_points_to_the_new_one(
    api: httpx.AsyncClient,
) -> None:
    old, new, _ = await changed_gender(api)
    old_record = await read(api, old)
    assert old_record["replaced_by"] == new
    assert old_record["status"] == "alive"
    assert old_record["gender"] == "male"


async def test_the_new_number_carries_the_person_but_not_the_card(
    api: httpx.AsyncClient,
) -> None:
    old, new, _ = await changed_gender(api)
    old_record, new_record = await read(api, old), await read(api, new)
    assert new_record["gender"] == "female"
    assert new_record["replaced_by"] is None
    assert new_record["card_number"] is None
    for field in ("full_name", "birth_date", "permanent_address", "spouse_id_number"):
        assert new_record[field] == old_record[field]


async def test_a_change_of_gender_moves_the_spouse_to_the_new_number(
    api: httpx.AsyncClient, database: Database
) -> None:
    _, new, spouse = await changed_gender(api)
    assert (await read(api, spouse))["spouse_id_number"] == new
    assert_version(
        (await versions(database, spouse))[-1], kind="gender_change", changed={"spouse_id_number"}
    )


async def test_a_change_of_gender_starts_the_new_numbers_versions_and_ends_the_old(
    api: httpx.AsyncClient, database: Database
) -> None:
    old, new, _ = await changed_gender(api)
    [created] = await versions(database, new)
    assert created["kind"] == "gender_change"
    assert created["previous"] is None
    assert_version(
        (await versions(database, old))[-1], kind="gender_change", changed={"replaced_by"}
    )
    assert (await versions(database, old))[-1]["previous"] == {"replaced_by": None}


async def test_a_change_of_gender_is_recorded_on_each_number_it_touched(
    api: httpx.AsyncClient, database: Database
) -> None:
    old, new, spouse = await changed_gender(api)
    for number in (old, new, spouse):
        [event] = await events(database, action="registry.gender_change", subject=number)
        assert event["outcome"] == "granted"


async def test_a_number_replaced_by_a_change_of_gender_takes_no_more_life_events(
    api: httpx.AsyncClient,
) -> None:
    old, _, response = await gender_change(api)
    assert response.status_code == 201, response.text
    refused = await post(api, old, "name", {"full_name": "Lê Thị An", "legal_basis": "x"})
    assert refused.status_code == 409
    assert refused.json()["reason"] == "replaced"


async def test_life_events_go_to_the_new_number_after_a_change_of_gender(
    api: httpx.AsyncClient,
) -> None:
    _, spouse, response = await gender_change(api)
    assert response.status_code == 201, response.text
    new = response.json()["id_number"]
    divorced = await post(api, new, "divorce", {"date": "2025-01-01", "legal_basis": "x"})
    assert divorced.status_code == 200, divorced.text
    assert (await read(api, spouse))["marital_status"] == "divorced"


# ------------------------------------------------------------------------------ corrections


async def test_a_correction_is_marked_as_one(api: httpx.AsyncClient, database: Database) -> None:
    number = (await register(api))["id_number"]
    response = await post(
        api,
        number,
        "corrections",
        {
            "full_name": "Nguyễn Thị Minh Ánh",
            "birth_place": None,
            "religion": "Phật giáo",
            "old_id_number": "012345678",
            "legal_basis": "Correction 3/2024",
        },
    )
    assert response.status_code == 200, response.text
    record = await read(api, number)
    assert record["full_name"] == "Nguyễn Thị Minh Ánh"
    assert record["birth_place"] is None
    assert record["religion"] == "Phật giáo"
    # Only an accent changed, so the folded name used for search stays the same.
    changed = {"full_name", "birth_place", "religion", "old_id_number"}
    version = (await versions(database, number))[-1]
    assert_version(version, kind="correction", changed=changed, correction=True)
    assert version["previous"]["religion"] is None
    [event] = await events(database, action="registry.correction", subject=number)
    assert set(event["fields"]) == changed
    life_events = [v for v in await versions(database, number) if v["kind"] != "correction"]
    assert not any(v["is_correction"] for v in life_events)


@pytest.mark.parametrize(
    ("body", "pointer"),
    [
        ({"gender": "male"}, "#/gender"),  # the number says female
        ({"birth_date": "2004-05-14"}, "#/birth_date"),  # the number says 2003
        ({"birth_date": "2003"}, None),  # a less precise date is allowed
        ({"status": "deceased"}, "#/death_date"),
        ({"full_name": None}, "#/full_name"),
        ({"id_number": "001303000001"}, "#/id_number"),
        ({"card_number": "001303000001"}, "#/card_number"),
        ({"spouse_id_number": "001303000001"}, "#/spouse_id_number"),
        ({}, "#"),
        ({"birth_place": "Bệnh viện Phụ sản Hà Nội"}, "#"),  # changes nothing
    ],
)
async def test_a_correction_must_leave_a_valid_record(
    api: httpx.AsyncClient,
    database: Database,
    body: dict[str, Any],
    pointer: str | None,
) -> None:
    number = (await register(api))["id_number"]
    response = await post(api, number, "corrections", {**body, "legal_basis": "x"})
    if pointer is None:
        assert response.status_code == 200, response.text
        return
    assert response.status_code == 422, response.text
    assert pointer in [e.get("pointer") for e in response.json()["errors"]]
    assert len(await versions(database, number)) == 1


# -------------------------------------------------------------------- the audit must hold


async def test_a_failing_audit_insert_means_a_life_event_writes_nothing(
    api: httpx.AsyncClient, database: Database, database_url: str
) -> None:
    number = (await register(api))["id_number"]
    await fail_audit_inserts(database_url)
    birth = await api.post(f"{BASE}/births", json=child())
    assert birth.status_code == 503
    assert birth.json()["code"] == "audit-unavailable"
    died = await post(api, number, "death", {"death_date": "2024-01-01", "legal_basis": "x"})
    assert died.status_code == 503
    gender = await post(api, number, "gender", {"gender": "male", "legal_basis": "x"})
    assert gender.status_code == 503
    assert await count(database, "citizen") == 1
    assert await count(database, "citizen_version") == 1
    [row] = await rows(database, "SELECT status, version, replaced_by FROM citizen")
    assert (row["status"], row["version"], row["replaced_by"]) == ("alive", 1, None)


async def test_a_failing_audit_insert_means_a_lookup_returns_no_data(
    api: httpx.AsyncClient, database_url: str
) -> None:
    number = (await register(api))["id_number"]
    await fail_audit_inserts(database_url)
    for path in (f"/citizens/{number}", f"/citizens/{number}/history", "/citizens/001303000001"):
        response = await api.get(BASE + path)
        assert response.status_code == 503
        assert "Nguyễn" not in response.text
        assert number not in response.text
