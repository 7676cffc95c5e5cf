"""Signed tree heads: C2SP tlog-checkpoint bodies inside C2SP signed notes (Ed25519).

Specifications implemented:

* https://c2sp.org/signed-note (sections "Format", "Signatures", "Ed25519 signatures")
* https://c2sp.org/tlog-checkpoint (sections "Note text", "Signatures")

Interoperable with golang.org/x/mod/sumdb/note. Every parsing or verification failure
raises :class:`CheckpointError` (a :class:`ValueError`); no other exception escapes from
:func:`open_note` or :func:`open_checkpoint` for any ``str`` input.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable
from dataclasses import dataclass

from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

__all__ = [
    "MAX_NOTE_BYTES",
    "MAX_SIGNATURES",
    "Checkpoint",
    "CheckpointError",
    "Signer",
    "Verifier",
    "compute_key_id",
    "is_key_name",
    "open_checkpoint",
    "open_note",
    "sign_checkpoint",
    "sign_note",
]

# signed-note §Format: verifiers SHOULD bound the note size / signature count.
MAX_NOTE_BYTES = 1024 * 1024
# signed-note §Format: MUST accept at least 16; 100 matches golang.org/x/mod/sumdb/note.
MAX_SIGNATURES = 100

# signed-note §Ed25519 signatures: signature type identifier byte 0x01.
_ALG_ED25519 = 0x01
# signed-note §Format: a signature line starts with em dash (U+2014) and a space.
_SIG_PREFIX = "\u2014 "
_MAX_TREE_SIZE = 2**64 - 1
_SIZE_RE = re.compile(r"0|[1-9][0-9]{0,19}")
_HEX8_RE = re.compile(r"[0-9a-f]{8}")
# signed-note §Format: no ASCII control characters other than newline.
_CONTROL_RE = re.compile(r"[\x00-\x09\x0b-\x1f]")


class CheckpointError(ValueError):
    """Raised for any malformed, unverifiable or mismatching note, checkpoint or key."""


class _NoKnownKey(CheckpointError):
    """No signature of the note is from a known key (it may be signed under another name)."""


def _b64decode_strict(text: str) -> bytes | None:
    """Decode canonical standard base64 with padding, or return None."""
    if not text.isascii():
        return None
    try:
        raw = base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None
    # RFC 4648 §4 (as referenced by signed-note §Conventions): require the canonical form.
    if base64.b64encode(raw).decode("ascii") != text:
        return None
    return raw


def _b64encode(raw: bytes) -> str:
    """Encode bytes as standard base64 with padding."""
    return base64.b64encode(raw).decode("ascii")


def _is_utf8(text: str) -> bool:
    """Report whether text encodes to UTF-8 (no lone surrogates)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _is_valid_name(name: str) -> bool:
    """Report whether name is a valid signed-note key name."""
    # signed-note §Format: non-empty, no Unicode spaces, no plus (U+002B).
    return (
        bool(name)
        and "+" not in name
        and not any(ch.isspace() for ch in name)
        and _CONTROL_RE.search(name) is None
        and _is_utf8(name)
    )


def is_key_name(name: str) -> bool:
    """Report whether ``name`` may name a signed-note key (a log's key is named after its
    origin)."""
    return _is_valid_name(name)


def _check_name(name: object) -> str:
    """Return name if it is a valid key name, else raise CheckpointError."""
    if not isinstance(name, str) or not _is_valid_name(name):
        raise CheckpointError(f"invalid key name {name!r}")
    return name


def compute_key_id(name: str, public_key: bytes) -> bytes:
    """Return the 4-byte Ed25519 key ID for a key name and raw 32-byte public key."""
    # signed-note §Ed25519 signatures: SHA-256(name || 0x0A || 0x01 || pubkey)[:4].
    data = name.encode("utf-8") + b"\n" + bytes([_ALG_ED25519]) + public_key
    return hashlib.sha256(data).digest()[:4]


def _check_line(value: object, what: str) -> str:
    """Return value if it is a non-empty single note line, else raise CheckpointError."""
    if not isinstance(value, str) or not value:
        raise CheckpointError(f"{what} must be a non-empty string")
    if "\n" in value or _CONTROL_RE.search(value) is not None or not _is_utf8(value):
        raise CheckpointError(f"{what} must be one line of UTF-8 text without control characters")
    return value


@dataclass(frozen=True)
class Checkpoint:
    """A transparency log tree head as described by C2SP tlog-checkpoint."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        """Validate the fields against tlog-checkpoint §Note text."""
        # tlog-checkpoint §Note text: the origin MUST be non-empty (one line).
        _check_line(self.origin, "origin")
        # tlog-checkpoint §Note text: tree size is a non-negative integer (uint64 here).
        if not isinstance(self.size, int) or isinstance(self.size, bool):
            raise CheckpointError("size must be an int")
        if not 0 <= self.size <= _MAX_TREE_SIZE:
            raise CheckpointError(f"size {self.size} out of range [0, 2**64-1]")
        # tlog-checkpoint §Note text: root hash of an RFC 6962 tree (SHA-256, 32 bytes).
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != 32:
            raise CheckpointError("root_hash must be exactly 32 bytes")
        # tlog-checkpoint §Note text: extension lines, if any, MUST be non-empty.
        if not isinstance(self.extensions, tuple):
            raise CheckpointError("extensions must be a tuple of str")
        for ext in self.extensions:
            _check_line(ext, "extension line")

    def body(self) -> str:
        """Return the checkpoint note text (origin, size, base64 root, extension lines)."""
        # tlog-checkpoint §Note text: newline-terminated lines in this exact order.
        lines = [self.origin, str(self.size), _b64encode(self.root_hash), *self.extensions]
        return "".join(line + "\n" for line in lines)

    @classmethod
    def parse_body(cls, text: str) -> Checkpoint:
        """Strictly parse a checkpoint note text into a Checkpoint."""
        if not isinstance(text, str):
            raise CheckpointError("checkpoint body must be a str")
        # signed-note §Format: the note text ends in a newline.
        if not text.endswith("\n"):
            raise CheckpointError("checkpoint body must end with a newline")
        lines = text[:-1].split("\n")
        # tlog-checkpoint §Note text: at least three non-empty lines.
        if len(lines) < 3:
            raise CheckpointError("checkpoint body must have at least three lines")
        origin, size_text, root_text, *extensions = lines
        if not origin:
            raise CheckpointError("checkpoint origin is empty")
        # tlog-checkpoint §Note text: ASCII decimal, no leading zeroes unless the size is 0.
        if _SIZE_RE.fullmatch(size_text) is None:
            raise CheckpointError(f"malformed checkpoint tree size {size_text[:40]!r}")
        size = int(size_text)
        if size > _MAX_TREE_SIZE:
            raise CheckpointError("checkpoint tree size exceeds 2**64-1")
        # tlog-checkpoint §Conventions: standard base64 (RFC 4648 §4) of the 32-byte root.
        root_hash = _b64decode_strict(root_text)
        if root_hash is None or len(root_hash) != 32:
            raise CheckpointError("checkpoint root hash is not base64 of 32 bytes")
        # tlog-checkpoint §Note text: extension lines, if any, MUST be non-empty.
        if any(not ext for ext in extensions):
            raise CheckpointError("checkpoint contains an empty line")
        return cls(origin=origin, size=size, root_hash=root_hash, extensions=tuple(extensions))


class Verifier:
    """An Ed25519 signed-note verifier key (name, key ID and public key)."""

    __slots__ = ("_key", "key_id", "name", "public_key_bytes")

    def __init__(self, name: str, public_key_bytes: bytes) -> None:
        """Build a verifier from a key name and a raw 32-byte Ed25519 public key."""
        self.name: str = _check_name(name)
        if not isinstance(public_key_bytes, bytes) or len(public_key_bytes) != 32:
            raise CheckpointError("Ed25519 public key must be exactly 32 bytes")
        try:
            self._key = Ed25519PublicKey.from_public_bytes(public_key_bytes)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise CheckpointError("invalid Ed25519 public key") from exc
        self.public_key_bytes: bytes = public_key_bytes
        self.key_id: bytes = compute_key_id(name, public_key_bytes)

    @classmethod
    def from_vkey(cls, vkey: str) -> Verifier:
        """Parse a verifier key string "<name>+<hex key ID>+<base64(0x01 || pubkey)>"."""
        if not isinstance(vkey, str):
            raise CheckpointError("verifier key must be a str")
        # golang.org/x/mod/sumdb/note vkey encoding; the base64 part may itself contain '+'.
        name, sep1, rest = vkey.partition("+")
        hex_id, sep2, key64 = rest.partition("+")
        if not sep1 or not sep2 or not _is_valid_name(name):
            raise CheckpointError("malformed verifier key")
        if _HEX8_RE.fullmatch(hex_id) is None:
            raise CheckpointError("malformed verifier key ID (want 8 lowercase hex digits)")
        key = _b64decode_strict(key64)
        if key is None or not key:
            raise CheckpointError("malformed verifier key encoding")
        # signed-note §Signature types: only 0x01 (Ed25519) is supported here.
        if key[0] != _ALG_ED25519:
            raise CheckpointError(f"unsupported verifier key algorithm 0x{key[0]:02x}")
        if len(key) != 33:
            raise CheckpointError("Ed25519 verifier key must be 32 bytes")
        verifier = cls(name, key[1:])
        # signed-note §Signatures: the key ID must match the (name, key) it claims.
        if verifier.key_id.hex() != hex_id:
            raise CheckpointError("verifier key ID does not match name and public key")
        return verifier

    def verifier_key(self) -> str:
        """Return the vkey string "<name>+<hex key ID>+<base64(0x01 || pubkey)>"."""
        encoded = _b64encode(bytes([_ALG_ED25519]) + self.public_key_bytes)
        return f"{self.name}+{self.key_id.hex()}+{encoded}"

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Report whether signature is a valid Ed25519 signature of message."""
        # signed-note §Ed25519 signatures: RFC 8032 signatures are 64 bytes.
        if len(signature) != 64:
            return False
        try:
            self._key.verify(signature, message)
        except InvalidSignature:
            return False
        return True

    def __repr__(self) -> str:
        """Return a short description including the vkey."""
        return f"Verifier({self.verifier_key()!r})"


class Signer:
    """An Ed25519 signed-note signing key with its key name."""

    __slots__ = ("_key", "key_id", "name", "public_key_bytes")

    def __init__(self, name: str, private_key: Ed25519PrivateKey) -> None:
        """Wrap an Ed25519 private key under a signed-note key name."""
        self.name: str = _check_name(name)
        if not isinstance(private_key, Ed25519PrivateKey):
            raise CheckpointError("private key must be an Ed25519 key")
        self._key = private_key
        self.public_key_bytes: bytes = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )
        self.key_id: bytes = compute_key_id(name, self.public_key_bytes)

    @classmethod
    def generate(cls, name: str) -> Signer:
        """Create a signer with a fresh random Ed25519 key."""
        return cls(name, Ed25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, name: str, raw: bytes) -> Signer:
        """Create a signer from a raw 32-byte Ed25519 private key (seed)."""
        if not isinstance(raw, bytes) or len(raw) != 32:
            raise CheckpointError("Ed25519 private key must be exactly 32 bytes")
        try:
            key = Ed25519PrivateKey.from_private_bytes(raw)
        except (ValueError, UnsupportedAlgorithm) as exc:
            raise CheckpointError("invalid Ed25519 private key") from exc
        return cls(name, key)

    @classmethod
    def from_pem(cls, name: str, pem: bytes) -> Signer:
        """Create a signer from an unencrypted PKCS#8 PEM Ed25519 private key."""
        try:
            key = serialization.load_pem_private_key(pem, password=None)
        except (ValueError, TypeError, UnsupportedAlgorithm) as exc:
            raise CheckpointError("cannot load unencrypted PEM private key") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise CheckpointError("PEM private key is not an Ed25519 key")
        return cls(name, key)

    def to_pem(self) -> bytes:
        """Return the private key as unencrypted PKCS#8 PEM (keep it secret)."""
        return self._key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )

    def named(self, name: str) -> Signer:
        """The same key under another key name (a log's key is named after its origin)."""
        return self if name == self.name else Signer(name, self._key)

    def verifier(self) -> Verifier:
        """Return the matching Verifier."""
        return Verifier(self.name, self.public_key_bytes)

    def verifier_key(self) -> str:
        """Return the vkey string of the matching verifier."""
        return self.verifier().verifier_key()

    def sign(self, message: bytes) -> bytes:
        """Return the raw 64-byte Ed25519 signature of message."""
        return self._key.sign(message)

    def __repr__(self) -> str:
        """Return a description that never includes private key material."""
        return f"Signer(name={self.name!r}, key_id={self.key_id.hex()!r})"


def _check_note_text(text: str) -> bytes:
    """Validate note text for signing and return its UTF-8 bytes."""
    if not isinstance(text, str):
        raise CheckpointError("note text must be a str")
    # signed-note §Format: the text ends in a newline; UTF-8, no control characters.
    if not text.endswith("\n"):
        raise CheckpointError("note text must end with a newline")
    if _CONTROL_RE.search(text) is not None:
        raise CheckpointError("note text contains ASCII control characters")
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise CheckpointError("note text is not valid UTF-8") from exc


def sign_note(text: str, *signers: Signer) -> str:
    """Return the signed note: text, a blank line, one signature line per signer."""
    message = _check_note_text(text)
    if not signers:
        raise CheckpointError("at least one signer is required")
    if len(signers) > MAX_SIGNATURES:
        raise CheckpointError(f"more than {MAX_SIGNATURES} signatures")
    lines = []
    for signer in signers:
        # signed-note §Signatures: "— <key name> base64(32-bit key ID || signature)".
        blob = signer.key_id + signer.sign(message)
        lines.append(f"{_SIG_PREFIX}{signer.name} {_b64encode(blob)}\n")
    # signed-note §Format: text, blank line, signature lines.
    note = text + "\n" + "".join(lines)
    if len(note.encode("utf-8")) > MAX_NOTE_BYTES:
        raise CheckpointError(f"signed note would exceed {MAX_NOTE_BYTES} bytes")
    return note


def _index_verifiers(verifiers: Verifier | Iterable[Verifier]) -> dict[tuple[str, bytes], Verifier]:
    """Map (name, key ID) to verifier, rejecting ambiguous duplicates."""
    items = [verifiers] if isinstance(verifiers, Verifier) else list(verifiers)
    known: dict[tuple[str, bytes], Verifier] = {}
    for verifier in items:
        if not isinstance(verifier, Verifier):
            raise CheckpointError("verifiers must be Verifier instances")
        key = (verifier.name, verifier.key_id)
        previous = known.get(key)
        if previous is not None and previous.public_key_bytes != verifier.public_key_bytes:
            raise CheckpointError(f"ambiguous verifier key {verifier.name}+{key[1].hex()}")
        known[key] = verifier
    return known


def open_note(text: str, verifiers: Verifier | Iterable[Verifier]) -> tuple[str, tuple[str, ...]]:
    """Verify a signed note and return (note text, names of keys whose signatures verified)."""
    known = _index_verifiers(verifiers)
    if not isinstance(text, str):
        raise CheckpointError("signed note must be a str")
    # signed-note §Format: verifiers SHOULD bound the overall size of a note.
    if len(text) > MAX_NOTE_BYTES:
        raise CheckpointError(f"signed note exceeds {MAX_NOTE_BYTES} bytes")
    try:
        message = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        # signed-note §Format: signed notes MUST be valid UTF-8.
        raise CheckpointError("signed note is not valid UTF-8") from exc
    if len(message) > MAX_NOTE_BYTES:
        raise CheckpointError(f"signed note exceeds {MAX_NOTE_BYTES} bytes")
    # signed-note §Format: no ASCII control characters other than newline.
    if _CONTROL_RE.search(text) is not None:
        raise CheckpointError("signed note contains ASCII control characters")
    # signed-note §Format: the text is separated from the signatures by the last empty line.
    split = text.rfind("\n\n")
    if split < 0:
        raise CheckpointError("signed note has no blank line before the signatures")
    body, sig_block = text[: split + 1], text[split + 2 :]
    if not sig_block or not sig_block.endswith("\n"):
        raise CheckpointError("signed note must end with newline-terminated signature lines")
    sig_lines = sig_block[:-1].split("\n")
    # signed-note §Format: verifiers SHOULD limit the number of signatures.
    if len(sig_lines) > MAX_SIGNATURES:
        raise CheckpointError(f"signed note has more than {MAX_SIGNATURES} signatures")
    body_bytes = body.encode("utf-8")
    verified: list[str] = []
    for line in sig_lines:
        # signed-note §Format: em dash, space, key name, space, base64 signature.
        if not line.startswith(_SIG_PREFIX):
            raise CheckpointError("malformed signature line (expected em dash and space)")
        name, sep, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        if not sep or not _is_valid_name(name):
            raise CheckpointError("malformed signature line (bad key name)")
        blob = _b64decode_strict(b64)
        # signed-note §Format: base64 of a 4-byte key ID followed by the signature bytes.
        if blob is None or len(blob) < 5:
            raise CheckpointError("malformed signature line (bad base64 signature)")
        key_id, signature = blob[:4], blob[4:]
        verifier = known.get((name, key_id))
        # signed-note §Signatures: verifiers MUST ignore signatures from unknown keys.
        if verifier is None:
            continue
        # signed-note §Signatures: a known key's signature MUST be verified; reject on failure.
        if not verifier.verify(body_bytes, signature):
            raise CheckpointError(f"invalid signature for key {name}+{key_id.hex()}")
        if name not in verified:
            verified.append(name)
    # signed-note §Signatures: reject if no signature from a known key verifies.
    if not verified:
        raise _NoKnownKey("signed note has no signature from a known key")
    return body, tuple(verified)


def sign_checkpoint(checkpoint: Checkpoint, signer: Signer) -> str:
    """Return the checkpoint as a signed note signed by signer."""
    # tlog-checkpoint §Signatures: a checkpoint is a signed note over its body.
    return sign_note(checkpoint.body(), signer)


def open_checkpoint(note_text: str, verifier: Verifier, *, origin: str) -> Checkpoint:
    """Verify a signed checkpoint note from verifier for the expected origin and parse it."""
    if not isinstance(verifier, Verifier):
        raise CheckpointError("verifier must be a Verifier")
    try:
        body, _names = open_note(note_text, [verifier])
    except _NoKnownKey:
        raise CheckpointError(_another_log(note_text, verifier, origin)) from None
    checkpoint = Checkpoint.parse_body(body)
    # tlog-checkpoint §Note text: the origin identifies the log; it must be the expected one.
    if checkpoint.origin != origin:
        raise CheckpointError(
            f"checkpoint of another origin: expected origin {origin!r}, "
            f"found {checkpoint.origin[:200]!r}"
        )
    return checkpoint


def _another_log(note_text: str, verifier: Verifier, origin: str) -> str:
    """What differs when no signature of a checkpoint is the verifier's: its origin, its key,
    or both, as expected against found (a note that open_note has parsed up to its signatures)."""
    found_origin = note_text.split("\n", 1)[0][:200]
    body = note_text[: note_text.rfind("\n\n") + 1].encode("utf-8")
    found_keys: list[str] = []
    same_key_as: str | None = None
    for line in note_text[note_text.rfind("\n\n") + 2 : -1].split("\n"):
        name, _, b64 = line[len(_SIG_PREFIX) :].partition(" ")
        blob = _b64decode_strict(b64) or b""
        found_keys.append(f"{name}+{blob[:4].hex()}")
        # The expected public key under this name: signed by the expected key, named otherwise.
        if compute_key_id(name, verifier.public_key_bytes) == blob[:4] and verifier.verify(
            body, blob[4:]
        ):
            same_key_as = name
    parts = []
    if found_origin != origin:
        parts.append(f"expected origin {origin!r}, found {found_origin!r}")
    expected_key = f"{verifier.name}+{verifier.key_id.hex()}"
    if same_key_as is not None:
        parts.append(f"signed by the expected public key under the name {same_key_as!r}")
    else:
        parts.append(f"expected key {expected_key}, found {', '.join(found_keys)[:400]}")
    return "checkpoint of another log or key: " + "; ".join(parts)
