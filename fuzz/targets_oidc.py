"""Fuzz targets for the OpenID provider's parsers of outside input: the authorization request's
scope and claims parameters, the sealed request carried through the sign-in pages, the HTTP
Basic client credentials and DPoP proofs. Only each parser's documented error may escape."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

from core.settings import Settings
from identity import jose
from identity.oidc import dpop
from identity.oidc.authorize import AuthRequest, PageError, seal, unseal
from identity.oidc.claims import (
    CLAIM_SCOPE,
    parse_claims_request,
    parse_scope,
    released_claims,
    requested_acr_essential,
)
from identity.oidc.clients import _basic_credentials
from identity.oidc.errors import OAuthError

_SECRET = bytes(range(32))  # fuzzing only
_SETTINGS = Settings(environment="test")


def scope_and_claims(data: bytes) -> None:
    """`scope` and `claims` of /authorize (RFC 6749 3.3, OIDC Core 5.5)."""
    text = data.decode("utf-8", errors="surrogateescape")
    scopes = parse_scope(text)
    assert len(scopes) == len(set(scopes)) and all(s and " " not in s for s in scopes)
    try:
        claims = parse_claims_request(text)
    except ValueError:
        return
    for target in ("userinfo", "id_token"):
        for name in released_claims(scopes, claims, target):
            assert name in CLAIM_SCOPE and CLAIM_SCOPE[name] in scopes
    assert all(isinstance(v, str) for v in requested_acr_essential(claims))


def sealed_request(data: bytes) -> None:
    """The `req` value of the sign-in and consent forms: forged ones must be refused."""
    text = data.decode("utf-8", errors="surrogateescape")
    try:
        unseal(text, _SECRET)
    except PageError:
        return
    raise AssertionError("an unsigned value was accepted as a sealed request")


def basic_credentials(data: bytes) -> None:
    """The Authorization header of a client at /token, /revoke and /introspect (RFC 6749 2.3.1)."""
    text = data.decode("utf-8", errors="surrogateescape")
    for header in (text, "Basic " + text, "Basic " + base64.b64encode(data).decode()):
        try:
            found = _basic_credentials(header)
        except OAuthError as exc:
            assert exc.error == "invalid_client" and exc.status == 401
            continue
        assert found is None or all(isinstance(part, str) for part in found)


def dpop_proof(data: bytes) -> None:
    """The DPoP header of a token or resource request (RFC 9449 4.3), its htu and nonce."""
    text = data.decode("utf-8", errors="surrogateescape")
    try:
        jwk, claims = jose.decode_dpop_proof(text, algorithms=dpop.ALGS)
    except jose.JoseError:
        pass
    else:
        assert not {"d", "p", "q", "k"} & set(jwk) and isinstance(claims, dict)
        jose.thumbprint(jwk)
    uri = dpop.normalized_uri(text)
    assert uri is None or "?" not in uri and "#" not in uri
    assert isinstance(dpop.nonce_ok(_SETTINGS, text), bool)


TARGETS: dict[str, Callable[[bytes], None]] = {
    "oidc_scope_and_claims": scope_and_claims,
    "oidc_sealed_request": sealed_request,
    "oidc_basic_credentials": basic_credentials,
    "oidc_dpop_proof": dpop_proof,
}

_VALID = seal(
    AuthRequest(client_id="c", redirect_uri="https://rp.example/cb", scope=["openid"], state="s",
                nonce=None, code_challenge="a" * 43, issued_at=2_000_000_000),
    _SECRET,
)  # fmt: skip

SEEDS: dict[str, list[bytes]] = {
    "oidc_scope_and_claims": [
        b"openid profile",
        b'{"userinfo": {"birthdate": null}, "id_token": {"acr": '
        b'{"essential": true, "values": ["urn:vn:registry:loa:2:passkey"]}}}',
        b"{}",
        b"[]",
    ],
    "oidc_sealed_request": [_VALID.encode()[:-2] + b"xx", b"a.b", b"", b"."],
    "oidc_basic_credentials": [b"Basic Y2xpZW50OnNlY3JldA==", b"Basic !!", b"Bearer x", b"basic "],
    "oidc_dpop_proof": [],  # filled below
}


def _proof_seed() -> bytes:
    key = ec.derive_private_key(7, ec.SECP256R1())
    point = key.public_key().public_numbers()
    jwk = {
        "kty": "EC",
        "crv": "P-256",
        "x": jose.b64url_encode(point.x.to_bytes(32, "big")),
        "y": jose.b64url_encode(point.y.to_bytes(32, "big")),
    }
    header = {"typ": "dpop+jwt", "alg": "ES256", "jwk": jwk}
    claims = {"jti": "j", "htm": "POST", "htu": "https://id.example/token", "iat": 1}
    signing_input = ".".join(
        jose.b64url_encode(json.dumps(part).encode()) for part in (header, claims)
    )
    r, s = decode_dss_signature(key.sign(signing_input.encode(), ec.ECDSA(hashes.SHA256())))
    return (
        signing_input + "." + jose.b64url_encode(r.to_bytes(32, "big") + s.to_bytes(32, "big"))
    ).encode()


SEEDS["oidc_dpop_proof"] = [_proof_seed(), b"HTTPS://ID.example:443/token?x#y", b"a.b.c", b""]
