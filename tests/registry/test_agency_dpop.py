"""Agencies with DPoP-bound client_credentials tokens (RFC 9449): every call to the agency API
proves the key, and a token the app remembers never skips that proof."""

from __future__ import annotations

import httpx

from tests.identity.factories import make_agency
from tests.identity.fapi_client import FapiClient, Key
from tests.registry.agencies import ANH, AS_OFFICIAL, FULL_POLICY, ORDINARY, Env, agency_events

VERIFY = {"id_number": ANH, "purpose": ORDINARY, "claims": {"full_name": "Nguyễn Thị Minh Anh"}}


async def bound_agency(env: Env) -> tuple[FapiClient, str]:
    """An agency registered DPoP-bound, with its policy, and its bound token."""
    client_id, secret = await make_agency(
        env.database, env.settings, scopes=["verify"], dpop_bound=True
    )
    response = await env.web.put(
        f"/api/v1/officials/agencies/{client_id}/policy", json=FULL_POLICY, headers=AS_OFFICIAL
    )
    assert response.status_code == 200, response.text
    client = FapiClient(env.settings.issuer, client_id, Key.es256())
    url = env.settings.issuer + "/token"
    form = {"grant_type": "client_credentials", "scope": "verify"}

    async def ask() -> httpx.Response:
        return await env.web.post(
            "/token",
            data=form,
            auth=(client_id, secret),
            headers={"DPoP": client.proof("POST", url)},
        )

    first = await ask()
    assert first.json()["error"] == "use_dpop_nonce"
    client.nonce = first.headers["DPoP-Nonce"]
    issued = await ask()
    assert issued.status_code == 200, issued.text
    assert issued.json()["token_type"] == "DPoP"
    without = await env.web.post("/token", data=form, auth=(client_id, secret))
    assert without.json()["error"] == "invalid_dpop_proof"  # registered DPoP-bound
    return client, issued.json()["access_token"]


async def call(env: Env, token: str, proof: str | None, scheme: str = "DPoP") -> httpx.Response:
    """POST /api/v1/verify with the token and, when given, the proof."""
    headers = {"Authorization": f"{scheme} {token}"}
    if proof is not None:
        headers["DPoP"] = proof
    return await env.web.post("/api/v1/verify", json=VERIFY, headers=headers)


async def test_each_call_of_a_bound_agency_proves_its_key(env: Env, served: list[str]) -> None:
    client, token = await bound_agency(env)
    url = env.settings.issuer + "/api/v1/verify"
    for _ in range(3):
        response = await call(env, token, client.proof("POST", url, access_token=token))
        assert response.status_code == 200, response.text
        assert response.json()["match"] is True
    # Seen and remembered: still no call without its proof.
    assert served == []
    unproved = await call(env, token, None)
    assert unproved.status_code == 401
    assert unproved.headers["content-type"].startswith("application/problem+json")
    assert unproved.headers["WWW-Authenticate"].startswith("DPoP ")
    as_bearer = await call(env, token, None, scheme="Bearer")
    assert as_bearer.status_code == 401
    assert len(await agency_events(env.database)) == 3


async def test_a_replayed_or_foreign_proof_is_refused(env: Env) -> None:
    client, token = await bound_agency(env)
    url = env.settings.issuer + "/api/v1/verify"
    proof = client.proof("POST", url, access_token=token)
    assert (await call(env, token, proof)).status_code == 200
    assert (await call(env, token, proof)).status_code == 401
    stranger = client.proof("POST", url, access_token=token, key=Key.es256())
    assert (await call(env, token, stranger)).status_code == 401
    lookup = client.proof("GET", url, access_token=token)
    assert (await call(env, token, lookup)).status_code == 401
    elsewhere = client.proof(
        "POST", env.settings.issuer + "/api/v1/verify/batch", access_token=token
    )
    assert (await call(env, token, elsewhere)).status_code == 401
    assert len(await agency_events(env.database)) == 1
