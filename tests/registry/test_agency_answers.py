"""The agency API answers each call alike whichever way the database was asked: the grouped
statement (registry/agency/grouped.py, for a token and policy seen before) or the full path.

Every request below goes once through the app, where the route's lean handler and the grouped
statement may answer it, and once through the same app whose memory keeps no policy (every
call then takes the full path) with FastAPI's own handling of the route (parameters, body and
outside text checked by the framework), against one database: the status, the headers that
matter, the body (but for the new event's id) and the audit events recorded must be equal.
"""

from __future__ import annotations

import contextlib
import math
import time
from collections.abc import Iterator
from typing import Any

import httpx
import pytest

from registry.agency import api as agency_api
from tests.faults import fail_audit_inserts
from tests.registry.agencies import (
    ANH,
    DUC,
    NOBODY,
    ORDINARY,
    STATUTORY,
    Agency,
    Env,
    agency,
    agency_events,
)


def comparable(response: httpx.Response) -> tuple[Any, ...]:
    body: Any = response.json() if response.content else None
    if isinstance(body, dict):
        body = {k: v for k, v in body.items() if k not in ("event_id", "instance", "request_id")}
    headers = {
        name: response.headers.get(name)
        for name in ("content-type", "www-authenticate", "cache-control")
    }
    # Retry-After counts down with the clock: compared apart, in both().
    return response.status_code, headers, body, "retry-after" in response.headers


def event_shape(event: Any) -> tuple[Any, ...]:
    return (event.actor_type, event.actor_id, event.on_behalf_of, event.subject, event.action,
            event.fields, event.purpose, event.outcome, event.detail)  # fmt: skip


async def both(
    env: Env, slow: httpx.AsyncClient, method: str, url: str, **kwargs: Any
) -> httpx.Response:
    """Send the request through both apps; assert equal answers and equal events."""
    before = len(await agency_events(env.database))
    began = time.monotonic()
    fast_answer = await env.web.request(method, url, **kwargs)
    fast_events = (await agency_events(env.database))[before:]
    with framework_handling():
        slow_answer = await slow.request(method, url, **kwargs)
    elapsed = time.monotonic() - began
    slow_events = (await agency_events(env.database))[before + len(fast_events) :]
    assert comparable(fast_answer) == comparable(slow_answer), (fast_answer.text, slow_answer.text)
    if "retry-after" in fast_answer.headers:
        # The same wait, less what passed between the two answers (whole seconds, rounded up).
        fast_wait = int(fast_answer.headers["retry-after"])
        slow_wait = int(slow_answer.headers["retry-after"])
        assert fast_wait - math.ceil(elapsed) <= slow_wait <= fast_wait
    assert [event_shape(e) for e in fast_events] == [event_shape(e) for e in slow_events]
    if "event_id" in fast_answer.text:
        assert fast_answer.json()["event_id"] == fast_events[-1].event_uid
    return fast_answer


@contextlib.contextmanager
def framework_handling() -> Iterator[None]:
    """The lookup and verify routes without their lean handlers: FastAPI's handling only."""

    async def none(_request: Any) -> None:
        return None

    kept = agency_api.lookup.lean, agency_api.verify.lean  # type: ignore[attr-defined]
    agency_api.lookup.lean = agency_api.verify.lean = none  # type: ignore[attr-defined]
    try:
        yield
    finally:
        agency_api.lookup.lean, agency_api.verify.lean = kept  # type: ignore[attr-defined]


def served_by_statement(env: Env, count: int) -> int:
    """How many calls the grouped statement answers on this backend."""
    return count if env.database.dialect == "postgresql" else 0


GROUPED_LOOKUPS = 6
GROUPED_VERIFIES = 3


def lookup_url(identifier: str, fields: str, purpose: str = ORDINARY) -> str:
    return f"/api/v1/citizens/{identifier}?fields={fields}&purpose={purpose}"


async def test_lookups_answer_alike(env: Env, slow: httpx.AsyncClient, served: list[str]) -> None:
    bank = await agency(env, purposes=[ORDINARY, STATUTORY])
    h = bank.headers
    cases = [
        lookup_url(ANH, "full_name,birth_date"),  # granted
        lookup_url(ANH, "full_name, full_name ,birth_date"),  # repeated and spaced names
        lookup_url(DUC, "birth_date", STATUTORY),  # a year-only date
        lookup_url(NOBODY, "full_name"),  # not found, recorded
        lookup_url(ANH, "full_name", "no.such.purpose"),  # unknown purpose
        lookup_url(ANH, "full_name", "civil.inheritance"),  # purpose outside the policy
        lookup_url(ANH, "full_name,religion"),  # field outside the policy
        lookup_url(ANH, ""),  # no field named
        lookup_url("001203004512x", "full_name"),  # not an ID number
        lookup_url("0012030045", "full_name"),  # too short
        lookup_url("1234567890123456", "full_name"),  # an alias with a wrong check digit
        f"/api/v1/citizens/{ANH}?fields=full_name",  # purpose missing: the route's 422
        f"/api/v1/citizens/{ANH}?fields=full_name&purpose={ORDINARY}&purpose=x",  # repeated
        f"/api/v1/citizens/{ANH}?fields=full_name&purpose={ORDINARY}&extra=1",  # ignored
        f"/api/v1/citizens/{'9' * 17}?fields=full_name&purpose={ORDINARY}",  # too long
        lookup_url(ANH, "full_name", "p" * 65),  # purpose too long
        lookup_url(ANH, ",".join(["full_name"] * 201)),  # fields too long
        lookup_url("00120300451%00", "full_name"),  # NUL in the ID number
        lookup_url(ANH, "full_name%00"),  # NUL in the fields
        lookup_url(ANH, "full_name", ORDINARY + "%01"),  # a control character in the purpose
        lookup_url(ANH, "full_name", ORDINARY + "%ED%A0%80"),  # not UTF-8
        f"/api/v1/citizens/{ANH}?purpose={ORDINARY}",  # fields missing
        f"/api/v1/citizens/{ANH}?fields=full_name&fields=birth_date&purpose={ORDINARY}",
        f"/api/v1/citizens/{ANH}?fields=full_name&purpose={ORDINARY}&extra=%00",
    ]
    for url in cases:
        await both(env, slow, "GET", url, headers=h)
    for headers in (
        {},  # no token
        {"authorization": "Bearer not-a-token"},
        {"authorization": "Basic Zm9vOmJhcg=="},
        {**h, "x-on-behalf-of": "officer.17"},
        {**h, "x-on-behalf-of": "not allowed!"},
    ):
        await both(env, slow, "GET", lookup_url(ANH, "full_name"), headers=headers)
    # The grouped statement answered the granted lookups by ID number; the full path the rest.
    assert len(served) == served_by_statement(env, GROUPED_LOOKUPS)


async def test_verifications_answer_alike(
    env: Env, slow: httpx.AsyncClient, served: list[str]
) -> None:
    bank = await agency(env, attribute_results=True)
    h = bank.headers
    bodies: list[Any] = [
        {"id_number": ANH, "purpose": ORDINARY, "claims": {"full_name": "Nguyễn Thị Minh Anh"}},
        {"id_number": ANH, "purpose": ORDINARY, "claims": {"full_name": "nguyen thi minh anh"}},
        {"id_number": ANH, "purpose": ORDINARY, "claims": {"birth_date": "2003-05"}},
        {"id_number": DUC, "purpose": ORDINARY, "claims": {"gender": "male"}},
        {"id_number": NOBODY, "purpose": ORDINARY, "claims": {"gender": "male"}},
        {"id_number": ANH, "purpose": "nope", "claims": {"gender": "female"}},
        {"id_number": ANH, "purpose": ORDINARY, "claims": {"shoe_size": "42"}},
        {"id_number": ANH, "purpose": ORDINARY, "claims": {"birth_date": "14/05/2003"}},
        {"id_number": ANH, "purpose": ORDINARY, "claims": {}},
        {"id_number": "12", "purpose": ORDINARY, "claims": {"gender": "female"}},
        {"id_number": ANH, "purpose": ORDINARY, "claims": {"gender": "female"}, "x": 1},
        {"id_number": ANH, "claims": {"gender": "female"}},
        {"id_number": ANH, "purpose": ORDINARY},  # claims missing
        {"id_number": ANH, "purpose": ORDINARY, "claims": ["gender"]},  # claims not an object
        {"id_number": int(ANH), "purpose": ORDINARY, "claims": {"gender": "female"}},
        {"id_number": "9" * 17, "purpose": ORDINARY, "claims": {"gender": "female"}},
        {"id_number": ANH, "purpose": "p" * 65, "claims": {"gender": "female"}},
        {"id_number": ANH + "\x00", "purpose": ORDINARY, "claims": {"gender": "female"}},
        {"id_number": ANH, "purpose": ORDINARY, "claims": {"gender": "fe\x00male"}},
        {"id_number": ANH, "purpose": ORDINARY, "claims": {"gen\x1fder": "female"}},
        {"id_number": ANH, "purpose": ORDINARY, "claims": {"full_name": "x" * 200_000}},
        [1, 2, 3],
        "a string",
    ]
    for body in bodies:
        await both(env, slow, "POST", "/api/v1/verify", json=body, headers=h)
    for content, content_type in (
        (b"{not json", "application/json"),
        (b'{"id_number": "%s"}' % ANH.encode(), "text/plain"),
        ("\ufeff{}".encode(), "application/json"),
        (b"", "application/json"),
        (b'{"id_number": "%s"}' % ANH.encode(), ""),  # no content type
        (b'{"id_number": "%s"}' % ANH.encode(), "application/merge-patch+json"),
        (
            b'{"id_number": "%s", "purpose": "%s", "claims": {}}'
            % (ANH.encode(), ORDINARY.encode()),
            "application/json; charset=utf-8",
        ),
        (
            b'{"id_number": "%s", "purpose": "%s", "claims": {}}'
            % (ANH.encode(), ORDINARY.encode()),
            "Application/JSON",
        ),
        (
            b'{"id_number": "%s", "id_number": "%s"}' % (ANH.encode(), ANH.encode()),
            "application/json",
        ),  # a member twice
        (b'{"id_number": "\xff"}', "application/json"),  # not UTF-8
        (b'{"id_number": "\\ud800"}', "application/json"),  # a lone surrogate
        (b"[" * 100_000, "application/json"),  # too deep
    ):
        await both(
            env, slow, "POST", "/api/v1/verify", content=content,
            headers={**h, "content-type": content_type},
        )  # fmt: skip
    assert len(served) == served_by_statement(env, GROUPED_VERIFIES)


async def test_rate_limits_and_failing_audit_answer_alike(
    env: Env, slow: httpx.AsyncClient, database_url: str
) -> None:
    spent = await agency(env, rate_per_second=0.001, burst=1)
    body = {"id_number": ANH, "purpose": ORDINARY, "claims": {"gender": "female"}}
    # The one token goes to the first call; both answers after it are 429s.
    assert (await env.web.post("/api/v1/verify", json=body, headers=spent.headers)).is_success
    await both(env, slow, "POST", "/api/v1/verify", json=body, headers=spent.headers)
    await both(env, slow, "GET", lookup_url(ANH, "full_name"), headers=spent.headers)
    bank: Agency = await agency(env)
    await fail_audit_inserts(database_url)
    for method, url, extra in (
        ("POST", "/api/v1/verify", {"json": body}),
        ("GET", lookup_url(ANH, "full_name"), {}),
        ("GET", lookup_url(NOBODY, "full_name"), {}),
    ):
        response = await both(env, slow, method, url, headers=bank.headers, **extra)
        assert response.status_code == 503


def test_a_remembered_query_is_shared_read_only() -> None:
    """The lookup route keeps recent queries parsed and hands the same object to every call
    with that query: no call can change what the next one reads."""
    raw = b"fields=full_name,birth_date&purpose=kyc.account_opening"
    first, second = agency_api._query(raw), agency_api._query(raw)  # noqa: SLF001
    assert first is second
    assert first == {"fields": "full_name,birth_date", "purpose": "kyc.account_opening"}
    with pytest.raises(TypeError):
        first["purpose"] = "something else"  # type: ignore[index]
    assert agency_api._query(b"purpose=a&purpose=b") is None  # noqa: SLF001
