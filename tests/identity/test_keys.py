"""Signing keys: generation, encryption at rest, rotation, and the published JWK Set."""

from __future__ import annotations

import asyncio
import base64
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from pydantic import SecretStr
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.db import Database
from core.settings import Settings
from identity import jose, keys
from identity.keys import KeyEncryptionKeyError, PrivateSigningKey, SigningKeyUnreadable
from identity.models import SigningKey
from tests.turns import LookBarrier

KEK = bytes(range(32))


def kek_text(raw: bytes, *, padded: bool = False) -> str:
    text = base64.urlsafe_b64encode(raw).decode()
    return text if padded else text.rstrip("=")


# ------------------------------------------------------------------------------ the KEK


@pytest.mark.parametrize("padded", [False, True])
def test_kek_from_settings(padded: bool) -> None:
    config = Settings(
        environment="test", key_encryption_key=SecretStr(kek_text(KEK, padded=padded))
    )
    assert keys.kek_from_settings(config) == KEK


def test_kek_falls_back_to_a_derived_secret_outside_production() -> None:
    config = Settings(environment="development")
    assert keys.kek_from_settings(config) == config.derived_secret("key-encryption-key")
    assert len(keys.kek_from_settings(config)) == keys.KEK_LENGTH


@pytest.mark.parametrize(
    "value", ["not base64 at all!", kek_text(KEK[:16]), kek_text(KEK + b"x"), "A", "===="]
)
def test_invalid_kek_is_refused_without_echoing_it(value: str) -> None:
    config = Settings(environment="test", key_encryption_key=SecretStr(value))
    with pytest.raises(KeyEncryptionKeyError) as caught:
        keys.kek_from_settings(config)
    assert "REGISTRY_KEY_ENCRYPTION_KEY" in str(caught.value)
    assert value not in str(caught.value)


# ------------------------------------------------------------------------------ keys at rest


def test_generate() -> None:
    rs, es = keys.generate("RS256"), keys.generate("ES256")
    assert isinstance(rs.private_key, rsa.RSAPrivateKey)
    assert rs.private_key.key_size == 2048
    assert rs.private_key.public_key().public_numbers().e == 65537
    assert isinstance(es.private_key, ec.EllipticCurvePrivateKey)
    assert isinstance(es.private_key.curve, ec.SECP256R1)
    for key in (rs, es):
        assert key.kid == jose.thumbprint(key.public_jwk)
        assert key.public_jwk["kid"] == key.kid
        assert key.public_jwk["alg"] == key.alg
        assert key.public_jwk["use"] == "sig"
        assert not {"d", "p", "q", "dp", "dq", "qi"} & set(key.public_jwk)
    with pytest.raises(ValueError, match="unsupported"):
        keys.generate("HS256")  # type: ignore[arg-type]


def test_encrypt_decrypt_round_trip() -> None:
    blob = keys.encrypt_private_key(b"pkcs8 bytes", KEK, kid="k1")
    assert b"pkcs8 bytes" not in blob
    assert keys.decrypt_private_key(blob, KEK, kid="k1") == b"pkcs8 bytes"
    # A fresh nonce each time.
    assert keys.encrypt_private_key(b"pkcs8 bytes", KEK, kid="k1") != blob


def test_wrong_kek_or_kid_or_tampering_fails() -> None:
    blob = keys.encrypt_private_key(b"pkcs8 bytes", KEK, kid="k1")
    with pytest.raises(SigningKeyUnreadable):
        keys.decrypt_private_key(blob, bytes(32), kid="k1")
    with pytest.raises(SigningKeyUnreadable):
        keys.decrypt_private_key(blob, KEK, kid="k2")  # the kid is associated data
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    with pytest.raises(SigningKeyUnreadable):
        keys.decrypt_private_key(tampered, KEK, kid="k1")
    with pytest.raises(SigningKeyUnreadable):
        keys.decrypt_private_key(blob[:20], KEK, kid="k1")
    with pytest.raises(KeyEncryptionKeyError):
        keys.encrypt_private_key(b"x", KEK[:16], kid="k1")


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_seal_unseal_keeps_the_key(alg: keys.KeyAlg) -> None:
    key = keys.generate(alg)
    back = keys.unseal(keys.seal(key, KEK), KEK, kid=key.kid, alg=alg)
    assert back.kid == key.kid
    assert back.public_jwk == key.public_jwk
    token = jose.sign({"exp": 2_000_000_000, "iat": 1}, back)
    entries = {key.kid: key.verification_entry()}
    assert jose.decode(
        token, keys=entries, algorithms=(alg,), audience=None, issuer=None, now=1
    ) == {"exp": 2_000_000_000, "iat": 1}
    other = keys.generate(alg)
    with pytest.raises(SigningKeyUnreadable, match="kid"):
        # A sealed key stored under another key's kid is refused, even with the right AD.
        keys.unseal(
            keys.encrypt_private_key(_der(other), KEK, kid=key.kid), KEK, kid=key.kid, alg=alg
        )


def _der(key: keys.PrivateSigningKey) -> bytes:
    from cryptography.hazmat.primitives import serialization

    return key.private_key.private_bytes(
        serialization.Encoding.DER,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def test_publish_lifetime_covers_the_longest_token() -> None:
    config = Settings(environment="test", id_token_ttl=600, access_token_ttl=300)
    assert keys.publish_lifetime(config) == timedelta(seconds=660)


# ------------------------------------------------------------------------------ in the database


async def test_ensure_keys_is_idempotent(database: Database, settings: Settings) -> None:
    async with database.unit_of_work() as session:
        created = await keys.ensure_keys(session, settings)
        assert sorted(k.alg for k in created) == ["ES256", "RS256"]
    async with database.unit_of_work() as session:
        assert await keys.ensure_keys(session, settings) == []
        published = await keys.jwks(session, utcnow())
        assert sorted(k["kid"] for k in published["keys"]) == sorted(k.kid for k in created)
        rows = (await session.execute(select(SigningKey))).scalars().all()
        for row in rows:
            assert row.active
            assert row.created_at.tzinfo is not None
            # Only ciphertext at rest.
            assert b"PRIVATE KEY" not in row.private_key
            assert len(row.private_key) > keys.NONCE_LENGTH + 16


@dataclass
class Rotation:
    """Keys made at t0 and a token they signed, then rotated at t1; publish_until is `until`."""

    old: dict[str, PrivateSigningKey]
    new: dict[str, PrivateSigningKey]
    old_token: str
    t1: datetime
    until: datetime

    def every_kid(self) -> set[str]:
        return {k.kid for k in [*self.old.values(), *self.new.values()]}

    def new_kids(self) -> set[str]:
        return {k.kid for k in self.new.values()}

    async def decode_old_token(self, database: Database, at: datetime) -> None:
        """Verify old_token with the keys published at `at`."""
        async with database.unit_of_work() as session:
            found = await keys.verification_keys(session, at)
        jose.decode(
            self.old_token,
            keys=found,
            algorithms=jose.ACCESS_TOKEN_ALGS,
            audience=None,
            issuer=None,
            now=0,
        )


async def rotation(database: Database, settings: Settings) -> Rotation:
    t0 = utcnow()
    async with database.unit_of_work() as session:
        old = {k.alg: k for k in await keys.ensure_keys(session, settings, now=t0)}
        old_token = jose.sign({"exp": 9_999_999_999, "iat": 0}, old["ES256"])
    t1 = t0 + timedelta(minutes=5)
    async with database.unit_of_work() as session:
        new = {k.alg: k for k in await keys.rotate(session, settings, now=t1)}
    return Rotation(old, new, old_token, t1, t1 + keys.publish_lifetime(settings))


async def test_rotation_makes_new_keys_the_active_ones(
    database: Database, settings: Settings
) -> None:
    r = await rotation(database, settings)
    assert {k.kid for k in r.new.values()}.isdisjoint(k.kid for k in r.old.values())
    async with database.unit_of_work() as session:
        for alg in ("RS256", "ES256"):
            assert (
                await keys.active_key(session, settings, alg, cache=keys.SigningKeyCache())
            ).kid == r.new[alg].kid


async def test_rotation_keeps_retired_keys_published_until_tokens_expire(
    database: Database, settings: Settings
) -> None:
    r = await rotation(database, settings)
    async with database.unit_of_work() as session:
        for moment in (r.t1, r.until - timedelta(seconds=1)):
            published = await keys.jwks(session, moment)
            assert {k["kid"] for k in published["keys"]} == r.every_kid()
            assert set(await keys.verification_keys(session, moment)) == r.every_kid()


async def test_after_a_rotation_the_active_keys_are_published_first(
    database: Database, settings: Settings
) -> None:
    r = await rotation(database, settings)
    async with database.unit_of_work() as session:
        first_two = {k["kid"] for k in (await keys.jwks(session, r.t1))["keys"][:2]}
    assert first_two == r.new_kids()


async def test_a_token_signed_before_a_rotation_verifies_while_its_key_is_published(
    database: Database, settings: Settings
) -> None:
    r = await rotation(database, settings)
    await r.decode_old_token(database, r.until - timedelta(seconds=1))


async def test_from_publish_until_on_the_retired_keys_and_their_tokens_are_gone(
    database: Database, settings: Settings
) -> None:
    r = await rotation(database, settings)
    async with database.unit_of_work() as session:
        published = await keys.jwks(session, r.until)
    assert {k["kid"] for k in published["keys"]} == r.new_kids()
    with pytest.raises(jose.JoseError, match="unknown kid"):
        await r.decode_old_token(database, r.until)


async def test_a_retired_key_keeps_when_it_retired_and_until_when_it_is_published(
    database: Database, settings: Settings
) -> None:
    r = await rotation(database, settings)
    async with database.unit_of_work() as session:
        retired = await session.get(SigningKey, r.old["RS256"].kid)
        assert retired is not None
        assert not retired.active
        assert retired.retired_at == r.t1
        assert retired.publish_until == r.until


async def test_rotating_one_algorithm(database: Database, settings: Settings) -> None:
    cache = keys.SigningKeyCache()
    async with database.unit_of_work() as session:
        old = {k.alg: k for k in await keys.ensure_keys(session, settings)}
        [new_es] = await keys.rotate(session, settings, alg="ES256")
        assert new_es.alg == "ES256"
        assert (await keys.active_key(session, settings, "ES256", cache=cache)).kid == new_es.kid
        rs256 = await keys.active_key(session, settings, "RS256", cache=cache)
        assert rs256.kid == old["RS256"].kid
        with pytest.raises(ValueError, match="unsupported"):
            await keys.rotate(session, settings, alg="HS256")


async def test_active_key_creates_one_when_none_exists(
    database: Database, settings: Settings
) -> None:
    cache = keys.SigningKeyCache()
    async with database.unit_of_work() as session:
        key = await keys.active_key(session, settings, "RS256", cache=cache)
    async with database.unit_of_work() as session:
        again = await keys.active_key(session, settings, "RS256", cache=cache)
        assert again.kid == key.kid
        assert again.public_jwk == key.public_jwk
        assert (await keys.active_key(session, settings, "RS256", cache=cache)) is again  # cached
        with pytest.raises(ValueError, match="unsupported"):
            await keys.active_key(session, settings, "HS256", cache=cache)


@pytest.mark.postgresql_only  # they take turns under PostgreSQL's advisory lock
async def test_two_processes_finding_no_key_make_one(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Start-up could not make the keys; two processes (two engines) then sign at once. Each is
    # held after it first looks until the other has looked too (or waits for the keys lock, or
    # is done): without the lock both find none and each makes its own active key.
    engines = [database, Database(settings)]
    turns = LookBarrier(database, len(engines))
    real_active_rows = keys._active_rows

    async def active_rows(session: AsyncSession, alg: str) -> Sequence[SigningKey]:
        rows = await real_active_rows(session, alg)
        await turns.after_look()
        return rows

    async def sign(db: Database) -> str:
        async with db.unit_of_work() as session:
            # Each process has its own cache.
            key = await keys.active_key(session, settings, "ES256", cache=keys.SigningKeyCache())
            return key.kid

    monkeypatch.setattr(keys, "_active_rows", active_rows)
    try:
        kids = await asyncio.gather(*(turns.run(sign(db)) for db in engines))
    finally:
        await engines[1].dispose()
    async with database.unit_of_work() as session:
        active = (
            (
                await session.execute(
                    select(SigningKey.kid).where(SigningKey.active, SigningKey.alg == "ES256")
                )
            )
            .scalars()
            .all()
        )
    assert len(active) == 1
    assert set(kids) == set(active)  # both signed with it


async def test_another_kek_cannot_read_the_keys(database: Database, settings: Settings) -> None:
    cache = keys.SigningKeyCache()
    async with database.unit_of_work() as session:
        await keys.ensure_keys(session, settings)
        await keys.active_key(session, settings, "ES256", cache=cache)  # cached under this KEK
    other = settings.model_copy(update={"key_encryption_key": SecretStr(kek_text(bytes(32)))})
    async with database.unit_of_work() as session:
        with pytest.raises(SigningKeyUnreadable):
            await keys.active_key(session, other, "ES256", cache=cache)
