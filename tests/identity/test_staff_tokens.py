"""The officials' integrations' token route: a first-party client granted the staff scope runs
the code flow with PKCE, the official signs in with a passkey, and the access token (with the
official's roles) is accepted by the officials' API as a Bearer token, without cookie or CSRF.
Disabling or resetting the account stops it at once."""

from __future__ import annotations

import secrets
from urllib.parse import urlencode

import httpx
import pytest

from core.db import Database
from core.errors import ValidationFailed
from core.settings import Settings
from identity import jose, staff
from tests.identity.authenticator import SoftAuthenticator
from tests.identity.factories import (
    CITIZEN_ID,
    RP_REDIRECT,
    STAFF_USERNAME,
    add_passkey,
    context,
    form_field,
    make_citizen,
    make_rp,
    make_staff,
    passkey_sign_in,
    pkce_pair,
    query_of,
)

OPERATOR = staff.operator_principal("test-operator")


async def passkey_code(
    web: httpx.AsyncClient, client_id: str, authenticator: SoftAuthenticator, scope: str
) -> tuple[str, str]:
    """The browser part of the code flow, signed in with the passkey; (code, verifier)."""
    verifier, challenge = pkce_pair()
    params = {
        "response_type": "code",
        "client_id": client_id,
        "redirect_uri": RP_REDIRECT,
        "scope": scope,
        "state": secrets.token_urlsafe(8),
        "nonce": secrets.token_urlsafe(8),
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }
    to_login = await web.get("/authorize?" + urlencode(params))
    assert to_login.status_code in (302, 303), to_login.text
    page = await web.get(to_login.headers["location"])
    done = await passkey_sign_in(
        web, form_field(page.text, "csrf"), authenticator, req=form_field(page.text, "req")
    )
    assert done.status_code == 200, done.text
    back = await web.get(done.json()["redirect"])
    assert back.status_code in (302, 303), back.text
    assert back.headers["location"].startswith(RP_REDIRECT), back.headers["location"]
    return query_of(back.headers["location"])["code"], verifier


async def redeem(
    web: httpx.AsyncClient, client_id: str, secret: str, code: str, verifier: str
) -> httpx.Response:
    return await web.post(
        "/token",
        data={
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": RP_REDIRECT,
            "code_verifier": verifier,
        },
        auth=(client_id, secret),
    )


@pytest.fixture
async def integration(database: Database, settings: Settings) -> tuple[str, str]:
    """An official's integration: a first-party client with the staff scope."""
    return await make_rp(
        database, settings, name="Phần mềm hộ tịch xã", scopes=["openid", "staff"], first_party=True
    )


@pytest.fixture
async def official_key(database: Database, settings: Settings) -> SoftAuthenticator:
    """An official with a passkey, and a citizen to read."""
    await make_citizen(database)
    staff_id = await make_staff(database, settings, roles=("official",))
    authenticator = SoftAuthenticator()
    await add_passkey(database, settings, staff_id, authenticator)
    return authenticator


async def official_token(
    web: httpx.AsyncClient, integration: tuple[str, str], key: SoftAuthenticator
) -> dict[str, object]:
    code, verifier = await passkey_code(web, integration[0], key, "openid staff")
    issued = await redeem(web, *integration, code, verifier)
    assert issued.status_code == 200, issued.text
    body: dict[str, object] = issued.json()
    return body


async def test_the_token_carries_the_roles_and_reads_the_officials_api(
    web: httpx.AsyncClient,
    integration: tuple[str, str],
    official_key: SoftAuthenticator,
) -> None:
    tokens = await official_token(web, integration, official_key)
    claims = jose.unverified_claims(str(tokens["access_token"]))
    assert claims["roles"] == ["official"]
    assert claims["preferred_username"] == STAFF_USERNAME
    assert claims["scope"] == "openid staff"
    assert jose.unverified_claims(str(tokens["id_token"]))["amr"] == ["hwk", "user"]
    bearer = {"Authorization": "Bearer " + str(tokens["access_token"])}
    async with httpx.AsyncClient(transport=web._transport, base_url=str(web.base_url)) as api:
        # A fresh client: no cookie, no CSRF header, only the token.
        read = await api.get(f"/api/v1/officials/citizens/{CITIZEN_ID}", headers=bearer)
        assert read.status_code == 200, read.text
        assert read.json()["id_number"] == CITIZEN_ID


async def test_a_refresh_keeps_the_staff_token_within_a_staff_session(
    web: httpx.AsyncClient,
    integration: tuple[str, str],
    official_key: SoftAuthenticator,
    settings: Settings,
) -> None:
    tokens = await official_token(web, integration, official_key)
    refreshed = await web.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": str(tokens["refresh_token"])},
        auth=integration,
    )
    assert refreshed.status_code == 200, refreshed.text
    claims = jose.unverified_claims(refreshed.json()["access_token"])
    assert claims["roles"] == ["official"]


async def test_disable_and_reset_stop_the_tokens_at_once(
    web: httpx.AsyncClient,
    integration: tuple[str, str],
    official_key: SoftAuthenticator,
    database: Database,
    settings: Settings,
) -> None:
    bearer = {
        "Authorization": "Bearer "
        + str((await official_token(web, integration, official_key))["access_token"])
    }
    path = f"/api/v1/officials/citizens/{CITIZEN_ID}"
    async with httpx.AsyncClient(transport=web._transport, base_url=str(web.base_url)) as api:
        assert (await api.get(path, headers=bearer)).status_code == 200
        async with database.unit_of_work() as session:
            await staff.disable(session, actor=OPERATOR, username=STAFF_USERNAME)
        assert (await api.get(path, headers=bearer)).status_code == 401
        async with database.unit_of_work() as session:
            await staff.enable(session, actor=OPERATOR, username=STAFF_USERNAME)
            await staff.reset(session, context(settings), actor=OPERATOR, username=STAFF_USERNAME)
        assert (await api.get(path, headers=bearer)).status_code == 401


async def test_a_first_party_client_without_the_staff_scope_gets_no_staff_token(
    web: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    official_key: SoftAuthenticator,
) -> None:
    client_id, secret = await make_rp(
        database, settings, name="Cổng khác", scopes=["openid"], first_party=True
    )
    code, verifier = await passkey_code(web, client_id, official_key, "openid staff")
    refused = await redeem(web, client_id, secret, code, verifier)
    assert refused.status_code == 400
    assert refused.json()["error"] == "invalid_grant"


async def test_only_a_first_party_client_may_hold_the_staff_scope(
    database: Database, settings: Settings
) -> None:
    with pytest.raises(ValidationFailed) as refused:
        await make_rp(database, settings, scopes=["openid", "staff"])
    assert "first-party" in refused.value.errors[0].detail
