"""Fuzz targets for the identity provider's token parsing (identity/jose.py).

Bearer tokens, ID token hints and client assertions arrive from anyone: whatever bytes they are,
only ``JoseError`` may come out, and whatever verifies must satisfy the invariants below.
"""

from __future__ import annotations

import json
from collections.abc import Callable

from cryptography.hazmat.primitives.asymmetric import ec, rsa

from identity import jose
from identity.jose import JoseError, PrivateSigningKey

# Fixed keys (not secret: fuzzing only) so that valid tokens can appear in the corpus.
_EC = PrivateSigningKey.from_private_key(
    ec.derive_private_key(0x5EED_0F_F022, ec.SECP256R1()), "ES256"
)
_RSA = PrivateSigningKey.from_private_key(
    rsa.generate_private_key(public_exponent=65537, key_size=2048), "RS256"
)
_KEYS = {key.kid: key.verification_entry() for key in (_EC, _RSA)}
_JWKS = {"keys": [dict(_EC.public_jwk), dict(_RSA.public_jwk)]}
ISSUER = "https://fuzz.registry.example"
AUDIENCE = "https://fuzz.registry.example/api"
NOW = 1_900_000_000


def jose_decode(data: bytes) -> None:
    """A bearer token or ID token hint verified against our keys (jose.decode)."""
    try:
        claims = jose.decode(
            data,
            keys=_KEYS,
            algorithms=jose.ACCESS_TOKEN_ALGS,
            audience=AUDIENCE,
            issuer=ISSUER,
            now=NOW,
        )
    except JoseError:
        return
    header = jose.unverified_header(data)
    assert header["alg"] in jose.ACCESS_TOKEN_ALGS
    assert _KEYS[header["kid"]].allows(header["alg"])
    assert "crit" not in header
    assert claims["iss"] == ISSUER
    assert claims["exp"] > NOW
    assert jose.unverified_claims(data) == claims


def jose_header(data: bytes) -> None:
    """The unverified header and claims of any token (jose.unverified_header / _claims)."""
    for parse in (jose.unverified_header, jose.unverified_claims):
        try:
            value = parse(data)
        except JoseError:
            continue
        assert isinstance(value, dict)
        assert data.count(b".") == 2


def jwk_set(data: bytes) -> None:
    """A client's JWK Set and an assertion checked with it (jose.decode_with_jwks)."""
    try:
        document = json.loads(data)
    except (ValueError, RecursionError):
        return
    try:
        entries = jose.public_keys_from_jwks(document)
    except JoseError:
        return
    for entry in entries:
        assert entry.alg is None or entry.allows(entry.alg)
    token = jose.sign({"iss": "c", "aud": AUDIENCE, "exp": NOW + 60}, _EC)
    try:
        jose.decode_with_jwks(
            token,
            document,
            algorithms=jose.CLIENT_ASSERTION_ALGS,
            audience=AUDIENCE,
            issuer="c",
            now=NOW,
        )
    except JoseError:
        return


def _token(key: PrivateSigningKey, **extra: object) -> bytes:
    claims = {"iss": ISSUER, "aud": AUDIENCE, "iat": NOW, "exp": NOW + 300, **extra}
    return jose.sign(claims, key, typ="at+jwt").encode()


TARGETS: dict[str, Callable[[bytes], None]] = {
    "jose_decode": jose_decode,
    "jose_header": jose_header,
    "jwk_set": jwk_set,
}

_VALID_EC, _VALID_RSA = _token(_EC, jti="j-1"), _token(_RSA, sub="s-1")
SEEDS: dict[str, list[bytes]] = {
    "jose_decode": [
        _VALID_EC,
        _VALID_RSA,
        _token(_EC, exp=NOW - 1),
        _VALID_EC[:-3],
        _VALID_EC.replace(b".", b"..", 1),
        b"eyJhbGciOiJub25lIn0.e30.",
        b"e30.e30.e30",
        b"a.b.c.d.e",
        b"",
        b"\xff\xfe",
    ],
    "jose_header": [_VALID_EC, b"e30.e30.", b"W10.e30.", b"eyJhIjoxLCJhIjoyfQ.e30.", b"."],
    "jwk_set": [
        json.dumps(_JWKS).encode(),
        json.dumps({"keys": [dict(_EC.public_jwk, kid=None)]}).encode(),
        b'{"keys": [{"kty": "oct", "k": "c2VjcmV0"}]}',
        b'{"keys": [{"kty": "EC", "crv": "P-256", "x": "", "y": ""}]}',
        b'{"keys": {}}',
        b"[]",
    ],
}
