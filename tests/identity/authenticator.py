"""A software passkey authenticator (P-256, "none" attestation) that answers WebAuthn
ceremonies in the browser's JSON forms, for the passkey tests of every package."""

from __future__ import annotations

import hashlib
import json
import os
import struct
from dataclasses import dataclass, field
from typing import Any

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from fido2 import cbor
from fido2.utils import websafe_decode, websafe_encode

ORIGIN = "http://localhost:8000"
RP_ID = "localhost"

# Authenticator data flags (WebAuthn 3 section 6.1).
UP, UV, AT = 0x01, 0x04, 0x40


def b64(data: bytes) -> str:
    return websafe_encode(data)


@dataclass
class SoftAuthenticator:
    """A CTAP2-like platform authenticator in software, producing the browser's JSON forms."""

    origin: str = ORIGIN
    rp_id: str = RP_ID
    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )
    credential_id: bytes = field(default_factory=lambda: os.urandom(32))
    counter: int = 0
    user_handle: bytes | None = None
    cose_alg: int = -7

    def cose_key(self) -> bytes:
        numbers = self.key.public_key().public_numbers()
        return cbor.encode(
            {
                1: 2,  # kty: EC2
                3: self.cose_alg,
                -1: 1,  # crv: P-256
                -2: numbers.x.to_bytes(32, "big"),
                -3: numbers.y.to_bytes(32, "big"),
            }
        )

    def auth_data(self, *, flags: int, rp_id: str | None = None, attested: bool) -> bytes:
        rp_hash = hashlib.sha256((rp_id or self.rp_id).encode()).digest()
        data = rp_hash + struct.pack(">BI", flags, self.counter)
        if attested:
            data += (
                b"\x00" * 16  # AAGUID
                + struct.pack(">H", len(self.credential_id))
                + self.credential_id
                + self.cose_key()
            )
        return data

    def client_data(
        self, kind: str, challenge: str, *, origin: str | None = None, **extra: Any
    ) -> bytes:
        body: dict[str, Any] = {
            "type": kind,
            "challenge": challenge,
            "origin": origin or self.origin,
            "crossOrigin": False,
            **extra,
        }
        return json.dumps(body, separators=(",", ":")).encode()

    def create(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        challenge: str | None = None,
        rp_id: str | None = None,
        flags: int = UP | UV | AT,
        kind: str = "webauthn.create",
        **client_extra: Any,
    ) -> dict[str, Any]:
        """navigator.credentials.create(), answered as PublicKeyCredential.toJSON()."""
        self.user_handle = websafe_decode(options["user"]["id"])
        client_data = self.client_data(
            kind, challenge or options["challenge"], origin=origin, **client_extra
        )
        auth_data = self.auth_data(flags=flags, rp_id=rp_id, attested=True)
        attestation = cbor.encode({"fmt": "none", "attStmt": {}, "authData": auth_data})
        return {
            "id": b64(self.credential_id),
            "rawId": b64(self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64(client_data),
                "attestationObject": b64(attestation),
                "authenticatorData": b64(auth_data),
                "transports": ["internal", "hybrid", "warp-drive"],
                "publicKeyAlgorithm": self.cose_alg,
            },
        }

    def get(
        self,
        options: dict[str, Any],
        *,
        origin: str | None = None,
        challenge: str | None = None,
        rp_id: str | None = None,
        flags: int = UP | UV,
        kind: str = "webauthn.get",
        step: int = 1,
        user_handle: bytes | None = None,
    ) -> dict[str, Any]:
        """navigator.credentials.get(), answered as PublicKeyCredential.toJSON()."""
        self.counter += step
        client_data = self.client_data(kind, challenge or options["challenge"], origin=origin)
        auth_data = self.auth_data(flags=flags, rp_id=rp_id, attested=False)
        signature = self.key.sign(
            auth_data + hashlib.sha256(client_data).digest(), ec.ECDSA(hashes.SHA256())
        )
        handle = user_handle if user_handle is not None else self.user_handle
        return {
            "id": b64(self.credential_id),
            "rawId": b64(self.credential_id),
            "type": "public-key",
            "authenticatorAttachment": "platform",
            "clientExtensionResults": {},
            "response": {
                "clientDataJSON": b64(client_data),
                "authenticatorData": b64(auth_data),
                "signature": b64(signature),
                "userHandle": b64(handle) if handle else None,
            },
        }
