"""What an app remembers of the access tokens it verified (identity.oidc.token_memory.TokenMemory):
``remembered_client_token`` vouches for a client's token without the database while the key
set that verified it is in use. When that set is due for a refresh, ONE request takes the full
validation (which refreshes it) and the others keep to the set meanwhile, within a grace; a
refresh that finds the same keys keeps every remembered token, a changed set drops them."""

from __future__ import annotations

import time
from types import SimpleNamespace
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from core.settings import Settings
from identity import jose, keys
from identity.oidc import token_memory as tokens

SETTINGS = Settings(environment="test", database_url="sqlite+aiosqlite:///:memory:")
TOKEN = "the.agency.token"


def entry(key: Any, kid: str = "k1") -> jose.PublicKeyEntry:
    return jose.PublicKeyEntry(kid=kid, alg="ES256", key=key)


@pytest.fixture
def clock(monkeypatch: pytest.MonkeyPatch) -> list[float]:
    """tokens' monotonic clock, set by the test."""
    now = [1000.0]
    monkeypatch.setattr(tokens, "time", SimpleNamespace(monotonic=lambda: now[0]))
    return now


@pytest.fixture
def memory() -> tokens.TokenMemory:
    """A fresh memory, as an app is built with."""
    return tokens.TokenMemory()


def remember(memory: tokens.TokenMemory, keyset: dict[str, Any], at: float) -> dict[str, Any]:
    claims = {
        "iss": SETTINGS.issuer,
        "aud": tokens.api_audience(SETTINGS),
        "client_id": "agency-1",
        "jti": "j-1",
        "iat": int(time.time()),
        "exp": int(time.time()) + 600,
    }
    memory._key_sets[SETTINGS.issuer] = (at, keyset)
    memory.remember_verified(TOKEN, keyset, claims)
    return claims


def vouched(memory: tokens.TokenMemory, count: int) -> list[bool]:
    return [memory.remembered_client_token(SETTINGS, TOKEN) is not None for _ in range(count)]


async def refresh(
    memory: tokens.TokenMemory, monkeypatch: pytest.MonkeyPatch, found: dict[str, Any]
) -> Any:
    async def stored_keys(session: Any, now: Any) -> dict[str, Any]:
        return found

    monkeypatch.setattr(keys, "verification_keys", stored_keys)
    return await memory.verification_keys(None, None, origin=SETTINGS.issuer)  # type: ignore[arg-type]


async def test_a_due_key_set_sends_one_request_to_refresh_it(
    clock: list[float], memory: tokens.TokenMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    keyset = {"k1": entry(key)}
    remember(memory, keyset, clock[0])
    assert vouched(memory, 3) == [True, True, True]
    # Due: the first request takes the full validation; the others keep to the set in use.
    clock[0] += tokens.KEY_CACHE_SECONDS + 0.5
    assert vouched(memory, 3) == [False, True, True]
    # The refresh did not come back within a second: the next request tries again.
    clock[0] += tokens.KEY_REFRESH_RETRY_SECONDS
    assert vouched(memory, 2) == [False, True]
    # Past the grace, nobody is vouched for without the full validation.
    clock[0] += tokens.KEY_REFRESH_GRACE_SECONDS
    assert vouched(memory, 2) == [False, False]
    # The refresh finds the same keys (parsed anew): the set in use stays, and so do the
    # tokens verified with it.
    same = {
        "k1": entry(
            ec.EllipticCurvePublicNumbers(
                key.public_numbers().x, key.public_numbers().y, ec.SECP256R1()
            ).public_key()
        )
    }
    assert await refresh(memory, monkeypatch, same) is keyset
    assert memory._refreshing == {}
    assert vouched(memory, 2) == [True, True]


async def test_a_changed_key_set_drops_what_was_remembered(
    clock: list[float], memory: tokens.TokenMemory, monkeypatch: pytest.MonkeyPatch
) -> None:
    key = ec.generate_private_key(ec.SECP256R1()).public_key()
    keyset = {"k1": entry(key)}
    remember(memory, keyset, clock[0])
    clock[0] += tokens.KEY_CACHE_SECONDS + 0.5
    assert vouched(memory, 1) == [False]
    other = ec.generate_private_key(ec.SECP256R1()).public_key()
    for changed in ({"k1": entry(other)}, {"k1": entry(key), "k2": entry(other, "k2")}, {}):
        memory._key_sets[SETTINGS.issuer] = (clock[0] - tokens.KEY_CACHE_SECONDS - 1, keyset)
        assert await refresh(memory, monkeypatch, changed) is changed
        assert vouched(memory, 1) == [False]


async def test_once_vouched_a_token_is_still_checked_for_expiry_and_issuer(
    clock: list[float], memory: tokens.TokenMemory
) -> None:
    keyset = {"k1": entry(ec.generate_private_key(ec.SECP256R1()).public_key())}
    claims = remember(memory, keyset, clock[0])
    claims["exp"] = time.time() + 0.3
    assert vouched(memory, 2) == [True, True]  # the second call makes only the time-bound checks
    other = Settings(
        environment="test",
        database_url="sqlite+aiosqlite:///:memory:",
        public_url="https://other.example",
    )
    # The same key set in use for another issuer: the token's issuer is checked for it anew.
    memory._key_sets[other.issuer] = memory._key_sets[SETTINGS.issuer]
    assert memory.remembered_client_token(other, TOKEN) is None
    time.sleep(0.35)
    assert vouched(memory, 1) == [False]
