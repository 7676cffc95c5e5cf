"""A FAPI 2.0 client written for these tests from the RFCs, on ``cryptography`` alone: none of
the provider's code (identity.jose) and not the Authlib client the other tests use. It makes
private_key_jwt assertions (RFC 7523), PKCE pairs (RFC 7636) and DPoP proofs (RFC 9449)."""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import decode_dss_signature

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def b64(data: bytes) -> str:
    """Base64url without padding."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64json(value: dict[str, Any]) -> str:
    """A JWS segment of a JSON object."""
    return b64(json.dumps(value, separators=(",", ":")).encode())


@dataclass
class Key:
    """A signing key of the client and its public JWK."""

    private: Any
    alg: str

    @classmethod
    def es256(cls) -> Key:
        """A fresh P-256 key."""
        return cls(ec.generate_private_key(ec.SECP256R1()), "ES256")

    @classmethod
    def rsa(cls, alg: str = "PS256") -> Key:
        """A fresh 2048-bit RSA key for PS256 or RS256."""
        return cls(rsa.generate_private_key(public_exponent=65537, key_size=2048), alg)

    @classmethod
    def ed25519(cls) -> Key:
        """A fresh Ed25519 key (EdDSA, RFC 8037)."""
        return cls(ed25519.Ed25519PrivateKey.generate(), "EdDSA")

    def jwk(self) -> dict[str, str]:
        """The public JWK (RFC 7517)."""
        public = self.private.public_key()
        if isinstance(public, ec.EllipticCurvePublicKey):
            numbers = public.public_numbers()
            return {
                "kty": "EC",
                "crv": "P-256",
                "x": b64(numbers.x.to_bytes(32, "big")),
                "y": b64(numbers.y.to_bytes(32, "big")),
            }
        if isinstance(public, ed25519.Ed25519PublicKey):
            from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

            return {
                "kty": "OKP",
                "crv": "Ed25519",
                "x": b64(public.public_bytes(Encoding.Raw, PublicFormat.Raw)),
            }
        rsa_numbers = public.public_numbers()
        return {
            "kty": "RSA",
            "n": b64(rsa_numbers.n.to_bytes((rsa_numbers.n.bit_length() + 7) // 8, "big")),
            "e": b64(rsa_numbers.e.to_bytes(3, "big")),
        }

    def thumbprint(self) -> str:
        """RFC 7638: SHA-256 of the required members in lexicographic order."""
        canonical = json.dumps(self.jwk(), sort_keys=True, separators=(",", ":"))
        return b64(hashlib.sha256(canonical.encode()).digest())

    def sign(self, header: dict[str, Any], claims: dict[str, Any]) -> str:
        """A compact JWS (RFC 7515) of ``claims``."""
        signing_input = (b64json({"alg": self.alg, **header}) + "." + b64json(claims)).encode()
        if self.alg == "ES256":
            r, s = decode_dss_signature(self.private.sign(signing_input, ec.ECDSA(hashes.SHA256())))
            signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
        elif self.alg == "EdDSA":
            signature = self.private.sign(signing_input)
        elif self.alg == "PS256":
            pss = padding.PSS(mgf=padding.MGF1(hashes.SHA256()), salt_length=32)
            signature = self.private.sign(signing_input, pss, hashes.SHA256())
        else:
            signature = self.private.sign(signing_input, padding.PKCS1v15(), hashes.SHA256())
        return signing_input.decode() + "." + b64(signature)


def pkce() -> tuple[str, str]:
    """(verifier, S256 challenge)."""
    verifier = secrets.token_urlsafe(48)
    return verifier, b64(hashlib.sha256(verifier.encode()).digest())


@dataclass
class FapiClient:
    """A confidential FAPI 2.0 client: its id, its authentication key, its DPoP key, and the
    last DPoP nonce the server gave it."""

    issuer: str
    client_id: str
    auth_key: Key
    dpop_key: Key = field(default_factory=Key.es256)
    nonce: str | None = None

    def jwks(self) -> dict[str, Any]:
        """The JWK Set it registers (its authentication key)."""
        return {"keys": [{**self.auth_key.jwk(), "kid": "auth-1", "alg": self.auth_key.alg}]}

    def assertion(self, *, aud: str | None = None, lifetime: int = 60) -> dict[str, str]:
        """private_key_jwt form members (RFC 7523 2.2), aud the issuer (FAPI 2.0 5.3.2.1)."""
        now = int(time.time())
        claims = {
            "iss": self.client_id,
            "sub": self.client_id,
            "aud": aud or self.issuer,
            "jti": str(uuid.uuid4()),
            "iat": now,
            "exp": now + lifetime,
        }
        token = self.auth_key.sign({"kid": "auth-1", "typ": "JWT"}, claims)
        return {"client_assertion_type": ASSERTION_TYPE, "client_assertion": token}

    def proof(
        self,
        method: str,
        url: str,
        *,
        access_token: str | None = None,
        key: Key | None = None,
        nonce: str | None = None,
        iat: int | None = None,
    ) -> str:
        """A DPoP proof (RFC 9449 4.2) for ``method`` on ``url``, with the last nonce."""
        key = key or self.dpop_key
        claims: dict[str, Any] = {
            "jti": str(uuid.uuid4()),
            "htm": method,
            "htu": url,
            "iat": int(time.time()) if iat is None else iat,
        }
        if nonce or self.nonce:
            claims["nonce"] = nonce or self.nonce
        if access_token is not None:
            claims["ath"] = b64(hashlib.sha256(access_token.encode()).digest())
        return key.sign({"typ": "dpop+jwt", "jwk": key.jwk()}, claims)
