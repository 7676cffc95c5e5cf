"""Scopes, the claims they release, pairwise subject identifiers, an ID token's own claims."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Iterable, Mapping
from typing import Any

from core.settings import Settings
from identity import jose
from identity.models import Client, Grant

# OIDC Core 5.4: scope values request sets of claims. `birthdate` and `gender` are separate
# scopes here so a service can ask for exactly what it needs (data minimisation).
SCOPE_CLAIMS: dict[str, tuple[str, ...]] = {
    "openid": ("sub",),
    "profile": ("name", "family_name", "given_name", "middle_name"),
    "birthdate": ("birthdate",),
    "gender": ("gender",),
    "address": ("address",),
    "national_id": ("national_id",),
}
# What a relying party (authorization code flow) may ask for: discovery's scopes_supported.
# "staff": the signed-in staff member's roles on the registry's APIs, for first-party clients
# only (officials' integrations; identity.oidc.staff_tokens), after a passkey sign-in.
STAFF_SCOPE = "staff"
RP_SCOPES = (*SCOPE_CLAIMS, "offline_access", STAFF_SCOPE)
# Scopes of the agency API (client_credentials): what an agency's token may be used for.
AGENCY_SCOPES = ("verify", "verify_batch", "lookup")
KNOWN_SCOPES = (*RP_SCOPES, *AGENCY_SCOPES)
# The scopes each client type can use; a client is registered and granted no others.
CLIENT_TYPE_SCOPES: dict[str, tuple[str, ...]] = {"rp": RP_SCOPES, "agency": AGENCY_SCOPES}
# The claim names a claims request (OIDC Core 5.5) may ask for, mapped to the scope that allows it.
CLAIM_SCOPE = {claim: scope for scope, claims in SCOPE_CLAIMS.items() for claim in claims}


def parse_scope(value: str | None) -> list[str]:
    """Scope tokens in order, without duplicates (RFC 6749 3.3)."""
    seen: list[str] = []
    for token in (value or "").split(" "):
        if token and token not in seen:
            seen.append(token)
    return seen


def released_claims(
    scopes: Iterable[str], claims_request: Mapping[str, Any] | None, target: str
) -> list[str]:
    """The claim names released at ``target`` ("userinfo" or "id_token") for these scopes and
    claims request; a requested claim is released only when a granted scope covers it."""
    granted = set(scopes)
    names: list[str] = []
    if target == "userinfo":
        for scope in SCOPE_CLAIMS:
            if scope in granted and scope != "openid":
                names.extend(SCOPE_CLAIMS[scope])
    requested = (claims_request or {}).get(target) or {}
    if isinstance(requested, Mapping):
        for claim in requested:
            if CLAIM_SCOPE.get(claim) in granted and claim not in names and claim != "sub":
                names.append(claim)
    return names


def parse_claims_request(raw: str | None) -> dict[str, Any] | None:
    """The `claims` request parameter (OIDC Core 5.5): a JSON object with userinfo/id_token."""
    if not raw:
        return None
    try:
        value = json.loads(raw)
    except ValueError:
        raise ValueError("the claims parameter is not valid JSON") from None
    if not isinstance(value, dict) or not set(value) <= {"userinfo", "id_token"}:
        raise ValueError("the claims parameter must be an object with userinfo and/or id_token")
    for member in value.values():
        if member is not None and not isinstance(member, dict):
            raise ValueError("claims.userinfo and claims.id_token must be objects")
        for spec in (member or {}).values():
            if spec is not None and not isinstance(spec, dict):
                raise ValueError("each requested claim must be null or an object")
    return value


def requested_acr_essential(claims_request: Mapping[str, Any] | None) -> list[str]:
    """acr values the claims request marks essential (OIDC Core 5.5.1.1)."""
    spec = ((claims_request or {}).get("id_token") or {}).get("acr")
    if not isinstance(spec, Mapping) or not spec.get("essential"):
        return []
    values = spec.get("values") or ([spec["value"]] if "value" in spec else [])
    return [v for v in values if isinstance(v, str)]


def pairwise_sub(sector: str, citizen_id: str, salt: bytes) -> str:
    """OIDC Core 8.1: sub = hash(sector_identifier || local id || salt), stable per sector."""
    digest = hmac.new(salt, f"{sector}\x00{citizen_id}".encode(), hashlib.sha256).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def id_token_claims(
    settings: Settings,
    client: Client,
    grant: Grant,
    *,
    sub: str,
    access_token: str,
    nonce: str | None,
) -> dict[str, Any]:
    """OIDC Core 2 and 3.1.3.6: iss, sub, aud, exp, iat, auth_time, nonce, acr, amr, at_hash."""
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "sub": sub,
        "aud": client.client_id,
        "azp": client.client_id,
        "iat": now,
        "exp": now + settings.id_token_ttl,
        "auth_time": int(grant.auth_time.timestamp()),
        "acr": grant.acr,
        "amr": grant.amr.split(),
        "at_hash": jose.at_hash(access_token, client.id_token_alg),
    }
    if grant.session_sid:
        claims["sid"] = grant.session_sid
    if nonce:
        claims["nonce"] = nonce
    return claims
