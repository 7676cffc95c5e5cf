"""Calls refused at a role gate leave their audit event, as refusals inside a door do: the API's
require() gate (the agency lookup and verify included) and the portal's and console's page gates."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from audit.models import AuditEvent
from core.auth import Principal
from core.db import Database
from core.settings import Settings
from identity.accounts import citizen_principal
from registry.app import create_app
from registry.portal.session import SESSION_COOKIE
from tests.auth import BearerTable, bearer
from tests.http import asgi_client
from tests.identity.factories import (
    CITIZEN_ID,
    OTHER_CITIZEN,
    make_account,
    make_agency,
    make_citizen,
    make_staff,
)
from tests.registry.portal_sessions import session_cookie

ANH, BINH = CITIZEN_ID, OTHER_CITIZEN
CALLERS = {
    "citizen": citizen_principal(ANH),
    "official": Principal("official", "clerk-7", roles=frozenset({"official"})),
    "agency": Principal("agency", "bank-3", roles=frozenset({"agency"})),
    "auditor": Principal("auditor", "auditor-2", roles=frozenset({"auditor"})),
}
LOOKUP = {"fields": "full_name", "purpose": "kyc.account_opening"}
VERIFY = {"id_number": BINH, "purpose": "kyc.account_opening", "claims": {"gender": "male"}}


@dataclass(frozen=True)
class Call:
    """A personal-data route, called by a caller its gate refuses."""

    caller: str
    method: str
    path: str
    route: str
    required: str
    subject: str | None
    params: dict[str, str] | None = None
    body: dict[str, Any] | None = None


# fmt: off
GATED = [
    Call("citizen", "GET", f"/api/v1/citizens/{BINH}", "/api/v1/citizens/{id}", "agency", BINH,
         params=LOOKUP),
    Call("official", "GET", f"/api/v1/citizens/{BINH}", "/api/v1/citizens/{id}", "agency", BINH,
         params=LOOKUP),
    Call("citizen", "POST", "/api/v1/verify", "/api/v1/verify", "agency", BINH, body=VERIFY),
    Call("auditor", "POST", "/api/v1/verify/batch", "/api/v1/verify/batch", "agency", None,
         body={"purpose": "kyc.account_opening", "items": [VERIFY]}),
    Call("agency", "GET", f"/api/v1/officials/citizens/{BINH}",
         "/api/v1/officials/citizens/{id_number}", "official", BINH),
    Call("citizen", "GET", f"/api/v1/officials/citizens/{BINH}/history",
         "/api/v1/officials/citizens/{id_number}/history", "official", BINH),
    Call("agency", "POST", f"/api/v1/officials/citizens/{BINH}/aliases",
         "/api/v1/officials/citizens/{id_number}/aliases", "official", BINH, body={}),
    Call("citizen", "GET", "/api/v1/officials/citizens", "/api/v1/officials/citizens",
         "official", None, params={"old_id_number": "012345678"}),
    Call("agency", "GET", "/api/v1/audit/events", "/api/v1/audit/events", "auditor", BINH,
         params={"subject": BINH}),
    Call("official", "GET", "/api/v1/me/access-log", "/api/v1/me/access-log", "citizen", None),
    Call("agency", "GET", "/api/v1/me/aliases", "/api/v1/me/aliases", "citizen", None),
]
# fmt: on


async def gate_events(database: Database, action: str) -> list[AuditEvent]:
    """The events of ``action``, oldest first."""
    async with database.unit_of_work() as session:
        stmt = select(AuditEvent).where(AuditEvent.action == action).order_by(AuditEvent.id)
        return list((await session.execute(stmt)).scalars())


@pytest.fixture
async def web(settings: Settings, database: Database) -> AsyncIterator[httpx.AsyncClient]:
    """The app, whose callers are the four of CALLERS."""
    app = create_app(settings, database=database)
    app.state.authenticator = BearerTable({f"tok-{k}": p for k, p in CALLERS.items()})
    async with asgi_client(app) as client:
        yield client


@pytest.mark.parametrize("call", GATED, ids=lambda c: f"{c.caller}-{c.method}-{c.route}")
async def test_a_call_refused_at_the_role_gate_is_recorded_as_denied(
    web: httpx.AsyncClient, database: Database, call: Call
) -> None:
    response = await web.request(
        call.method,
        call.path,
        params=call.params,
        json=call.body,
        headers=bearer(f"tok-{call.caller}"),
    )
    assert response.status_code == 403, response.text
    assert response.json()["code"] == "forbidden"
    (event,) = await gate_events(database, "api.request")
    caller = CALLERS[call.caller]
    assert (event.actor_type, event.actor_id) == (caller.actor_type, caller.actor_id)
    assert event.subject == call.subject
    assert event.outcome == "denied"
    assert json.loads(event.detail or "{}") == {
        "route": f"{call.method} {call.route}",
        "reason": "missing_role",
        "required": call.required,
    }


async def test_an_unauthenticated_call_is_401_and_not_recorded(
    web: httpx.AsyncClient, database: Database
) -> None:
    response = await web.get(f"/api/v1/officials/citizens/{BINH}", headers=bearer("tok-nobody"))
    assert response.status_code == 401
    assert await gate_events(database, "api.request") == []


async def test_an_agency_token_at_userinfo_is_refused_and_recorded(
    settings: Settings, database: Database
) -> None:
    # The OIDC door's own scope gate (RFC 6750 3.1 insufficient_scope), outside require().
    client_id, secret = await make_agency(database, settings)
    async with asgi_client(create_app(settings, database=database)) as web:
        issued = await web.post(
            "/token",
            data={"grant_type": "client_credentials", "scope": "verify"},
            auth=(client_id, secret),
        )
        assert issued.status_code == 200, issued.text
        response = await web.get("/userinfo", headers=bearer(issued.json()["access_token"]))
    assert response.status_code == 403
    assert 'error="insufficient_scope"' in response.headers["www-authenticate"]
    (event,) = await gate_events(database, "oidc.userinfo")
    assert (event.actor_type, event.actor_id, event.outcome) == ("agency", client_id, "denied")
    assert event.subject is None
    assert json.loads(event.detail or "{}") == {"reason": "missing_scope", "required": "openid"}


# ------------------------------------------------------------------------------ page gates


@dataclass(frozen=True)
class PageVisit:
    """A portal or console page, opened by a signed-in user its gate refuses."""

    who: str  # "citizen", "official" (staff), or "auditor" (staff signed in with a password)
    path: str
    reason: str
    subject: str | None = None


REFUSED_PAGES = [
    PageVisit("official", "/portal/access", "citizens_only"),
    PageVisit("official", "/portal/access.csv", "citizens_only"),
    PageVisit("auditor", "/portal/access/some-event/proof", "citizens_only"),
    PageVisit("official", "/portal/security", "citizens_only"),
    PageVisit("citizen", "/console", "not_auditor", subject=BINH),
    PageVisit("official", "/console/events/some-event", "not_auditor"),
    PageVisit("auditor", "/console/checkpoints", "passkey_required"),
]


@pytest.mark.parametrize("visit", REFUSED_PAGES, ids=lambda v: f"{v.who}-{v.path}")
async def test_a_page_refused_at_its_gate_is_recorded_as_denied(
    settings: Settings, database: Database, visit: PageVisit
) -> None:
    app = create_app(settings, database=database)
    async with asgi_client(app) as web:
        if visit.who == "citizen":
            await make_citizen(database)
            account = await make_account(database, settings)
            actor, amr = ("citizen", ANH), "hwk user"
        else:
            roles = ("auditor",) if visit.who == "auditor" else ("official",)
            account = await make_staff(database, settings, username="staff.9", roles=roles)
            actor = ("official" if visit.who == "official" else "auditor", "staff.9")
            amr = "pwd" if visit.who == "auditor" else "hwk user"
        web.cookies.set(SESSION_COOKIE, await session_cookie(database, settings, account, amr=amr))
        params = {"subject": visit.subject} if visit.subject else None
        response = await web.get(visit.path, params=params)
    assert response.status_code == 403, response.text
    (event,) = [e for e in await gate_events(database, "portal.view") if e.outcome == "denied"]
    assert (event.actor_type, event.actor_id) == actor
    assert event.subject == visit.subject
    assert json.loads(event.detail or "{}") == {"page": visit.path, "reason": visit.reason}
