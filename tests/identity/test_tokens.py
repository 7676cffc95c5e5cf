"""Access tokens: client_credentials, what the Authenticator accepts and refuses, revocation,
suspension and locks after issuance, a failing audit store at redemption, and key rotation.

Tokens are checked as a client or resource server would: joserfc verifies them against /jwks,
and a test-only route behind ``require`` shows what the Authenticator made of a bearer token.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
import uuid
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from joserfc import jwt
from joserfc.errors import InvalidKeyIdError
from joserfc.jwk import ECKey, KeySet
from sqlalchemy import text

from core.db import Database
from core.settings import Settings
from identity import jose, keys
from tests.faults import fail_audit_inserts, heal_audit_inserts
from tests.identity.factories import (
    RP_REDIRECT,
    authorization_code,
    code_flow_tokens,
    make_account,
    make_agency,
    make_citizen,
    make_rp,
)


@pytest.fixture
async def agency(database: Database, settings: Settings) -> tuple[str, str]:
    """An agency allowed the verify and lookup scopes; (client_id, secret)."""
    return await make_agency(database, settings, scopes=["verify", "lookup"])


@pytest.fixture
async def rp(database: Database, settings: Settings) -> tuple[str, str]:
    """A citizen with an electronic identity and a (third-party) relying party."""
    await make_citizen(database)
    await make_account(database, settings)
    return await make_rp(database, settings)


def bearer(token: str) -> dict[str, str]:
    return {"authorization": "Bearer " + token}


async def agency_token(
    web: httpx.AsyncClient, agency: tuple[str, str], scope: str = "verify"
) -> str:
    response = await web.post(
        "/token", data={"grant_type": "client_credentials", "scope": scope}, auth=agency
    )
    assert response.status_code == 200, response.text
    token: str = response.json()["access_token"]
    return token


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def segment(value: Mapping[str, Any]) -> str:
    return b64(json.dumps(dict(value)).encode())


def assert_invalid_token(response: httpx.Response) -> None:
    """RFC 6750 3.1: 401 with error="invalid_token"; problem+json, never data."""
    assert response.status_code == 401, response.text
    challenge = response.headers["www-authenticate"]
    assert challenge.startswith("Bearer ")
    assert 'error="invalid_token"' in challenge
    assert response.headers["content-type"] == "application/problem+json"


# ------------------------------------------------------------------------------ client_credentials


async def test_client_credentials_answers_a_bearer_token_alone(
    web: httpx.AsyncClient, agency: tuple[str, str], settings: Settings
) -> None:
    response = await web.post(
        "/token", data={"grant_type": "client_credentials", "scope": "verify"}, auth=agency
    )
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    body = response.json()
    assert set(body) == {"access_token", "token_type", "expires_in", "scope"}  # no refresh, no ID
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == settings.access_token_ttl
    assert body["scope"] == "verify"


async def test_client_credentials_issues_an_rfc9068_token_signed_by_a_published_key(
    web: httpx.AsyncClient, agency: tuple[str, str]
) -> None:
    header = jose.unverified_header(await agency_token(web, agency))
    assert header["typ"] == "at+jwt"
    assert header["alg"] == "ES256"
    published = (await web.get("/jwks")).json()
    assert header["kid"] in {k["kid"] for k in published["keys"]}


async def test_a_resource_server_verifies_the_agency_token_against_the_jwks(
    web: httpx.AsyncClient, agency: tuple[str, str], settings: Settings
) -> None:
    token = await agency_token(web, agency)
    published = (await web.get("/jwks")).json()
    # A resource server's view: joserfc verifies the signature against our JWKS.
    claims = jwt.decode(token, KeySet.import_key_set(published), algorithms=["ES256"]).claims
    registry = jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": settings.issuer},
        aud={"essential": True, "value": settings.issuer + "/api"},
        sub={"essential": True, "value": agency[0]},
    )
    registry.validate(claims)
    assert claims["client_id"] == agency[0]
    assert claims["exp"] - claims["iat"] == settings.access_token_ttl
    assert uuid.UUID(claims["jti"])
    assert "gid" not in claims


async def test_without_a_scope_the_agency_gets_every_scope_it_is_allowed(
    web: httpx.AsyncClient, agency: tuple[str, str]
) -> None:
    response = await web.post("/token", data={"grant_type": "client_credentials"}, auth=agency)
    assert response.json()["scope"] == "lookup verify"


@pytest.mark.parametrize("scope", ["verify_batch", "openid", "verify admin", "offline_access"])
async def test_a_scope_outside_the_allowed_set_is_invalid_scope(
    web: httpx.AsyncClient, agency: tuple[str, str], scope: str
) -> None:
    response = await web.post(
        "/token", data={"grant_type": "client_credentials", "scope": scope}, auth=agency
    )
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_scope"
    assert "access_token" not in response.text


async def test_a_relying_party_cannot_use_client_credentials(
    web: httpx.AsyncClient, rp: tuple[str, str]
) -> None:
    response = await web.post("/token", data={"grant_type": "client_credentials"}, auth=rp)
    assert response.status_code == 400
    assert response.json()["error"] == "unauthorized_client"


async def test_the_authenticator_accepts_an_agency_token_with_its_granted_scope(
    web: httpx.AsyncClient, agency: tuple[str, str]
) -> None:
    token = await agency_token(web, agency, scope="verify")
    response = await web.get("/test/agency", headers=bearer(token))
    assert response.status_code == 200, response.text
    assert response.json() == {
        "actor_type": "agency",
        "actor_id": agency[0],
        "roles": ["agency"],
        "scopes": ["verify"],  # what the token carries, not all the client may ask for
        "auth_methods": [],
    }
    # The scheme name is case-insensitive (RFC 7235 2.1).
    assert (await web.get("/test/agency", headers={"authorization": "bEaReR " + token})).is_success


# ------------------------------------------------------------------------------ refused tokens


async def _forged(
    case: str, good: str, web: httpx.AsyncClient, database: Database, settings: Settings
) -> str:
    """A token a resource server must refuse, derived from a good agency token."""
    header = jose.unverified_header(good)
    claims = jose.unverified_claims(good)
    now = int(time.time())

    async def sign(changed: Mapping[str, Any], *, typ: str | None = "at+jwt") -> str:
        async with database.unit_of_work() as session:
            key = await keys.active_key(session, settings, "ES256", cache=keys.SigningKeyCache())
        return jose.sign({**claims, **changed}, key, typ=typ)

    def unsigned(alg: str, mac: Callable[[bytes], bytes] | None = None) -> str:
        signing_input = segment({**header, "alg": alg}) + "." + segment(claims)
        return signing_input + "." + (b64(mac(signing_input.encode())) if mac else "")

    if case == "alg-none":
        return unsigned("none")
    if case == "hs256-with-our-public-key":
        published = (await web.get("/jwks")).json()
        jwk = next(k for k in published["keys"] if k["kid"] == header["kid"])
        pem = ECKey.import_key(jwk).as_pem(private=False)
        return unsigned("HS256", lambda data: hmac.new(pem, data, hashlib.sha256).digest())
    if case == "unknown-kid":
        return jose.sign(claims, keys.generate("ES256"), typ="at+jwt")
    if case == "our-kid-another-key":
        stranger = keys.generate("ES256")
        forged = jose.PrivateSigningKey(
            kid=header["kid"],
            alg="ES256",
            private_key=stranger.private_key,
            public_jwk=stranger.public_jwk,
        )
        return jose.sign(claims, forged, typ="at+jwt")
    if case == "tampered-scope":
        head, _, signature = good.split(".")
        return (
            head
            + "."
            + segment({**claims, "scope": "verify verify_batch lookup"})
            + "."
            + signature
        )
    if case == "expired":
        return await sign({"iat": now - 900, "exp": now - 600})
    if case == "wrong-issuer":
        return await sign({"iss": "https://evil.example"})
    if case == "wrong-audience":
        return await sign({"aud": claims["client_id"]})
    if case == "no-type":
        return await sign({}, typ=None)
    if case == "id-token-type":
        return await sign({}, typ="JWT")
    raise AssertionError(case)


FORGERIES = [
    "alg-none",
    "hs256-with-our-public-key",
    "unknown-kid",
    "our-kid-another-key",
    "tampered-scope",
    "expired",
    "wrong-issuer",
    "wrong-audience",
    "no-type",
    "id-token-type",
]


@pytest.mark.parametrize("case", FORGERIES)
async def test_a_forged_or_misused_token_is_refused(
    web: httpx.AsyncClient,
    agency: tuple[str, str],
    database: Database,
    settings: Settings,
    case: str,
) -> None:
    good = await agency_token(web, agency)
    assert (await web.get("/test/agency", headers=bearer(good))).status_code == 200
    token = await _forged(case, good, web, database, settings)
    assert_invalid_token(await web.get("/test/agency", headers=bearer(token)))
    assert_invalid_token(await web.get("/test/whoami", headers=bearer(token)))
    introspected = await web.post("/introspect", data={"token": token}, auth=agency)
    assert introspected.json() == {"active": False}


async def test_an_id_token_is_not_an_access_token(
    web: httpx.AsyncClient, rp: tuple[str, str]
) -> None:
    tokens = await code_flow_tokens(web, *rp)
    id_token = tokens["id_token"]
    assert_invalid_token(await web.get("/test/whoami", headers=bearer(id_token)))
    userinfo = await web.get("/userinfo", headers=bearer(id_token))
    assert userinfo.status_code == 401
    assert 'error="invalid_token"' in userinfo.headers["www-authenticate"]
    assert (await web.get("/userinfo", headers=bearer(tokens["access_token"]))).status_code == 200


async def test_a_revoked_access_token_is_refused_and_only_its_client_may_revoke_it(
    web: httpx.AsyncClient, agency: tuple[str, str], database: Database, settings: Settings
) -> None:
    token = await agency_token(web, agency)
    other = await make_agency(database, settings)
    # Another client's revocation is answered 200 (RFC 7009 2.2) but changes nothing.
    assert (await web.post("/revoke", data={"token": token}, auth=other)).status_code == 200
    assert (await web.get("/test/agency", headers=bearer(token))).status_code == 200
    assert (await web.post("/introspect", data={"token": token}, auth=other)).json() == {
        "active": False
    }
    assert (await web.post("/introspect", data={"token": token}, auth=agency)).json()["active"]
    response = await web.post(
        "/revoke", data={"token": token, "token_type_hint": "access_token"}, auth=agency
    )
    assert response.status_code == 200
    assert_invalid_token(await web.get("/test/agency", headers=bearer(token)))
    assert (await web.post("/introspect", data={"token": token}, auth=agency)).json() == {
        "active": False
    }
    # Revoking again is harmless.
    assert (await web.post("/revoke", data={"token": token}, auth=agency)).status_code == 200


WRONG_HINTS = [
    ("access_token", "refresh_token"),
    ("refresh_token", "access_token"),
    ("access_token", "id_token"),
    ("refresh_token", "something_else"),
]


@pytest.mark.parametrize(("kind", "hint"), WRONG_HINTS)
async def test_introspection_finds_a_live_token_whatever_its_hint_says(
    web: httpx.AsyncClient, rp: tuple[str, str], kind: str, hint: str
) -> None:
    """RFC 7662 2.1: a hint that does not fit makes the search wider, never narrower."""
    tokens = await code_flow_tokens(web, *rp)
    response = await web.post(
        "/introspect", data={"token": tokens[kind], "token_type_hint": hint}, auth=rp
    )
    assert response.json()["active"] is True


@pytest.mark.parametrize(("kind", "hint"), WRONG_HINTS)
async def test_revocation_revokes_a_token_whatever_its_hint_says(
    web: httpx.AsyncClient, rp: tuple[str, str], kind: str, hint: str
) -> None:
    """RFC 7009 2.1: a hint that does not fit makes the search wider, never narrower."""
    tokens = await code_flow_tokens(web, *rp)
    response = await web.post(
        "/revoke", data={"token": tokens[kind], "token_type_hint": hint}, auth=rp
    )
    assert response.status_code == 200
    introspected = await web.post("/introspect", data={"token": tokens[kind]}, auth=rp)
    assert introspected.json() == {"active": False}
    refreshed = await web.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=rp,
    )
    # A revoked refresh token ends its grant; a revoked access token ends only itself.
    expected = 400 if kind == "refresh_token" else 200
    assert refreshed.status_code == expected, refreshed.text


async def test_a_relying_party_stored_with_an_agency_scope_is_never_granted_it(
    web: httpx.AsyncClient, rp: tuple[str, str], database: Database
) -> None:
    """A row registered before registration refused it: the client type still decides."""
    async with database.unit_of_work() as session:
        await session.execute(
            text(
                "UPDATE oauth_client SET scopes = scopes || ' lookup verify' WHERE client_id = :c"
            ),
            {"c": rp[0]},
        )
    tokens = await code_flow_tokens(web, *rp, scope="openid profile lookup verify")
    assert tokens["scope"].split() == ["openid", "profile"]
    introspected = await web.post("/introspect", data={"token": tokens["access_token"]}, auth=rp)
    assert introspected.json()["scope"].split() == ["openid", "profile"]


async def test_a_token_verified_before_still_expires(
    web: httpx.AsyncClient, agency: tuple[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    token = await agency_token(web, agency)
    # The first use verifies the signature and remembers it; the second takes the short way.
    assert (await web.get("/test/agency", headers=bearer(token))).status_code == 200
    assert (await web.get("/test/agency", headers=bearer(token))).status_code == 200
    expires = int(jose.unverified_claims(token)["exp"])
    monkeypatch.setattr(time, "time", lambda: float(expires))
    assert_invalid_token(await web.get("/test/agency", headers=bearer(token)))


async def test_a_client_suspended_after_issuance_loses_its_tokens(
    web: httpx.AsyncClient, agency: tuple[str, str], database: Database
) -> None:
    token = await agency_token(web, agency)
    assert (await web.get("/test/agency", headers=bearer(token))).status_code == 200
    await _set_client_active(database, agency[0], False)
    assert_invalid_token(await web.get("/test/agency", headers=bearer(token)))
    await _set_client_active(database, agency[0], True)
    assert (await web.get("/test/agency", headers=bearer(token))).status_code == 200


async def test_a_relying_party_suspended_after_issuance_gets_no_more_citizen_data(
    web: httpx.AsyncClient, rp: tuple[str, str], database: Database
) -> None:
    tokens = await code_flow_tokens(web, *rp)
    assert (await web.get("/userinfo", headers=bearer(tokens["access_token"]))).status_code == 200
    await _set_client_active(database, rp[0], False)
    userinfo = await web.get("/userinfo", headers=bearer(tokens["access_token"]))
    assert userinfo.status_code == 401
    assert 'error="invalid_token"' in userinfo.headers["www-authenticate"]


async def _set_client_active(database: Database, client_id: str, active: bool) -> None:
    async with database.unit_of_work() as session:
        await session.execute(
            text("UPDATE oauth_client SET active = :a WHERE client_id = :c"),
            {"a": active, "c": client_id},
        )


@pytest.mark.parametrize("how", ["failures", "citizen", "closed"])
async def test_a_citizen_locked_after_issuance_releases_nothing_more(
    web: httpx.AsyncClient, rp: tuple[str, str], database: Database, how: str
) -> None:
    tokens = await code_flow_tokens(web, *rp)
    access = bearer(tokens["access_token"])
    assert (await web.get("/userinfo", headers=access)).status_code == 200
    async with database.unit_of_work() as session:
        if how == "citizen":
            # The citizen locks it themself: sessions end and grants are revoked.
            from identity import accounts
            from identity import repository as repo
            from tests.identity.factories import CITIZEN_ID

            account = await repo.account_by_citizen(session, CITIZEN_ID)
            assert account is not None
            await accounts.lock(session, account)
        else:
            # Locked after failures, or closed, by a direct status change: the grants stay
            # unrevoked, so only the account check stands between the token and the data.
            await session.execute(
                text("UPDATE account SET status = :s, lock_reason = :r"),
                {"s": "locked" if how == "failures" else "closed", "r": how},
            )
    userinfo = await web.get("/userinfo", headers=access)
    assert userinfo.status_code == 401
    assert 'error="invalid_token"' in userinfo.headers["www-authenticate"]
    assert "sub" not in userinfo.text
    refreshed = await web.post(
        "/token",
        data={"grant_type": "refresh_token", "refresh_token": tokens["refresh_token"]},
        auth=rp,
    )
    assert refreshed.status_code == 400
    assert refreshed.json()["error"] == "invalid_grant"
    assert "access_token" not in refreshed.text


async def test_a_third_party_token_does_not_act_as_the_citizen_on_the_registry_api(
    web: httpx.AsyncClient, rp: tuple[str, str], database: Database, settings: Settings
) -> None:
    """A relying party's token releases consented claims at /userinfo; it cannot lock the
    identity, manage passkeys or read the citizen's access log on the citizen's behalf."""
    tokens = await code_flow_tokens(web, *rp)
    access = bearer(tokens["access_token"])
    seen = await web.get("/test/whoami", headers=access)
    assert seen.status_code == 200
    assert seen.json()["roles"] == []
    for method, path in [
        ("POST", "/api/v1/me/lock"),
        ("GET", "/api/v1/me/passkeys"),
        ("GET", "/api/v1/me/consents"),
        ("GET", "/api/v1/me/access-log"),
    ]:
        response = await web.request(method, path, headers=access)
        assert response.status_code == 403, (path, response.text)
    assert (await web.get("/userinfo", headers=access)).status_code == 200  # still usable


async def test_a_first_party_token_acts_as_the_citizen(
    web: httpx.AsyncClient, rp: tuple[str, str], database: Database, settings: Settings
) -> None:
    from tests.identity.factories import CITIZEN_ID

    portal = await make_rp(database, settings, first_party=True)
    tokens = await code_flow_tokens(web, *portal)
    access = bearer(tokens["access_token"])
    seen = (await web.get("/test/whoami", headers=access)).json()
    assert seen["actor_type"] == "citizen"
    assert seen["actor_id"] == CITIZEN_ID
    assert seen["roles"] == ["citizen"]
    assert seen["auth_methods"] == ["pwd"]
    assert (await web.get("/api/v1/me/passkeys", headers=access)).json() == []
    # An agency token never acts as a citizen either.
    agency = await make_agency(database, settings)
    agency_access = bearer(await agency_token(web, agency))
    assert (await web.get("/api/v1/me/passkeys", headers=agency_access)).status_code == 403


@hypothesis_settings(
    max_examples=75,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    token=st.one_of(
        st.text(st.characters(min_codepoint=0x21, max_codepoint=0x7E), min_size=1, max_size=200),
        st.tuples(
            st.dictionaries(
                st.sampled_from(["alg", "kid", "typ", "crit", "jku"]),
                st.one_of(
                    st.text(max_size=20),
                    st.integers(),
                    st.none(),
                    st.sampled_from(["ES256", "RS256", "none", "HS256", "at+jwt"]),
                ),
            ),
            st.dictionaries(st.text(max_size=8), st.integers() | st.text(max_size=20)),
            st.binary(max_size=80),
        ).map(lambda t: segment(t[0]) + "." + segment(t[1]) + "." + b64(t[2])),
    )
)
async def test_any_bearer_string_is_refused_cleanly(web: httpx.AsyncClient, token: str) -> None:
    """Random strings and random JWS-shaped tokens: 401 invalid_token, never a 500."""
    response = await web.get("/test/whoami", headers=bearer(token))
    assert_invalid_token(response)
    userinfo = await web.get("/userinfo", headers=bearer(token))
    assert userinfo.status_code == 401


# Every route a bearer token opens, the agency API's lean lookup and verify included (a
# well-formed query or body takes the lean handler).
BEARER_ROUTES = [
    ("GET", "/userinfo", None),
    ("POST", "/userinfo", None),
    ("GET", "/api/v1/citizens/001303004512?fields=full_name&purpose=kyc.account_opening", None),
    (
        "POST",
        "/api/v1/verify",
        {
            "id_number": "001303004512",
            "purpose": "kyc.account_opening",
            "claims": {"full_name": "Nguyễn Thị Minh Anh"},
        },
    ),
    (
        "POST",
        "/api/v1/verify/batch",
        {
            "purpose": "kyc.account_opening",
            "items": [{"id_number": "001303004512", "claims": {"birth_date": "2003-05-14"}}],
        },
    ),
    ("GET", "/api/v1/me/passkeys", None),
    ("GET", "/api/v1/me/consents", None),
    ("GET", "/api/v1/me/aliases", None),
    ("GET", "/api/v1/me/access-log", None),
    ("POST", "/api/v1/me/lock", None),
    ("GET", "/api/v1/officials/citizens/001303004512", None),
    ("POST", "/api/v1/officials/citizens/001303004512/activation-code", None),
    ("GET", "/api/v1/audit/events", None),
]
KID_SHAPES = [{"kid": "x"}, ["x"], 7, None, ""]


@pytest.mark.parametrize("kid", KID_SHAPES, ids=lambda kid: type(kid).__name__ + repr(kid))
@pytest.mark.parametrize(
    ("method", "path", "body"), BEARER_ROUTES, ids=[m + " " + p for m, p, _ in BEARER_ROUTES]
)
async def test_a_token_whose_kid_is_not_a_string_is_refused_on_every_bearer_route(
    web: httpx.AsyncClient,
    agency: tuple[str, str],
    method: str,
    path: str,
    body: dict[str, Any] | None,
    kid: object,
) -> None:
    good = await agency_token(web, agency)
    # A valid token first, so that the verification keys are cached as in a running server.
    assert (await web.get("/test/agency", headers=bearer(good))).status_code == 200
    header = {**jose.unverified_header(good), "kid": kid}
    head, claims, signature = good.split(".")
    forged = segment(header) + "." + claims + "." + signature
    response = await web.request(method, path, json=body, headers=bearer(forged))
    assert response.status_code == 401, response.text
    assert 'error="invalid_token"' in response.headers["www-authenticate"]
    introspected = await web.post("/introspect", data={"token": forged}, auth=agency)
    assert introspected.json() == {"active": False}
    assert (await web.post("/revoke", data={"token": forged}, auth=agency)).status_code == 200


# ------------------------------------------------------------------------------ audit failure


async def test_a_failing_audit_insert_at_redemption_issues_nothing_and_keeps_the_code(
    web: httpx.AsyncClient, rp: tuple[str, str], database: Database, database_url: str
) -> None:
    """No release without its record: 503 problem+json, no token, and the code still unused."""
    code, verifier = await authorization_code(web, rp[0])
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": RP_REDIRECT,
        "code_verifier": verifier,
    }
    await fail_audit_inserts(database_url)
    response = await web.post("/token", data=form, auth=rp)
    assert response.status_code == 503, response.text
    assert response.headers["content-type"] == "application/problem+json"
    assert response.json()["code"] == "audit-unavailable"
    for secret in ("access_token", "id_token", "refresh_token", "eyJ"):
        assert secret not in response.text
    async with database.unit_of_work() as session:
        used = (await session.execute(text("SELECT used_at FROM authorization_code"))).all()
        issued = (await session.execute(text("SELECT count(*) FROM refresh_token"))).scalar()
    assert used == [(None,)]
    assert issued == 0
    # Once the audit store is back, the same code is redeemed once, with its record.
    await heal_audit_inserts(database_url)
    again = await web.post("/token", data=form, auth=rp)
    assert again.status_code == 200, again.text
    assert again.json()["access_token"]
    async with database.unit_of_work() as session:
        recorded = await session.execute(
            text("SELECT count(*) FROM audit_event WHERE action = 'oidc.token'")
        )
        assert recorded.scalar() == 1
    assert (await web.post("/token", data=form, auth=rp)).json()["error"] == "invalid_grant"


# ------------------------------------------------------------------------------ key rotation


def _kid(token: str) -> str:
    return str(jose.unverified_header(token)["kid"])


async def test_rotation_signs_with_the_new_key_and_keeps_the_old_one_verifying(
    web: httpx.AsyncClient,
    rp: tuple[str, str],
    database: Database,
    settings: Settings,
    app: FastAPI,
) -> None:
    before = await code_flow_tokens(web, *rp)
    signing = app.state.identity.tokens.signing  # the app rotates: it signs with the new keys
    async with database.unit_of_work() as session:
        new = {k.alg: k.kid for k in await keys.rotate(session, settings, cache=signing)}
    after = await code_flow_tokens(web, *rp)
    old_kids = {_kid(before["id_token"]), _kid(before["access_token"])}
    assert _kid(after["id_token"]) == new["RS256"]
    assert _kid(after["access_token"]) == new["ES256"]
    assert old_kids.isdisjoint(new.values())

    published = (await web.get("/jwks")).json()
    assert {k["kid"] for k in published["keys"]} == old_kids | set(new.values())
    # A relying party holding the old ID token still verifies it against the JWKS.
    claims = jwt.decode(
        before["id_token"], KeySet.import_key_set(published), algorithms=["RS256"]
    ).claims
    jwt.JWTClaimsRegistry(
        iss={"essential": True, "value": settings.issuer},
        aud={"essential": True, "value": rp[0]},
    ).validate(claims)
    for token in (before["access_token"], after["access_token"]):
        assert (await web.get("/userinfo", headers=bearer(token))).status_code == 200

    # Once publish_until has passed, the retired keys leave the JWKS.
    async with database.unit_of_work() as session:
        await session.execute(
            text("UPDATE signing_key SET publish_until = :t WHERE active = :f"),
            {"t": datetime(2000, 1, 1, tzinfo=UTC), "f": False},
        )
    published = (await web.get("/jwks")).json()
    assert {k["kid"] for k in published["keys"]} == set(new.values())
    with pytest.raises(InvalidKeyIdError):
        jwt.decode(before["id_token"], KeySet.import_key_set(published), algorithms=["RS256"])
