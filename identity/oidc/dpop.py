"""DPoP (RFC 9449): the proofs a client sends with a token request or with a bound token,
the nonces the provider supplies, and the binding of a token to the proof's key."""

from __future__ import annotations

import hashlib
import hmac
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.digests import sha256_hex
from core.settings import Settings
from identity import jose
from identity import repository as repo
from identity.models import Client
from identity.oidc.errors import OAuthError
from identity.passkeys import ChallengePurge

# How far a proof's iat may lie in the past, and ahead of our clock (RFC 9449 11.1).
PROOF_WINDOW = 60
CLOCK_SKEW = 5
# A nonce is good for the period it was made in and the next one (RFC 9449 8).
NONCE_PERIOD = 120
_NONCE_MAC = 16
MAX_JTI = 200
ALGS: tuple[str, ...] = jose.DPOP_ALGS
_DEFAULT_PORTS = {"http": 80, "https": 443}


class DPoPError(Exception):
    """A proof that cannot be accepted: ``error`` is invalid_dpop_proof or use_dpop_nonce
    (RFC 9449 5 and 7.1), ``nonce`` the fresh nonce to answer with."""

    def __init__(self, error: str, description: str, nonce: str | None = None) -> None:
        super().__init__(description)
        self.error = error
        self.description = description
        self.nonce = nonce


@dataclass(frozen=True, slots=True)
class Proof:
    """An accepted proof: the thumbprint of its key (RFC 7638), the key its token is bound to."""

    jkt: str


def requires_dpop(client: Client) -> bool:
    """Whether every token request of this client must carry a proof (RFC 9449 5.2)."""
    return client.dpop_bound or client.profile == "fapi2"


def bound_key(claims: Mapping[str, Any]) -> str | None:
    """The thumbprint an access token is bound to (its cnf.jkt, RFC 9449 6.1), or None."""
    cnf = claims.get("cnf")
    jkt = cnf.get("jkt") if isinstance(cnf, Mapping) else None
    return jkt if isinstance(jkt, str) else None


def access_token_hash(token: str) -> str:
    """The ath of a proof sent with ``token`` (RFC 9449 4.2)."""
    return jose.b64url_encode(hashlib.sha256(token.encode("ascii")).digest())


# ------------------------------------------------------------------------------ nonces


def _nonce_for(secret: bytes, period: int) -> str:
    counter = period.to_bytes(8, "big")
    mac = hmac.new(secret, counter, hashlib.sha256).digest()[:_NONCE_MAC]
    return jose.b64url_encode(counter + mac)


def nonce(settings: Settings, now: float | None = None) -> str:
    """The nonce of the current period: made from a secret and the clock, so every worker
    makes and accepts the same ones without sharing state."""
    current = time.time() if now is None else now
    return _nonce_for(settings.derived_secret("dpop-nonce"), int(current // NONCE_PERIOD))


def nonce_ok(settings: Settings, value: object, now: float | None = None) -> bool:
    """Whether ``value`` is a nonce this provider made in this period or the last one."""
    if not isinstance(value, str) or len(value) > 64:
        return False
    try:
        raw = jose.b64url_decode(value)
    except jose.JoseError:
        return False
    if len(raw) != 8 + _NONCE_MAC:
        return False
    period = int.from_bytes(raw[:8], "big")
    current = int((time.time() if now is None else now) // NONCE_PERIOD)
    if period not in (current, current - 1):
        return False
    return hmac.compare_digest(_nonce_for(settings.derived_secret("dpop-nonce"), period), value)


# ------------------------------------------------------------------------------ proofs


def normalized_uri(uri: str) -> str | None:
    """``uri`` without query and fragment, scheme and host in lower case, no default port
    (RFC 9449 4.3 step 9, RFC 3986 6.2.2-6.2.3); None when it is no absolute http(s) URI."""
    try:
        parts = urlsplit(uri)
        port = parts.port
    except ValueError:
        return None
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    host = parts.hostname.lower()
    if ":" in host:
        host = f"[{host}]"
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return urlunsplit((scheme, host, parts.path or "/", "", ""))


def _proof_text(values: Sequence[str]) -> str:
    # RFC 9449 4.3 step 1: exactly one DPoP header.
    if len(values) != 1 or not values[0].strip():
        raise DPoPError("invalid_dpop_proof", "Send exactly one DPoP proof.")
    return values[0].strip()


async def check_proof(
    session: AsyncSession,
    settings: Settings,
    values: Sequence[str],
    *,
    method: str,
    uri: str,
    access_token: str | None,
    housekeeping: ChallengePurge,
) -> Proof:
    """Accept the proof in the request's DPoP headers (``values``) for ``method`` on ``uri``,
    with ``access_token`` when it accompanies one (RFC 9449 4.3, 7.1); DPoPError otherwise.
    Its jti is spent in the caller's unit of work (a replay is refused, across workers)."""
    try:
        jwk, claims = jose.decode_dpop_proof(_proof_text(values), algorithms=ALGS)
        jkt = jose.thumbprint(jwk)
    except jose.JoseError as exc:
        raise DPoPError("invalid_dpop_proof", f"The DPoP proof is invalid: {exc}.") from None
    jti, iat = claims.get("jti"), claims.get("iat")
    if not isinstance(jti, str) or not 0 < len(jti) <= MAX_JTI:
        raise DPoPError("invalid_dpop_proof", "The DPoP proof needs a jti.")
    if claims.get("htm") != method:
        raise DPoPError("invalid_dpop_proof", "The DPoP proof is for another HTTP method.")
    htu = claims.get("htu")
    if not isinstance(htu, str) or normalized_uri(htu) != normalized_uri(uri):
        raise DPoPError("invalid_dpop_proof", "The DPoP proof is for another URI.")
    now = time.time()
    if isinstance(iat, bool) or not isinstance(iat, int | float):
        raise DPoPError("invalid_dpop_proof", "The DPoP proof needs a numeric iat.")
    if not now - PROOF_WINDOW <= iat <= now + CLOCK_SKEW:
        raise DPoPError("invalid_dpop_proof", "The DPoP proof's iat is outside the window.")
    if access_token is not None:
        ath = claims.get("ath")
        if not isinstance(ath, str) or not hmac.compare_digest(
            ath, access_token_hash(access_token)
        ):
            raise DPoPError("invalid_dpop_proof", "The DPoP proof's ath is not the token's.")
    if not nonce_ok(settings, claims.get("nonce"), now):
        # RFC 9449 8 and 9: the client retries with the nonce we give.
        raise DPoPError("use_dpop_nonce", "Use the DPoP-Nonce given.", nonce(settings, now))
    if housekeeping.due(session):
        await repo.purge_pushed_and_proofs(session, utcnow())
    expires = utcnow() + timedelta(seconds=PROOF_WINDOW + CLOCK_SKEW)
    if not await repo.spend_proof(session, sha256_hex(f"{jkt}\x00{jti}"), expires):
        raise DPoPError("invalid_dpop_proof", "The DPoP proof was already used.")
    return Proof(jkt=jkt)


def challenge(error: str, description: str) -> str:
    """A WWW-Authenticate challenge of the DPoP scheme (RFC 9449 7.1) naming our algorithms."""
    text = description.replace('"', "'")[:200]
    return (
        f'DPoP realm="registry", error="{error}", error_description="{text}", '
        f'algs="{" ".join(ALGS)}"'
    )


async def endpoint_proof(
    session: AsyncSession,
    settings: Settings,
    values: Sequence[str],
    *,
    path: str,
    required: bool,
    housekeeping: ChallengePurge,
) -> str | None:
    """The key thumbprint of the proof sent to the provider's endpoint ``path`` (/token, /par),
    None when none was sent and none is ``required``; OAuthError as RFC 9449 5 and 8 say."""
    if not values:
        if required:
            raise OAuthError(
                "invalid_dpop_proof", "This client's tokens are DPoP-bound: send a proof."
            )
        return None
    try:
        proof = await check_proof(
            session,
            settings,
            values,
            method="POST",
            uri=settings.issuer + path,
            access_token=None,
            housekeeping=housekeeping,
        )
    except DPoPError as exc:
        headers = {"DPoP-Nonce": exc.nonce} if exc.nonce else {}
        raise OAuthError(exc.error, exc.description, headers=headers) from None
    return proof.jkt


async def check_resource(
    session: AsyncSession,
    settings: Settings,
    claims: Mapping[str, Any],
    *,
    scheme: str,
    token: str,
    values: Sequence[str],
    method: str,
    path: str,
    housekeeping: ChallengePurge,
) -> None:
    """RFC 9449 7.1-7.2: a DPoP-bound access token is accepted only with the DPoP scheme and a
    proof of its key for this request; DPoPError (invalid_token, invalid_dpop_proof,
    use_dpop_nonce) otherwise. A token not bound is a bearer token, as before."""
    jkt = bound_key(claims)
    if scheme != "dpop":
        if jkt is not None:
            raise DPoPError("invalid_token", "The token is DPoP-bound: send it with a proof.")
        return
    if jkt is None:
        raise DPoPError("invalid_token", "The token is not DPoP-bound.")
    proof = await check_proof(
        session,
        settings,
        values,
        method=method,
        uri=settings.issuer + path,
        access_token=token,
        housekeeping=housekeeping,
    )
    if not hmac.compare_digest(proof.jkt, jkt):
        raise DPoPError("invalid_dpop_proof", "The proof's key is not the token's.")


def resource_headers(error: DPoPError) -> dict[str, str]:
    """The headers of a resource's 401 for ``error`` (RFC 9449 7.1 and 9)."""
    headers = {"WWW-Authenticate": challenge(error.error, error.description)}
    if error.nonce:
        headers["DPoP-Nonce"] = error.nonce
    return headers
