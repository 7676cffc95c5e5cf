"""Text from outside on every route family: a NUL, another control character or a lone
surrogate in a path segment, query parameter, form field or JSON member is a 422 naming the
field, on PostgreSQL (which refuses NUL in text) as on SQLite; never a 500 or a cut stream."""

from __future__ import annotations

import base64
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest

from core.auth import Principal
from core.db import Database
from core.settings import Settings
from registry.app import create_app
from tests.auth import BearerTable, bearer
from tests.http import asgi_client

CITIZEN_ID = "001203004512"
TOKENS = {
    "auditor": Principal("auditor", "auditor-1", roles=frozenset({"auditor"})),
    "citizen": Principal("citizen", CITIZEN_ID, roles=frozenset({"citizen"})),
    "official": Principal("official", "clerk-7", roles=frozenset({"official"})),
    "agency": Principal("agency", "bank-1", roles=frozenset({"agency"})),
}
NUL = "a%00b"  # as it comes in a URL
LOOKUP = {"fields": "full_name", "purpose": "kyc.account_opening"}


# (who, method, path, request keyword arguments, the field the answer must name)
# fmt: off
CASES: list[tuple[str, str, str, dict[str, Any], dict[str, str]]] = [
    ("auditor", "GET", "/api/v1/audit/events", {"params": {"actor_id": "a\0b"}},
     {"parameter": "actor_id"}),
    ("auditor", "GET", "/api/v1/audit/events", {"params": {"action": "a\0b"}},
     {"parameter": "action"}),
    ("auditor", "GET", "/api/v1/audit/events", {"params": {"purpose": "a\0b"}},
     {"parameter": "purpose"}),
    ("auditor", "GET", "/api/v1/audit/events/export", {"params": {"purpose": "a\0b"}},
     {"parameter": "purpose"}),
    ("auditor", "GET", f"/api/v1/audit/events/{NUL}", {}, {"parameter": "event_uid"}),
    ("auditor", "GET", f"/api/v1/audit/events/{NUL}/proof", {}, {"parameter": "event_uid"}),
    ("citizen", "GET", f"/api/v1/me/access-log/{NUL}/proof", {}, {"parameter": "event_uid"}),
    ("citizen", "DELETE", f"/api/v1/me/consents/{NUL}", {}, {"parameter": "client_id"}),
    ("citizen", "PATCH", f"/api/v1/me/passkeys/{NUL}", {"json": {"name": "x"}},
     {"parameter": "passkey_id"}),
    ("citizen", "POST", "/api/v1/me/aliases", {"json": {"label": "a\0b"}},
     {"pointer": "#/label"}),
    ("citizen", "POST", "/api/v1/me/aliases", {"json": {"label": "a\x1bb"}},
     {"pointer": "#/label"}),
    ("citizen", "POST", "/api/v1/me/aliases",
     {"content": b'{"label": "\\ud800"}', "headers": {"content-type": "application/json"}},
     {"pointer": "#/label"}),
    ("official", "POST", f"/api/v1/officials/citizens/{CITIZEN_ID}/aliases",
     {"json": {"label": "a\0b"}}, {"pointer": "#/label"}),
    ("official", "PUT", f"/api/v1/officials/agencies/{NUL}/policy", {"json": {}},
     {"parameter": "client_id"}),
    ("official", "POST", f"/api/v1/officials/agencies/{NUL}/suspend", {},
     {"parameter": "client_id"}),
    ("official", "POST", f"/api/v1/officials/agencies/{NUL}/reinstate", {},
     {"parameter": "client_id"}),
    ("official", "PUT", "/api/v1/officials/agencies/bank-1/policy",
     {"json": {"purposes": ["a\0b"]}}, {"pointer": "#/purposes/0"}),
    ("official", "GET", "/api/v1/officials/citizens",
     {"params": {"name": "a\0b", "birth_date": "2000"}}, {"parameter": "name"}),
    ("official", "POST", f"/api/v1/officials/citizens/{CITIZEN_ID}/residence",
     {"json": {"legal_basis": "a\0b"}}, {"pointer": "#/legal_basis"}),
    ("agency", "GET", f"/api/v1/citizens/{NUL}", {"params": LOOKUP}, {"parameter": "id"}),
    ("agency", "GET", f"/api/v1/citizens/{CITIZEN_ID}",
     {"params": {**LOOKUP, "purpose": "a\0b"}}, {"parameter": "purpose"}),
    ("agency", "POST", "/api/v1/verify",
     {"json": {"id_number": CITIZEN_ID, "purpose": "a\0b", "claims": {"gender": "male"}}},
     {"pointer": "#/purpose"}),
    ("agency", "POST", "/api/v1/verify/batch",
     {"json": {"purpose": "p", "items": [{"id_number": "a\0b", "claims": {}}]}},
     {"pointer": "#/items/0/id_number"}),
    ("citizen", "POST", "/api/v1/identity/unlock", {"json": {"id_number": "a\0b"}},
     {"pointer": "#/id_number"}),
    ("", "GET", f"/portal/access/{NUL}/proof", {}, {"parameter": "event_uid"}),
    ("", "GET", "/portal/access", {"params": {"agency": "a\0b"}}, {"parameter": "agency"}),
    ("", "GET", "/portal/access.csv", {"params": {"agency": "a\0b"}}, {"parameter": "agency"}),
    ("", "POST", "/portal/aliases", {"data": {"label": "a\0b", "csrf": "x"}},
     {"parameter": "label"}),
    ("", "POST", f"/portal/aliases/{NUL}/revoke", {"data": {"csrf": "x"}},
     {"parameter": "alias"}),
    ("", "POST", f"/portal/consents/{NUL}/revoke", {"data": {"csrf": "x"}},
     {"parameter": "client_id"}),
    ("", "POST", f"/portal/security/passkeys/{NUL}/rename", {"data": {"name": "x"}},
     {"parameter": "passkey_id"}),
    ("", "POST", "/unlock", {"data": {"code": "a\0b"}}, {"parameter": "code"}),
    ("", "GET", "/portal/callback", {"params": {"state": "a\0b", "code": "c"}},
     {"parameter": "state"}),
    ("", "GET", "/console", {"params": {"actor_id": "a\0b"}}, {"parameter": "actor_id"}),
    ("", "GET", f"/console/events/{NUL}", {}, {"parameter": "event_uid"}),
    ("", "GET", "/console/export.ndjson", {"params": {"purpose": "a\0b"}},
     {"parameter": "purpose"}),
    ("", "GET", "/console/export.csv", {"params": {"purpose": "a\0b"}},
     {"parameter": "purpose"}),
    ("", "POST", "/login", {"data": {"username": "a\0b", "password": "x"}},
     {"parameter": "username"}),
]
# fmt: on


@pytest.fixture
async def api(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The app, with the principals of TOKENS as bearer tokens."""
    app = create_app(settings, database=database, authenticator=BearerTable(TOKENS))
    async with asgi_client(app) as client:
        yield client


@pytest.mark.parametrize(
    ("who", "method", "path", "kwargs", "names"),
    CASES,
    ids=[f"{c[1]} {c[2]} {c[4]}" for c in CASES],
)
async def test_refused_text_is_a_422_naming_its_field(
    api: httpx.AsyncClient,
    who: str,
    method: str,
    path: str,
    kwargs: dict[str, Any],
    names: dict[str, str],
) -> None:
    sent = dict(kwargs)  # the case is shared by both backends' runs: left as it is
    headers = {**(bearer(who) if who else {}), **sent.pop("headers", {})}
    response = await api.request(method, path, headers=headers, **sent)
    assert response.status_code == 422, response.text
    assert response.headers["content-type"] == "application/problem+json"
    (error,) = response.json()["errors"]
    assert {k: error[k] for k in names} == names
    assert "control character" in error["detail"]


BASIC_NUL = "Basic " + base64.b64encode(b"a%00b:s").decode()  # RFC 6749 2.3.1: urlencoded


@pytest.mark.parametrize(
    ("form", "headers"),
    [({"client_id": "a\0b", "client_secret": "s"}, {}), ({}, {"authorization": BASIC_NUL})],
    ids=["form", "basic"],
)
@pytest.mark.parametrize("endpoint", ["/token", "/revoke", "/introspect"])
async def test_refused_text_at_an_oauth_endpoint_is_an_rfc_6749_error(
    api: httpx.AsyncClient, endpoint: str, form: dict[str, str], headers: dict[str, str]
) -> None:
    data = {"grant_type": "client_credentials", "token": "t", **form}
    response = await api.post(endpoint, data=data, headers=headers)
    assert response.status_code in (400, 401), response.text
    assert response.json()["error"] in ("invalid_request", "invalid_client")


DEEP = b"[" * 10_000 + b"]" * 10_000


@pytest.mark.parametrize(
    "path",
    [
        "/api/v1/verify",
        "/api/v1/verify/batch",
        "/api/v1/me/aliases",
        f"/api/v1/officials/citizens/{CITIZEN_ID}/residence",
    ],
)
@pytest.mark.parametrize("who", ["agency", "citizen", "official", "unknown"])
async def test_a_json_body_nested_too_deep_is_a_400_before_authentication(
    api: httpx.AsyncClient, path: str, who: str
) -> None:
    headers = {**bearer(who), "content-type": "application/json"}
    response = await api.post(path, content=DEEP, headers=headers)
    assert response.status_code == 400, response.text
    assert response.headers["content-type"] == "application/problem+json"
