"""A record's history and its state at any instant, rebuilt from the versions, on both backends."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from core.db import Database
from registry.reads import state_at
from tests.registry.officials import (
    BASE,
    adult,
    events,
    post,
    read,
    register,
)

TICK = timedelta(microseconds=1)


async def history(api: httpx.AsyncClient, id_number: str) -> list[dict[str, Any]]:
    response = await api.get(f"{BASE}/citizens/{id_number}/history")
    assert response.status_code == 200, response.text
    assert response.json()["id_number"] == id_number
    versions: list[dict[str, Any]] = response.json()["versions"]
    return versions


async def as_of(api: httpx.AsyncClient, id_number: str, instant: datetime) -> httpx.Response:
    return await api.get(f"{BASE}/citizens/{id_number}", params={"as_of": instant.isoformat()})


def instant(text: str) -> datetime:
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


async def lived(api: httpx.AsyncClient) -> tuple[str, str, list[dict[str, Any]]]:
    """A woman's life from birth to death, married to and divorced from a man registered first;
    her ID number, his, and her record as read after each version."""
    spouse = await adult(api, "Phạm Văn Đức", "male")
    number = (await register(api, birth_date="1990-01-02"))["id_number"]
    states = [await read(api, number)]
    steps: list[tuple[str, dict[str, Any]]] = [
        ("residence", {"current_address": "5 Lê Lợi, Quận 1", "temporary_address": "Kí túc xá"}),
        ("marriage", {"spouse_id_number": spouse, "date": "2015-05-05"}),
        ("name", {"full_name": "Phạm Thị Minh Anh"}),
        ("corrections", {"religion": "Công giáo", "birth_date": "1990-01", "hometown": "Huế"}),
        ("residence", {"temporary_address": None}),
        ("divorce", {"date": "2020-02-02"}),
        ("death", {"death_date": "2024-04-04"}),
    ]
    for event, body in steps:
        response = await post(api, number, event, {**body, "legal_basis": f"{event} decision"})
        assert response.status_code == 200, response.text
        states.append(await read(api, number))
    return number, spouse, states


async def version_starts(api: httpx.AsyncClient, id_number: str) -> list[datetime]:
    """When each version of the record began, oldest first."""
    return [instant(v["valid_from"]) for v in reversed(await history(api, id_number))]


async def test_the_history_lists_every_version_newest_first_with_its_kind(
    api: httpx.AsyncClient,
) -> None:
    number, _, states = await lived(api)
    versions = await history(api, number)
    assert [v["version"] for v in versions] == list(range(len(states), 0, -1))
    assert [v["kind"] for v in reversed(versions)] == [
        "birth",
        "residence",
        "marriage",
        "name_change",
        "correction",
        "residence",
        "divorce",
        "death",
    ]
    assert [v["is_correction"] for v in reversed(versions)] == [
        False,
        False,
        False,
        False,
        True,
        False,
        False,
        False,
    ]


async def test_a_version_shows_its_actor_legal_basis_and_the_values_it_replaced(
    api: httpx.AsyncClient,
) -> None:
    number, _, _ = await lived(api)
    versions = await history(api, number)
    assert versions[-1]["previous"] is None
    assert versions[0]["actor"] == {"type": "official", "id": "clerk-7"}
    assert versions[0]["legal_basis"] == "death decision"
    assert versions[3]["previous"] == {  # the correction
        "religion": None,
        "birth_date": "1990-01-02",
        "birth_date_precision": "day",
        "hometown": None,
    }


async def test_each_version_starts_at_its_own_later_instant(api: httpx.AsyncClient) -> None:
    number, _, _ = await lived(api)
    starts = await version_starts(api, number)
    assert starts == sorted(starts)
    assert len(set(starts)) == len(starts)


async def test_every_past_state_is_rebuilt_from_the_versions(api: httpx.AsyncClient) -> None:
    number, _, states = await lived(api)
    starts = await version_starts(api, number)
    for k, (start, state) in enumerate(zip(starts, states, strict=True)):
        at_start = await as_of(api, number, start)
        assert at_start.status_code == 200, at_start.text
        assert at_start.json() == state, f"state after version {k + 1}"
        if k:
            just_before = await as_of(api, number, start - TICK)
            assert just_before.json() == states[k - 1], f"state before version {k + 1}"


async def test_an_instant_given_in_another_offset_is_the_same_instant(
    api: httpx.AsyncClient,
) -> None:
    number, _, states = await lived(api)
    starts = await version_starts(api, number)
    hanoi = starts[2].astimezone(timezone(timedelta(hours=7)))
    assert (await as_of(api, number, hanoi)).json() == states[2]


async def test_an_instant_after_the_last_change_is_the_current_record(
    api: httpx.AsyncClient,
) -> None:
    number, _, states = await lived(api)
    assert (await as_of(api, number, datetime.now(UTC) + timedelta(days=1))).json() == states[-1]


async def test_the_spouse_has_a_history_of_their_own_with_the_days_of_the_events(
    api: httpx.AsyncClient,
) -> None:
    # Each version has the day the event happened, which the record has no field for; other
    # versions have none.
    _, spouse, _ = await lived(api)
    spouse_versions = await history(api, spouse)
    assert [(v["kind"], v["event_date"]) for v in spouse_versions] == [
        ("divorce", "2020-02-02"),
        ("marriage", "2015-05-05"),
        ("birth", None),
    ]


async def test_a_marriage_and_a_divorce_keep_their_day_and_a_death_does_not(
    api: httpx.AsyncClient,
) -> None:
    number, _, _ = await lived(api)
    dated = {v["kind"]: v["event_date"] for v in await history(api, number)}
    assert (dated["marriage"], dated["divorce"], dated["death"]) == (
        "2015-05-05",
        "2020-02-02",
        None,
    )


async def test_as_of_before_the_record_existed_is_a_recorded_404(
    api: httpx.AsyncClient, database: Database
) -> None:
    number = (await register(api))["id_number"]
    [created] = await history(api, number)
    start = instant(created["valid_from"])
    response = await as_of(api, number, start - TICK)
    assert response.status_code == 404
    assert response.headers["content-type"] == "application/problem+json"
    assert (await as_of(api, number, start)).status_code == 200
    found = await events(database, action="registry.read", subject=number)
    assert [e["outcome"] for e in found] == ["not_found", "granted"]
    assert all(json.loads(e["detail"])["as_of"] for e in found[1:])


async def test_a_gender_change_is_visible_in_both_histories(api: httpx.AsyncClient) -> None:
    old = await adult(api, "Lê Văn An", "male")
    before = await read(api, old)
    response = await post(api, old, "gender", {"gender": "female", "legal_basis": "x"})
    assert response.status_code == 201
    new = response.json()["id_number"]
    [created] = await history(api, new)
    assert created["kind"] == "gender_change"
    assert created["previous"] is None
    start = instant(created["valid_from"])
    assert (await as_of(api, new, start - TICK)).status_code == 404
    old_versions = await history(api, old)
    assert [v["kind"] for v in old_versions] == ["gender_change", "birth"]
    assert old_versions[0]["previous"] == {"replaced_by": None}
    past = await as_of(api, old, instant(old_versions[0]["valid_from"]) - TICK)
    assert past.json() == before
    assert past.json()["replaced_by"] is None


@pytest.mark.parametrize("value", ["2024-01-01T00:00:00", "yesterday", "2024-13-01T00:00:00Z"])
async def test_as_of_must_be_an_instant_with_an_offset(api: httpx.AsyncClient, value: str) -> None:
    number = (await register(api))["id_number"]
    response = await api.get(f"{BASE}/citizens/{number}", params={"as_of": value})
    assert response.status_code == 422
    assert response.json()["errors"][0]["parameter"] == "as_of"


async def test_reading_the_history_is_recorded_with_the_fields_it_reveals(
    api: httpx.AsyncClient, database: Database
) -> None:
    number = (await register(api))["id_number"]
    await post(api, number, "name", {"full_name": "Lê Thị Lan", "legal_basis": "x"})
    await history(api, number)
    [event] = await events(database, action="registry.history", subject=number)
    assert event["outcome"] == "granted"
    assert event["fields"] == ["full_name", "name_folded"]
    missing = await api.get(f"{BASE}/citizens/001303000001/history")
    assert missing.status_code == 404
    [refused] = await events(database, action="registry.history", subject="001303000001")
    assert refused["outcome"] == "not_found"


def test_a_record_without_recorded_versions_existed_from_its_creation() -> None:
    created = datetime(2020, 1, 1, tzinfo=UTC)
    row = {"version": 1, "created_at": created, "updated_at": created, "full_name": "A"}
    assert state_at(row, [], created - TICK) is None
    assert state_at(row, [], created) == row
    # History recorded after an import: undoing every version leaves the imported state.
    later = created + timedelta(days=1)
    changed = {
        "version": 2,
        "valid_from": later,
        "previous": json.dumps({"full_name": "A"}),
    }
    current = {**row, "version": 2, "updated_at": later, "full_name": "B"}
    assert state_at(current, [changed], later) == {**current, "version": 2, "updated_at": later}
    assert state_at(current, [changed], later - TICK) == row
