"""Client authentication at /token, /revoke and /introspect, and client registration rules.

Assertions for private_key_jwt are built with Authlib's RFC 7523 helpers over joserfc keys (a
library, not our code); the refusals are what an attacker holding the wrong material would send.
"""

from __future__ import annotations

import asyncio
import base64
import hashlib
import json
import time
from typing import Any
from urllib.parse import quote_plus

import httpx
import pytest
from authlib.oauth2.rfc7523 import private_key_jwt_sign
from authlib.oauth2.rfc7523.assertion import sign_jwt_bearer_assertion
from hypothesis import HealthCheck, given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st
from joserfc.jwk import ECKey, RSAKey
from sqlalchemy import text

from core.db import Database
from core.errors import ValidationFailed
from core.settings import Settings
from identity import repository as repo
from identity.oidc.clients import ASSERTION_TYPE, create_client
from tests.faults import fail_audit_inserts, heal_audit_inserts
from tests.identity.factories import (
    RP_REDIRECT,
    authorization_code,
    make_account,
    make_agency,
    make_citizen,
    make_rp,
)

ENDPOINTS = ("/token", "/revoke", "/introspect")
OAUTH_ERRORS = {
    "invalid_request",
    "invalid_client",
    "invalid_grant",
    "unauthorized_client",
    "unsupported_grant_type",
    "invalid_scope",
}

ClientKey = ECKey | RSAKey


def basic(client_id: str, secret: str) -> dict[str, str]:
    """RFC 6749 2.3.1: id and secret form-urlencoded, then HTTP Basic."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return {"authorization": "Basic " + base64.b64encode(raw).decode()}


def client_key(alg: str) -> ClientKey:
    """A fresh client key for ``alg``."""
    if alg == "ES256":
        return ECKey.generate_key("P-256")
    return RSAKey.generate_key(2048)


def public_jwks(key: ClientKey) -> dict[str, Any]:
    """The client's public JWK Set, the key named by its RFC 7638 thumbprint."""
    return {"keys": [{**key.as_dict(private=False), "kid": key.thumbprint(), "use": "sig"}]}


async def make_key_client(
    database: Database, settings: Settings, key: ClientKey, **overrides: Any
) -> str:
    """An agency that authenticates with private_key_jwt; its client id."""
    client_id, secret = await make_agency(
        database, settings, auth_method="private_key_jwt", jwks=public_jwks(key), **overrides
    )
    assert secret == ""  # no secret for a key-authenticated client
    return client_id


def assertion(
    key: ClientKey,
    client_id: str,
    audience: str,
    *,
    alg: str = "ES256",
    kid: str | None = None,
    **claims: Any,
) -> str:
    """A client assertion (RFC 7523 3) signed by Authlib, valid for one minute."""
    signed = private_key_jwt_sign(
        key,
        client_id=client_id,
        token_endpoint=audience,
        alg=alg,
        header={"kid": kid or key.thumbprint()},
        expires_in=60,
        claims=claims or None,
    )
    return signed.decode() if isinstance(signed, bytes) else str(signed)


def assertion_form(token: str, **extra: str) -> dict[str, str]:
    """The form members of private_key_jwt."""
    return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": token, **extra}


def client_credentials(scope: str = "verify") -> dict[str, str]:
    return {"grant_type": "client_credentials", "scope": scope}


async def call(
    web: httpx.AsyncClient, endpoint: str, form: dict[str, str], **kwargs: Any
) -> httpx.Response:
    """POST to an endpoint with what it needs besides client authentication."""
    body = dict(form)
    if endpoint == "/token":
        body.update(client_credentials())
    else:
        body.setdefault("token", "not-a-token")
    return await web.post(endpoint, data=body, **kwargs)


def assert_ok(response: httpx.Response, endpoint: str) -> None:
    assert response.status_code == 200, response.text
    if endpoint == "/token":
        assert response.json()["access_token"]
    elif endpoint == "/introspect":
        assert response.json() == {"active": False}


def assert_invalid_client(response: httpx.Response, *, basic_used: bool = False) -> None:
    assert response.status_code == 401, response.text
    assert response.headers["content-type"] == "application/json"
    assert response.json()["error"] == "invalid_client"
    assert response.headers["cache-control"] == "no-store"
    if basic_used:
        assert response.headers["www-authenticate"].startswith("Basic ")
    else:
        assert "www-authenticate" not in response.headers
    assert "access_token" not in response.text


# ------------------------------------------------------------------------------ accepted


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_client_secret_basic_is_accepted(
    web: httpx.AsyncClient, database: Database, settings: Settings, endpoint: str
) -> None:
    client_id, secret = await make_agency(database, settings)
    response = await call(web, endpoint, {}, headers=basic(client_id, secret))
    assert_ok(response, endpoint)


async def test_basic_credentials_are_form_urlencoded_before_encoding(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    """RFC 6749 2.3.1: an id and secret with ':', '+', '%', spaces and non-ASCII letters."""
    client_id = "thuế:cục+1 %/ví dụ"
    secret = "p@ss:wörd+%2B /&=?"
    await make_agency(database, settings, client_id=client_id)
    async with database.unit_of_work() as session:
        await session.execute(
            text("UPDATE oauth_client SET secret_hash = :h WHERE client_id = :c"),
            {"h": hashlib.sha256(secret.encode()).hexdigest(), "c": client_id},
        )
    response = await web.post("/token", data=client_credentials(), headers=basic(client_id, secret))
    assert response.status_code == 200, response.text
    # The same characters sent without form-urlencoding do not authenticate ('+' is a space).
    raw = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    response = await web.post(
        "/token", data=client_credentials(), headers={"authorization": "Basic " + raw}
    )
    assert_invalid_client(response, basic_used=True)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_client_secret_post_is_accepted(
    web: httpx.AsyncClient, database: Database, settings: Settings, endpoint: str
) -> None:
    client_id, secret = await make_agency(database, settings, auth_method="client_secret_post")
    response = await call(web, endpoint, {"client_id": client_id, "client_secret": secret})
    assert_ok(response, endpoint)


@pytest.mark.parametrize("alg", ["ES256", "RS256", "PS256"])
@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_private_key_jwt_is_accepted(
    web: httpx.AsyncClient, database: Database, settings: Settings, endpoint: str, alg: str
) -> None:
    key = client_key(alg)
    client_id = await make_key_client(database, settings, key)
    token = assertion(key, client_id, settings.issuer + endpoint, alg=alg)
    response = await call(web, endpoint, assertion_form(token))
    assert_ok(response, endpoint)


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_private_key_jwt_accepts_the_issuer_and_the_token_endpoint_as_audience(
    web: httpx.AsyncClient, database: Database, settings: Settings, endpoint: str
) -> None:
    """RFC 7523 3: the issuer identifies us; OIDC Core 9: the token endpoint URL SHOULD be used,
    also when the client authenticates at revocation or introspection."""
    key = client_key("ES256")
    client_id = await make_key_client(database, settings, key)
    for audience in (settings.issuer, settings.issuer + "/token"):
        response = await call(web, endpoint, assertion_form(assertion(key, client_id, audience)))
        assert_ok(response, endpoint)


async def test_a_client_id_in_the_form_must_match_the_assertion(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    key = client_key("ES256")
    client_id = await make_key_client(database, settings, key)
    other_id, _ = await make_agency(database, settings)
    aud = settings.issuer + "/token"
    ok = await call(
        web, "/token", assertion_form(assertion(key, client_id, aud), client_id=client_id)
    )
    assert_ok(ok, "/token")
    response = await call(
        web, "/token", assertion_form(assertion(key, client_id, aud), client_id=other_id)
    )
    assert_invalid_client(response)


# ------------------------------------------------------------------------------ refused: secrets


@pytest.mark.parametrize("endpoint", ENDPOINTS)
async def test_a_wrong_secret_is_invalid_client_with_a_basic_challenge(
    web: httpx.AsyncClient, database: Database, settings: Settings, endpoint: str
) -> None:
    client_id, secret = await make_agency(database, settings)
    wrong = await call(web, endpoint, {}, headers=basic(client_id, secret + "x"))
    assert_invalid_client(wrong, basic_used=True)
    unknown = await call(web, endpoint, {}, headers=basic("no-such-client", secret))
    assert_invalid_client(unknown, basic_used=True)
    # An unknown client and a wrong secret get the same answer (no client enumeration).
    assert wrong.json() == unknown.json()


async def test_a_wrong_secret_by_post_is_invalid_client_without_a_basic_challenge(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    client_id, secret = await make_agency(database, settings, auth_method="client_secret_post")
    response = await call(web, "/token", {"client_id": client_id, "client_secret": secret[:-1]})
    assert_invalid_client(response)


@pytest.mark.parametrize(
    "header",
    ["Basic", "Basic !!!!", "Basic " + base64.b64encode(b"no-colon").decode(), "Basic w6k="],
)
async def test_malformed_basic_credentials_are_invalid_client(
    web: httpx.AsyncClient, header: str
) -> None:
    response = await call(web, "/token", {}, headers={"authorization": header})
    assert_invalid_client(response, basic_used=header != "Basic")


async def test_no_client_authentication_is_invalid_client(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    client_id, _ = await make_agency(database, settings)
    for endpoint in ENDPOINTS:
        assert_invalid_client(await call(web, endpoint, {"client_id": client_id}))


async def test_two_methods_at_once_are_refused(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    """RFC 6749 2.3: a client must not use more than one authentication method per request."""
    client_id, secret = await make_agency(database, settings)
    key = client_key("ES256")
    key_client = await make_key_client(database, settings, key)
    token = assertion(key, key_client, settings.issuer + "/token")
    both_secrets = await call(
        web,
        "/token",
        {"client_id": client_id, "client_secret": secret},
        headers=basic(client_id, secret),
    )
    assert_invalid_client(both_secrets, basic_used=True)
    basic_and_key = await call(
        web, "/token", assertion_form(token), headers=basic(client_id, secret)
    )
    assert_invalid_client(basic_and_key, basic_used=True)
    post_and_key = await call(
        web, "/token", assertion_form(token, client_id=key_client, client_secret=secret)
    )
    assert_invalid_client(post_and_key)


async def test_a_basic_client_id_that_differs_from_the_form_is_refused(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    client_id, secret = await make_agency(database, settings)
    other_id, _ = await make_agency(database, settings)
    response = await call(web, "/token", {"client_id": other_id}, headers=basic(client_id, secret))
    assert_invalid_client(response, basic_used=True)


async def test_a_client_must_use_the_method_it_registered(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    basic_id, basic_secret = await make_agency(database, settings)
    post_id, post_secret = await make_agency(database, settings, auth_method="client_secret_post")
    key = client_key("ES256")
    key_id = await make_key_client(database, settings, key)

    as_post = await call(web, "/token", {"client_id": basic_id, "client_secret": basic_secret})
    assert_invalid_client(as_post)
    assert "client_secret_basic" in as_post.json()["error_description"]
    as_basic = await call(web, "/token", {}, headers=basic(post_id, post_secret))
    assert_invalid_client(as_basic, basic_used=True)
    # A secret client cannot switch to assertions signed by a key it never registered.
    foreign = assertion(key, basic_id, settings.issuer + "/token")
    assert_invalid_client(await call(web, "/token", assertion_form(foreign)))
    # A key client has no secret: nothing it sends as a secret authenticates it.
    for secret in ("", "0" * 64, "None"):
        response = await call(web, "/token", {}, headers=basic(key_id, secret))
        assert_invalid_client(response, basic_used=True)


async def test_a_suspended_client_cannot_authenticate(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    client_id, secret = await make_agency(database, settings)
    key = client_key("ES256")
    key_id = await make_key_client(database, settings, key)
    async with database.unit_of_work() as session:
        await session.execute(text("UPDATE oauth_client SET active = :f"), {"f": False})
    for endpoint in ENDPOINTS:
        response = await call(web, endpoint, {}, headers=basic(client_id, secret))
        assert_invalid_client(response, basic_used=True)
        token = assertion(key, key_id, settings.issuer + endpoint)
        assert_invalid_client(await call(web, endpoint, assertion_form(token)))


async def test_a_client_id_with_a_nul_character_names_no_client(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    """PostgreSQL text cannot hold NUL: the lookup must say "unknown client", not fail (a 500)."""
    client_id, secret = await make_agency(database, settings, auth_method="client_secret_post")
    nul_id = client_id + "\x00"
    assert_invalid_client(await call(web, "/token", {"client_id": nul_id, "client_secret": secret}))
    response = await call(web, "/introspect", {}, headers=basic(nul_id, secret))
    assert_invalid_client(response, basic_used=True)
    key = client_key("ES256")
    token = assertion(key, nul_id, settings.issuer + "/token")
    assert_invalid_client(await call(web, "/revoke", assertion_form(token)))
    page = await web.get(
        "/authorize",
        params={"client_id": nul_id, "response_type": "code", "redirect_uri": RP_REDIRECT},
    )
    # Refused before any client is looked up (core.inputs), and not sent to the redirect URI.
    assert page.status_code == 422
    assert "location" not in page.headers


# ------------------------------------------------------------------------------ refused: assertions


async def test_a_replayed_assertion_is_refused(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    """RFC 7523 3: the jti is accepted once, at any endpoint."""
    key = client_key("ES256")
    client_id = await make_key_client(database, settings, key)
    token = assertion(key, client_id, settings.issuer)
    assert_ok(await call(web, "/token", assertion_form(token)), "/token")
    for endpoint in ENDPOINTS:
        replay = await call(web, endpoint, assertion_form(token))
        assert_invalid_client(replay)
        assert "already used" in replay.json()["error_description"]
    # A new assertion with the same jti is a replay too, whatever else changed.
    jti = json.loads(base64.urlsafe_b64decode(token.split(".")[1] + "==="))["jti"]
    same_jti = assertion(key, client_id, settings.issuer + "/token", jti=jti)
    assert_invalid_client(await call(web, "/token", assertion_form(same_jti)))


async def test_one_assertion_sent_several_times_at_once_is_accepted_once(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    key = client_key("ES256")
    client_id = await make_key_client(database, settings, key)
    token = assertion(key, client_id, settings.issuer)
    answers = await asyncio.gather(*(call(web, "/token", assertion_form(token)) for _ in range(4)))
    assert sorted(a.status_code for a in answers) == [200, 401, 401, 401]


FAILING_REQUESTS = [
    ("/token", {"grant_type": "client_credentials", "scope": "openid"}),  # invalid_scope
    ("/token", {"grant_type": "authorization_code", "code": "x", "code_verifier": "y"}),
    ("/token", {"grant_type": "password"}),  # unsupported_grant_type
    ("/revoke", {}),  # invalid_request: no token
    ("/introspect", {}),
]


@pytest.mark.parametrize(("endpoint", "form"), FAILING_REQUESTS)
async def test_an_assertion_is_spent_by_a_request_that_fails_after_authentication(
    web: httpx.AsyncClient,
    database: Database,
    settings: Settings,
    endpoint: str,
    form: dict[str, str],
) -> None:
    """RFC 7523 3: a jti once accepted is spent, whatever becomes of the request."""
    key = client_key("ES256")
    client_id = await make_key_client(database, settings, key)
    token = assertion(key, client_id, settings.issuer)
    failed = await web.post(endpoint, data={**form, **assertion_form(token)})
    assert failed.status_code == 400, failed.text
    replay = await call(web, "/token", assertion_form(token))
    assert_invalid_client(replay)
    assert "already used" in replay.json()["error_description"]


async def test_an_assertion_is_spent_by_a_redemption_the_audit_store_refused(
    web: httpx.AsyncClient, database: Database, settings: Settings, database_url: str
) -> None:
    key = client_key("ES256")
    await make_citizen(database)
    await make_account(database, settings)
    client_id, _ = await make_rp(
        database, settings, auth_method="private_key_jwt", jwks=public_jwks(key)
    )
    code, verifier = await authorization_code(web, client_id)
    token = assertion(key, client_id, settings.issuer)
    form = {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": RP_REDIRECT,
        "code_verifier": verifier,
        **assertion_form(token),
    }
    await fail_audit_inserts(database_url)
    assert (await web.post("/token", data=form)).status_code == 503
    await heal_audit_inserts(database_url)
    replay = await web.post("/token", data=form)
    assert_invalid_client(replay)
    assert "already used" in replay.json()["error_description"]
    # The code itself was not spent: a fresh assertion redeems it.
    fresh = assertion(key, client_id, settings.issuer)
    redeemed = await web.post("/token", data={**form, **assertion_form(fresh)})
    assert redeemed.status_code == 200, redeemed.text


def _segment(value: dict[str, Any]) -> str:
    return base64.urlsafe_b64encode(json.dumps(value).encode()).rstrip(b"=").decode()


def _bad_assertion(case: str, key: ClientKey, client_id: str, settings: Settings) -> str:
    """An assertion that must be refused, built the way an attacker or a broken client would."""
    now = int(time.time())
    aud = settings.issuer + "/token"
    header = {"alg": "ES256", "kid": key.thumbprint()}

    def signed(signer: ClientKey, **kwargs: Any) -> str:
        kwargs.setdefault("audience", aud)
        kwargs.setdefault("claims", {"jti": f"jti-{case}-{now}"})
        out = sign_jwt_bearer_assertion(
            signer, issuer=client_id, subject=client_id, header=dict(header), **kwargs
        )
        return out.decode() if isinstance(out, bytes) else str(out)

    if case == "wrong-audience":
        return signed(key, audience="https://other-provider.example/token")
    if case == "expired":
        return signed(key, issued_at=now - 600, expires_at=now - 300)
    if case == "lives-too-long":
        return signed(key, expires_in=3600)  # Authlib's default lifetime: beyond our 5 minutes
    if case == "other-key-same-kid":
        return signed(client_key("ES256"))
    if case == "other-key-own-kid":
        other = client_key("ES256")
        header["kid"] = other.thumbprint()
        return signed(other)
    if case == "no-jti":
        return signed(key, claims={})
    if case == "iss-not-sub":
        out = sign_jwt_bearer_assertion(
            key,
            issuer=client_id,
            subject="someone-else",
            audience=aud,
            header=dict(header),
            expires_in=60,
        )
        return out.decode() if isinstance(out, bytes) else str(out)
    claims = {"iss": client_id, "sub": client_id, "aud": aud, "exp": now + 60, "jti": case}
    if case == "alg-none":
        return _segment({"alg": "none", "kid": key.thumbprint()}) + "." + _segment(claims) + "."
    if case == "alg-none-no-kid":
        return _segment({"alg": "none"}) + "." + _segment(claims) + "."
    if case == "not-a-jwt":
        return "definitely.not.a-jwt"
    raise AssertionError(case)


BAD_ASSERTIONS = [
    "wrong-audience",
    "expired",
    "lives-too-long",
    "other-key-same-kid",
    "other-key-own-kid",
    "no-jti",
    "iss-not-sub",
    "alg-none",
    "alg-none-no-kid",
    "not-a-jwt",
]


@pytest.mark.parametrize("case", BAD_ASSERTIONS)
async def test_a_bad_assertion_is_invalid_client(
    web: httpx.AsyncClient, database: Database, settings: Settings, case: str
) -> None:
    key = client_key("ES256")
    client_id = await make_key_client(database, settings, key)
    response = await call(
        web, "/token", assertion_form(_bad_assertion(case, key, client_id, settings))
    )
    assert_invalid_client(response)


async def test_an_assertion_needs_the_registered_assertion_type(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    key = client_key("ES256")
    client_id = await make_key_client(database, settings, key)
    token = assertion(key, client_id, settings.issuer + "/token")
    form = {"client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"}
    assert_invalid_client(await call(web, "/token", {**form, "client_assertion": token}))
    assert_invalid_client(await call(web, "/token", {"client_assertion": token}))


async def test_an_hmac_assertion_keyed_with_the_public_key_is_refused(
    web: httpx.AsyncClient, database: Database, settings: Settings
) -> None:
    """Algorithm confusion: HS256 over the client's public key, which anyone can fetch."""
    import hmac

    key = client_key("RS256")
    client_id = await make_key_client(database, settings, key)
    now = int(time.time())
    claims = {
        "iss": client_id,
        "sub": client_id,
        "aud": settings.issuer + "/token",
        "exp": now + 60,
        "iat": now,
        "jti": "hmac-confusion",
    }
    signing_input = (
        _segment({"alg": "HS256", "kid": key.thumbprint()}) + "." + _segment(claims)
    ).encode()
    for secret in (key.as_pem(private=False), json.dumps(public_jwks(key)["keys"][0]).encode()):
        mac = hmac.new(secret, signing_input, hashlib.sha256).digest()
        token = signing_input.decode() + "." + base64.urlsafe_b64encode(mac).rstrip(b"=").decode()
        assert_invalid_client(await call(web, "/token", assertion_form(token)))


# ------------------------------------------------------------------------------ properties


form_keys = st.sampled_from(
    [
        "grant_type",
        "client_id",
        "client_secret",
        "client_assertion",
        "client_assertion_type",
        "code",
        "redirect_uri",
        "code_verifier",
        "refresh_token",
        "scope",
        "token",
    ]
)
form_values = st.one_of(
    st.text(max_size=80),
    st.sampled_from(
        [
            "authorization_code",
            "refresh_token",
            "client_credentials",
            ASSERTION_TYPE,
            "openid",
            "verify",
            "a.b.c",
            "\x00",
            "%00",
            "eyJhbGciOiJub25lIn0.e30.",
        ]
    ),
)
header_text = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=60)


@pytest.fixture
async def rp_credentials(database: Database, settings: Settings) -> tuple[str, str]:
    """A real relying party (created once: hypothesis runs every example on one database)."""
    return await make_rp(database, settings)


@hypothesis_settings(
    max_examples=75,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    form=st.dictionaries(form_keys, form_values, max_size=6),
    authorization=st.none() | header_text | header_text.map(lambda t: "Basic " + t),
    use_real_client=st.booleans(),
)
async def test_any_form_at_the_token_endpoint_gets_an_rfc6749_error(
    web: httpx.AsyncClient,
    rp_credentials: tuple[str, str],
    form: dict[str, str],
    authorization: str | None,
    use_real_client: bool,
) -> None:
    """Random forms (sometimes from a real relying party): a 4xx with an RFC 6749 5.2 body."""
    headers = {"authorization": authorization} if authorization is not None else {}
    if use_real_client:
        headers = basic(*rp_credentials)
        for name in ("client_id", "client_secret", "client_assertion", "client_assertion_type"):
            form.pop(name, None)
    response = await web.post("/token", data=form, headers=headers)
    assert response.status_code in (400, 401), response.text
    assert response.headers["content-type"] == "application/json"
    body = response.json()
    assert body["error"] in OAUTH_ERRORS
    assert set(body) <= {"error", "error_description"}
    assert "access_token" not in body


# ------------------------------------------------------------------------------ registration


async def test_a_secret_is_256_bits_and_only_its_sha256_is_stored(
    database: Database, settings: Settings
) -> None:
    async with database.unit_of_work() as session:
        new = await create_client(
            session, settings, name="Bảo hiểm xã hội", type="agency", scopes=["verify"]
        )
    assert new.secret is not None
    raw = base64.urlsafe_b64decode(new.secret + "=" * (-len(new.secret) % 4))
    assert len(raw) == 32
    async with database.unit_of_work() as session:
        row = repo.as_dict(await repo.client(session, new.client.client_id))
    assert row["secret_hash"] == hashlib.sha256(new.secret.encode()).hexdigest()
    assert all(new.secret not in str(value) for value in row.values())
    secrets_seen = set()
    for _ in range(5):
        async with database.unit_of_work() as session:
            other = await create_client(session, settings, name="x", type="agency")
        secrets_seen.add(other.secret)
    assert len(secrets_seen) == 5


async def test_a_key_client_gets_no_secret(database: Database, settings: Settings) -> None:
    key = client_key("ES256")
    async with database.unit_of_work() as session:
        new = await create_client(
            session,
            settings,
            name="Kho bạc",
            type="agency",
            auth_method="private_key_jwt",
            jwks=public_jwks(key),
        )
        assert new.secret is None
        row = await repo.client(session, new.client.client_id)
        assert row is not None
        assert row.secret_hash is None
        assert json.loads(row.jwks or "") == public_jwks(key)


@pytest.mark.parametrize(
    ("uris", "production", "accepted"),
    [
        (["https://rp.example.vn/cb"], True, True),
        (["http://localhost:3000/cb"], False, True),
        (["http://127.0.0.1:3000/cb"], False, True),
        (["http://[::1]:3000/cb"], False, True),
        (["http://localhost:3000/cb"], True, False),
        (["http://rp.example.vn/cb"], False, False),
        (["http://localhost.evil.example/cb"], False, False),
        (["https://rp.example.vn/cb#frag"], False, False),
        (["https://rp.example.vn/cb#"], False, False),
        (["/relative/cb"], False, False),
        (["https:///no-host"], False, False),
        (["javascript:alert(1)"], False, False),
        (["custom.app:/cb"], False, False),
        ([RP_REDIRECT, "http://rp.example.vn/cb"], False, False),
    ],
)
async def test_redirect_uris_must_be_https_absolute_and_without_fragment(
    database: Database, settings: Settings, uris: list[str], production: bool, accepted: bool
) -> None:
    used = settings.model_copy(update={"environment": "production"}) if production else settings
    async with database.unit_of_work() as session:
        if accepted:
            new = await create_client(session, used, name="RP", type="rp", redirect_uris=uris)
            assert json.loads(new.client.redirect_uris) == uris
        else:
            with pytest.raises(ValidationFailed) as exc:
                await create_client(session, used, name="RP", type="rp", redirect_uris=uris)
            assert exc.value.status == 422
            assert [e.parameter for e in exc.value.errors] == ["redirect_uri"]


async def test_post_logout_redirect_uris_follow_the_same_rules(
    database: Database, settings: Settings
) -> None:
    async with database.unit_of_work() as session:
        with pytest.raises(ValidationFailed):
            await create_client(
                session,
                settings,
                name="RP",
                type="rp",
                redirect_uris=[RP_REDIRECT],
                post_logout_redirect_uris=["http://rp.example.vn/bye"],
            )


@pytest.mark.parametrize(
    ("kwargs", "parameter"),
    [
        ({"type": "rp", "scopes": ["openid", "everything"]}, "scope"),
        ({"type": "agency", "scopes": ["verify", "admin"]}, "scope"),
        ({"type": "rp", "redirect_uris": []}, "redirect_uri"),
        ({"type": "rp", "auth_method": "private_key_jwt"}, "jwks"),
        ({"type": "rp", "auth_method": "private_key_jwt", "jwks": {"keys": []}}, "jwks"),
        ({"type": "rp", "auth_method": "client_secret_jwt"}, "auth"),
        ({"type": "rp", "auth_method": "none"}, "auth"),
        ({"type": "rp", "id_token_alg": "HS256"}, "alg"),
        ({"type": "rp", "id_token_alg": "none"}, "alg"),
        ({"type": "public"}, "type"),
        ({"type": "rp", "name": "   "}, "name"),
        ({"type": "rp", "name": "x" * 201}, "name"),
    ],
)
async def test_invalid_registrations_are_refused(
    database: Database, settings: Settings, kwargs: dict[str, Any], parameter: str
) -> None:
    values: dict[str, Any] = {"name": "Cổng", "redirect_uris": [RP_REDIRECT], **kwargs}
    async with database.unit_of_work() as session:
        with pytest.raises(ValidationFailed) as exc:
            await create_client(session, settings, **values)
    assert parameter in [e.parameter for e in exc.value.errors]
    async with database.unit_of_work() as session:
        assert await repo.clients(session) == []


@pytest.mark.parametrize(
    ("type", "scope"),
    [
        ("rp", "verify"),
        ("rp", "verify_batch"),
        ("rp", "lookup"),
        ("agency", "openid"),
        ("agency", "profile"),
        ("agency", "offline_access"),
    ],
)
async def test_a_client_is_registered_only_with_scopes_its_type_can_use(
    database: Database, settings: Settings, type: str, scope: str
) -> None:
    values: dict[str, Any] = {"name": "Cổng", "redirect_uris": [RP_REDIRECT]}
    async with database.unit_of_work() as session:
        with pytest.raises(ValidationFailed) as exc:
            await create_client(session, settings, type=type, scopes=[scope], **values)
    assert [e.parameter for e in exc.value.errors] == ["scope"]
    async with database.unit_of_work() as session:
        assert await repo.clients(session) == []


async def test_an_agency_registered_without_scopes_gets_none(
    database: Database, settings: Settings
) -> None:
    async with database.unit_of_work() as session:
        new = await create_client(session, settings, name="Kho bạc", type="agency")
    assert new.client.scopes == ""


async def test_a_client_id_is_registered_once(database: Database, settings: Settings) -> None:
    from core.errors import Conflict

    await make_agency(database, settings, client_id="tax")
    with pytest.raises(Conflict):
        await make_agency(database, settings, client_id="tax")


async def test_a_relying_party_always_has_openid_and_an_agency_never_gets_it(
    database: Database, settings: Settings
) -> None:
    async with database.unit_of_work() as session:
        rp = await create_client(
            session,
            settings,
            name="RP",
            type="rp",
            redirect_uris=[RP_REDIRECT],
            scopes=["profile"],
        )
        agency = await create_client(session, settings, name="A", type="agency", scopes=["lookup"])
    assert rp.client.scopes.split() == ["openid", "profile"]
    assert agency.client.scopes.split() == ["lookup"]
    assert rp.client.sector_identifier == "rp.example.vn"
