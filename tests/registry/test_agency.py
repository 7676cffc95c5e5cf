"""The agency API on both backends: verify, batch verify and lookup under policies, purposes,
aliases, locks, deaths and rate limits, with every refusal answered as problem+json and recorded.

Agency calls go through the app's real IdentityAuthenticator with client_credentials tokens
from /token; citizens and officials (aliases, policies, deaths) are BearerTable principals that
the same app consults first (one app per test keeps the suite quick).
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Mapping, Sequence
from datetime import timedelta
from typing import Any

import httpx
import pytest
from sqlalchemy import select, text, update

from audit.models import AuditEvent
from core.clock import utcnow
from core.db import Database
from core.settings import Settings
from identity import jose, keys
from registry.agency import memory as agency_memory
from registry.agency import repository as agency_repository
from registry.agency.memory import lease_size
from registry.agency.models import RateBucket
from registry.agency.policy import LOOKUP_FIELDS, Policy, parse_policy, purposes
from registry.agency.repository import take_tokens
from registry.agency.rules import luhn_ok
from registry.app import create_app
from tests.auth import bearer
from tests.faults import fail_audit_inserts
from tests.http import asgi_client
from tests.identity.factories import make_account, make_agency
from tests.registry.agencies import (
    ANH,
    ANH_RECORD,
    AS_ANH,
    AS_DUC,
    AS_OFFICIAL,
    DUC,
    FULL_POLICY,
    INHERITANCE,
    LAN,
    NOBODY,
    OFFICIAL,
    ORDINARY,
    STATUTORY,
    Agency,
    Env,
    agency,
    agency_events,
    events,
    lock_identity,
    lookup,
    problem,
    token,
    verify,
)

# The released form of every field of ANH's record (make_citizen's defaults plus ANH_RECORD).
ANH_RELEASED: dict[str, Any] = {
    **dict.fromkeys(LOOKUP_FIELDS),
    **ANH_RECORD,
    "id_number": ANH,
    "full_name": "Nguyễn Thị Minh Anh",
    "birth_date": "2003-05-14",
    "gender": "female",
    "birth_province": "001",
    "ethnicity": "01",
    "nationality": "VN",
    "marital_status": "single",
    "permanent_address": "12 Hàng Bạc, Hoàn Kiếm, Hà Nội",
    "status": "alive",
    "card_number": ANH,
    "card_issue_date": "2021-06-01",
    "card_issue_place": "Cục Cảnh sát QLHC về TTXH",
    "card_expiry_date": "2028-05-14",
}
# Lookup fields by class: each class is allowed on its own, and the others are then refused.
FIELD_CLASSES: dict[str, tuple[str, ...]] = {
    "names": ("full_name", "other_names"),
    "dates": ("birth_date", "card_issue_date", "card_expiry_date", "death_date"),
    "addresses": (
        "permanent_address",
        "temporary_address",
        "current_address",
        "household_id",
        "household_relationship",
    ),
    "relatives": (
        "father_id_number",
        "father_name",
        "mother_id_number",
        "mother_name",
        "spouse_name",
    ),
    "card": ("card_number", "card_issue_date", "card_issue_place", "card_expiry_date"),
    "status": ("status", "marital_status", "death_date"),
}


# ------------------------------------------------------------------------------ harness


async def batch(
    env: Env, who: Agency, items: Sequence[Mapping[str, Any]], purpose: str = ORDINARY
) -> httpx.Response:
    """POST /api/v1/verify/batch."""
    body = {"purpose": purpose, "items": list(items)}
    return await env.web.post("/api/v1/verify/batch", json=body, headers=who.headers)


def detail(event: AuditEvent) -> dict[str, Any]:
    """An event's detail object."""
    loaded: dict[str, Any] = json.loads(event.detail) if event.detail else {}
    return loaded


async def new_alias(env: Env, headers: Mapping[str, str] = AS_ANH) -> str:
    """A citizen creates an alias of their ID number; the alias."""
    response = await env.web.post(
        "/api/v1/me/aliases", json={"label": "ngân hàng"}, headers=headers
    )
    assert response.status_code == 201, response.text
    alias: str = response.json()["alias"]
    return alias


def wrong_check_digit(alias: str) -> str:
    """The alias with its Luhn check digit changed."""
    return alias[:-1] + str((int(alias[-1]) + 1) % 10)


# ------------------------------------------------------------------------------ verify


async def two_verifications(env: Env) -> tuple[Agency, httpx.Response, httpx.Response]:
    """An agency's verification of ANH's true claims, then of a wrong birth date; the agency and
    both answers."""
    bank = await agency(env)
    response = await verify(
        env, bank, ANH, full_name="Nguyễn Thị Minh Anh", birth_date="2003-05-14"
    )
    wrong = await verify(env, bank, ANH, full_name="Nguyễn Thị Minh Anh", birth_date="2003-05-15")
    return bank, response, wrong


async def test_verify_answers_match_and_nothing_else(env: Env) -> None:
    _, response, wrong = await two_verifications(env)
    assert response.status_code == 200, response.text
    assert set(response.json()) == {"match", "event_id"}
    assert response.json()["match"] is True
    assert wrong.status_code == 200
    # No hint of which attribute failed, nor any record value.
    assert set(wrong.json()) == {"match", "event_id"}
    assert wrong.json()["match"] is False
    assert "2003" not in wrong.text


async def test_each_verification_is_recorded_with_the_attributes_claimed(env: Env) -> None:
    bank, response, wrong = await two_verifications(env)
    assert response.status_code == 200, response.text
    assert wrong.status_code == 200
    first, second = await agency_events(env.database)
    assert first.event_uid == response.json()["event_id"]
    assert (first.actor_type, first.actor_id, first.subject) == ("agency", bank.client_id, ANH)
    assert (first.outcome, first.purpose) == ("granted", ORDINARY)
    assert sorted(json.loads(first.fields)) == ["birth_date", "full_name"]
    assert second.outcome == "granted"


async def test_verify_answers_per_attribute_only_when_the_policy_says_so(env: Env) -> None:
    _, _, wrong = await two_verifications(env)
    assert "attributes" not in wrong.json()
    detailed = await agency(env, attribute_results=True)
    response = await verify(
        env,
        detailed,
        ANH,
        full_name="Nguyễn Thị Minh Anh",
        birth_date="2003",
        gender="female",
    )
    assert response.status_code == 200, response.text
    assert response.json()["match"] is False
    assert response.json()["attributes"] == {
        "full_name": True,
        "birth_date": False,
        "gender": True,
    }


Case = tuple[str, str, str, bool]  # ID number, attribute, claimed value, expected result

EXACT_NAMES: list[Case] = [
    (ANH, "full_name", "Nguyễn Thị Minh Anh", True),
    (ANH, "full_name", "nguyễn  THỊ minh   anh ", True),  # case and spacing do not matter
    (ANH, "full_name", "Nguyen Thi Minh Anh", False),  # diacritics do
    (ANH, "full_name", "Nguyễn Thị Minh Ánh", False),  # another tone mark
    (ANH, "full_name", "Nguyễn Minh Anh", False),
    (DUC, "full_name", "TRẦN VĂN ĐỨC", True),
    (DUC, "full_name", "Trần Văn Dức", False),  # đ is a letter of its own
]
FOLDED_NAMES: list[Case] = [
    (ANH, "full_name", "NGUYEN THI MINH ANH", True),
    (ANH, "full_name", "Nguyễn Thị Minh Ánh", True),
    (ANH, "full_name", "nguyen  thi minh anh", True),
    (ANH, "full_name", "Nguyen Thi Anh", False),
    (DUC, "full_name", "tran van duc", True),  # đ folds to d
    (DUC, "full_name", "Tran Van Dung", False),
]
BIRTH_DATES: list[Case] = [
    # The record knows the day: only that day matches.
    (ANH, "birth_date", "2003-05-14", True),
    (ANH, "birth_date", "2003-05-15", False),
    (ANH, "birth_date", "2003-05", False),  # less precise than the record
    (ANH, "birth_date", "2003", False),
    # The record knows only the year: any claim in that year matches.
    (DUC, "birth_date", "1950-03-02", True),
    (DUC, "birth_date", "1950-12", True),
    (DUC, "birth_date", "1950", True),
    (DUC, "birth_date", "1951-03-02", False),
    (DUC, "birth_date", "1951", False),
    # The record knows the year and month.
    (LAN, "birth_date", "1985-03-20", True),
    (LAN, "birth_date", "1985-03", True),
    (LAN, "birth_date", "1985-04-01", False),
    (LAN, "birth_date", "1985", False),
]
OTHER_ATTRIBUTES: list[Case] = [
    (ANH, "gender", "female", True),
    (ANH, "gender", "male", False),
    (ANH, "nationality", "vn", True),  # any case
    (ANH, "nationality", "LA", False),
    (ANH, "card_number", ANH, True),
    (ANH, "card_number", LAN, False),
    (DUC, "card_number", DUC, False),  # the record has no card
]


async def match_table(env: Env, who: Agency, cases: Sequence[Case]) -> None:
    """One verify per case, each with the expected per-attribute result."""
    for id_number, attribute, claim, expected in cases:
        response = await verify(env, who, id_number, **{attribute: claim})
        assert response.status_code == 200, (id_number, attribute, claim, response.text)
        assert response.json()["match"] is expected, (id_number, attribute, claim)
        assert response.json()["attributes"] == {attribute: expected}


async def test_name_rules_exact_by_default_and_folded_when_the_policy_says_so(env: Env) -> None:
    await match_table(env, await agency(env, attribute_results=True), EXACT_NAMES)
    folded = await agency(env, attribute_results=True, name_match="folded")
    await match_table(env, folded, FOLDED_NAMES)


async def test_partial_birth_dates_and_the_other_attributes(env: Env) -> None:
    bank = await agency(env, attribute_results=True)
    await match_table(env, bank, BIRTH_DATES)
    await match_table(env, bank, OTHER_ATTRIBUTES)


async def test_invalid_claims_are_422_with_a_pointer(env: Env) -> None:
    bank = await agency(env)
    cases: list[tuple[dict[str, Any], str]] = [
        ({}, "#/claims"),
        ({"email": "a@b.vn"}, "#/claims/email"),
        ({"birth_date": "2003-02-30"}, "#/claims/birth_date"),
        ({"birth_date": "14/05/2003"}, "#/claims/birth_date"),
        # ANH's birth date in Arabic-Indic, then fullwidth digits: dates are ASCII.
        (
            {"birth_date": "\u0662\u0660\u0660\u0663-\u0660\u0665-\u0661\u0664"},
            "#/claims/birth_date",
        ),
        ({"birth_date": "\uff12\uff10\uff10\uff13-05-14"}, "#/claims/birth_date"),
        ({"gender": "f"}, "#/claims/gender"),
        ({"full_name": "   "}, "#/claims/full_name"),
        ({"full_name": 42}, "#/claims/full_name"),
        ({"nationality": "x" * 201}, "#/claims/nationality"),
    ]
    for claims, pointer in cases:
        response = await env.web.post(
            "/api/v1/verify",
            json={"id_number": ANH, "purpose": ORDINARY, "claims": claims},
            headers=bank.headers,
        )
        body = problem(response, 422, "validation-failed")
        assert [e["pointer"] for e in body["errors"]] == [pointer], claims
    recorded = await agency_events(env.database)
    assert [e.outcome for e in recorded] == ["error"] * len(cases)


# ------------------------------------------------------------------------------ batch


async def test_batch_answers_each_item_in_order_with_one_event_per_item(env: Env) -> None:
    bank = await agency(env, attribute_results=False)
    revoked = await new_alias(env)
    assert (
        await env.web.delete(f"/api/v1/me/aliases/{revoked}", headers=AS_ANH)
    ).status_code == 204
    working = await new_alias(env, AS_DUC)
    await make_account(env.database, env.settings, LAN)
    await lock_identity(env.database, LAN)
    items: list[dict[str, Any]] = [
        {
            "id_number": ANH,
            "claims": {"full_name": "nguyễn thị minh anh", "birth_date": "2003-05-14"},
        },
        {"id_number": ANH, "claims": {"full_name": "Nguyễn Thị Minh Anh", "birth_date": "2003"}},
        {"id_number": "999303004512", "claims": {"gender": "female"}},  # no such province
        {"id_number": DUC, "claims": {"birth_date": "1950-02-30"}},  # impossible date
        {"id_number": NOBODY, "claims": {"gender": "female"}},
        {"id_number": revoked, "claims": {"gender": "female"}},
        {"id_number": LAN, "claims": {"full_name": "Lê Thị Lan"}},  # locked identity
        {"id_number": working, "claims": {"full_name": "Trần Văn Đức", "birth_date": "1950-07"}},
        {"id_number": wrong_check_digit(working), "claims": {"gender": "male"}},
        {"id_number": DUC, "claims": {}},
    ]
    response = await batch(env, bank, items)
    assert response.status_code == 200, response.text
    results = response.json()["results"]
    assert [r["index"] for r in results] == list(range(len(items)))
    assert results[0] == {"index": 0, "match": True}
    assert results[1] == {"index": 1, "match": False}
    assert results[2]["error"]["code"] == "validation-failed"
    assert results[2]["error"]["errors"][0]["pointer"] == "#/items/2/id_number"
    assert results[3]["error"]["errors"][0]["pointer"] == "#/items/3/claims/birth_date"
    assert results[4]["error"]["code"] == "not-found"
    assert results[5]["error"]["code"] == "alias-invalid"
    assert results[6]["error"]["code"] == "identity-locked"
    assert results[7] == {"index": 7, "match": True}
    assert results[8]["error"]["errors"][0]["pointer"] == "#/items/8/id_number"
    assert results[9]["error"]["errors"][0]["pointer"] == "#/items/9/claims"
    assert "Minh Anh" not in response.text
    recorded = await events(env.database, "agency.verify")
    assert len(recorded) == len(items)
    assert [detail(e)["item"] for e in recorded] == list(range(len(items)))
    assert [e.outcome for e in recorded] == [
        "granted",
        "granted",
        "error",
        "error",
        "not_found",
        "denied",
        "denied",
        "granted",
        "error",
        "error",
    ]
    assert [e.subject for e in recorded] == [
        ANH,
        ANH,
        None,
        None,
        NOBODY,
        ANH,
        LAN,
        DUC,
        None,
        None,
    ]
    assert detail(recorded[5])["alias"] == revoked
    assert detail(recorded[7])["alias"] == working
    assert {e.purpose for e in recorded} == {ORDINARY}


async def test_batch_takes_up_to_1000_items_or_the_policy_cap(env: Env) -> None:
    bank = await agency(env)
    item = {"id_number": ANH, "claims": {"gender": "female"}}
    response = await batch(env, bank, [item] * 1000)
    assert response.status_code == 200, response.text
    assert [r["match"] for r in response.json()["results"]] == [True] * 1000
    assert len(await events(env.database, "agency.verify")) == 1000
    too_many = await batch(env, bank, [item] * 1001)
    body = problem(too_many, 422, "validation-failed")
    assert body["errors"][0]["pointer"] == "#/items"
    assert len(await events(env.database, "agency.verify")) == 1000
    # A policy may cap batches lower; an oversized batch is one refusal, recorded once.
    small = await agency(env, batch_max=2)
    assert (await batch(env, small, [item] * 2)).status_code == 200
    body = problem(await batch(env, small, [item] * 3), 422, "validation-failed")
    assert body["errors"] == [{"detail": "too many items", "pointer": "#/items"}]
    recorded = (await events(env.database, "agency.verify"))[1000:]
    assert [(e.outcome, e.actor_id) for e in recorded] == [
        ("granted", small.client_id),
        ("granted", small.client_id),
        ("error", small.client_id),
    ]


# ------------------------------------------------------------------------------ lookup


async def test_lookup_releases_exactly_the_requested_fields(env: Env) -> None:
    bank = await agency(env)
    response = await lookup(env, bank, ANH, ["full_name", " birth_date", "full_name", "status"])
    assert response.status_code == 200, response.text
    body = response.json()
    assert set(body) == {"citizen", "purpose", "event_id"}
    assert body["citizen"] == {
        "full_name": "Nguyễn Thị Minh Anh",
        "birth_date": "2003-05-14",
        "status": "alive",
    }
    assert list(body["citizen"]) == ["full_name", "birth_date", "status"]
    (event,) = await events(env.database, "agency.lookup")
    assert (event.event_uid, event.subject, event.outcome) == (body["event_id"], ANH, "granted")
    assert sorted(json.loads(event.fields)) == ["birth_date", "full_name", "status"]
    # Every lookup field at once, in its released form.
    everything = await lookup(env, bank, ANH, LOOKUP_FIELDS)
    assert everything.status_code == 200, everything.text
    assert everything.json()["citizen"] == ANH_RELEASED
    # A partial birth date keeps its precision.
    for id_number, expected in ((DUC, "1950"), (LAN, "1985-03")):
        response = await lookup(env, bank, id_number, ["birth_date"])
        assert response.json()["citizen"] == {"birth_date": expected}
    # No field named at all is a 422 on the parameter.
    body = problem(await lookup(env, bank, ANH, [" ", ""]), 422, "validation-failed")
    assert body["errors"][0]["parameter"] == "fields"


async def test_an_unknown_citizen_is_404_and_recorded(env: Env) -> None:
    bank = await agency(env)
    problem(await lookup(env, bank, NOBODY, ["full_name"]), 404, "not-found")
    problem(await verify(env, bank, NOBODY, gender="male"), 404, "not-found")
    recorded = await agency_events(env.database)
    assert [(e.action, e.outcome, e.subject, e.purpose) for e in recorded] == [
        ("agency.lookup", "not_found", NOBODY, ORDINARY),
        ("agency.verify", "not_found", NOBODY, ORDINARY),
    ]


async def test_each_field_class_is_released_only_when_the_policy_allows_it(env: Env) -> None:
    for field_class, allowed in FIELD_CLASSES.items():
        bank = await agency(env, fields=list(allowed))
        response = await lookup(env, bank, ANH, allowed)
        assert response.status_code == 200, (field_class, response.text)
        assert response.json()["citizen"] == {name: ANH_RELEASED[name] for name in allowed}
        others = [c for c in FIELD_CLASSES if c != field_class]
        for other in others:
            # Asking for another class (next to an allowed field) names what is outside.
            refused = await lookup(env, bank, ANH, [allowed[0], *FIELD_CLASSES[other]])
            body = problem(refused, 403, "field-not-allowed")
            outside = [f for f in FIELD_CLASSES[other] if f not in allowed]
            assert body["fields"] == outside, (field_class, other)
            assert all(name in body["detail"] for name in outside)
            assert "Nguyễn" not in refused.text
        recorded = [e for e in await events(env.database) if e.actor_id == bank.client_id]
        assert [e.outcome for e in recorded] == ["granted"] + ["denied"] * len(others)
        assert all(e.subject == ANH and e.purpose == ORDINARY for e in recorded)
    # The refusal names every field outside the policy, known to the record or not.
    bank = await agency(env, fields=["full_name"])
    refused = await lookup(env, bank, ANH, ["full_name", "father_name", "password", "card_number"])
    body = problem(refused, 403, "field-not-allowed")
    assert body["fields"] == ["father_name", "password", "card_number"]


# ------------------------------------------------------------------------------ actions, scopes


async def test_an_action_outside_the_policy_is_403(env: Env) -> None:
    verifier = await agency(env, actions=["verify"])
    assert (await verify(env, verifier, ANH, gender="female")).status_code == 200
    problem(await lookup(env, verifier, ANH, ["full_name"]), 403, "action-not-allowed")
    item = {"id_number": ANH, "claims": {"gender": "female"}}
    problem(await batch(env, verifier, [item]), 403, "action-not-allowed")
    looker = await agency(env, actions=["lookup"])
    body = problem(await verify(env, looker, ANH, gender="female"), 403, "action-not-allowed")
    assert "verify" in body["detail"]
    nothing = await agency(env, {"purposes": [ORDINARY]})  # the default policy allows nothing
    problem(await verify(env, nothing, ANH, gender="female"), 403, "action-not-allowed")
    problem(await lookup(env, nothing, ANH, ["full_name"]), 403, "action-not-allowed")
    recorded = await agency_events(env.database)
    assert [e.outcome for e in recorded] == ["granted"] + ["denied"] * 5


async def test_a_token_without_the_scope_is_403_insufficient_scope(env: Env) -> None:
    # The policy allows everything; the token was issued for verify only.
    narrow = await agency(env, scopes=["verify"])
    assert (await verify(env, narrow, ANH, gender="female")).status_code == 200
    for response, scope in (
        (await lookup(env, narrow, ANH, ["full_name"]), "lookup"),
        (
            await batch(env, narrow, [{"id_number": ANH, "claims": {"gender": "female"}}]),
            "verify_batch",
        ),
    ):
        problem(response, 403, "action-not-allowed")
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Bearer ")
        assert 'error="insufficient_scope"' in challenge
        assert f'scope="{scope}"' in challenge
    # A token asked for a narrower scope than the client holds is narrow too.
    full = await agency(env)
    only_lookup = Agency(
        full.client_id, full.secret, await token(env.web, full.client_id, full.secret, ["lookup"])
    )
    response = await verify(env, only_lookup, ANH, gender="female")
    problem(response, 403, "action-not-allowed")
    assert 'scope="verify"' in response.headers["www-authenticate"]
    # Officials and citizens are not agencies, whatever they may do elsewhere.
    body = {"id_number": ANH, "purpose": ORDINARY, "claims": {"gender": "female"}}
    response = await env.web.post("/api/v1/verify", json=body, headers=AS_OFFICIAL)
    problem(response, 403, "forbidden")
    response = await env.web.get(
        f"/api/v1/citizens/{ANH}",
        params={"fields": "full_name", "purpose": ORDINARY},
        headers=AS_ANH,
    )
    problem(response, 403, "forbidden")


# ------------------------------------------------------------------------------ purposes


async def test_purposes_outside_the_list_or_the_policy_are_403_and_recorded(env: Env) -> None:
    bank = await agency(env, purposes=[ORDINARY])
    item = {"id_number": ANH, "claims": {"gender": "female"}}
    calls = [
        await verify(env, bank, ANH, "kyc.fishing", gender="female"),
        await verify(env, bank, ANH, "tax.assessment", gender="female"),
        await lookup(env, bank, ANH, ["full_name"], "marketing"),
        await lookup(env, bank, ANH, ["full_name"], STATUTORY),
        await batch(env, bank, [item, item], "nope"),
        await batch(env, bank, [item, item], INHERITANCE),
    ]
    for response in calls:
        problem(response, 403, "purpose-not-allowed")
        assert "Minh Anh" not in response.text
    assert "Unknown purpose" in calls[0].json()["detail"]
    assert "policy" in calls[1].json()["detail"]
    recorded = await agency_events(env.database)
    assert len(recorded) == len(calls)
    assert all(e.outcome == "denied" for e in recorded)
    assert all(detail(e)["refusal"] == "purpose-not-allowed" for e in recorded)
    # A known code is kept in the trail; an unknown one is not repeated there.
    assert [e.purpose for e in recorded] == [
        None,
        "tax.assessment",
        None,
        STATUTORY,
        None,
        INHERITANCE,
    ]


async def test_every_answered_call_has_its_event(env: Env) -> None:
    bank = await agency(
        env, purposes=[ORDINARY], fields=["full_name"], rate_per_second=0.001, burst=13
    )
    item = {"id_number": ANH, "claims": {"gender": "female"}}
    clerk = {**bank.headers, "x-on-behalf-of": "clerk.12@branch-7"}
    bad_clerk = {**bank.headers, "x-on-behalf-of": "a b"}
    body = {"id_number": ANH, "purpose": ORDINARY, "claims": {"gender": "female"}}
    # fmt: off
    calls = [
        (await verify(env, bank, ANH, gender="female"), 200),
        (await verify(env, bank, ANH, "nope", gender="female"), 403),
        (await verify(env, bank, "999303004512", gender="female"), 422),
        (await verify(env, bank, NOBODY, gender="female"), 404),
        (await verify(env, bank, ANH, birth_date="2003-13"), 422),
        (await env.web.post("/api/v1/verify", json=body, headers=clerk), 200),
        (await env.web.post("/api/v1/verify", json=body, headers=bad_clerk), 422),
        (await lookup(env, bank, ANH, ["full_name"]), 200),
        (await lookup(env, bank, ANH, ["card_number"]), 403),
        (await lookup(env, bank, "0013030045", ["full_name"]), 422),
        (await lookup(env, bank, NOBODY, ["full_name"]), 404),
        (await lookup(env, bank, ANH, ["full_name"], STATUTORY), 403),
        (await batch(env, bank, [item]), 200),
        (await batch(env, bank, [item], "nope"), 403),
        (await verify(env, bank, ANH, gender="female"), 429),  # the burst of 13 is spent
        (await lookup(env, bank, ANH, ["full_name"]), 429),
    ]
    # fmt: on
    assert [r.status_code for r, _ in calls] == [status for _, status in calls]
    assert calls[6][0].json()["errors"] == [{"detail": "invalid", "header": "X-On-Behalf-Of"}]
    recorded = await agency_events(env.database)
    assert len(recorded) == len(calls)
    assert [e.outcome for e in recorded] == [
        "granted",
        "denied",
        "error",
        "not_found",
        "error",
        "granted",
        "error",
        "granted",
        "denied",
        "error",
        "not_found",
        "denied",
        "granted",
        "denied",
        "denied",
        "denied",
    ]
    assert [e.on_behalf_of for e in recorded[5:7]] == ["clerk.12@branch-7", None]
    assert [detail(e).get("refusal") for e in recorded[-2:]] == ["rate-limited"] * 2


# ------------------------------------------------------------------------------ aliases


async def test_a_citizen_creates_a_16_digit_luhn_alias_and_sees_it_listed(env: Env) -> None:
    created = await env.web.post("/api/v1/me/aliases", json={"valid_days": 30}, headers=AS_ANH)
    assert created.status_code == 201, created.text
    alias = created.json()["alias"]
    assert len(alias) == 16
    assert alias.isdigit()
    assert luhn_ok(alias)
    assert created.json()["active"] is True
    listed = await env.web.get("/api/v1/me/aliases", headers=AS_ANH)
    assert [a["alias"] for a in listed.json()] == [alias]


async def two_aliases(env: Env) -> tuple[str, str]:
    """ANH's alias (made by ANH) and DUC's (made by an official for him)."""
    created = await env.web.post("/api/v1/me/aliases", json={"valid_days": 30}, headers=AS_ANH)
    assert created.status_code == 201, created.text
    official = await env.web.post(
        f"/api/v1/officials/citizens/{DUC}/aliases", json={"label": "bưu điện"}, headers=AS_OFFICIAL
    )
    assert official.status_code == 201, official.text
    return created.json()["alias"], official.json()["alias"]


async def test_an_alias_stands_for_the_id_number_everywhere(env: Env) -> None:
    bank = await agency(env)
    alias, duc_alias = await two_aliases(env)
    verified = await verify(env, bank, alias, full_name="Nguyễn Thị Minh Anh")
    assert verified.status_code == 200, verified.text
    assert verified.json()["match"] is True
    looked = await lookup(env, bank, duc_alias, ["full_name", "id_number"])
    assert looked.status_code == 200, looked.text
    assert looked.json()["citizen"] == {"full_name": "Trần Văn Đức", "id_number": DUC}
    items = [
        {"id_number": alias, "claims": {"birth_date": "2003-05"}},
        {"id_number": duc_alias, "claims": {"birth_date": "1950-01-01"}},
    ]
    batched = await batch(env, bank, items)
    assert batched.json()["results"] == [{"index": 0, "match": False}, {"index": 1, "match": True}]
    recorded = await agency_events(env.database)
    assert [(e.subject, detail(e).get("alias"), e.outcome) for e in recorded] == [
        (ANH, alias, "granted"),
        (DUC, duc_alias, "granted"),
        (ANH, alias, "granted"),
        (DUC, duc_alias, "granted"),
    ]


async def test_creating_an_alias_is_recorded_against_the_citizen(env: Env) -> None:
    await two_aliases(env)
    created_events = await events(env.database, "alias.create")
    assert [(e.actor_type, e.subject) for e in created_events] == [
        ("citizen", ANH),
        ("official", DUC),
    ]


async def test_an_official_cannot_make_an_alias_for_an_unknown_citizen(env: Env) -> None:
    missing = await env.web.post(
        f"/api/v1/officials/citizens/{NOBODY}/aliases", json={}, headers=AS_OFFICIAL
    )
    problem(missing, 404, "not-found")


async def assert_alias_refused(env: Env, who: Agency, alias: str) -> None:
    """A revoked or expired alias is refused by verify, lookup and batch (and recorded)."""
    body = problem(await verify(env, who, alias, gender="female"), 403, "alias-invalid")
    assert "Minh Anh" not in json.dumps(body)
    problem(await lookup(env, who, alias, ["full_name"]), 403, "alias-invalid")
    response = await batch(env, who, [{"id_number": alias, "claims": {"gender": "female"}}])
    assert response.status_code == 200, response.text
    (result,) = response.json()["results"]
    assert result["error"]["code"] == "alias-invalid"
    assert "match" not in result
    recorded = await agency_events(env.database)
    assert [(e.outcome, e.subject, detail(e).get("alias")) for e in recorded[-3:]] == [
        ("denied", ANH, alias)
    ] * 3


async def test_revoked_and_expired_aliases_are_refused_everywhere(env: Env) -> None:
    bank = await agency(env)
    revoked, expired = await new_alias(env), await new_alias(env)
    assert (await verify(env, bank, revoked, gender="female")).json()["match"] is True
    response = await env.web.delete(f"/api/v1/me/aliases/{revoked}", headers=AS_ANH)
    assert response.status_code == 204
    listed = {
        a["alias"]: a for a in (await env.web.get("/api/v1/me/aliases", headers=AS_ANH)).json()
    }
    assert listed[revoked]["active"] is False
    assert listed[revoked]["revoked_at"] is not None
    await assert_alias_refused(env, bank, revoked)
    async with env.database.unit_of_work() as session:
        await session.execute(
            text("UPDATE citizen_alias SET expires_at = :past WHERE alias = :alias"),
            {"past": utcnow() - timedelta(seconds=1), "alias": expired},
        )
    await assert_alias_refused(env, bank, expired)


async def test_an_alias_with_a_wrong_check_digit_is_422(env: Env) -> None:
    bank = await agency(env)
    alias = await new_alias(env)
    typo = wrong_check_digit(alias)
    body = problem(await verify(env, bank, typo, gender="female"), 422, "validation-failed")
    assert body["errors"][0]["pointer"] == "#/id_number"
    body = problem(await lookup(env, bank, typo, ["full_name"]), 422, "validation-failed")
    assert body["errors"][0]["parameter"] == "id"
    # An alias nobody holds (a right check digit) is simply unknown.
    unknown = "9" + "0" * 14
    unknown += next(d for d in "0123456789" if luhn_ok(unknown + d))
    problem(await verify(env, bank, unknown, gender="female"), 404, "not-found")
    problem(await lookup(env, bank, unknown, ["full_name"]), 404, "not-found")


async def test_a_citizen_cannot_revoke_someone_elses_alias(env: Env) -> None:
    bank = await agency(env)
    alias = await new_alias(env)
    problem(await env.web.delete(f"/api/v1/me/aliases/{alias}", headers=AS_DUC), 404, "not-found")
    assert (await env.web.get("/api/v1/me/aliases", headers=AS_DUC)).json() == []
    assert (await verify(env, bank, alias, gender="female")).json()["match"] is True
    problem(
        await env.web.delete("/api/v1/me/aliases/12345", headers=AS_ANH), 422, "validation-failed"
    )
    # An official may revoke any alias.
    response = await env.web.delete(f"/api/v1/officials/aliases/{alias}", headers=AS_OFFICIAL)
    assert response.status_code == 204
    problem(await verify(env, bank, alias, gender="female"), 403, "alias-invalid")


# ------------------------------------------------------------------------------ locks, deaths


async def test_a_locked_identity_is_seen_only_for_statutory_purposes(env: Env) -> None:
    bank = await agency(env)
    await make_account(env.database, env.settings)
    assert (await verify(env, bank, ANH, gender="female")).json()["match"] is True
    await lock_identity(env.database, ANH)
    problem(await verify(env, bank, ANH, gender="female"), 403, "identity-locked")
    problem(await lookup(env, bank, ANH, ["full_name"]), 403, "identity-locked")
    problem(await lookup(env, bank, ANH, ["full_name"], INHERITANCE), 403, "identity-locked")
    police = await verify(env, bank, ANH, STATUTORY, gender="female")
    assert police.status_code == 200, police.text
    assert police.json()["match"] is True
    looked = await lookup(env, bank, ANH, ["full_name"], STATUTORY)
    assert looked.json()["citizen"] == {"full_name": "Nguyễn Thị Minh Anh"}
    recorded = await agency_events(env.database)
    assert [(e.outcome, e.purpose) for e in recorded] == [
        ("granted", ORDINARY),
        ("denied", ORDINARY),
        ("denied", ORDINARY),
        ("denied", INHERITANCE),
        ("granted", STATUTORY),
        ("granted", STATUTORY),
    ]
    # Other citizens are unaffected.
    assert (await verify(env, bank, DUC, gender="male")).json()["match"] is True


async def test_a_deceased_citizen_never_verifies_and_is_seen_only_for_the_deceased(
    env: Env,
) -> None:
    bank = await agency(env, attribute_results=True)
    await make_account(env.database, env.settings)
    died = await env.web.post(
        f"/api/v1/officials/citizens/{ANH}/death",
        json={"death_date": "2024-01-02", "legal_basis": "Giấy báo tử 12/2024"},
        headers=AS_OFFICIAL,
    )
    assert died.status_code == 200, died.text
    claims = {"full_name": "Nguyễn Thị Minh Anh", "birth_date": "2003-05-14", "gender": "female"}
    for purpose in (ORDINARY, INHERITANCE, STATUTORY):
        response = await verify(env, bank, ANH, purpose, **claims)
        assert response.status_code == 200, response.text
        assert response.json()["match"] is False, purpose
        assert all(response.json()["attributes"].values())
    problem(await lookup(env, bank, ANH, ["full_name", "status"]), 403, "citizen-deceased")
    for purpose in (INHERITANCE, STATUTORY):
        response = await lookup(env, bank, ANH, ["full_name", "status", "death_date"], purpose)
        assert response.status_code == 200, response.text
        assert response.json()["citizen"] == {
            "full_name": "Nguyễn Thị Minh Anh",
            "status": "deceased",
            "death_date": "2024-01-02",
        }
    response = await batch(env, bank, [{"id_number": ANH, "claims": claims}])
    assert response.json()["results"] == [
        {"index": 0, "match": False, "attributes": dict.fromkeys(claims, True)}
    ]


# ------------------------------------------------------------------------------ authentication


async def test_invalid_id_numbers_are_422_with_a_pointer_or_parameter(env: Env) -> None:
    bank = await agency(env)
    for bad in ("999303004512", "00130300451", "00130300451A", "０01303004512", "1234567890123"):
        body = problem(await verify(env, bank, bad, gender="female"), 422, "validation-failed")
        assert [e.get("pointer") for e in body["errors"]] == ["#/id_number"], bad
        body = problem(await lookup(env, bank, bad, ["full_name"]), 422, "validation-failed")
        assert [e.get("parameter") for e in body["errors"]] == ["id"], bad
    # Longer than any identifier: refused by the schema, same places.
    body = problem(await verify(env, bank, "1" * 17, gender="female"), 422, "validation-failed")
    assert body["errors"][0]["pointer"] == "#/id_number"
    body = problem(await lookup(env, bank, "1" * 17, ["full_name"]), 422, "validation-failed")
    assert body["errors"][0]["parameter"] == "id"


async def crafted_token(env: Env, client_id: str, **changes: Any) -> dict[str, str]:
    """A token signed with the registry's own key: an access token with ``changes`` applied
    (a claim set to None is left out; ``typ`` is the JOSE header's)."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": env.settings.issuer,
        "sub": client_id,
        "aud": env.settings.issuer + "/api",
        "client_id": client_id,
        "scope": "verify lookup",
        "iat": now - 10,
        "exp": now + 300,
        "jti": str(uuid.uuid4()),
    }
    typ = changes.pop("typ", "at+jwt")
    claims.update(changes)
    claims = {k: v for k, v in claims.items() if v is not None}
    async with env.database.unit_of_work() as session:
        key = await keys.active_key(session, env.settings, "ES256", cache=keys.SigningKeyCache())
    return bearer(jose.sign(claims, key, typ=typ))


async def assert_invalid_token(env: Env, headers: dict[str, str]) -> None:
    """Both endpoints answer 401 invalid_token and record nothing."""
    who = Agency("", "", headers)
    for response in (
        await verify(env, who, ANH, gender="female"),
        await lookup(env, who, ANH, ["full_name"]),
    ):
        problem(response, 401, "unauthenticated")
        challenge = response.headers["www-authenticate"]
        assert challenge.startswith("Bearer ")
        assert 'error="invalid_token"' in challenge
        assert "Minh Anh" not in response.text


async def test_missing_and_malformed_tokens_are_401_and_unrecorded(env: Env) -> None:
    body = {"id_number": ANH, "purpose": ORDINARY, "claims": {"gender": "female"}}
    response = await env.web.post("/api/v1/verify", json=body)
    problem(response, 401, "unauthenticated")
    assert response.headers["www-authenticate"].startswith("Bearer ")
    response = await env.web.post(
        "/api/v1/verify", json=body, headers={"authorization": "Basic YTpi"}
    )
    problem(response, 401, "unauthenticated")
    assert 'error="invalid_request"' in response.headers["www-authenticate"]
    response = await env.web.get(
        f"/api/v1/citizens/{ANH}",
        params={"fields": "full_name", "purpose": ORDINARY},
        headers=bearer("not.a.token"),
    )
    problem(response, 401, "unauthenticated")
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    assert await agency_events(env.database) == []


async def test_expired_and_foreign_tokens_are_401(env: Env) -> None:
    bank = await agency(env)
    # Our crafting is right: the same token with nothing changed is accepted.
    good = await crafted_token(env, bank.client_id)
    assert (await verify(env, Agency("", "", good), ANH, gender="female")).status_code == 200
    now = int(time.time())
    await assert_invalid_token(
        env, await crafted_token(env, bank.client_id, iat=now - 600, exp=now - 300)
    )
    # Another audience: the issuer itself, or a client (as in an ID token).
    await assert_invalid_token(
        env, await crafted_token(env, bank.client_id, aud=env.settings.issuer)
    )
    await assert_invalid_token(
        env,
        await crafted_token(
            env, bank.client_id, typ="JWT", aud=bank.client_id, sub="pairwise-sub", nonce="n"
        ),
    )
    await assert_invalid_token(env, await crafted_token(env, bank.client_id, typ="JWT"))
    await assert_invalid_token(
        env, await crafted_token(env, bank.client_id, iss="https://evil.example")
    )
    await assert_invalid_token(env, await crafted_token(env, bank.client_id, exp=None))
    # Only the one good call reached the agency API.
    assert len(await agency_events(env.database)) == 1


async def test_a_suspended_agency_is_refused_until_reinstated(env: Env) -> None:
    bank = await agency(env)
    base = f"/api/v1/officials/agencies/{bank.client_id}"
    assert (await verify(env, bank, ANH, gender="female")).status_code == 200
    assert (await env.web.post(f"{base}/suspend", headers=AS_OFFICIAL)).status_code == 204
    # The product's answer: its tokens stop being valid at once (RFC 6750 invalid_token).
    await assert_invalid_token(env, bank.headers)
    item = {"id_number": ANH, "claims": {"gender": "female"}}
    assert (await batch(env, bank, [item])).status_code == 401
    fresh = await env.web.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": "verify"},
        auth=(bank.client_id, bank.secret),
    )
    assert fresh.status_code != 200
    assert "access_token" not in fresh.text
    assert (await env.web.post(f"{base}/reinstate", headers=AS_OFFICIAL)).status_code == 204
    assert (await verify(env, bank, ANH, gender="female")).json()["match"] is True
    # Suspending straight in the table has the same effect.
    async with env.database.unit_of_work() as session:
        await session.execute(
            text("UPDATE oauth_client SET active = false WHERE client_id = :c"),
            {"c": bank.client_id},
        )
    await assert_invalid_token(env, bank.headers)
    suspensions = await events(env.database, "agency.suspend", "agency.activate")
    assert [e.action for e in suspensions] == ["agency.suspend", "agency.activate"]
    problem(
        await env.web.post("/api/v1/officials/agencies/nobody/suspend", headers=AS_OFFICIAL),
        404,
        "not-found",
    )


# ------------------------------------------------------------------------------ rate limits


async def age_bucket(database: Database, client_id: str, seconds: float) -> None:
    """Move the agency's bucket back in time, as ``seconds`` passing would."""
    async with database.unit_of_work() as session:
        (updated,) = (
            await session.execute(
                select(RateBucket.updated_at).where(RateBucket.client_id == client_id)
            )
        ).one()
        await session.execute(
            update(RateBucket)
            .where(RateBucket.client_id == client_id)
            .values(updated_at=updated - timedelta(seconds=seconds))
        )


async def test_over_the_rate_limit_is_429_with_retry_after(env: Env) -> None:
    bank = await agency(env, rate_per_second=0.01, burst=2)
    assert (await verify(env, bank, ANH, gender="female")).status_code == 200
    assert (await lookup(env, bank, ANH, ["full_name"])).status_code == 200
    response = await verify(env, bank, ANH, gender="female")
    problem(response, 429, "rate-limited")
    # About 100 s until the next token at 0.01/s.
    assert 90 <= int(response.headers["retry-after"]) <= 100
    assert "match" not in response.json()
    # Each agency has its own bucket.
    other = await agency(env, rate_per_second=0.01, burst=2)
    assert (await verify(env, other, ANH, gender="female")).status_code == 200


async def test_the_bucket_refills_at_the_rate_up_to_the_burst(env: Env) -> None:
    # Slow enough that the wall-clock time of the calls themselves adds no whole token.
    bank = await agency(env, rate_per_second=0.01, burst=2)

    async def statuses(count: int) -> list[int]:
        return [(await verify(env, bank, ANH, gender="female")).status_code for _ in range(count)]

    assert await statuses(3) == [200, 200, 429]
    await age_bucket(env.database, bank.client_id, 150)  # 1.5 tokens come back
    assert await statuses(2) == [200, 429]
    refused = await verify(env, bank, ANH, gender="female")
    assert 45 <= int(refused.headers["retry-after"]) <= 50  # half a token at 0.01/s
    await age_bucket(env.database, bank.client_id, 86_400)  # never more than the burst
    assert await statuses(3) == [200, 200, 429]


async def test_a_bucket_stamped_ahead_by_another_worker_loses_no_token(env: Env) -> None:
    # Concurrent requests take their timestamps before they queue for the bucket's row, and
    # workers' clocks differ: a request may find the bucket updated "after" its own instant.
    bank = await agency(env, rate_per_second=0.01, burst=2)
    assert (await verify(env, bank, ANH, gender="female")).status_code == 200
    await age_bucket(env.database, bank.client_id, -1)  # stamped 1 s ahead of this request
    assert (await verify(env, bank, ANH, gender="female")).status_code == 200
    assert (await verify(env, bank, ANH, gender="female")).status_code == 429


@pytest.mark.postgresql_only
async def test_the_rate_limit_holds_across_worker_processes(env: Env, settings: Settings) -> None:
    bank = await agency(env, rate_per_second=0.001, burst=3)
    # A second process: its own app and its own engine (its own connection pool).
    second = Database(settings)
    try:
        async with asgi_client(create_app(settings, database=second)) as other_web:
            other = Env(settings, second, other_web)
            calls = [verify(env if i % 2 else other, bank, ANH, gender="female") for i in range(6)]
            responses = await asyncio.gather(*calls)
    finally:
        await second.dispose()
    statuses = sorted(r.status_code for r in responses)
    assert statuses == [200, 200, 200, 429, 429, 429]
    assert len(await agency_events(env.database)) == 6


async def bucket(database: Database, client_id: str) -> RateBucket:
    async with database.unit_of_work() as session:
        return (
            await session.execute(select(RateBucket).where(RateBucket.client_id == client_id))
        ).scalar_one()


async def test_a_take_never_hands_out_more_than_the_bucket_holds(env: Env) -> None:
    now = utcnow()
    for client_id in ("slow-agency", "other-agency"):
        async with env.database.unit_of_work() as session:
            conn = await session.connection()
            takes = [
                await take_tokens(
                    conn, client_id=client_id, rate=0.001, burst=7, now=now, want=want
                )
                for want in (5, 5, 5, 1)
            ]
        # 5 of 7, then the 2 left, then none (with the wait for the next whole token).
        assert [taken for taken, _ in takes] == [5, 2, 0, 0]
        assert takes[2][1] == pytest.approx(1000, rel=0.01)
    # A request may ask for more than the burst: it gets the burst at most.
    async with env.database.unit_of_work() as session:
        conn = await session.connection()
        taken, _ = await take_tokens(conn, client_id="third", rate=1, burst=3, now=now, want=50)
    assert taken == 3


def test_slow_agencies_take_one_token_at_a_time() -> None:
    def policy(rate: float, burst: int) -> Policy:
        return parse_policy(json.dumps({**FULL_POLICY, "rate_per_second": rate, "burst": burst}))

    assert lease_size(policy(10, 100)) == 1
    assert lease_size(policy(1000, 8)) == 1
    assert lease_size(policy(2000, 1000)) == 64
    assert lease_size(policy(1000, 1000)) == 50
    assert lease_size(policy(200, 1000)) == 10


async def test_a_fast_agency_takes_its_tokens_a_lease_at_a_time(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agency_memory, "LEASE_SECONDS", 3600.0)
    bank = await agency(env, rate_per_second=1000, burst=1000)
    assert (await verify(env, bank, ANH, gender="female")).status_code == 200
    first = await bucket(env.database, bank.client_id)
    assert first.taken == 50
    # The next 49 requests use the lease: the shared bucket is not touched.
    for _ in range(49):
        assert (await verify(env, bank, ANH, gender="female")).status_code == 200
    unchanged = await bucket(env.database, bank.client_id)
    assert (unchanged.updated_at, unchanged.tokens) == (first.updated_at, first.tokens)
    # The 51st takes a new lease.
    assert (await verify(env, bank, ANH, gender="female")).status_code == 200
    assert (await bucket(env.database, bank.client_id)).updated_at > first.updated_at
    assert len(await agency_events(env.database)) == 51


async def test_concurrent_requests_of_a_process_wait_for_one_lease(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(agency_memory, "LEASE_SECONDS", 3600.0)
    bank = await agency(env, rate_per_second=1000, burst=1000)
    taken: list[int] = []
    original = take_tokens

    async def counting(*args: Any, **kwargs: Any) -> tuple[int, float]:
        result = await original(*args, **kwargs)
        taken.append(result[0])
        return result

    monkeypatch.setattr(agency_repository, "take_tokens", counting)
    calls = [verify(env, bank, ANH, gender="female") for _ in range(20)]
    assert {r.status_code for r in await asyncio.gather(*calls)} == {200}
    assert taken == [50]


# ------------------------------------------------------------------------------ audit failure


async def test_a_failing_audit_insert_is_503_and_releases_nothing(
    env: Env, database_url: str
) -> None:
    bank = await agency(env)
    await fail_audit_inserts(database_url)
    item = {"id_number": ANH, "claims": {"full_name": "Nguyễn Thị Minh Anh"}}
    for response in (
        await verify(env, bank, ANH, full_name="Nguyễn Thị Minh Anh"),
        await lookup(env, bank, ANH, ["full_name", "birth_date"]),
        await batch(env, bank, [item, item]),
        await verify(env, bank, NOBODY, gender="male"),  # a refusal is not answered either
        await lookup(env, bank, ANH, ["full_name"], "nope"),
    ):
        body = problem(response, 503, "audit-unavailable")
        # Nothing of the record (the request id is random hex: it may hold "2003" by chance).
        text = json.dumps({k: v for k, v in body.items() if k not in ("request_id", "instance")})
        assert "match" not in text
        assert "Nguy" not in text
        assert "2003" not in text
    assert await agency_events(env.database) == []


# ------------------------------------------------------------------------------ policies


async def test_the_policy_api_validates_with_pointers(env: Env) -> None:
    client_id, _ = await make_agency(env.database, env.settings)
    url = f"/api/v1/officials/agencies/{client_id}/policy"
    bad = {
        "actions": ["verify", "delete"],
        "fields": ["full_name", "password"],
        "purposes": ["kyc.fishing", ORDINARY],
        "name_match": "fuzzy",
        "rate_per_second": 0,
        "burst": 0,
        "batch_max": 1001,
        "colour": "red",
    }
    body = problem(await env.web.put(url, json=bad, headers=AS_OFFICIAL), 422, "validation-failed")
    assert sorted(e["pointer"] for e in body["errors"]) == sorted(
        [
            "#/actions/1",
            "#/fields/1",
            "#/purposes/0",
            "#/name_match",
            "#/rate_per_second",
            "#/burst",
            "#/batch_max",
            "#/colour",
        ]
    )
    body = problem(
        await env.web.put(url, json={"actions": "verify"}, headers=AS_OFFICIAL),
        422,
        "validation-failed",
    )
    assert body["errors"][0]["pointer"] == "#/actions"


GOOD_POLICY = {"actions": ["verify", "verify"], "purposes": [ORDINARY], "name_match": "folded"}


async def test_an_official_sets_a_policy_in_its_normal_form_and_it_is_recorded(env: Env) -> None:
    client_id, _ = await make_agency(env.database, env.settings)
    url = f"/api/v1/officials/agencies/{client_id}/policy"
    response = await env.web.put(url, json=GOOD_POLICY, headers=AS_OFFICIAL)
    assert response.status_code == 200, response.text
    assert response.json()["actions"] == ["verify"]
    assert response.json()["name_match"] == "folded"
    assert response.json()["fields"] == []
    (event,) = await events(env.database, "agency.policy")
    assert (event.actor_id, detail(event)) == (OFFICIAL.actor_id, {"client": client_id})


async def test_only_officials_set_policies_and_only_of_agencies(env: Env) -> None:
    client_id, _ = await make_agency(env.database, env.settings)
    url = f"/api/v1/officials/agencies/{client_id}/policy"
    problem(await env.web.put(url, json=GOOD_POLICY, headers=AS_ANH), 403, "forbidden")
    problem(
        await env.web.put(
            "/api/v1/officials/agencies/nobody/policy", json=GOOD_POLICY, headers=AS_OFFICIAL
        ),
        404,
        "not-found",
    )


async def test_the_purpose_codes_a_policy_may_name_are_listed(env: Env) -> None:
    response = await env.web.get("/api/v1/purposes")
    assert response.status_code == 200
    listed = {p["code"]: p for p in response.json()}
    assert set(listed) == set(purposes())
    assert listed[STATUTORY]["overrides_lock"] is True
    assert listed[INHERITANCE] == {
        "code": INHERITANCE,
        "name_vi": "Thừa kế",
        "name_en": "Inheritance",
        "overrides_lock": False,
        "deceased_allowed": True,
    }
    assert listed[ORDINARY]["deceased_allowed"] is False
