"""Passkeys: a thin adapter over python-fido2's ``Fido2Server`` (WebAuthn Level 3, 7.1 and 7.2).

Pure: no database, no HTTP. The caller stores the state of each ceremony server-side (the
``webauthn_challenge`` table, single use, with an expiry of ``PasskeyServer.timeout`` seconds) and
the credentials it registers (the ``passkey`` table).

The call order is python-fido2's ``examples/server``: ``register_begin`` -> keep state ->
``register_complete(state, response)`` -> keep ``credential_data``; ``authenticate_begin`` ->
keep state -> ``authenticate_complete(state, credentials, response)``. Around it we add what
fido2 leaves to the relying party: a strict shape check of the browser's JSON before fido2 parses
it, every parse or verification error turned into ``PasskeyInvalid`` (a 400, never a 500), exact
origin matching, refusal of cross-origin ceremonies, the signature counter check, and the user
handle checks of discoverable sign-in.
"""

from __future__ import annotations

import functools
import json
import re
import struct
import typing
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, NoReturn, TypeVar

import fido2.utils
from cryptography.exceptions import InvalidSignature
from fido2 import cbor
from fido2.cose import CoseKey
from fido2.server import Fido2Server
from fido2.utils import websafe_decode, websafe_encode
from fido2.webauthn import (
    AttestationConveyancePreference,
    AttestedCredentialData,
    AuthenticationResponse,
    PublicKeyCredentialDescriptor,
    PublicKeyCredentialRpEntity,
    PublicKeyCredentialType,
    PublicKeyCredentialUserEntity,
    RegistrationResponse,
    ResidentKeyRequirement,
    UserVerificationRequirement,
)

from core.errors import RegistryError
from core.settings import Settings

__all__ = [
    "AssertionResult",
    "NewPasskey",
    "PasskeyCounterError",
    "PasskeyInvalid",
    "PasskeyServer",
    "StoredPasskey",
    "credential_id_of",
]

# Seconds a ceremony may take; the caller expires the stored state after this. WebAuthn 3
# section 15.1 recommends 300-600 s when user verification is required.
CEREMONY_TIMEOUT: Final = 300

# WebAuthn 3 section 7.1 step 26: a credential id is at most 1023 bytes.
MAX_CREDENTIAL_ID: Final = 1023
# WebAuthn 3 section 5.4.3: user.id is at most 64 bytes.
MAX_USER_HANDLE: Final = 64
# Bound every base64url field of a response before decoding it (attestation objects that carry
# certificate chains are a few KiB; anything near this is not a real authenticator).
MAX_FIELD_CHARS: Final = 65_536
# WebAuthn 3 section 5.8.4 AuthenticatorTransport (unknown values are ignored, as clients do).
KNOWN_TRANSPORTS: Final = frozenset({"usb", "nfc", "ble", "smart-card", "hybrid", "internal"})
# COSE algorithms we accept, in order of preference (ES256, EdDSA, RS256: what passkey
# providers use; WebAuthn 3 section 5.4 recommends listing at least ES256 and RS256).
ALGORITHMS: Final = (-7, -8, -257)

# fido2 2.x resolves a data class's type hints (typing.get_type_hints, which evaluates every
# annotation string) each time it builds or parses one, several times a passkey login
# (docs/performance.md, "fido2 type hints"). A class's hints do not change; resolve them
# once per class. Only fido2's module sees this: typing.get_type_hints itself is untouched.
fido2.utils.get_type_hints = functools.cache(typing.get_type_hints)  # type: ignore[attr-defined,assignment]

_B64URL = re.compile(r"[A-Za-z0-9_-]*={0,2}")

# Everything fido2 (and the cbor, json, base64, struct and cryptography code under it) raises
# on hostile input. fido2 documents ValueError, but its parsers also leak the others.
_INPUT_ERRORS: Final = (
    ValueError,  # includes json.JSONDecodeError, UnicodeError, binascii.Error
    KeyError,
    TypeError,
    IndexError,
    AttributeError,
    OverflowError,
    RecursionError,
    AssertionError,  # fido2 asserts that attested credential data is present
    NotImplementedError,  # CoseKey.verify of an unsupported algorithm
    struct.error,
    InvalidSignature,
)


class PasskeyInvalid(RegistryError):
    """A passkey ceremony failed: malformed response, wrong challenge or origin, bad signature."""

    status = 400
    code = "passkey-invalid"
    title = "Passkey not accepted"


class PasskeyCounterError(PasskeyInvalid):
    """The signature counter did not increase: the authenticator may have been cloned."""

    code = "passkey-counter"
    title = "Passkey signature counter did not increase"


@dataclass(frozen=True, slots=True)
class NewPasskey:
    """A credential that passed registration, ready to store."""

    credential_id: bytes
    credential_data: bytes  # bytes(AttestedCredentialData): AAGUID, credential id, COSE key
    sign_count: int
    transports: list[str]
    user_handle: bytes  # from the server-side state, never from the browser


@dataclass(frozen=True, slots=True)
class StoredPasskey:
    """What the caller knows of one registered credential, for verifying an assertion."""

    credential_id: bytes
    credential_data: bytes
    sign_count: int
    # When given, a discoverable sign-in must return exactly this user handle.
    user_handle: bytes | None = None


@dataclass(frozen=True, slots=True)
class AssertionResult:
    """A verified sign-in: which credential, whose account (discoverable), the counter to store."""

    credential_id: bytes
    user_handle: bytes | None
    new_sign_count: int


_T = TypeVar("_T")


def _refuse(detail: str) -> NoReturn:
    raise PasskeyInvalid(detail=detail)


def _guard(step: str, call: Callable[[], _T]) -> _T:
    """Run a fido2 step; any error it raises on the input becomes PasskeyInvalid."""
    try:
        return call()
    except PasskeyInvalid:
        raise
    except _INPUT_ERRORS as exc:
        # fido2's verification messages are fixed strings ("Wrong challenge in response.") and
        # help a developer; other errors may quote the input, so they get a fixed message.
        if step == "verify" and type(exc) is ValueError:
            raise PasskeyInvalid(detail=f"Passkey verification failed: {exc}") from None
        raise PasskeyInvalid(detail=f"The passkey response is malformed ({step}).") from None


def _b64_field(value: object, where: str, *, optional: bool = False) -> str | None:
    """A base64url string field of the browser's JSON, checked before fido2 decodes it."""
    if value is None and optional:
        return None
    # fido2 turns a non-string into bytes(value): an integer would allocate that many bytes.
    if not isinstance(value, str) or len(value) > MAX_FIELD_CHARS or not _B64URL.fullmatch(value):
        _refuse(f"The passkey response field {where} must be a base64url string.")
    return value


def _required_b64(value: object, where: str) -> str:
    checked = _b64_field(value, where)
    assert checked is not None  # noqa: S101 (not optional: _b64_field refused None)
    return checked


def _mapping(value: object, where: str) -> Mapping[str, Any]:
    if not isinstance(value, Mapping):
        _refuse(f"The passkey response field {where} must be an object.")
    return value


def _check_client_data(b64: str) -> None:
    """Shape of clientDataJSON (WebAuthn 3 section 5.8.1), before fido2 parses it.

    fido2 would call bytes() on a non-string challenge (a huge allocation for a large number),
    so the members it reads must be strings first. crossOrigin (7.1 step 9, 7.2 step 13): our
    pages never run a ceremony inside a frame of another origin.
    """
    data = _guard("clientDataJSON", lambda: json.loads(websafe_decode(b64)))
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("type"), str)
        or not isinstance(data.get("challenge"), str)
        or not _B64URL.fullmatch(data["challenge"])
        or not isinstance(data.get("origin"), str)
    ):
        _refuse("The passkey client data is malformed.")
    if data.get("crossOrigin", False) is not False or "topOrigin" in data:
        _refuse("The passkey ceremony ran in a cross-origin frame.")


def _check_attestation_object(b64: str) -> None:
    """Shape of the attestation object (WebAuthn 3 section 6.5), before fido2 parses it.

    fido2 would call bytes() on a CBOR integer given as authData: refuse non-byte strings.
    """
    data = _guard("attestationObject", lambda: cbor.decode(websafe_decode(b64)))
    if (
        not isinstance(data, dict)
        or not isinstance(data.get("fmt"), str)
        or not isinstance(data.get("authData"), bytes)
        or not isinstance(data.get("attStmt"), dict)
    ):
        _refuse("The passkey attestation object is malformed.")


def _credential_envelope(response: object) -> tuple[dict[str, Any], Mapping[str, Any]]:
    """The common part of a PublicKeyCredential JSON (WebAuthn 3 section 5.1.8, toJSON)."""
    outer = _mapping(response, "(root)")
    if outer.get("type") != PublicKeyCredentialType.PUBLIC_KEY.value:
        _refuse('The passkey response must have type "public-key".')
    raw_id = _required_b64(outer.get("rawId"), "rawId")
    cred_id = _required_b64(outer.get("id", raw_id), "id")
    inner = _mapping(outer.get("response"), "response")
    clean: dict[str, Any] = {"id": cred_id, "rawId": raw_id, "type": "public-key"}
    client_data = _required_b64(inner.get("clientDataJSON"), "response.clientDataJSON")
    _check_client_data(client_data)
    clean["response"] = {"clientDataJSON": client_data}
    return clean, inner


def credential_id_of(response: object) -> bytes:
    """The credential id an assertion names, so the caller can look the passkey up first."""
    outer = _mapping(response, "(root)")
    raw_id = _required_b64(outer.get("rawId"), "rawId")
    cred_id = _guard("rawId", lambda: websafe_decode(raw_id))
    if not 1 <= len(cred_id) <= MAX_CREDENTIAL_ID:
        _refuse("The passkey credential id has an invalid length.")
    return cred_id


def _clean_registration(response: object) -> tuple[dict[str, Any], list[str]]:
    """Only the members fido2 needs, each checked; plus the transports the browser reported."""
    clean, inner = _credential_envelope(response)
    attestation = _required_b64(inner.get("attestationObject"), "response.attestationObject")
    _check_attestation_object(attestation)
    clean["response"]["attestationObject"] = attestation
    transports: set[str] = set()
    raw = inner.get("transports")
    if isinstance(raw, list):
        transports = {t for t in raw if isinstance(t, str) and t in KNOWN_TRANSPORTS}
    return clean, sorted(transports)


def _clean_assertion(response: object) -> dict[str, Any]:
    """Only the members fido2 needs, each checked."""
    clean, inner = _credential_envelope(response)
    clean["response"]["authenticatorData"] = _required_b64(
        inner.get("authenticatorData"), "response.authenticatorData"
    )
    clean["response"]["signature"] = _required_b64(inner.get("signature"), "response.signature")
    # An empty user handle is how some clients say "none" (WebAuthn 3 section 5.2.2).
    handle = _b64_field(inner.get("userHandle"), "response.userHandle", optional=True)
    if handle:
        clean["response"]["userHandle"] = handle
    return clean


def _state(state: object, ceremony: str) -> dict[str, Any]:
    """The stored state of a ceremony, checked: a registration state cannot finish a sign-in."""
    if (
        not isinstance(state, Mapping)
        or state.get("ceremony") != ceremony
        or not isinstance(state.get("challenge"), str)
        or state.get("user_verification") != UserVerificationRequirement.REQUIRED.value
    ):
        _refuse("The passkey ceremony state is missing or does not match this step.")
    return dict(state)


def _to_json(options: Mapping[str, Any]) -> dict[str, Any]:
    """Plain JSON types (fido2's mappings serialise bytes as base64url and enums as strings)."""
    out: dict[str, Any] = {}
    for key, value in options.items():
        if isinstance(value, Mapping):
            out[key] = _to_json(value)
        elif isinstance(value, list | tuple):
            out[key] = [_to_json(v) if isinstance(v, Mapping) else _plain(v) for v in value]
        else:
            out[key] = _plain(value)
    return out


def _plain(value: object) -> object:
    if isinstance(value, bool | int | float) or value is None:
        return value
    if isinstance(value, str):
        return str(value)  # drop the str-Enum subclass
    raise TypeError(f"unexpected value in WebAuthn options: {type(value).__name__}")


def _check_public_key(key: CoseKey) -> None:
    """Refuse a credential whose public key we could never verify with (WebAuthn 3 7.1 step 20)."""
    if key.ALGORITHM not in ALGORITHMS:
        _refuse("The passkey uses a signature algorithm that was not offered.")
    # Load the key by verifying a dummy signature: a well-formed key rejects the signature; a
    # malformed one (wrong curve, missing coordinate, point off the curve) fails to load.
    try:
        key.verify(b"registry-key-check", b"\x00" * 8)
    except InvalidSignature:
        return
    except _INPUT_ERRORS:
        _refuse("The passkey public key is malformed.")
    _refuse("The passkey public key is malformed.")  # a verify that accepted garbage


class PasskeyServer:
    """WebAuthn relying party of the registry, configured from Settings."""

    def __init__(self, settings: Settings) -> None:
        self.rp_id = settings.rp_id
        self.origins = frozenset(settings.allowed_origins)
        self.timeout = CEREMONY_TIMEOUT
        self._fido = Fido2Server(
            PublicKeyCredentialRpEntity(name=settings.webauthn_rp_name, id=self.rp_id),
            attestation=AttestationConveyancePreference.NONE,
            # Exact match against the configured origins, not fido2's default (any subdomain of
            # the RP id over https), so that a sibling service cannot complete our ceremonies.
            verify_origin=self._origin_allowed,
        )
        # fido2 initialises timeout to None, so its inferred type is None; it is milliseconds.
        self._fido.timeout = CEREMONY_TIMEOUT * 1000  # type: ignore[assignment]
        self._fido.allowed_algorithms = [
            p for a in ALGORITHMS for p in self._fido.allowed_algorithms if p.alg == a
        ]

    def _origin_allowed(self, origin: object) -> bool:
        return isinstance(origin, str) and origin in self.origins

    # ------------------------------------------------------------------ registration (7.1)

    def begin_registration(
        self,
        *,
        user_handle: bytes,
        name: str,
        display_name: str,
        existing: Sequence[bytes] = (),
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Creation options (JSON, for parseCreationOptionsFromJSON) and the state to keep."""
        if not 1 <= len(user_handle) <= MAX_USER_HANDLE:
            raise ValueError("a WebAuthn user handle is 1 to 64 bytes")
        # Stored credential data that no longer parses is our corruption, not the caller's
        # input: let the ValueError surface as a server error.
        exclude = [
            PublicKeyCredentialDescriptor(
                type=PublicKeyCredentialType.PUBLIC_KEY,
                id=AttestedCredentialData(blob).credential_id,
            )
            for blob in existing
        ]
        options, fido_state = self._fido.register_begin(
            PublicKeyCredentialUserEntity(id=user_handle, name=name, display_name=display_name),
            exclude,
            resident_key_requirement=ResidentKeyRequirement.REQUIRED,
            user_verification=UserVerificationRequirement.REQUIRED,
        )
        state = {
            "ceremony": "register",
            "challenge": str(fido_state["challenge"]),
            "user_verification": UserVerificationRequirement.REQUIRED.value,
            "user_handle": websafe_encode(user_handle),
        }
        return _to_json(options.public_key), state

    def complete_registration(self, state: Mapping[str, Any], response: object) -> NewPasskey:
        """Verify the browser's registration response against the stored state."""
        checked = _state(state, "register")
        user_handle = _guard("state", lambda: websafe_decode(checked["user_handle"]))
        clean, transports = _clean_registration(response)
        parsed = _guard("parse", lambda: RegistrationResponse.from_dict(clean))
        auth_data = _guard("verify", lambda: self._fido.register_complete(checked, parsed))
        cred = auth_data.credential_data
        if cred is None:
            _refuse("The passkey response carries no credential.")
        if not 1 <= len(cred.credential_id) <= MAX_CREDENTIAL_ID:
            _refuse("The passkey credential id has an invalid length.")
        if cred.credential_id != parsed.raw_id:
            _refuse("The passkey credential id does not match the authenticator data.")
        _check_public_key(cred.public_key)
        return NewPasskey(
            credential_id=bytes(cred.credential_id),
            credential_data=bytes(cred),
            sign_count=auth_data.counter,
            transports=transports,
            user_handle=user_handle,
        )

    # ------------------------------------------------------------------ authentication (7.2)

    def begin_authentication(
        self, *, credentials: Sequence[bytes] = ()
    ) -> tuple[dict[str, Any], dict[str, Any]]:
        """Request options (JSON) and the state to keep; no credentials = discoverable sign-in."""
        allow = [AttestedCredentialData(blob).credential_id for blob in credentials]
        descriptors = [
            PublicKeyCredentialDescriptor(type=PublicKeyCredentialType.PUBLIC_KEY, id=cred_id)
            for cred_id in allow
        ]
        options, fido_state = self._fido.authenticate_begin(
            descriptors or None, user_verification=UserVerificationRequirement.REQUIRED
        )
        state = {
            "ceremony": "authenticate",
            "challenge": str(fido_state["challenge"]),
            "user_verification": UserVerificationRequirement.REQUIRED.value,
            "allow": [websafe_encode(c) for c in allow],
        }
        return _to_json(options.public_key), state

    def complete_authentication(
        self,
        state: Mapping[str, Any],
        response: object,
        *,
        lookup: Sequence[StoredPasskey],
    ) -> AssertionResult:
        """Verify an assertion against the stored state and the caller's stored passkeys."""
        checked = _state(state, "authenticate")
        allow = checked.get("allow", [])
        if not isinstance(allow, list) or not all(isinstance(a, str) for a in allow):
            _refuse("The passkey ceremony state is missing or does not match this step.")
        clean = _clean_assertion(response)
        parsed = _guard("parse", lambda: AuthenticationResponse.from_dict(clean))
        cred_id = parsed.raw_id
        # 7.2 step 5: the credential must be one the options allowed.
        if allow and websafe_encode(cred_id) not in allow:
            _refuse("The passkey is not one of the credentials this sign-in allowed.")
        stored = next((p for p in lookup if p.credential_id == cred_id), None)
        if stored is None:
            _refuse("The passkey is not registered.")
        user_handle = parsed.response.user_handle or None
        # 7.2 step 6: a discoverable sign-in identifies the account by the user handle, so it
        # must be there and must be the one the credential was registered with.
        if not allow and user_handle is None:
            _refuse("The passkey response has no user handle.")
        if stored.user_handle is not None and user_handle not in (None, stored.user_handle):
            _refuse("The passkey user handle does not match the credential.")
        # Corrupt stored data is a server error, not the caller's: parse it outside the guard.
        credential = AttestedCredentialData(stored.credential_data)
        _guard("verify", lambda: self._fido.authenticate_complete(checked, [credential], parsed))
        # 7.2 step 22, after the signature is verified so that only the authenticator can
        # trigger it: a counter that does not increase signals a cloned authenticator.
        new_count = parsed.response.authenticator_data.counter
        if (new_count or stored.sign_count) and new_count <= stored.sign_count:
            raise PasskeyCounterError(
                detail="The passkey's signature counter did not increase; "
                "the authenticator may have been cloned."
            )
        return AssertionResult(
            credential_id=bytes(cred_id), user_handle=user_handle, new_sign_count=new_count
        )
