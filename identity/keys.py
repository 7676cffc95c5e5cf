"""The provider's signing keys: generated here, stored encrypted, rotated, published as a JWKS.

Private keys are stored as AES-256-GCM(nonce || ciphertext) of their PKCS#8 DER, with the kid as
associated data, under the key-encryption key from settings (never stored in the database).
Retired keys stay published until every token they signed has expired (OIDC Core 10.1.1).
Functions taking a session only flush; the caller's unit of work commits.
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
import secrets
import time
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, Literal

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.db import hold_lock
from core.settings import Settings
from identity.jose import PrivateSigningKey, PublicKeyEntry
from identity.models import KEY_ALGS, SigningKey

__all__ = [
    "KEK_LENGTH",
    "KeyEncryptionKeyError",
    "PrivateSigningKey",
    "SigningKeyCache",
    "SigningKeyUnreadable",
    "active_key",
    "decrypt_private_key",
    "encrypt_private_key",
    "ensure_keys",
    "generate",
    "jwks",
    "kek_from_settings",
    "publish_lifetime",
    "rotate",
    "seal",
    "unseal",
    "verification_keys",
]

KeyAlg = Literal["RS256", "ES256"]
KEK_LENGTH = 32  # AES-256
NONCE_LENGTH = 12  # NIST SP 800-38D 8.2.2: 96-bit random nonces
RSA_BITS = 2048
TOKEN_CLOCK_LEEWAY = timedelta(seconds=60)
_KEK_TEXT = re.compile(r"[A-Za-z0-9_-]+={0,2}")


class KeyEncryptionKeyError(ValueError):
    """The key-encryption key is missing or malformed (the message never repeats it)."""


class SigningKeyUnreadable(ValueError):
    """A stored signing key does not decrypt with this key-encryption key, or is corrupt."""


# ------------------------------------------------------------------------------ the KEK


def kek_from_settings(settings: Settings) -> bytes:
    """The 32-byte key-encryption key (derived from the secret key outside production)."""
    if settings.key_encryption_key is None:
        if settings.environment == "production":
            raise KeyEncryptionKeyError("REGISTRY_KEY_ENCRYPTION_KEY is required in production")
        return settings.derived_secret("key-encryption-key")
    text = settings.key_encryption_key.get_secret_value().strip()
    if not _KEK_TEXT.fullmatch(text):
        raise KeyEncryptionKeyError("REGISTRY_KEY_ENCRYPTION_KEY is not base64url text")
    try:
        raw = base64.urlsafe_b64decode(text.rstrip("=") + "=" * (-len(text.rstrip("=")) % 4))
    except ValueError:
        raise KeyEncryptionKeyError("REGISTRY_KEY_ENCRYPTION_KEY is not base64url text") from None
    if len(raw) != KEK_LENGTH:
        raise KeyEncryptionKeyError(
            f"REGISTRY_KEY_ENCRYPTION_KEY must encode exactly {KEK_LENGTH} bytes"
        )
    return raw


# ------------------------------------------------------------------------------ keys at rest


def generate(alg: KeyAlg) -> PrivateSigningKey:
    """A new signing key: RSA 2048 with e=65537 for RS256, P-256 for ES256 (RFC 7518 3.3, 3.4)."""
    if alg == "RS256":
        return PrivateSigningKey.from_private_key(
            rsa.generate_private_key(public_exponent=65537, key_size=RSA_BITS), alg
        )
    if alg == "ES256":
        return PrivateSigningKey.from_private_key(ec.generate_private_key(ec.SECP256R1()), alg)
    raise ValueError(f"unsupported signing algorithm {alg!r}")


def encrypt_private_key(private_key_der: bytes, kek: bytes, *, kid: str) -> bytes:
    """AES-256-GCM of the key bytes with the kid as associated data: nonce || ciphertext."""
    nonce = secrets.token_bytes(NONCE_LENGTH)
    return nonce + AESGCM(_checked_kek(kek)).encrypt(nonce, private_key_der, kid.encode("utf-8"))


def decrypt_private_key(blob: bytes, kek: bytes, *, kid: str) -> bytes:
    """The key bytes sealed by :func:`encrypt_private_key` for ``kid``; wrong KEK or kid fails."""
    if len(blob) <= NONCE_LENGTH + 16:
        raise SigningKeyUnreadable(f"signing key {kid} is truncated")
    nonce, ciphertext = blob[:NONCE_LENGTH], blob[NONCE_LENGTH:]
    try:
        return AESGCM(_checked_kek(kek)).decrypt(nonce, ciphertext, kid.encode("utf-8"))
    except InvalidTag:
        raise SigningKeyUnreadable(
            f"signing key {kid} does not decrypt with the configured key-encryption key"
        ) from None


def seal(key: PrivateSigningKey, kek: bytes) -> bytes:
    """The encrypted PKCS#8 DER of ``key``, as stored in ``signing_key.private_key``."""
    der = key.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return encrypt_private_key(der, kek, kid=key.kid)


def unseal(blob: bytes, kek: bytes, *, kid: str, alg: str) -> PrivateSigningKey:
    """The signing key stored as ``blob``; its thumbprint must be ``kid``."""
    der = decrypt_private_key(blob, kek, kid=kid)
    try:
        private = serialization.load_der_private_key(der, password=None)
    except (ValueError, TypeError):
        raise SigningKeyUnreadable(f"signing key {kid} is not a PKCS#8 private key") from None
    if not isinstance(private, rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey):
        raise SigningKeyUnreadable(f"signing key {kid} is neither RSA nor EC")
    key = PrivateSigningKey.from_private_key(private, alg)
    if key.kid != kid:
        raise SigningKeyUnreadable(f"signing key {kid} does not match its kid")
    return key


def _checked_kek(kek: bytes) -> bytes:
    if len(kek) != KEK_LENGTH:
        raise KeyEncryptionKeyError(f"the key-encryption key must be {KEK_LENGTH} bytes")
    return kek


# ------------------------------------------------------------------------------ in the database


def publish_lifetime(settings: Settings) -> timedelta:
    """How long a retired key stays published: the longest token lifetime plus clock leeway."""
    longest = max(settings.id_token_ttl, settings.access_token_ttl)
    return timedelta(seconds=longest) + TOKEN_CLOCK_LEEWAY


# Keys are made by one process at a time (the workers of a first start, or two requests that
# find no key): each sees what the one before made, so there is one active key per algorithm.
KEYS_LOCK_KEY = 0x6B657973  # "keys"


async def ensure_keys(
    session: AsyncSession, settings: Settings, *, now: datetime | None = None
) -> list[PrivateSigningKey]:
    """Create an active key for each algorithm (RS256, ES256) that has none; return new ones."""
    await hold_lock(session, KEYS_LOCK_KEY)
    created = []
    for alg in _key_algs():
        if not await _active_rows(session, alg):
            created.append(await _create(session, settings, alg, now or utcnow()))
    return created


async def rotate(
    session: AsyncSession,
    settings: Settings,
    *,
    alg: str | None = None,
    now: datetime | None = None,
    cache: SigningKeyCache | None = None,
) -> list[PrivateSigningKey]:
    """Make a new active key per algorithm (or for ``alg``) and retire the ones it replaces;
    ``cache``, the app's, then signs with the new keys at once (other apps within
    ACTIVE_KEY_SECONDS).

    A retired key keeps verifying and stays in the JWKS until ``publish_until`` (now plus the
    longest token lifetime plus a minute), so tokens it signed remain checkable until they expire.
    """
    at = now or utcnow()
    created = []
    for key_alg in [_key_alg(alg)] if alg else _key_algs():
        old_rows = await _active_rows(session, key_alg)
        created.append(await _create(session, settings, key_alg, at))
        for row in old_rows:
            row.active = False
            row.retired_at = at
            row.publish_until = at + publish_lifetime(settings)
    await session.flush()
    if cache is not None:
        cache.forget_active()  # this app signs with the new keys at once
    return created


ACTIVE_KEY_SECONDS = 30.0
DECRYPTED_KEYS_MAX = 32


class SigningKeyCache:
    """The signing keys an app has decrypted, and which of them is active per algorithm.

    Made by the composition root (``identity.services.build_services``); lives as long as the
    app. Decrypted keys: at most DECRYPTED_KEYS_MAX, the oldest dropped first, by kid and
    key-encryption key (decrypting on every token would cost a PKCS#8 parse). Active keys: one
    per algorithm, database and key-encryption key, each trusted for ACTIVE_KEY_SECONDS: another
    process's rotation reaches this app within that time, and the retired key stays published
    (publish_until) long enough for everything it signed meanwhile. Keyed by the KEK too, so
    that an app given another KEK does not keep using keys it could no longer read.
    """

    def __init__(self) -> None:
        self._decrypted: dict[tuple[str, bytes], PrivateSigningKey] = {}
        self._active: dict[tuple[str, str, bytes], tuple[float, PrivateSigningKey]] = {}

    def forget_active(self) -> None:
        """Read which key is active again at the next signature (after a rotation)."""
        self._active.clear()

    def active(self, where: tuple[str, str, bytes]) -> PrivateSigningKey | None:
        """The active key remembered for (alg, database, KEK digest), while still trusted."""
        current = self._active.get(where)
        if current is not None and time.monotonic() - current[0] < ACTIVE_KEY_SECONDS:
            return current[1]
        return None

    def remember_active(self, where: tuple[str, str, bytes], key: PrivateSigningKey) -> None:
        """Trust ``key`` as the active one for ``where`` for ACTIVE_KEY_SECONDS."""
        self._active[where] = (time.monotonic(), key)

    def unsealed(self, row: SigningKey, kek: bytes) -> PrivateSigningKey:
        """The stored key ``row`` decrypted with ``kek`` (once per kid and KEK)."""
        cache_key = (row.kid, hashlib.sha256(kek).digest())
        key = self._decrypted.get(cache_key)
        if key is None:
            key = unseal(row.private_key, kek, kid=row.kid, alg=row.alg)
            if len(self._decrypted) >= DECRYPTED_KEYS_MAX:
                self._decrypted.pop(next(iter(self._decrypted)))
            self._decrypted[cache_key] = key
        return key


async def active_key(
    session: AsyncSession, settings: Settings, alg: str, *, cache: SigningKeyCache
) -> PrivateSigningKey:
    """The current signing key for ``alg`` (created when there is none yet), decrypted."""
    if alg not in KEY_ALGS:
        raise ValueError(f"unsupported signing algorithm {alg!r}")
    where = (
        alg,
        session.get_bind().engine.url.render_as_string(hide_password=True),
        hashlib.sha256(kek_from_settings(settings)).digest(),
    )
    key = cache.active(where)
    if key is None:
        key = await _load_active(session, settings, alg, cache)
        cache.remember_active(where, key)
    return key


async def _load_active(
    session: AsyncSession, settings: Settings, alg: str, cache: SigningKeyCache
) -> PrivateSigningKey:
    rows = await _active_rows(session, alg)
    if not rows:  # made on first use when start-up could not: under the keys lock
        await hold_lock(session, KEYS_LOCK_KEY)
        rows = await _active_rows(session, alg)
        if not rows:
            return await _create(session, settings, _key_alg(alg), utcnow())
    return cache.unsealed(rows[0], kek_from_settings(settings))


async def jwks(session: AsyncSession, now: datetime) -> dict[str, Any]:
    """The public JWK Set: active keys and retired keys still within ``publish_until``."""
    return {"keys": [json.loads(row.public_jwk) for row in await _published_rows(session, now)]}


async def verification_keys(session: AsyncSession, now: datetime) -> dict[str, PublicKeyEntry]:
    """The same keys by kid, each bound to its algorithm, for verifying our own tokens."""
    entries = {}
    for row in await _published_rows(session, now):
        entry = PublicKeyEntry.from_jwk(json.loads(row.public_jwk), alg=row.alg)
        if entry.kid == row.kid:
            entries[row.kid] = entry
    return entries


def _key_algs() -> list[KeyAlg]:
    return [_key_alg(alg) for alg in KEY_ALGS]


def _key_alg(alg: str) -> KeyAlg:
    if alg == "RS256":
        return "RS256"
    if alg == "ES256":
        return "ES256"
    raise ValueError(f"unsupported signing algorithm {alg!r}")


async def _create(
    session: AsyncSession, settings: Settings, alg: KeyAlg, now: datetime
) -> PrivateSigningKey:
    key = generate(alg)
    session.add(
        SigningKey(
            kid=key.kid,
            alg=key.alg,
            private_key=seal(key, kek_from_settings(settings)),
            public_jwk=json.dumps(dict(key.public_jwk), separators=(",", ":")),
            active=True,
            created_at=now,
        )
    )
    await session.flush()
    return key


async def _active_rows(session: AsyncSession, alg: str) -> Sequence[SigningKey]:
    # Newest first: if two processes ever both created a key, every process signs with one.
    result = await session.execute(
        select(SigningKey)
        .where(SigningKey.alg == alg, SigningKey.active.is_(True))
        .order_by(SigningKey.created_at.desc(), SigningKey.kid)
    )
    return result.scalars().all()


async def _published_rows(session: AsyncSession, now: datetime) -> Sequence[SigningKey]:
    # OIDC Core 10.1.1: keep publishing a retired key while tokens it signed may be presented.
    result = await session.execute(
        select(SigningKey)
        .where(or_(SigningKey.active.is_(True), SigningKey.publish_until > now))
        .order_by(SigningKey.active.desc(), SigningKey.created_at.desc(), SigningKey.kid)
    )
    return result.scalars().all()
