"""The agency API's test harness, shared by its tests: the three citizens, an app whose officials
and citizens are BearerTable principals in front of the real IdentityAuthenticator, agencies with
client_credentials tokens under a policy, their calls, and the events they leave."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import httpx
from fastapi import FastAPI, Request
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from audit.models import AuditEvent
from core.auth import Authenticator, Principal
from core.db import Database
from core.settings import Settings
from identity import repository as identity_repo
from identity.accounts import citizen_principal, lock
from registry.agency.policy import LOOKUP_FIELDS
from registry.app import create_app
from tests.auth import BearerTable, bearer
from tests.identity.factories import CITIZEN_ID, make_agency

PROBLEM = "application/problem+json"
ANH = CITIZEN_ID  # Nguyễn Thị Minh Anh, born 2003-05-14 (day precision)
DUC = "001050000123"  # Trần Văn Đức, born 1950 (only the year is known)
LAN = "079185000456"  # Lê Thị Lan, born 1985-03 (year and month known)
NOBODY = "001303009999"  # a valid ID number no record has

OFFICIAL = Principal("official", "clerk-7", roles=frozenset({"official"}))
TOKENS = {
    "tok-official": OFFICIAL,
    "tok-anh": citizen_principal(ANH),
    "tok-duc": citizen_principal(DUC),
}
AS_OFFICIAL = bearer("tok-official")
AS_ANH = bearer("tok-anh")
AS_DUC = bearer("tok-duc")

ALL_ACTIONS = ["verify", "verify_batch", "lookup"]
ORDINARY = "kyc.account_opening"
STATUTORY = "police.investigation"  # overrides_lock and deceased_allowed
INHERITANCE = "civil.inheritance"  # deceased_allowed, not overrides_lock
FULL_POLICY: dict[str, Any] = {
    "actions": ALL_ACTIONS,
    "fields": list(LOOKUP_FIELDS),
    "purposes": [ORDINARY, STATUTORY, INHERITANCE],
    "rate_per_second": 1000,
    "burst": 1000,
}

ANH_RECORD: dict[str, str] = {
    "other_names": "Minh Anh",
    "temporary_address": "45 Lê Lợi, Quận 1, Thành phố Hồ Chí Minh",
    "current_address": "45 Lê Lợi, Quận 1, Thành phố Hồ Chí Minh",
    "household_id": "HN-000123",
    "household_relationship": "con",
    "father_id_number": "001070001234",
    "father_name": "Nguyễn Văn Hùng",
    "mother_id_number": "001175005678",
    "mother_name": "Phạm Thị Hoa",
}


@dataclass
class Env:
    """The app and its database; ``web`` serves agencies (real tokens), citizens and officials
    (BearerTable tokens) alike."""

    settings: Settings
    database: Database
    web: httpx.AsyncClient


@dataclass(frozen=True)
class Agency:
    """A registered agency with a client_credentials token."""

    client_id: str
    secret: str
    headers: dict[str, str]


class TableThenIdentity:
    """Test principals from a BearerTable; every other request goes to the app's own
    IdentityAuthenticator untouched (so agency tokens are validated for real)."""

    def __init__(self, table: BearerTable, identity: Authenticator) -> None:
        self.table = table
        self.identity = identity

    def remembered_agency(self, authorization: str) -> tuple[Principal, str] | None:
        """Identity's, for the agency API's one-statement path (table tokens are never in it)."""
        remembered = getattr(self.identity, "remembered_agency", None)
        return None if remembered is None else remembered(authorization)

    async def authenticate(self, request: Request, session: AsyncSession) -> Principal | None:
        """The table's principal, else whatever identity says."""
        found = await self.table.authenticate(request, session)
        if found is not None:
            return found
        return await self.identity.authenticate(request, session)


def registry_app(settings: Settings, database: Database) -> FastAPI:
    """The real app, with the test principals added in front of its authenticator."""
    app = create_app(settings, database=database)
    app.state.authenticator = TableThenIdentity(BearerTable(TOKENS), app.state.authenticator)
    return app


async def token(
    web: httpx.AsyncClient, client_id: str, secret: str, scopes: Sequence[str]
) -> dict[str, str]:
    """A client_credentials access token (RFC 6749 4.4) as an Authorization header."""
    response = await web.post(
        "/token",
        data={"grant_type": "client_credentials", "scope": " ".join(scopes)},
        auth=(client_id, secret),
    )
    assert response.status_code == 200, response.text
    return bearer(response.json()["access_token"])


async def agency(
    env: Env,
    policy: Mapping[str, Any] | None = None,
    *,
    scopes: Sequence[str] = ALL_ACTIONS,
    **policy_changes: Any,
) -> Agency:
    """An agency whose policy an official set (FULL_POLICY with ``policy_changes`` by default)."""
    client_id, secret = await make_agency(env.database, env.settings, scopes=list(scopes))
    body = dict(policy) if policy is not None else {**FULL_POLICY, **policy_changes}
    response = await env.web.put(
        f"/api/v1/officials/agencies/{client_id}/policy", json=body, headers=AS_OFFICIAL
    )
    assert response.status_code == 200, response.text
    return Agency(client_id, secret, await token(env.web, client_id, secret, scopes))


async def verify(
    env: Env,
    who: Agency,
    id_number: str,
    purpose: str = ORDINARY,
    **claims: str,
) -> httpx.Response:
    """POST /api/v1/verify."""
    body = {"id_number": id_number, "purpose": purpose, "claims": claims}
    return await env.web.post("/api/v1/verify", json=body, headers=who.headers)


async def lookup(
    env: Env, who: Agency, identifier: str, fields: Sequence[str], purpose: str = ORDINARY
) -> httpx.Response:
    """GET /api/v1/citizens/{id}?fields=...&purpose=..."""
    return await env.web.get(
        f"/api/v1/citizens/{identifier}",
        params={"fields": ",".join(fields), "purpose": purpose},
        headers=who.headers,
    )


def problem(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    """Assert an RFC 9457 problem of this status and code; its body."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].startswith(PROBLEM)
    body: dict[str, Any] = response.json()
    assert body["status"] == status
    assert body["code"] == code, body
    return body


async def events(database: Database, *actions: str) -> list[AuditEvent]:
    """Audit events (of ``actions``, when given) in insertion order."""
    stmt = select(AuditEvent).order_by(AuditEvent.id)
    if actions:
        stmt = stmt.where(AuditEvent.action.in_(actions))
    async with database.unit_of_work() as session:
        return list((await session.execute(stmt)).scalars())


async def agency_events(database: Database) -> list[AuditEvent]:
    """The events of the agency API."""
    return await events(database, "agency.verify", "agency.lookup")


async def lock_identity(database: Database, citizen_id: str) -> None:
    """The citizen locks their electronic identity."""
    async with database.unit_of_work() as session:
        account = await identity_repo.account_by_citizen(session, citizen_id)
        assert account is not None
        await lock(session, account)
