"""The FAPI 2.0 Security Profile end to end, driven by a client written from the RFCs
(tests/identity/fapi_client.py): PAR, private_key_jwt, PKCE, DPoP-bound tokens with the
server's nonce, userinfo and the registry's APIs with proofs, refresh, and the refusals."""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from sqlalchemy import update

from core.clock import utcnow
from core.db import Database
from core.errors import ValidationFailed
from core.settings import Settings
from identity.models import PushedRequest
from tests.identity.factories import RP_REDIRECT, make_rp, query_of, sign_in
from tests.identity.fapi_client import FapiClient, Key, b64, pkce
from tests.identity.relying_party import code_flow

REQUEST_URI = "urn:ietf:params:oauth:request_uri:"


async def fapi_client(
    database: Database, settings: Settings, *, auth_key: Key | None = None, key_alg: bool = True
) -> FapiClient:
    """A relying party registered with the fapi2 profile and its own key (registered with
    its algorithm unless not ``key_alg``)."""
    key = auth_key or Key.es256()
    client = FapiClient(settings.issuer, "", key)
    jwks = client.jwks()
    if not key_alg:
        jwks = {"keys": [{k: v for k, v in jwks["keys"][0].items() if k != "alg"}]}
    client_id, secret = await make_rp(
        database, settings, profile="fapi2", auth_method="private_key_jwt", jwks=jwks
    )
    assert secret == ""  # no secret: it authenticates by key
    client.client_id = client_id
    return client


@pytest.fixture
async def client(world: dict[str, str], database: Database, settings: Settings) -> FapiClient:
    """A fapi2 relying party, beside the citizen and the standard relying party of ``world``."""
    return await fapi_client(database, settings)


def request_params(client: FapiClient, challenge: str) -> dict[str, str]:
    """An authorization request's parameters."""
    return {
        "response_type": "code",
        "client_id": client.client_id,
        "redirect_uri": RP_REDIRECT,
        "scope": "openid profile birthdate",
        "state": "st-1",
        "nonce": "n-1",
        "code_challenge": challenge,
        "code_challenge_method": "S256",
    }


async def push(web: httpx.AsyncClient, client: FapiClient, challenge: str) -> dict[str, Any]:
    """RFC 9126 2.1: push the request; its 201 body."""
    response = await web.post(
        "/par", data={**request_params(client, challenge), **client.assertion()}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


async def with_nonce(client: FapiClient, send: Any) -> httpx.Response:
    """Send once; when the server asks for its nonce (RFC 9449 8), take it and send again."""
    response: httpx.Response = await send()
    if response.status_code in (400, 401) and "DPoP-Nonce" in response.headers:
        client.nonce = response.headers["DPoP-Nonce"]
        response = await send()
    if "DPoP-Nonce" in response.headers:
        client.nonce = response.headers["DPoP-Nonce"]
    return response


async def token_request(
    web: httpx.AsyncClient, client: FapiClient, form: dict[str, str], *, key: Key | None = None
) -> httpx.Response:
    """POST /token with private_key_jwt and a DPoP proof (the nonce fetched when asked)."""
    url = client.issuer + "/token"
    return await with_nonce(
        client,
        lambda: web.post(
            "/token",
            data={**form, **client.assertion()},
            headers={"DPoP": client.proof("POST", url, key=key)},
        ),
    )


async def code_for(web: httpx.AsyncClient, client: FapiClient) -> tuple[str, str]:
    """PAR, then the browser at /authorize with the request_uri alone; (code, verifier)."""
    verifier, challenge = pkce()
    pushed = await push(web, client, challenge)
    query = {"client_id": client.client_id, "request_uri": pushed["request_uri"]}
    final = await sign_in(web, f"/authorize?{httpx.QueryParams(query)}")
    assert final.status_code == 303, final.text
    callback = query_of(final.headers["location"])
    assert callback["state"] == "st-1"
    assert callback["iss"] == client.issuer  # RFC 9207
    return callback["code"], verifier


async def code_form(web: httpx.AsyncClient, client: FapiClient) -> dict[str, str]:
    """The token request of a fresh code (without client authentication or proof)."""
    code, verifier = await code_for(web, client)
    return {
        "grant_type": "authorization_code",
        "code": code,
        "redirect_uri": RP_REDIRECT,
        "code_verifier": verifier,
    }


async def tokens_for(web: httpx.AsyncClient, client: FapiClient) -> dict[str, Any]:
    """The whole flow up to a DPoP-bound token response."""
    response = await token_request(web, client, await code_form(web, client))
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def claims_of(jwt: str) -> dict[str, Any]:
    """The payload of a JWS (read, not verified: the provider's own tests verify it)."""
    import base64

    payload = jwt.split(".")[1]
    value: dict[str, Any] = json.loads(
        base64.urlsafe_b64decode(payload + "=" * (-len(payload) % 4))
    )
    return value


async def userinfo(
    web: httpx.AsyncClient,
    client: FapiClient,
    access: str,
    *,
    scheme: str = "DPoP",
    proof: str | None = None,
) -> httpx.Response:
    """GET /userinfo with the token and a proof for it (unless ``proof`` is given)."""
    url = client.issuer + "/userinfo"
    headers = {"Authorization": f"{scheme} {access}"}
    if proof is None:
        headers["DPoP"] = client.proof("GET", url, access_token=access)
    elif proof:
        headers["DPoP"] = proof
    return await web.get("/userinfo", headers=headers)


def dpop_error(response: httpx.Response, error: str) -> None:
    """A 401 whose DPoP challenge names ``error`` and the algorithms (RFC 9449 7.1)."""
    assert response.status_code == 401, response.text
    challenge = response.headers["WWW-Authenticate"]
    assert challenge.startswith("DPoP "), challenge
    assert f'error="{error}"' in challenge, challenge
    assert 'algs="ES256 PS256 EdDSA"' in challenge


# ------------------------------------------------------------------------------ discovery


async def test_discovery_publishes_what_a_fapi2_client_reads(web: httpx.AsyncClient) -> None:
    meta = (await web.get("/.well-known/openid-configuration")).json()
    issuer = meta["issuer"]
    assert meta["pushed_authorization_request_endpoint"] == issuer + "/par"
    assert meta["require_pushed_authorization_requests"] is False  # per client, not for all
    assert meta["dpop_signing_alg_values_supported"] == ["ES256", "PS256", "EdDSA"]
    assert "private_key_jwt" in meta["token_endpoint_auth_methods_supported"]
    assert {"PS256", "ES256"} <= set(meta["token_endpoint_auth_signing_alg_values_supported"])
    assert meta["authorization_response_iss_parameter_supported"] is True
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert "ES256" in meta["id_token_signing_alg_values_supported"]


# ------------------------------------------------------------------------------ the flow


async def test_a_fapi2_client_signs_a_citizen_in_and_reads_userinfo_with_proofs(
    web: httpx.AsyncClient, client: FapiClient
) -> None:
    body = await tokens_for(web, client)
    assert body["token_type"] == "DPoP"
    access = body["access_token"]
    assert claims_of(access)["cnf"] == {"jkt": client.dpop_key.thumbprint()}
    id_token = claims_of(body["id_token"])
    assert id_token["aud"] == client.client_id and id_token["nonce"] == "n-1"
    assert json.loads(b64decode_segment(body["id_token"].split(".")[0]))["alg"] == "ES256"

    response = await userinfo(web, client, access)
    assert response.status_code == 200, response.text
    assert response.json()["sub"] == id_token["sub"]


def b64decode_segment(segment: str) -> bytes:
    """A base64url segment's bytes."""
    import base64

    return base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))


async def test_the_token_endpoint_asks_for_its_nonce_first(
    web: httpx.AsyncClient, client: FapiClient
) -> None:
    form = {**await code_form(web, client), **client.assertion()}
    url = client.issuer + "/token"
    first = await web.post("/token", data=form, headers={"DPoP": client.proof("POST", url)})
    assert first.status_code == 400
    assert first.json()["error"] == "use_dpop_nonce"
    client.nonce = first.headers["DPoP-Nonce"]
    form.update(client.assertion())
    second = await web.post("/token", data=form, headers={"DPoP": client.proof("POST", url)})
    assert second.status_code == 200, second.text
    assert second.json()["token_type"] == "DPoP"
    assert second.headers["DPoP-Nonce"]


async def test_refresh_needs_a_proof_of_the_same_key(
    web: httpx.AsyncClient, client: FapiClient
) -> None:
    body = await tokens_for(web, client)
    refresh = {"grant_type": "refresh_token", "refresh_token": body["refresh_token"]}

    other = await token_request(web, client, refresh, key=Key.es256())
    assert other.status_code == 400
    assert other.json()["error"] == "invalid_dpop_proof"

    without = await web.post("/token", data={**refresh, **client.assertion()})
    assert without.status_code == 400
    assert without.json()["error"] == "invalid_dpop_proof"

    renewed = await token_request(web, client, refresh)
    assert renewed.status_code == 200, renewed.text
    assert renewed.json()["token_type"] == "DPoP"
    new_access = renewed.json()["access_token"]
    assert claims_of(new_access)["cnf"]["jkt"] == client.dpop_key.thumbprint()
    assert (await userinfo(web, client, new_access)).status_code == 200
    # FAPI 2.0 5.3.2.1: not rotated; the same refresh token serves again.
    assert renewed.json()["refresh_token"] == body["refresh_token"]
    again = await token_request(web, client, refresh)
    assert again.status_code == 200, again.text


async def test_a_proof_with_an_ed25519_key_binds_the_token(
    web: httpx.AsyncClient, client: FapiClient
) -> None:
    client.dpop_key = Key.ed25519()
    body = await tokens_for(web, client)
    assert claims_of(body["access_token"])["cnf"]["jkt"] == client.dpop_key.thumbprint()
    assert (await userinfo(web, client, body["access_token"])).status_code == 200


# ------------------------------------------------------------------------------ refusals: PAR


async def test_a_fapi2_client_is_refused_at_authorize_without_par(
    web: httpx.AsyncClient, client: FapiClient
) -> None:
    _, challenge = pkce()
    query = httpx.QueryParams(request_params(client, challenge))
    response = await web.get(f"/authorize?{query}")
    assert response.status_code == 303
    error = query_of(response.headers["location"])
    assert error["error"] == "invalid_request"
    assert "PAR" in error["error_description"]


async def test_a_client_flagged_for_par_is_refused_without_it(
    web: httpx.AsyncClient, world: dict[str, str], database: Database, settings: Settings
) -> None:
    client_id, _ = await make_rp(database, settings, require_par=True)
    _, challenge = pkce()
    params = request_params(FapiClient(settings.issuer, client_id, Key.es256()), challenge)
    response = await web.get(f"/authorize?{httpx.QueryParams(params)}")
    assert query_of(response.headers["location"])["error"] == "invalid_request"


async def test_a_standard_client_may_push_with_its_secret(
    web: httpx.AsyncClient, world: dict[str, str]
) -> None:
    _, challenge = pkce()
    params = request_params(FapiClient("", world["client_id"], Key.es256()), challenge)
    response = await web.post("/par", data=params, auth=(world["client_id"], world["secret"]))
    assert response.status_code == 201, response.text
    assert response.json()["request_uri"].startswith(REQUEST_URI)
    assert 0 < response.json()["expires_in"] <= 60


async def test_a_request_uri_is_used_once(web: httpx.AsyncClient, client: FapiClient) -> None:
    _, challenge = pkce()
    pushed = await push(web, client, challenge)
    query = httpx.QueryParams({"client_id": client.client_id, "request_uri": pushed["request_uri"]})
    first = await web.get(f"/authorize?{query}")
    assert first.status_code == 303 and first.headers["location"].startswith("/login")
    again = await web.get(f"/authorize?{query}")
    assert again.status_code == 400
    assert "hết hạn" in again.text


async def test_an_expired_request_uri_is_refused(
    web: httpx.AsyncClient, client: FapiClient, database: Database
) -> None:
    _, challenge = pkce()
    pushed = await push(web, client, challenge)
    async with database.unit_of_work() as session:
        await session.execute(
            update(PushedRequest).values(expires_at=utcnow() - timedelta(seconds=1))
        )
    query = httpx.QueryParams({"client_id": client.client_id, "request_uri": pushed["request_uri"]})
    response = await web.get(f"/authorize?{query}&lang=en")
    assert response.status_code == 400
    assert "expired" in response.text


async def test_a_request_uri_of_another_client_is_refused(
    web: httpx.AsyncClient, client: FapiClient, world: dict[str, str]
) -> None:
    _, challenge = pkce()
    pushed = await push(web, client, challenge)
    query = httpx.QueryParams(
        {"client_id": world["client_id"], "request_uri": pushed["request_uri"]}
    )
    assert (await web.get(f"/authorize?{query}")).status_code == 400


async def test_a_push_is_validated_by_the_rules_of_authorize(
    web: httpx.AsyncClient, client: FapiClient
) -> None:
    _, challenge = pkce()
    plain = {**request_params(client, challenge), "code_challenge_method": "plain"}
    response = await web.post("/par", data={**plain, **client.assertion()})
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_request"
    elsewhere = {**request_params(client, challenge), "redirect_uri": "https://evil.example/cb"}
    response = await web.post("/par", data={**elsewhere, **client.assertion()})
    assert response.status_code == 400
    assert response.json() == {
        "error": "invalid_request",
        "error_description": "The redirect URI is not registered for this client.",
    }


# ------------------------------------------------------------------------------ refusals: client


async def test_a_fapi2_assertion_must_name_the_issuer_alone(
    web: httpx.AsyncClient, client: FapiClient
) -> None:
    _, challenge = pkce()
    form = {**request_params(client, challenge), **client.assertion(aud=client.issuer + "/par")}
    response = await web.post("/par", data=form)
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_a_fapi2_client_cannot_sign_with_rs256(
    web: httpx.AsyncClient, world: dict[str, str], database: Database, settings: Settings
) -> None:
    # An RSA key registered without its algorithm: it could sign PS256, and signs RS256.
    client = await fapi_client(database, settings, auth_key=Key.rsa("RS256"), key_alg=False)
    _, challenge = pkce()
    response = await web.post(
        "/par", data={**request_params(client, challenge), **client.assertion()}
    )
    assert response.status_code == 401
    assert response.json()["error"] == "invalid_client"


async def test_a_ps256_key_authenticates_a_fapi2_client(
    web: httpx.AsyncClient, world: dict[str, str], database: Database, settings: Settings
) -> None:
    client = await fapi_client(database, settings, auth_key=Key.rsa("PS256"))
    _, challenge = pkce()
    await push(web, client, challenge)


async def test_an_assertion_is_accepted_once(web: httpx.AsyncClient, client: FapiClient) -> None:
    _, challenge = pkce()
    form = {**request_params(client, challenge), **client.assertion()}
    assert (await web.post("/par", data=form)).status_code == 201
    replay = await web.post("/par", data=form)
    assert replay.status_code == 401


async def test_fapi2_registration_refuses_secrets_and_rs256(
    database: Database, settings: Settings
) -> None:
    with pytest.raises(ValidationFailed):
        await make_rp(database, settings, profile="fapi2")
    with pytest.raises(ValidationFailed):
        await make_rp(
            database,
            settings,
            profile="fapi2",
            auth_method="private_key_jwt",
            jwks={"keys": [Key.es256().jwk()]},
            id_token_alg="RS256",
        )
    with pytest.raises(ValidationFailed):  # a key that can sign RS256 only
        await make_rp(
            database,
            settings,
            profile="fapi2",
            auth_method="private_key_jwt",
            jwks={"keys": [{**Key.rsa("RS256").jwk(), "alg": "RS256"}]},
        )


# ------------------------------------------------------------------------------ refusals: DPoP


async def test_a_fapi2_token_request_without_a_proof_is_refused(
    web: httpx.AsyncClient, client: FapiClient
) -> None:
    form = {**await code_form(web, client), **client.assertion()}
    response = await web.post("/token", data=form)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_dpop_proof"


async def test_a_token_proof_for_another_uri_or_method_is_refused(
    web: httpx.AsyncClient, client: FapiClient
) -> None:
    form = await code_form(web, client)
    asked = await web.post(
        "/token",
        data={**form, **client.assertion()},
        headers={"DPoP": client.proof("POST", client.issuer + "/token")},
    )
    assert asked.json()["error"] == "use_dpop_nonce"
    client.nonce = asked.headers["DPoP-Nonce"]
    for method, url in (
        ("POST", client.issuer + "/userinfo"),
        ("GET", client.issuer + "/token"),
    ):
        response = await web.post(
            "/token",
            data={**form, **client.assertion()},
            headers={"DPoP": client.proof(method, url)},
        )
        assert response.status_code == 400
        assert response.json()["error"] == "invalid_dpop_proof"


async def test_userinfo_refuses_what_does_not_prove_the_key(
    web: httpx.AsyncClient, client: FapiClient
) -> None:
    access = (await tokens_for(web, client))["access_token"]
    url = client.issuer + "/userinfo"

    # The token as a bearer token, or with the DPoP scheme and no proof.
    bearer = await userinfo(web, client, access, scheme="Bearer", proof="")
    assert bearer.status_code == 401
    dpop_error(await userinfo(web, client, access, proof=""), "invalid_dpop_proof")
    # A proof for another URI, another method, another key, another token.
    elsewhere = client.proof("GET", client.issuer + "/token", access_token=access)
    dpop_error(await userinfo(web, client, access, proof=elsewhere), "invalid_dpop_proof")
    posted = client.proof("POST", url, access_token=access)
    dpop_error(await userinfo(web, client, access, proof=posted), "invalid_dpop_proof")
    stranger = client.proof("GET", url, access_token=access, key=Key.es256())
    dpop_error(await userinfo(web, client, access, proof=stranger), "invalid_dpop_proof")
    no_ath = client.proof("GET", url)
    dpop_error(await userinfo(web, client, access, proof=no_ath), "invalid_dpop_proof")
    # An old proof, a proof without our nonce.
    stale = client.proof("GET", url, access_token=access, iat=int(claims_of(access)["iat"]) - 120)
    dpop_error(await userinfo(web, client, access, proof=stale), "invalid_dpop_proof")
    unasked = client.proof("GET", url, access_token=access, nonce="not-ours")
    response = await userinfo(web, client, access, proof=unasked)
    dpop_error(response, "use_dpop_nonce")
    assert response.headers["DPoP-Nonce"]
    # A good proof works once; replayed, it is refused.
    good = client.proof("GET", url, access_token=access)
    assert (await userinfo(web, client, access, proof=good)).status_code == 200
    dpop_error(await userinfo(web, client, access, proof=good), "invalid_dpop_proof")


async def test_a_proof_carrying_a_private_key_is_refused(
    web: httpx.AsyncClient, client: FapiClient
) -> None:
    access = (await tokens_for(web, client))["access_token"]
    key = client.dpop_key
    private = key.private.private_numbers().private_value.to_bytes(32, "big")
    claims = {"jti": "j-1", "htm": "GET", "htu": client.issuer + "/userinfo", "iat": 0}
    leaky = key.sign({"typ": "dpop+jwt", "jwk": {**key.jwk(), "d": b64(private)}}, claims)
    dpop_error(await userinfo(web, client, access, proof=leaky), "invalid_dpop_proof")


async def test_the_registry_apis_check_the_proof(
    web: httpx.AsyncClient, client: FapiClient
) -> None:
    access = (await tokens_for(web, client))["access_token"]
    url = client.issuer + "/test/whoami"
    without = await web.get("/test/whoami", headers={"Authorization": f"DPoP {access}"})
    assert without.status_code == 401
    assert without.headers["content-type"].startswith("application/problem+json")
    assert without.headers["WWW-Authenticate"].startswith("DPoP ")
    as_bearer = await web.get("/test/whoami", headers={"Authorization": f"Bearer {access}"})
    assert as_bearer.status_code == 401
    proof = client.proof("GET", url, access_token=access)
    response = await web.get(
        "/test/whoami", headers={"Authorization": f"DPoP {access}", "DPoP": proof}
    )
    assert response.status_code == 200, response.text
    # /api/v1/me/*: the proof is checked before the role (a relying party's token has none).
    me = client.issuer + "/api/v1/me/aliases"
    unproved = await web.get("/api/v1/me/aliases", headers={"Authorization": f"DPoP {access}"})
    assert unproved.status_code == 401
    proved = await web.get(
        "/api/v1/me/aliases",
        headers={
            "Authorization": f"DPoP {access}",
            "DPoP": client.proof("GET", me, access_token=access),
        },
    )
    assert proved.status_code == 403


async def test_a_bearer_token_is_not_taken_with_the_dpop_scheme(
    app: FastAPI, web: httpx.AsyncClient, world: dict[str, str], settings: Settings
) -> None:
    response = await web.post(
        "/token",
        data={"grant_type": "client_credentials"},
        auth=(world["client_id"], world["secret"]),
    )
    assert response.status_code == 400  # a relying party has no client_credentials
    client = FapiClient(settings.issuer, world["client_id"], Key.es256())
    # A standard client's tokens stay bearer tokens when it sends no proof.
    _, token, _ = await code_flow(app, web, world)
    assert token["token_type"] == "Bearer"
    access = token["access_token"]
    assert "cnf" not in claims_of(access)
    dpop_error(await userinfo(web, client, access), "invalid_token")
    ok = await web.get("/userinfo", headers={"Authorization": f"Bearer {access}"})
    assert ok.status_code == 200


async def test_introspection_shows_the_binding(web: httpx.AsyncClient, client: FapiClient) -> None:
    access = (await tokens_for(web, client))["access_token"]
    response = await web.post("/introspect", data={"token": access, **client.assertion()})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["active"] is True
    assert body["token_type"] == "DPoP"  # RFC 9449 6.2
    assert body["cnf"] == {"jkt": client.dpop_key.thumbprint()}


async def test_a_push_with_a_proof_binds_the_code_to_its_key(
    web: httpx.AsyncClient, client: FapiClient
) -> None:
    verifier, challenge = pkce()
    url = client.issuer + "/par"
    pushed = await with_nonce(
        client,
        lambda: web.post(
            "/par",
            data={**request_params(client, challenge), **client.assertion()},
            headers={"DPoP": client.proof("POST", url)},
        ),
    )
    assert pushed.status_code == 201, pushed.text
    query = {"client_id": client.client_id, "request_uri": pushed.json()["request_uri"]}
    final = await sign_in(web, f"/authorize?{httpx.QueryParams(query)}")
    form = {
        "grant_type": "authorization_code",
        "code": query_of(final.headers["location"])["code"],
        "redirect_uri": RP_REDIRECT,
        "code_verifier": verifier,
    }
    # RFC 9449 10: the code goes only to a proof of the key that pushed the request.
    other = await token_request(web, client, form, key=Key.es256())
    assert other.status_code == 400
    assert other.json()["error"] == "invalid_dpop_proof"
    same = await token_request(web, client, form)
    assert same.status_code == 200, same.text
    assert claims_of(same.json()["access_token"])["cnf"]["jkt"] == client.dpop_key.thumbprint()
