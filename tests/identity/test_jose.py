"""JWS signing and strict verification: allowlists, key binding, claims, JWKs, interop."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from collections.abc import Callable, Mapping
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature
from hypothesis import given, settings
from hypothesis import strategies as st

from identity import jose, keys
from identity.jose import JoseError, PrivateSigningKey, PublicKeyEntry

ISSUER = "https://id.registry.example"
AUDIENCE = "portal-client"
NOW = 1_900_000_000


@pytest.fixture(scope="module")
def rsa_key() -> PrivateSigningKey:
    return keys.generate("RS256")


@pytest.fixture(scope="module")
def ec_key() -> PrivateSigningKey:
    return keys.generate("ES256")


@pytest.fixture(scope="module")
def keyset(rsa_key: PrivateSigningKey, ec_key: PrivateSigningKey) -> dict[str, PublicKeyEntry]:
    return {k.kid: k.verification_entry() for k in (rsa_key, ec_key)}


def claims(**extra: Any) -> dict[str, Any]:
    return {"iss": ISSUER, "sub": "s-1", "aud": AUDIENCE, "iat": NOW, "exp": NOW + 300, **extra}


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: Mapping[str, Any]) -> str:
    return b64(json.dumps(value).encode())


def decode(token: str, keyset: Mapping[str, PublicKeyEntry], **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "keys": keyset,
        "algorithms": jose.ID_TOKEN_ALGS,
        "audience": AUDIENCE,
        "issuer": ISSUER,
        "now": NOW + 10,
    }
    options.update(kwargs)
    return jose.decode(token, **options)


def refused(token: str | bytes, keyset: Mapping[str, PublicKeyEntry], **kwargs: Any) -> str:
    with pytest.raises(JoseError) as caught:
        decode(token, keyset, **kwargs)  # type: ignore[arg-type]
    return str(caught.value)


def resigned(token: str, key: PrivateSigningKey, **header_changes: Any) -> str:
    """The token's claims under a changed header, validly signed with ``key``'s private key."""
    header = {**jose.unverified_header(token), **header_changes}
    header = {k: v for k, v in header.items() if v is not None}
    signing_input = (b64json(header) + "." + token.split(".")[1]).encode()
    private = key.private_key
    if isinstance(private, rsa.RSAPrivateKey):
        signature = private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
    else:
        r, s = decode_dss_signature(private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    return signing_input.decode() + "." + b64(signature)


# ------------------------------------------------------------------------------ round trips


@pytest.mark.parametrize("which", ["rsa_key", "ec_key"])
def test_round_trip(which: str, request: pytest.FixtureRequest, keyset: dict[str, Any]) -> None:
    key: PrivateSigningKey = request.getfixturevalue(which)
    body = claims(name="Nguyễn Thị Minh Anh", amr=["pwd"])
    token = jose.sign(body, key)
    assert jose.unverified_header(token) == {"alg": key.alg, "kid": key.kid}
    assert decode(token, keyset) == body
    assert jose.unverified_claims(token) == body
    # A lookup function serves as well as a mapping.
    assert decode(token, keyset, keys=keyset.get) == body


def test_typ_is_in_the_header_when_given_and_checked_when_asked(
    ec_key: PrivateSigningKey, keyset: dict[str, PublicKeyEntry]
) -> None:
    token = jose.sign(claims(), ec_key, typ="at+jwt")
    assert jose.unverified_header(token)["typ"] == "at+jwt"
    decode(token, keyset, typ="at+jwt")
    decode(token, keyset, typ="application/AT+JWT")  # RFC 7515 4.1.9
    assert refused(jose.sign(claims(), ec_key), keyset, typ="at+jwt") == "wrong token type"
    assert refused(token, keyset, typ="logout+jwt") == "wrong token type"


def test_ps256_signs_and_verifies() -> None:
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key = PrivateSigningKey.from_private_key(private, "PS256")
    token = jose.sign(claims(), key)
    entries = {key.kid: key.verification_entry()}
    assert decode(token, entries, algorithms=jose.CLIENT_ASSERTION_ALGS)["sub"] == "s-1"
    assert refused(token, entries) == "algorithm not allowed"  # ID tokens: RS256, ES256 only


# ------------------------------------------------------------------------------ refusals


def test_alg_none_is_refused(rsa_key: PrivateSigningKey, keyset: dict[str, Any]) -> None:
    for alg in ("none", "None", "NONE"):
        unsigned = b64json({"alg": alg, "kid": rsa_key.kid}) + "." + b64json(claims()) + "."
        assert refused(unsigned, keyset) == "algorithm not allowed"
        assert refused(unsigned, keyset, algorithms=("none", "RS256")) == "algorithm not allowed"


@pytest.mark.parametrize("secret_form", ["pem", "jwk"])
def test_hs256_keyed_with_our_public_key_is_refused(
    rsa_key: PrivateSigningKey, keyset: dict[str, PublicKeyEntry], secret_form: str
) -> None:
    # The classic confusion: an attacker MACs with the published public key as the secret.
    if secret_form == "pem":
        secret = rsa_key.private_key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
    else:
        secret = json.dumps(dict(rsa_key.public_jwk)).encode()
    signing_input = b64json({"alg": "HS256", "kid": rsa_key.kid}) + "." + b64json(claims())
    mac = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    forged = signing_input + "." + b64(mac)
    assert refused(forged, keyset) == "algorithm not allowed"
    # Even a careless allowlist cannot make an RSA key verify an HMAC.
    assert refused(forged, keyset, algorithms=("HS256", "RS256")) == "algorithm not allowed"


def test_header_alg_must_be_the_keys_alg(
    rsa_key: PrivateSigningKey, ec_key: PrivateSigningKey, keyset: dict[str, PublicKeyEntry]
) -> None:
    token = jose.sign(claims(), ec_key)
    # ES256-signed, but naming the RSA key: refused before any signature check.
    assert refused(resigned(token, ec_key, kid=rsa_key.kid), keyset) == (
        "algorithm does not match the key"
    )
    # Claiming RS256 for the EC key's kid.
    rs = resigned(jose.sign(claims(), rsa_key), rsa_key, kid=ec_key.kid)
    assert refused(rs, keyset) == "algorithm does not match the key"


def test_unknown_and_missing_kid(
    rsa_key: PrivateSigningKey, keyset: dict[str, PublicKeyEntry]
) -> None:
    token = jose.sign(claims(), rsa_key)
    assert refused(resigned(token, rsa_key, kid="someone-else"), keyset) == "unknown kid"
    assert refused(resigned(token, rsa_key, kid=None), keyset) == "missing kid"
    assert refused(resigned(token, rsa_key, kid=""), keyset) == "missing kid"
    assert refused(token, {}) == "unknown kid"
    assert refused(token, keyset, keys=lambda kid: None) == "unknown kid"


def test_alg_outside_the_allowlist(
    ec_key: PrivateSigningKey, keyset: dict[str, PublicKeyEntry]
) -> None:
    token = jose.sign(claims(), ec_key)
    assert refused(token, keyset, algorithms=("RS256",)) == "algorithm not allowed"
    assert refused(token, keyset, algorithms=()) == "algorithm not allowed"


def test_tampering_breaks_the_signature(
    rsa_key: PrivateSigningKey, ec_key: PrivateSigningKey, keyset: dict[str, PublicKeyEntry]
) -> None:
    for key in (rsa_key, ec_key):
        header, _, signature = jose.sign(claims(), key).split(".")
        evil = b64json(claims(sub="s-2"))
        assert refused(f"{header}.{evil}.{signature}", keyset) == "bad signature"
        flipped = bytearray(base64.urlsafe_b64decode(signature + "=="))
        flipped[5] ^= 1
        token = f"{header}.{jose.sign(claims(), key).split('.')[1]}.{b64(bytes(flipped))}"
        assert refused(token, keyset) == "bad signature"
        assert refused(f"{header}.{evil}.", keyset) == "bad signature"


def test_non_canonical_base64_is_malformed(
    rsa_key: PrivateSigningKey, keyset: dict[str, PublicKeyEntry]
) -> None:
    token = jose.sign(claims(), rsa_key)
    assert refused(token + "!!", keyset) == "malformed token"
    assert refused(token + "=", keyset) == "malformed token"
    header, payload, signature = token.split(".")
    # The last character of a 2048-bit signature carries 4 unused bits: flip one of them.
    alphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"
    twin = alphabet[alphabet.index(signature[-1]) ^ 1]
    assert refused(f"{header}.{payload}.{signature[:-1]}{twin}", keyset) == "malformed token"


@pytest.mark.parametrize(
    "token", ["", ".", "..", "a.b", "a.b.c.d", "a.b.c.d.e", "W10.e30.", "bnVsbA.e30.", "e30.e30.e"]
)
def test_malformed_tokens(token: str, keyset: dict[str, PublicKeyEntry]) -> None:
    refused(token, keyset)
    with pytest.raises(JoseError):
        jose.unverified_header(token)


def test_an_empty_header_parses_but_never_verifies(keyset: dict[str, PublicKeyEntry]) -> None:
    assert jose.unverified_header("e30.e30.e30") == {}
    assert jose.unverified_claims("e30.e30.") == {}
    assert refused("e30.e30.e30", keyset) == "algorithm not allowed"


def test_header_strictness(rsa_key: PrivateSigningKey, keyset: dict[str, PublicKeyEntry]) -> None:
    token = jose.sign(claims(), rsa_key)
    assert refused(resigned(token, rsa_key, crit=["exp"]), keyset) == (
        "unsupported critical header"
    )
    duplicated = '{"alg":"RS256","alg":"none","kid":"' + rsa_key.kid + '"}'
    forged = b64(duplicated.encode()) + "." + token.split(".", 1)[1]
    assert refused(forged, keyset) == "malformed header"
    assert refused(b"\xff" + token.encode(), keyset) == "malformed token"
    assert refused("x" * (jose.MAX_TOKEN_LENGTH + 1), keyset) == "token too long"


@pytest.mark.parametrize(
    ("member", "value"),
    [
        *[
            (name, bad)
            for name in ("kid", "alg", "typ", "cty", "jku", "x5u", "x5t", "x5t#S256")
            for bad in ({"a": "b"}, ["a"], 7, True)
        ],
        *[(name, bad) for name in ("crit", "x5c") for bad in ("a", [], [7], {"a": "b"})],
        ("jwk", "a"),
        ("jwk", ["a"]),
    ],
)
def test_a_header_member_of_the_wrong_type_is_malformed_wherever_a_token_is_parsed(
    rsa_key: PrivateSigningKey, keyset: dict[str, PublicKeyEntry], member: str, value: object
) -> None:
    token = resigned(jose.sign(claims(), rsa_key), rsa_key, **{member: value})
    assert refused(token, keyset) == "malformed header"
    jwks = {"keys": [dict(rsa_key.public_jwk)]}
    for parse in (
        jose.unverified_header,
        jose.unverified_claims,
        lambda t: from_jwks(t, jwks, algorithms=jose.ID_TOKEN_ALGS, issuer=ISSUER),
    ):
        with pytest.raises(JoseError, match="malformed header"):
            parse(token)


def test_time_claims(rsa_key: PrivateSigningKey, keyset: dict[str, PublicKeyEntry]) -> None:
    token = jose.sign(claims(exp=NOW + 300, nbf=NOW), rsa_key)
    assert refused(token, keyset, now=NOW + 300) == "token expired"  # on or after exp
    decode(token, keyset, now=NOW + 299)
    decode(token, keyset, now=NOW + 305, leeway=10)
    assert refused(token, keyset, now=NOW - 1) == "token not yet valid"
    decode(token, keyset, now=NOW - 5, leeway=10)
    # With the real clock: this token expired long ago.
    past = jose.sign(claims(iat=1_000, exp=2_000), rsa_key)
    with pytest.raises(JoseError, match="token expired"):
        jose.decode(
            past, keys=keyset, algorithms=jose.ID_TOKEN_ALGS, audience=AUDIENCE, issuer=ISSUER
        )


@pytest.mark.parametrize("value", ["1900000300", True, None, [1], {"n": 1}])
def test_non_numeric_dates_are_refused(
    value: object, rsa_key: PrivateSigningKey, keyset: dict[str, PublicKeyEntry]
) -> None:
    for name in ("exp", "nbf", "iat"):
        token = jose.sign(claims(**{name: value}), rsa_key)
        assert refused(token, keyset) == f"the {name} claim is not a number"


def test_audience_and_issuer(rsa_key: PrivateSigningKey, keyset: dict[str, PublicKeyEntry]) -> None:
    token = jose.sign(claims(), rsa_key)
    assert refused(token, keyset, audience="other-client") == "wrong audience"
    assert refused(token, keyset, audience=None) == "wrong audience"  # RFC 7519 4.1.3
    assert refused(token, keyset, issuer="https://evil.example") == "wrong issuer"
    decode(token, keyset, audience=("x", AUDIENCE))
    several = jose.sign(claims(aud=["api", AUDIENCE]), rsa_key)
    decode(several, keyset)
    odd = jose.sign(claims(aud=[AUDIENCE, 5]), rsa_key)
    assert refused(odd, keyset) == "the aud claim is malformed"
    no_aud = jose.sign({k: v for k, v in claims().items() if k != "aud"}, rsa_key)
    assert refused(no_aud, keyset) == "wrong audience"
    decode(no_aud, keyset, audience=None)
    no_iss = jose.sign({k: v for k, v in claims().items() if k != "iss"}, rsa_key)
    assert refused(no_iss, keyset) == "wrong issuer"


def test_required_claims(rsa_key: PrivateSigningKey, keyset: dict[str, PublicKeyEntry]) -> None:
    token = jose.sign(claims(), rsa_key)
    assert refused(token, keyset, require=("exp", "iat", "jti")) == "the jti claim is missing"
    bare = jose.sign({"iss": ISSUER, "aud": AUDIENCE}, rsa_key)
    assert refused(bare, keyset) == "the exp claim is missing"
    decode(bare, keyset, require=())


def test_payload_must_be_a_json_object(
    rsa_key: PrivateSigningKey, keyset: dict[str, PublicKeyEntry]
) -> None:
    header = b64json({"alg": "RS256", "kid": rsa_key.kid})
    for payload in (b"[1]", b"not json", b'{"exp": NaN}', b'{"a": 1, "a": 2}'):
        token = resigned(header + "." + b64(payload) + ".", rsa_key)
        with pytest.raises(JoseError, match="payload"):
            decode(token, keyset)


# ------------------------------------------------------------------------------ JWK Sets


def client_key(alg: str) -> PrivateSigningKey:
    if alg == "ES256":
        return PrivateSigningKey.from_private_key(ec.generate_private_key(ec.SECP256R1()), alg)
    private = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return PrivateSigningKey.from_private_key(private, alg)


def assertion(key: PrivateSigningKey, **extra: Any) -> str:
    body = {"iss": "agency-1", "sub": "agency-1", "aud": "https://id/token", "exp": NOW + 60}
    return jose.sign({**body, "jti": "j-1", **extra}, key)


def from_jwks(token: str, jwks: Any, **kwargs: Any) -> dict[str, Any]:
    options: dict[str, Any] = {
        "algorithms": jose.CLIENT_ASSERTION_ALGS,
        "audience": ("https://id/token", ISSUER),
        "issuer": "agency-1",
        "now": NOW,
    }
    options.update(kwargs)
    return jose.decode_with_jwks(token, jwks, **options)


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
def test_client_assertion_with_the_clients_jwks(alg: str) -> None:
    key = client_key(alg)
    jwks = {"keys": [dict(key.public_jwk)]}
    assert from_jwks(assertion(key), jwks)["jti"] == "j-1"
    # Without alg in the JWK, the key type decides what it may verify.
    bare = {k: v for k, v in key.public_jwk.items() if k != "alg"}
    assert from_jwks(assertion(key), {"keys": [bare]})["sub"] == "agency-1"


def test_jwks_kid_rules() -> None:
    one, two = client_key("ES256"), client_key("ES256")
    token = assertion(one)
    no_kid = resigned(token, one, kid=None)
    # One key: the kid may be omitted (OIDC Core 10.1); two keys: it may not.
    assert from_jwks(no_kid, {"keys": [dict(one.public_jwk)]})["iss"] == "agency-1"
    with pytest.raises(JoseError, match="missing kid"):
        from_jwks(no_kid, {"keys": [dict(one.public_jwk), dict(two.public_jwk)]})
    with pytest.raises(JoseError, match="unknown kid"):
        from_jwks(token, {"keys": [dict(two.public_jwk)]})
    impostor = dict(two.public_jwk, kid=one.kid)
    with pytest.raises(JoseError, match="bad signature"):
        from_jwks(token, {"keys": [impostor]})


def test_jwks_key_binding_and_skipping() -> None:
    rs = client_key("RS256")
    ps_token = resigned(assertion(rs), rs, alg="PS256")
    # The JWK says RS256, so a PS256 header cannot use it.
    with pytest.raises(JoseError, match="algorithm does not match the key"):
        from_jwks(ps_token, {"keys": [dict(rs.public_jwk)]})
    enc = dict(rs.public_jwk, use="enc")
    with pytest.raises(JoseError, match="unknown kid"):
        from_jwks(assertion(rs), {"keys": [enc, {"kty": "oct", "k": "c2VjcmV0"}]})
    not_sets: list[Any] = [None, [], {"keys": {}}, "keys"]
    for bad in not_sets:
        with pytest.raises(JoseError, match="JWK Set"):
            from_jwks(assertion(rs), bad)


def test_jwk_parsing_is_strict() -> None:
    weak = rsa.generate_private_key(public_exponent=65537, key_size=1024).public_key()  # noqa: S505
    numbers = weak.public_numbers()
    weak_jwk = {
        "kty": "RSA",
        "n": b64(numbers.n.to_bytes(128, "big")),
        "e": "AQAB",
    }
    with pytest.raises(JoseError, match="2048"):
        PublicKeyEntry.from_jwk(weak_jwk, alg="RS256")
    huge = {"kty": "RSA", "n": b64((1 << 8200 | 1).to_bytes(1026, "big")), "e": "AQAB"}
    with pytest.raises(JoseError, match="8192"):
        PublicKeyEntry.from_jwk(huge)
    good = dict(keys.generate("ES256").public_jwk)
    off_curve = dict(good, y=good["x"])
    with pytest.raises(JoseError):
        PublicKeyEntry.from_jwk(off_curve)
    with pytest.raises(JoseError, match="P-256"):
        PublicKeyEntry.from_jwk(dict(good, crv="P-384"))
    with pytest.raises(JoseError, match="expected algorithm"):
        PublicKeyEntry.from_jwk(good, alg="RS256")
    with pytest.raises(JoseError, match="does not fit"):
        PublicKeyEntry.from_jwk(dict(good, alg="RS256"))
    with pytest.raises(JoseError, match="verification"):
        PublicKeyEntry.from_jwk(dict(good, key_ops=["sign"]))
    assert PublicKeyEntry.from_jwk(good).allows("ES256")
    assert not PublicKeyEntry.from_jwk(good).allows("RS256")


# ------------------------------------------------------------------------------ helpers


def test_thumbprint_rfc7638_example() -> None:
    # RFC 7638 3.1.
    jwk = {
        "kty": "RSA",
        "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSo"
        "c_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQ"
        "R0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bF"
        "TWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
        "e": "AQAB",
        "alg": "RS256",
        "kid": "2011-04-29",
    }
    assert jose.thumbprint(jwk) == "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs"
    with pytest.raises(JoseError):
        jose.thumbprint({"kty": "RSA", "n": "AQAB"})
    with pytest.raises(JoseError):
        jose.thumbprint({"kty": "XYZ"})


def test_at_hash_is_the_left_half_of_sha256() -> None:
    token = "jHkWEdUXMU1BwAsC4vtUsZwnNY3nAAAA"
    expected = b64(hashlib.sha256(token.encode()).digest()[:16])
    assert jose.at_hash(token, "RS256") == expected == jose.at_hash(token, "ES256")
    assert len(jose.at_hash(token, "PS256")) == 22
    with pytest.raises(JoseError):
        jose.at_hash(token, "none")
    with pytest.raises(JoseError):
        jose.at_hash("jeton-à-accès", "RS256")


def test_public_jwk_carries_no_private_member(rsa_key: PrivateSigningKey) -> None:
    assert set(rsa_key.public_jwk) == {"kty", "n", "e", "kid", "alg", "use"}
    assert rsa_key.kid == jose.thumbprint(rsa_key.public_jwk)


# ------------------------------------------------------------------------------ interop


def test_authlib_verifies_our_tokens(rsa_key: PrivateSigningKey, ec_key: PrivateSigningKey) -> None:
    authlib_jose = pytest.importorskip("authlib.jose")
    keyset = authlib_jose.JsonWebKey.import_key_set(
        {"keys": [dict(rsa_key.public_jwk), dict(ec_key.public_jwk)]}
    )
    now = int(time.time())
    for key in (rsa_key, ec_key):
        token = jose.sign(claims(iat=now, exp=now + 60), key)
        verified = authlib_jose.JsonWebToken(list(jose.ID_TOKEN_ALGS)).decode(token, keyset)
        verified.validate()
        assert verified["sub"] == "s-1"


@pytest.mark.parametrize("alg", ["RS256", "PS256", "ES256"])
def test_we_verify_authlib_client_assertions(alg: str) -> None:
    authlib_jose = pytest.importorskip("authlib.jose")
    private = (
        ec.generate_private_key(ec.SECP256R1())
        if alg == "ES256"
        else rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    pem = private.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    jwk = authlib_jose.JsonWebKey.import_key(pem, {"kid": "c-1", "alg": alg, "use": "sig"})
    body = {"iss": "agency-1", "sub": "agency-1", "aud": "https://id/token", "exp": NOW + 60}
    token = authlib_jose.JsonWebToken([alg]).encode({"alg": alg, "kid": "c-1"}, body, jwk)
    public = jwk.as_dict(is_private=False)
    assert from_jwks(token.decode(), {"keys": [public]})["aud"] == "https://id/token"


# ------------------------------------------------------------------------------ fuzz


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.binary(max_size=600), st.text(max_size=600)))
def test_random_input_only_raises_jose_error(data: bytes | str) -> None:
    entry = PublicKeyEntry.from_jwk(dict(_FUZZ_KEY.public_jwk))
    jwks = {"keys": [dict(_FUZZ_KEY.public_jwk)]}
    calls: list[Callable[[], object]] = [
        lambda: jose.unverified_header(data),
        lambda: jose.unverified_claims(data),
        lambda: jose.decode(
            data, keys={_FUZZ_KEY.kid: entry}, algorithms=("ES256",), audience=None, issuer=None
        ),
        lambda: jose.decode_with_jwks(
            data, jwks, algorithms=("ES256",), audience=None, issuer=None
        ),
    ]
    for call in calls:
        try:
            call()
        except JoseError:
            pass


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=8),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=4), inner),
    max_leaves=10,
)


@settings(max_examples=200, deadline=None)
@given(st.dictionaries(st.text(max_size=8), JSON_VALUES, max_size=6))
def test_random_headers_and_claims_only_raise_jose_error(body: dict[str, Any]) -> None:
    token = b64json(body) + "." + b64json(body) + "."
    signed = jose.sign(body, _FUZZ_KEY)
    for candidate in (token, signed):
        try:
            decode(candidate, {_FUZZ_KEY.kid: _FUZZ_KEY.verification_entry()}, require=())
        except JoseError:
            pass


_FUZZ_KEY = keys.generate("ES256")


def test_the_fuzz_corpus_starts_with_valid_tokens() -> None:
    from fuzz import targets_identity as target

    for seed in target.SEEDS["jose_decode"][:2]:
        claims = jose.decode(
            seed,
            keys=target._KEYS,
            algorithms=jose.ACCESS_TOKEN_ALGS,
            audience=target.AUDIENCE,
            issuer=target.ISSUER,
            now=target.NOW,
        )
        assert claims["iss"] == target.ISSUER
