"""What an app remembers of the access tokens it validated: the verification key set in use,
the tokens whose signature it verified, and those vouched for an issuer (the agency API's
grouped statement relies on them). One object per app, made by the composition root."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.settings import Settings
from identity import jose, keys

KEY_CACHE_SECONDS = 60.0
# When the key set is due for a refresh, one request refreshes it (the full validation) while
# the others keep to the set in use, for at most this long past its due time.
KEY_REFRESH_GRACE_SECONDS = 10.0
KEY_REFRESH_RETRY_SECONDS = 1.0  # a refresh that did not come back: the next request tries


def api_audience(settings: Settings) -> str:
    """The audience of access tokens: this registry's APIs (RFC 9068 3)."""
    return settings.issuer + "/api"


VERIFIED_TOKENS_MAX = 10_000
ACCESS_REQUIRED = ("exp", "iat", "jti", "client_id")


class TokenMemory:
    """What an app remembers of the access tokens it validated, between requests.

    Made by the composition root (``identity.services.build_services``); lives as long as the
    app. It holds the verification key set per issuer (an app has one), read again after
    KEY_CACHE_SECONDS, with when a request set out to refresh it; the access tokens whose
    signature the app verified; and of those, the ones vouched for an issuer. Each of the last
    two holds at most VERIFIED_TOKENS_MAX tokens and starts again empty when full.
    """

    def __init__(self) -> None:
        self._key_sets: dict[str, tuple[float, Mapping[str, Any]]] = {}
        self._refreshing: dict[str, float] = {}  # origin -> when a request set out to refresh
        # Access tokens whose signature this app verified, by their exact text, with the key
        # set that verified them. An agency sends one token with every request for its
        # lifetime: the signature is checked once per key-set refresh; expiry, revocation and
        # the client are checked on every request. A key set refreshed without a retired key
        # invalidates its tokens here too.
        self._verified: dict[str, tuple[Mapping[str, Any], Mapping[str, Any]]] = {}
        # Of those, the ones whose issuer, audience and required claims
        # ``remembered_client_token`` checked for an issuer (they cannot change), with the key
        # set then in use: from then on only the time-bound checks are made again.
        self._vouched: dict[tuple[str, str], Mapping[str, Any]] = {}

    async def verification_keys(
        self, session: AsyncSession, kid: str | None, *, origin: str
    ) -> Mapping[str, Any]:
        """The key set of ``origin`` in use (read again when due or when ``kid`` is not in it)."""
        cached = self._key_sets.get(origin)
        now = time.monotonic()
        if (
            cached is not None
            and now - cached[0] < KEY_CACHE_SECONDS
            and (kid is None or kid in cached[1])
        ):
            return cached[1]
        found: Mapping[str, Any] = await keys.verification_keys(session, utcnow())
        if cached is not None and _same_keys(found, cached[1]):
            # The same keys: the tokens verified with them stay verified (``_verified`` holds
            # the set they were verified with), so no request has to verify its token again.
            found = cached[1]
        self._key_sets[origin] = (now, found)
        self._refreshing.pop(origin, None)
        return found

    def verified(self, token: str) -> tuple[Mapping[str, Any], Mapping[str, Any]] | None:
        """The key set that verified ``token`` and its claims, if this app verified it."""
        return self._verified.get(token)

    def remember_verified(
        self, token: str, keyset: Mapping[str, Any], claims: Mapping[str, Any]
    ) -> None:
        """``token``'s signature was verified with ``keyset``."""
        if len(self._verified) >= VERIFIED_TOKENS_MAX:
            self._verified.clear()
        self._verified[token] = (keyset, claims)

    def remembered_client_token(self, settings: Settings, token: str) -> Mapping[str, Any] | None:
        """The claims of a client's own access token (client_credentials: no grant behind it)
        whose signature this app verified with the key set still in use, when its issuer,
        audience and expiry still hold: no database, no signature. None when the full
        validation (``validate_access_token``) must run instead.

        A DPoP-bound token is never remembered here (its proof is checked on the full path).
        Revocation and the client are NOT checked here: the caller must check both in the
        statement that uses the token (the agency API's one-statement lookup does), and take
        the full validation when they fail.
        """
        seen = self._verified.get(token)
        # A DPoP-bound token (cnf) is never taken on its own: its proof must be checked.
        if seen is None or "gid" in seen[1] or "cnf" in seen[1]:
            return None
        cached = self._key_sets.get(settings.issuer)
        if cached is None or cached[1] is not seen[0]:
            return None
        now = time.monotonic()
        if now - cached[0] >= KEY_CACHE_SECONDS:
            # Due for a refresh. One request at a time takes the full validation, which
            # refreshes the set; the others keep to the set in use meanwhile (a key retired
            # since is honoured for at most KEY_REFRESH_GRACE_SECONDS more). Without this, every
            # request in flight would take the full validation at once, each reading the keys
            # (a stall of the whole process, every KEY_CACHE_SECONDS, under load).
            started = self._refreshing.get(settings.issuer)
            if started is None or now - started >= KEY_REFRESH_RETRY_SECONDS:
                self._refreshing[settings.issuer] = now
                return None
            if now - cached[0] >= KEY_CACHE_SECONDS + KEY_REFRESH_GRACE_SECONDS:
                return None
        try:
            if self._vouched.get((token, settings.issuer)) is seen[0]:
                jose.check_lifetime(seen[1])
            else:
                jose.check_claims(
                    seen[1],
                    audience=api_audience(settings),
                    issuer=settings.issuer,
                    require=ACCESS_REQUIRED,
                )
                if len(self._vouched) >= VERIFIED_TOKENS_MAX:
                    self._vouched.clear()
                self._vouched[(token, settings.issuer)] = seen[0]
        except jose.JoseError:
            return None
        return seen[1]


def _same_keys(a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
    return a.keys() == b.keys() and all(
        (a[kid].alg, a[kid].key) == (b[kid].alg, b[kid].key) for kid in a
    )
