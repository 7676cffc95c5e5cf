"""JWS/JWT for the identity provider: signing, strict verification, JWKs and thumbprints.

This is the only module that imports python-jose. It uses python-jose's key backends for the
RS256 and ES256 signature primitives (on ``cryptography`` key objects) and does the parsing and
checking itself, because ``jose.jwt.decode`` accepts non-canonical base64 segments, lets a
``TypeError`` escape on a non-numeric ``exp``, does not bind keys to algorithms, and has no
PS256. Every use names its algorithm allowlist (RFC 8725 3.1); every key has exactly one
algorithm, or for a client key without ``alg`` the ones its key type allows (RFC 8725 3.1).
Errors are :class:`JoseError` with a short reason that never repeats token content.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import time
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from jose import jwk as jose_jwk

ID_TOKEN_ALGS: tuple[str, ...] = ("RS256", "ES256")
ACCESS_TOKEN_ALGS: tuple[str, ...] = ("ES256", "RS256")
CLIENT_ASSERTION_ALGS: tuple[str, ...] = ("RS256", "PS256", "ES256")
# FAPI 2.0 Security Profile 5.4: PS256, ES256 or EdDSA, never RS256.
FAPI_ALGS: tuple[str, ...] = ("PS256", "ES256")
DPOP_ALGS: tuple[str, ...] = ("ES256", "PS256", "EdDSA")
# Everything this module can verify; an allowlist naming anything else never matches it.
SUPPORTED_ALGS = frozenset({"RS256", "PS256", "ES256", "EdDSA"})

MAX_TOKEN_LENGTH = 16_384
MIN_RSA_BITS = 2048  # RFC 7518 3.3
MAX_RSA_BITS = 8192  # a client's oversized key must not make every check slow
_RSA_ALGS = frozenset({"RS256", "PS256"})
_EC_ALGS = frozenset({"ES256"})
_OKP_ALGS = frozenset({"EdDSA"})
# RFC 7517 6.2.2, 6.3.2, RFC 8037 2: members that only a private key has.
_PRIVATE_MEMBERS = frozenset({"d", "p", "q", "dp", "dq", "qi", "oth", "k"})
_P256_COORDINATE = 32  # bytes; RFC 7518 6.2.1.2: x and y are full-length
_B64URL = re.compile(r"[A-Za-z0-9_-]*")

PublicKey = rsa.RSAPublicKey | ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey
PrivateKey = rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey


class JoseError(ValueError):
    """A token, key or key set is malformed or does not verify; the message is a short reason."""


# ------------------------------------------------------------------------------ keys


@dataclass(frozen=True, slots=True, eq=False)
class PublicKeyEntry:
    """A verification key: its kid, its one algorithm (None: any its type allows), the key."""

    kid: str | None
    alg: str | None
    key: PublicKey

    def allows(self, alg: str) -> bool:
        """True when this key may verify a signature made with ``alg`` (RFC 8725 3.1)."""
        if self.alg is not None:
            return alg == self.alg
        return alg in _algs_for(self.key)

    @classmethod
    def from_jwk(cls, jwk: Mapping[str, Any], *, alg: str | None = None) -> PublicKeyEntry:
        """Parse a public signing JWK (RSA >= 2048 bits, or EC P-256); private members ignored.

        ``alg`` is the algorithm the caller expects for the key; the JWK's own ``alg``, when
        present, must agree with it.
        """
        if not isinstance(jwk, Mapping):
            raise JoseError("a JWK must be a JSON object")
        # RFC 7517 4.2 and 4.3: a key meant for encryption must not verify signatures.
        use = jwk.get("use")
        ops = jwk.get("key_ops")
        if use is not None and use != "sig":
            raise JoseError("the JWK is not a signing key")
        if ops is not None and (not isinstance(ops, list) or "verify" not in ops):
            raise JoseError("the JWK is not a verification key")
        kid = jwk.get("kid")
        if kid is not None and (not isinstance(kid, str) or not kid):
            raise JoseError("the JWK's kid must be a non-empty string")
        own_alg = jwk.get("alg")
        if own_alg is not None and not isinstance(own_alg, str):
            raise JoseError("the JWK's alg must be a string")
        if own_alg is not None and alg is not None and own_alg != alg:
            raise JoseError("the JWK's alg is not the expected algorithm")
        chosen = own_alg if own_alg is not None else alg
        key = _public_key_from_jwk(jwk)
        if chosen is not None and chosen not in _algs_for(key):
            raise JoseError("the JWK's key type does not fit its algorithm")
        return cls(kid=kid, alg=chosen, key=key)


@dataclass(frozen=True, slots=True, eq=False)
class PrivateSigningKey:
    """One of our signing keys: kid (RFC 7638 thumbprint), algorithm, key, public JWK."""

    kid: str
    alg: str
    private_key: PrivateKey
    public_jwk: Mapping[str, Any]

    @classmethod
    def from_private_key(cls, private_key: PrivateKey, alg: str) -> PrivateSigningKey:
        """Wrap a ``cryptography`` private key for ``alg``; the kid is its JWK thumbprint."""
        public = public_jwk(private_key.public_key(), alg=alg)
        return cls(kid=str(public["kid"]), alg=alg, private_key=private_key, public_jwk=public)

    def verification_entry(self) -> PublicKeyEntry:
        """The public half, as a verification key bound to this key's algorithm."""
        return PublicKeyEntry(kid=self.kid, alg=self.alg, key=self.private_key.public_key())


def public_jwk(key: PublicKey, *, alg: str) -> dict[str, Any]:
    """The public JWK of ``key`` with kid (RFC 7638 thumbprint), alg and use="sig"."""
    if alg not in SUPPORTED_ALGS or alg not in _algs_for(key):
        raise JoseError("the key type does not fit the algorithm")
    members: dict[str, Any]
    if isinstance(key, rsa.RSAPublicKey):
        numbers = key.public_numbers()
        # RFC 7518 6.3.1: unsigned big-endian, without leading zero octets.
        members = {"kty": "RSA", "n": _b64_uint(numbers.n), "e": _b64_uint(numbers.e)}
    elif isinstance(key, ed25519.Ed25519PublicKey):
        raise JoseError("the provider signs with RSA and EC keys only")
    else:
        numbers_ec = key.public_numbers()
        members = {
            "kty": "EC",
            "crv": "P-256",
            "x": b64url_encode(numbers_ec.x.to_bytes(_P256_COORDINATE, "big")),
            "y": b64url_encode(numbers_ec.y.to_bytes(_P256_COORDINATE, "big")),
        }
    return {**members, "kid": thumbprint(members), "alg": alg, "use": "sig"}


def thumbprint(jwk: Mapping[str, Any]) -> str:
    """The RFC 7638 JWK thumbprint (SHA-256, base64url) of a public or private JWK."""
    kty = jwk.get("kty") if isinstance(jwk, Mapping) else None
    # RFC 7638 3.2: only the required members, in lexicographic order; RFC 8037 2 for OKP.
    required = {
        "RSA": ("e", "kty", "n"),
        "EC": ("crv", "kty", "x", "y"),
        "OKP": ("crv", "kty", "x"),
        "oct": ("k", "kty"),
    }.get(kty if isinstance(kty, str) else "")
    if required is None:
        raise JoseError("the JWK has no supported kty")
    members = {}
    for name in required:
        value = jwk.get(name)
        if not isinstance(value, str):
            raise JoseError("the JWK lacks a required member")
        members[name] = value
    # RFC 7638 3.3: no whitespace, UTF-8.
    canonical = json.dumps(members, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    return b64url_encode(hashlib.sha256(canonical.encode("utf-8")).digest())


def public_keys_from_jwks(jwks: Any) -> list[PublicKeyEntry]:
    """The signing keys of a JWK Set (RFC 7517 5); keys for other uses or types are skipped."""
    if not isinstance(jwks, Mapping) or not isinstance(jwks.get("keys"), list):
        raise JoseError("a JWK Set must be an object with a keys array")
    entries = []
    for member in jwks["keys"]:
        try:
            entries.append(PublicKeyEntry.from_jwk(member))
        except JoseError:
            continue  # RFC 7517 5: ignore keys we do not understand
    return entries


# ------------------------------------------------------------------------------ helpers


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(segment: str) -> bytes:
    """Strict base64url without padding: only the canonical encoding is accepted."""
    if not _B64URL.fullmatch(segment) or len(segment) % 4 == 1:
        raise JoseError("malformed base64url")
    try:
        data = base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4))
    except (binascii.Error, ValueError):
        raise JoseError("malformed base64url") from None
    # Unused trailing bits must be zero, so that one value has exactly one spelling.
    if b64url_encode(data) != segment:
        raise JoseError("malformed base64url")
    return data


def _b64_uint(value: int) -> str:
    return b64url_encode(value.to_bytes(max(1, (value.bit_length() + 7) // 8), "big"))


def _uint_from_b64(value: Any) -> int:
    if not isinstance(value, str) or not value:
        raise JoseError("the JWK lacks a required member")
    return int.from_bytes(b64url_decode(value), "big")


def at_hash(access_token: str, alg: str) -> str:
    """The at_hash of an access token for an ID token signed with ``alg`` (OIDC Core 3.1.3.6)."""
    digest = {"256": hashlib.sha256, "384": hashlib.sha384, "512": hashlib.sha512}.get(alg[-3:])
    if digest is None or alg[:2] not in ("RS", "PS", "ES", "HS"):
        raise JoseError("no at_hash for this algorithm")
    try:
        octets = access_token.encode("ascii")  # "the octets of the ASCII representation"
    except UnicodeEncodeError:
        raise JoseError("an access token is ASCII") from None
    full = digest(octets).digest()
    return b64url_encode(full[: len(full) // 2])


def _algs_for(key: PublicKey) -> frozenset[str]:
    if isinstance(key, rsa.RSAPublicKey):
        return _RSA_ALGS
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return _EC_ALGS
    if isinstance(key, ed25519.Ed25519PublicKey):
        return _OKP_ALGS
    return frozenset()


def _public_key_from_jwk(jwk: Mapping[str, Any]) -> PublicKey:
    kty = jwk.get("kty")
    try:
        if kty == "RSA":
            n, e = _uint_from_b64(jwk.get("n")), _uint_from_b64(jwk.get("e"))
            if n.bit_length() < MIN_RSA_BITS:
                raise JoseError("the RSA key is shorter than 2048 bits")
            if n.bit_length() > MAX_RSA_BITS:
                raise JoseError("the RSA key is longer than 8192 bits")
            if e < 3 or e % 2 == 0:
                raise JoseError("the RSA key has an invalid exponent")
            return rsa.RSAPublicNumbers(e, n).public_key()
        if kty == "EC":
            if jwk.get("crv") != "P-256":
                raise JoseError("the EC key is not on P-256")
            x, y = jwk.get("x"), jwk.get("y")
            if not isinstance(x, str) or not isinstance(y, str):
                raise JoseError("the JWK lacks a required member")
            xb, yb = b64url_decode(x), b64url_decode(y)
            if len(xb) != _P256_COORDINATE or len(yb) != _P256_COORDINATE:
                raise JoseError("the EC key's coordinates have the wrong length")
            # from_encoded_point refuses points that are not on the curve.
            return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), b"\x04" + xb + yb)
        if kty == "OKP":
            # RFC 8037 2: only Ed25519 among the signing curves is accepted.
            okp_x = jwk.get("x")
            if jwk.get("crv") != "Ed25519" or not isinstance(okp_x, str):
                raise JoseError("the OKP key is not an Ed25519 key")
            return ed25519.Ed25519PublicKey.from_public_bytes(b64url_decode(okp_x))
    except JoseError:
        raise
    except (ValueError, TypeError, OverflowError):
        raise JoseError("the JWK is not a valid public key") from None
    raise JoseError("the JWK's key type is not supported")


def _jose_key(key: rsa.RSAPublicKey | ec.EllipticCurvePublicKey | PrivateKey, alg: str) -> Any:
    # python-jose's backends take cryptography key objects as they are (no re-parsing).
    return jose_jwk.construct(key, alg)


def _pss() -> padding.PSS:
    # RFC 7518 3.5: MGF1 with SHA-256 and a salt as long as the hash output.
    return padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)


def _sign_bytes(key: PrivateKey, alg: str, signing_input: bytes) -> bytes:
    if alg == "PS256":
        if not isinstance(key, rsa.RSAPrivateKey):
            raise JoseError("the key type does not fit the algorithm")
        return key.sign(signing_input, _pss(), hashes.SHA256())
    signature: bytes = _jose_key(key, alg).sign(signing_input)
    return signature


def _verify_bytes(key: PublicKey, alg: str, signing_input: bytes, signature: bytes) -> bool:
    try:
        if alg == "PS256":
            if not isinstance(key, rsa.RSAPublicKey):
                return False
            key.verify(signature, signing_input, _pss(), hashes.SHA256())
            return True
        if isinstance(key, ed25519.Ed25519PublicKey):
            if alg != "EdDSA":
                return False
            key.verify(signature, signing_input)  # RFC 8037 3.1
            return True
        if alg == "EdDSA":
            return False
        return bool(_jose_key(key, alg).verify(signing_input, signature))
    except InvalidSignature:
        return False
    except Exception:
        # A malformed signature (wrong length, bad encoding) is a bad signature, nothing else.
        return False


# ------------------------------------------------------------------------------ sign


def _json_bytes(value: Mapping[str, Any]) -> bytes:
    return json.dumps(
        dict(value), separators=(",", ":"), ensure_ascii=False, allow_nan=False
    ).encode("utf-8")


def sign(claims: Mapping[str, Any], key: PrivateSigningKey, *, typ: str | None = None) -> str:
    """A compact JWS of ``claims`` signed with ``key``; the header names alg, kid and typ."""
    if key.alg not in SUPPORTED_ALGS:
        raise JoseError("the key's algorithm is not supported")
    # RFC 7515 4.1.1 alg, 4.1.4 kid; RFC 8725 3.11 explicit typing when the use asks for it.
    header: dict[str, Any] = {"alg": key.alg, "kid": key.kid}
    if typ is not None:
        header["typ"] = typ
    signing_input = (
        b64url_encode(_json_bytes(header)) + "." + b64url_encode(_json_bytes(claims))
    ).encode("ascii")
    signature = _sign_bytes(key.private_key, key.alg, signing_input)
    return signing_input.decode("ascii") + "." + b64url_encode(signature)


# ------------------------------------------------------------------------------ parse


@dataclass(frozen=True, slots=True)
class _Parsed:
    header: dict[str, Any]
    payload: bytes
    signing_input: bytes
    signature: bytes


def _no_duplicates(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    # RFC 7515 5.2 step 4 / RFC 7519 4: refuse duplicate member names.
    out: dict[str, Any] = {}
    for name, value in pairs:
        if name in out:
            raise JoseError("duplicate member name")
        out[name] = value
    return out


def _no_constant(name: str) -> Any:
    raise JoseError("NaN and Infinity are not JSON")


def _json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        value = json.loads(
            data.decode("utf-8"), object_pairs_hook=_no_duplicates, parse_constant=_no_constant
        )
    except JoseError:
        raise JoseError(f"malformed {what}") from None
    except (ValueError, RecursionError):
        raise JoseError(f"malformed {what}") from None
    if not isinstance(value, dict):
        raise JoseError(f"the {what} is not a JSON object")
    return value


# RFC 7515 4.1: the registered header parameters and the JSON type each must have. A member of
# another type is a malformed header, refused at parsing, before anything looks up its value.
_STRING_MEMBERS = ("alg", "kid", "typ", "cty", "jku", "x5u", "x5t", "x5t#S256")
_STRING_ARRAY_MEMBERS = ("crit", "x5c")


def _check_header_shape(header: Mapping[str, Any]) -> None:
    for name in _STRING_MEMBERS:
        if name in header and not isinstance(header[name], str):
            raise JoseError("malformed header")
    for name in _STRING_ARRAY_MEMBERS:
        value = header.get(name, [""])
        # RFC 7515 4.1.11 and 4.1.6: non-empty arrays of strings.
        if not isinstance(value, list) or not value or not all(isinstance(v, str) for v in value):
            raise JoseError("malformed header")
    if "jwk" in header and not isinstance(header["jwk"], dict):  # RFC 7515 4.1.3
        raise JoseError("malformed header")


def _parse(token: str | bytes) -> _Parsed:
    if isinstance(token, bytes):
        try:
            token = token.decode("ascii")
        except UnicodeDecodeError:
            raise JoseError("malformed token") from None
    if not isinstance(token, str):
        raise JoseError("malformed token")
    if len(token) > MAX_TOKEN_LENGTH:
        raise JoseError("token too long")
    parts = token.split(".")
    # RFC 7515 7.1: JWS Compact Serialization has exactly three parts (five would be a JWE).
    if len(parts) != 3:
        raise JoseError("malformed token")
    header_b64, payload_b64, signature_b64 = parts
    try:
        header_bytes, payload, signature = (b64url_decode(part) for part in parts)
    except JoseError:
        raise JoseError("malformed token") from None
    header = _json_object(header_bytes, "header")
    _check_header_shape(header)
    return _Parsed(header, payload, (header_b64 + "." + payload_b64).encode("ascii"), signature)


def unverified_header(token: str | bytes) -> dict[str, Any]:
    """The JOSE header of a compact JWS, not verified, its registered members of the types
    RFC 7515 4.1 gives them; raises only JoseError."""
    return _parse(token).header


def unverified_claims(token: str | bytes) -> dict[str, Any]:
    """The claims of a compact JWS, NOT verified (to find whose keys verify it); JoseError only."""
    return _json_object(_parse(token).payload, "payload")


# ------------------------------------------------------------------------------ verify

KeyLookup = Mapping[str, PublicKeyEntry] | Callable[[str], PublicKeyEntry | None]


def _typ_matches(actual: Any, expected: str) -> bool:
    # RFC 7515 4.1.9: media types compare case-insensitively, "application/" may be omitted.
    if not isinstance(actual, str):
        return False

    def bare(value: str) -> str:
        value = value.lower()
        return value[len("application/") :] if value.startswith("application/") else value

    return bare(actual) == bare(expected)


def _checked_alg(header: Mapping[str, Any], algorithms: Iterable[str], typ: str | None) -> str:
    alg = header.get("alg")
    # RFC 8725 3.1: only the algorithms this use allows ("none" is never among them).
    if not isinstance(alg, str) or alg not in algorithms or alg not in SUPPORTED_ALGS:
        raise JoseError("algorithm not allowed")
    # RFC 7515 4.1.11: we understand no extension, so any "crit" makes the token invalid.
    if "crit" in header:
        raise JoseError("unsupported critical header")
    if typ is not None and not _typ_matches(header.get("typ"), typ):
        raise JoseError("wrong token type")
    return alg


def _verified_claims(
    parsed: _Parsed, alg: str, candidates: Sequence[PublicKeyEntry]
) -> dict[str, Any]:
    usable = [entry for entry in candidates if entry.allows(alg)]
    if not usable:
        # The key exists but is bound to another algorithm (e.g. HS256 over our RSA key).
        raise JoseError("algorithm does not match the key")
    if not any(_verify_bytes(e.key, alg, parsed.signing_input, parsed.signature) for e in usable):
        raise JoseError("bad signature")  # RFC 7515 5.2 step 8
    return _json_object(parsed.payload, "payload")  # RFC 7519 7.2 steps 9-10


def _number(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None and name not in claims:
        return None
    # RFC 7519 2: NumericDate is a JSON number (bool is not).
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise JoseError(f"the {name} claim is not a number")
    return float(value)


def _check_claims(
    claims: Mapping[str, Any],
    *,
    audience: str | Sequence[str] | None,
    issuer: str | None,
    leeway: int,
    require: Iterable[str],
    now: float | None,
) -> None:
    for name in require:
        if name not in claims:
            raise JoseError(f"the {name} claim is missing")
    check_lifetime(claims, leeway=leeway, now=now)
    # RFC 7519 4.1.6: iat is informational; a client's clock running slightly fast is no error.
    _number(claims, "iat")
    # RFC 7519 4.1.1: iss compared as a case-sensitive string.
    if issuer is not None and claims.get("iss") != issuer:
        raise JoseError("wrong issuer")
    _check_audience(claims, audience)


def check_lifetime(claims: Mapping[str, Any], *, leeway: int = 0, now: float | None = None) -> None:
    """The time-bound checks of ``check_claims`` alone (expiry, not-before): for claims whose
    other checks (issuer, audience, required claims) passed before and cannot change."""
    current = time.time() if now is None else now
    exp = _number(claims, "exp")
    # RFC 7519 4.1.4: not accepted on or after exp.
    if exp is not None and current >= exp + leeway:
        raise JoseError("token expired")
    nbf = _number(claims, "nbf")
    # RFC 7519 4.1.5: not accepted before nbf.
    if nbf is not None and current + leeway < nbf:
        raise JoseError("token not yet valid")


def check_claims(
    claims: Mapping[str, Any],
    *,
    audience: str | Sequence[str] | None,
    issuer: str | None,
    leeway: int = 0,
    require: Sequence[str] = ("exp", "iat"),
    now: float | None = None,
) -> None:
    """The checks ``decode`` makes of verified claims (expiry, not-before, issuer, audience),
    again: for claims whose signature was verified earlier."""
    _check_claims(claims, audience=audience, issuer=issuer, leeway=leeway, require=require, now=now)


def _check_audience(claims: Mapping[str, Any], audience: str | Sequence[str] | None) -> None:
    # RFC 7519 4.1.3: a token with an aud must name us; with no audience given we are no one.
    if "aud" not in claims:
        if audience is not None:
            raise JoseError("wrong audience")
        return
    aud = claims["aud"]
    values = [aud] if isinstance(aud, str) else aud
    if not isinstance(values, list) or not all(isinstance(v, str) for v in values):
        raise JoseError("the aud claim is malformed")
    accepted = (audience,) if isinstance(audience, str) else tuple(audience or ())
    if not any(value in accepted for value in values):
        raise JoseError("wrong audience")


def decode(
    token: str | bytes,
    *,
    keys: KeyLookup,
    algorithms: Sequence[str],
    audience: str | Sequence[str] | None,
    issuer: str | None,
    leeway: int = 0,
    require: Sequence[str] = ("exp", "iat"),
    typ: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Verify a compact JWS signed by one of ``keys`` (by kid) and check its claims.

    The header's alg must be in ``algorithms`` and be the key's own algorithm; the kid must be
    present and known. ``audience`` may name several acceptable values (any one must be in the
    token's aud); ``typ``, when given, must match the header's typ. Raises only JoseError.
    """
    parsed = _parse(token)
    alg = _checked_alg(parsed.header, algorithms, typ)
    kid = parsed.header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise JoseError("missing kid")
    entry = keys.get(kid) if isinstance(keys, Mapping) else keys(kid)
    if entry is None:
        raise JoseError("unknown kid")
    claims = _verified_claims(parsed, alg, [entry])
    _check_claims(claims, audience=audience, issuer=issuer, leeway=leeway, require=require, now=now)
    return claims


def decode_with_jwks(
    token: str | bytes,
    jwks: Any,
    *,
    algorithms: Sequence[str],
    audience: str | Sequence[str] | None,
    issuer: str | None,
    leeway: int = 0,
    require: Sequence[str] = ("exp",),
    typ: str | None = None,
    now: float | None = None,
) -> dict[str, Any]:
    """Like :func:`decode`, with the keys of a client's JWK Set (RFC 7517 5).

    The kid may be left out when the set holds a single signing key (OIDC Core 10.1).
    """
    parsed = _parse(token)
    alg = _checked_alg(parsed.header, algorithms, typ)
    entries = public_keys_from_jwks(jwks)
    kid = parsed.header.get("kid")
    if kid is None:
        if len(entries) != 1:
            raise JoseError("missing kid")
        candidates = entries
    elif not isinstance(kid, str) or not kid:
        raise JoseError("missing kid")
    else:
        candidates = [entry for entry in entries if entry.kid == kid]
        if not candidates:
            raise JoseError("unknown kid")
    claims = _verified_claims(parsed, alg, candidates)
    _check_claims(claims, audience=audience, issuer=issuer, leeway=leeway, require=require, now=now)
    return claims


def decode_dpop_proof(
    token: str | bytes, *, algorithms: Sequence[str]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """Verify a DPoP proof's signature with the public key its header carries (RFC 9449 4.3
    steps 4-7): typ dpop+jwt, an allowed asymmetric alg, a public jwk that fits it. Its
    (jwk, claims); the caller checks the claims. Raises only JoseError."""
    parsed = _parse(token)
    alg = _checked_alg(parsed.header, algorithms, "dpop+jwt")
    jwk = parsed.header.get("jwk")
    if not isinstance(jwk, dict):
        raise JoseError("the proof carries no jwk")
    if _PRIVATE_MEMBERS.intersection(jwk):
        raise JoseError("the proof's jwk holds a private key")
    entry = PublicKeyEntry.from_jwk(jwk, alg=alg)
    return jwk, _verified_claims(parsed, alg, [entry])
