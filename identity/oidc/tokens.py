"""The token endpoint's grants, ID and access tokens, revocation and introspection."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from audit import recording as audit
from core.auth import Principal
from core.clock import utcnow
from core.digests import sha256_hex
from core.settings import Settings
from identity import jose, keys
from identity import repository as repo
from identity.directory import CitizenDirectory
from identity.models import Account, Client, Grant, RefreshToken
from identity.oidc.claims import id_token_claims, pairwise_sub, parse_scope, released_claims
from identity.oidc.clients import allowed_scopes
from identity.oidc.errors import OAuthError
from identity.oidc.token_memory import ACCESS_REQUIRED, TokenMemory
from identity.oidc.token_memory import api_audience as api_audience
from identity.passkeys import ChallengePurge
from identity.signin import check_usable

CODE_TTL = timedelta(seconds=60)  # single-use and short-lived (docs/architecture.md, OIDC)


def pairwise_salt(settings: Settings) -> bytes:
    """The salt of pairwise subs (a setting in production, derived in development)."""
    if settings.pairwise_salt is not None:
        return settings.pairwise_salt.get_secret_value().encode()
    return settings.derived_secret("pairwise-salt")


def subject_for(settings: Settings, client: Client, citizen_id: str) -> str:
    """The pairwise sub of a citizen at a client's sector."""
    return pairwise_sub(client.sector_identifier, citizen_id, pairwise_salt(settings))


def _citizen_id(account: Account) -> str:
    if account.citizen_id is None:
        raise OAuthError("invalid_grant", "Only citizens' identities are released to services.")
    return account.citizen_id


def client_principal(client: Client, scopes: frozenset[str] | None = None) -> Principal:
    """The Principal of a client acting on its own (agency or relying party), with its
    registered scopes or those of the token it presented."""
    return principal_of_client(
        client.client_id,
        client.type,
        frozenset(client.scopes.split()) if scopes is None else scopes,
    )


def principal_of_client(client_id: str, client_type: str, scopes: frozenset[str]) -> Principal:
    """The Principal of the client with this id and type (agency or rp), with these scopes."""
    return Principal(
        actor_type="agency",
        actor_id=client_id,
        roles=frozenset({"agency"} if client_type == "agency" else {"relying_party"}),
        scopes=scopes,
    )


def verify_pkce(verifier: str, challenge: str) -> bool:
    """RFC 7636 4.6: BASE64URL(SHA256(ASCII(code_verifier))) == code_challenge."""
    if not 43 <= len(verifier) <= 128 or not all(c.isalnum() or c in "-._~" for c in verifier):
        return False
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    computed = base64.urlsafe_b64encode(digest).rstrip(b"=").decode()
    return hmac.compare_digest(computed, challenge)


@dataclass(frozen=True)
class TokenContext:
    """What the token services need: the app's settings, its citizen directory, and what the
    app remembers between requests (made once by ``identity.services.build_services``)."""

    settings: Settings
    directory: CitizenDirectory
    memory: TokenMemory
    signing: keys.SigningKeyCache
    clients: repo.BuiltClients
    # When expired pushed requests and seen DPoP proofs were last dropped.
    housekeeping: ChallengePurge = field(default_factory=ChallengePurge)


# ------------------------------------------------------------------------------ signing


async def _access_token(
    session: AsyncSession,
    ctx: TokenContext,
    *,
    sub: str,
    client_id: str,
    scope: str,
    grant_id: str | None,
    auth_time: datetime | None = None,
    acr: str | None = None,
    extra: Mapping[str, Any] | None = None,
    jkt: str | None = None,
) -> tuple[str, int]:
    # RFC 9068: JWT access tokens, typ at+jwt, signed with ES256 (cheap to verify).
    settings = ctx.settings
    now = int(time.time())
    ttl = settings.access_token_ttl
    claims: dict[str, Any] = {
        "iss": settings.issuer,
        "sub": sub,
        "aud": api_audience(settings),
        "client_id": client_id,
        "scope": scope,
        "iat": now,
        "exp": now + ttl,
        "jti": str(uuid.uuid4()),
    }
    if grant_id:
        claims["gid"] = grant_id
    if auth_time is not None:
        claims["auth_time"] = int(auth_time.timestamp())
    if acr:
        claims["acr"] = acr
    claims.update(extra or {})
    if jkt:
        claims["cnf"] = {"jkt": jkt}  # RFC 9449 6.1
    key = await keys.active_key(session, settings, "ES256", cache=ctx.signing)
    return jose.sign(claims, key, typ="at+jwt"), ttl


async def _id_token(
    session: AsyncSession,
    ctx: TokenContext,
    *,
    client: Client,
    grant: Grant,
    account: Account,
    access_token: str,
    nonce: str | None,
) -> tuple[str, list[str]]:
    settings = ctx.settings
    citizen_id = _citizen_id(account)
    alg = client.id_token_alg
    sub = subject_for(settings, client, citizen_id)
    claims = id_token_claims(
        settings, client, grant, sub=sub, access_token=access_token, nonce=nonce
    )
    claims_request = json.loads(grant.claims) if grant.claims else None
    names = released_claims(parse_scope(grant.scope), claims_request, "id_token")
    if names:
        values = await ctx.directory.claims(session, citizen_id, names)
        claims.update({k: v for k, v in values.items() if k in names})
    key = await keys.active_key(session, settings, alg, cache=ctx.signing)
    return jose.sign(claims, key), [n for n in names if n in claims]


async def _refresh_token(
    session: AsyncSession, settings: Settings, grant_id: str, expires_at: datetime | None = None
) -> str:
    token = secrets.token_urlsafe(32)
    expires_at = expires_at or utcnow() + timedelta(seconds=settings.refresh_token_ttl)
    await repo.insert(
        session,
        RefreshToken(token_hash=sha256_hex(token), grant_id=grant_id, expires_at=expires_at),
    )
    return token


async def _citizen_tokens(
    session: AsyncSession,
    ctx: TokenContext,
    *,
    client: Client,
    grant: Grant,
    account: Account,
    nonce: str | None,
    grant_type: str,
    jkt: str | None,
    kept_refresh: str | None = None,
) -> dict[str, Any]:
    citizen_id = _citizen_id(account)
    sub = subject_for(ctx.settings, client, citizen_id)
    access, ttl = await _access_token(
        session,
        ctx,
        sub=sub,
        client_id=client.client_id,
        scope=grant.scope,
        grant_id=grant.id,
        auth_time=grant.auth_time,
        acr=grant.acr,
        jkt=jkt,
    )
    id_token, released = await _id_token(
        session,
        ctx,
        client=client,
        grant=grant,
        account=account,
        access_token=access,
        nonce=nonce,
    )
    refresh = kept_refresh or await _refresh_token(session, ctx.settings, grant.id)
    await audit.record(
        session,
        actor=client_principal(client),
        action="oidc.token",
        outcome="granted",
        subject=citizen_id,
        fields=released,
        detail={"grant_type": grant_type, "scope": grant.scope[:200]},
    )
    return {
        "access_token": access,
        "token_type": "DPoP" if jkt else "Bearer",  # RFC 9449 5
        "expires_in": ttl,
        "refresh_token": refresh,
        "id_token": id_token,
        "scope": grant.scope,
    }


async def _usable_account(
    session: AsyncSession, ctx: TokenContext, grant: Grant, account: Account | None = None
) -> Account:
    """The grant's account (read here unless given), if it may still be released to services."""
    if account is None:
        account = await repo.account_by_id(session, grant.account_id)
    if account is None:
        raise OAuthError("invalid_grant", "The grant's account no longer exists.")
    try:
        check_usable(account)
    except Exception:
        raise OAuthError(
            "invalid_grant", "The citizen's electronic identity is locked or closed."
        ) from None
    citizen_id = _citizen_id(account)
    facts = await ctx.directory.facts(session, citizen_id)
    if facts is None or facts.status == "deceased":
        raise OAuthError("invalid_grant", "The citizen's electronic identity is closed.")
    return account


# ------------------------------------------------------------------------------ grants


async def _bind(session: AsyncSession, grant: Grant, jkt: str | None) -> None:
    """RFC 9449 5 and 10: a grant bound to a DPoP key (at the authorization request or its
    first token request) issues tokens only to a proof of that key."""
    if grant.dpop_jkt is not None and grant.dpop_jkt != jkt:
        raise OAuthError("invalid_dpop_proof", "The grant is bound to another DPoP key.")
    if jkt is not None and grant.dpop_jkt is None:
        grant.dpop_jkt = jkt
        await session.flush()


async def authorization_code_grant(
    session: AsyncSession,
    ctx: TokenContext,
    client: Client,
    form: Mapping[str, str],
    jkt: str | None = None,
) -> dict[str, Any]:
    """RFC 6749 4.1.3 with RFC 7636 4.5-4.6 (PKCE S256) and OIDC Core 3.1.3; tokens bound to
    the key of the request's DPoP proof, if any (RFC 9449 5)."""
    nonce, grant, account = await _redeem_code(session, client, form)
    await _bind(session, grant, jkt)
    if account is not None and account.kind == "staff":
        from identity.oidc.staff_tokens import staff_tokens  # it signs with this module

        return await staff_tokens(
            session,
            ctx,
            client=client,
            grant=grant,
            account=account,
            nonce=nonce,
            grant_type="authorization_code",
            jkt=jkt,
        )
    account = await _usable_account(session, ctx, grant, account)
    return await _citizen_tokens(
        session,
        ctx,
        client=client,
        grant=grant,
        account=account,
        nonce=nonce,
        grant_type="authorization_code",
        jkt=jkt,
    )


async def first_party_sign_in(
    session: AsyncSession, ctx: TokenContext, client: Client, form: Mapping[str, str]
) -> tuple[Grant, Account]:
    """The registry's own portal redeems its code in-process: the token endpoint's code checks,
    then the grant and the account behind it, a citizen or a staff member (only first-party
    clients sign staff in, see authorize). No token is minted: nothing leaves the server."""
    if not client.first_party:
        raise OAuthError("unauthorized_client", "Only the registry's own portal signs in here.")
    _, grant, account = await _redeem_code(session, client, form)
    if account is not None and account.kind == "staff":
        try:
            check_usable(account)
        except Exception:
            raise OAuthError("invalid_grant", "The staff account is locked or closed.") from None
        return grant, account
    return grant, await _usable_account(session, ctx, grant, account)


async def _redeem_code(
    session: AsyncSession, client: Client, form: Mapping[str, str]
) -> tuple[str | None, Grant, Account | None]:
    """Use up a valid authorization code; its nonce, its live grant and the grant's account
    (None if it no longer exists), read with the code in one statement."""
    code, redirect_uri, verifier = (
        form.get("code"),
        form.get("redirect_uri"),
        form.get("code_verifier"),
    )
    if not code or not redirect_uri:
        raise OAuthError("invalid_request", "code and redirect_uri are required.")
    if not verifier:
        raise OAuthError("invalid_request", "code_verifier is required (PKCE).")
    found = await repo.code_for_update(session, sha256_hex(code))
    now = utcnow()
    if found is None:
        raise OAuthError("invalid_grant", "The authorization code is not valid.")
    row, grant, account = found
    if row.used_at is not None:
        # RFC 6749 4.1.2 / RFC 9700 4.5: a reused code revokes what it issued.
        await repo.revoke_grant(session, row.grant_id, now)
        raise OAuthError(
            "invalid_grant", "The authorization code was already used.", commit_unit_of_work=True
        )
    if row.client_id != client.client_id:
        raise OAuthError("invalid_grant", "The code was issued to another client.")
    row.used_at = now
    await session.flush()
    if row.expires_at <= now:
        raise OAuthError(
            "invalid_grant", "The authorization code has expired.", commit_unit_of_work=True
        )
    if row.redirect_uri != redirect_uri:
        raise OAuthError("invalid_grant", "redirect_uri differs from the authorization request.")
    if not verify_pkce(verifier, row.code_challenge):
        raise OAuthError("invalid_grant", "The PKCE code_verifier does not match.")
    if grant is None or grant.revoked_at is not None:
        raise OAuthError("invalid_grant", "The grant was revoked.")
    return row.nonce, grant, account


async def refresh_token_grant(
    session: AsyncSession,
    ctx: TokenContext,
    client: Client,
    form: Mapping[str, str],
    jkt: str | None = None,
) -> dict[str, Any]:
    """RFC 6749 6, with rotation; reuse of a rotated token revokes the family (RFC 9700 4.14).
    A fapi2 client's refresh token is not rotated (FAPI 2.0 Security Profile 5.3.2.1: its
    grant is sender-constrained by DPoP instead): the same token is given back."""
    token = form.get("refresh_token")
    if not token:
        raise OAuthError("invalid_request", "refresh_token is required.")
    row = await repo.refresh_for_update(session, sha256_hex(token))
    now = utcnow()
    if row is None:
        raise OAuthError("invalid_grant", "The refresh token is not valid.")
    grant = await repo.grant(session, row.grant_id)
    if grant is None or grant.client_id != client.client_id:
        raise OAuthError("invalid_grant", "The refresh token was issued to another client.")
    if row.used_at is not None:
        if grant.revoked_at is None:
            await repo.revoke_grant(session, grant.id, now)
            raise OAuthError(
                "invalid_grant",
                "The refresh token was already used; its family is revoked.",
                commit_unit_of_work=True,
            )
        raise OAuthError("invalid_grant", "The refresh token was revoked.")
    if grant.revoked_at is not None or row.expires_at <= now:
        raise OAuthError("invalid_grant", "The refresh token has expired or was revoked.")
    await _bind(session, grant, jkt)
    rotate = client.profile != "fapi2"
    if rotate:
        row.used_at = now
    scope = form.get("scope")
    if scope and not set(parse_scope(scope)) <= set(grant.scope.split()):
        raise OAuthError("invalid_scope", "A refresh cannot widen the granted scope.")
    owner = await repo.account_by_id(session, grant.account_id)
    if owner is not None and owner.kind == "staff":
        from identity.oidc.staff_tokens import staff_tokens  # it signs with this module

        return await staff_tokens(
            session,
            ctx,
            client=client,
            grant=grant,
            account=owner,
            nonce=None,
            grant_type="refresh_token",
            jkt=jkt,
        )
    account = await _usable_account(session, ctx, grant, owner)
    return await _citizen_tokens(
        session,
        ctx,
        client=client,
        grant=grant,
        account=account,
        nonce=None,
        grant_type="refresh_token",
        jkt=jkt,
        kept_refresh=None if rotate else token,
    )


async def client_credentials_grant(
    session: AsyncSession,
    ctx: TokenContext,
    client: Client,
    form: Mapping[str, str],
    jkt: str | None = None,
) -> dict[str, Any]:
    """RFC 6749 4.4: agencies get an access token for the registry's APIs."""
    if client.type != "agency":
        raise OAuthError("unauthorized_client", "Only agency clients may use client_credentials.")
    allowed = allowed_scopes(client) - {"openid", "offline_access"}
    requested = parse_scope(form.get("scope")) or sorted(allowed)
    if not set(requested) <= allowed:
        raise OAuthError(
            "invalid_scope",
            "The client may not request: " + " ".join(sorted(set(requested) - allowed)),
        )
    scope = " ".join(requested)
    access, ttl = await _access_token(
        session,
        ctx,
        sub=client.client_id,
        client_id=client.client_id,
        scope=scope,
        grant_id=None,
        jkt=jkt,
    )
    token_type = "DPoP" if jkt else "Bearer"
    return {"access_token": access, "token_type": token_type, "expires_in": ttl, "scope": scope}


# ------------------------------------------------------------------------------ validation


@dataclass(frozen=True)
class AccessToken:
    """A validated access token: its claims and, for citizen tokens, the grant and account."""

    claims: Mapping[str, Any]
    client_id: str
    scopes: frozenset[str]
    grant: Grant | None
    account: Account | None
    client: Client | None = None


class InvalidToken(ValueError):
    """The bearer token is not valid (RFC 6750 3.1 invalid_token)."""


async def validate_access_token(
    session: AsyncSession, ctx: TokenContext, token: str
) -> AccessToken:
    """Signature (ES256/RS256 allowlist, known kid), issuer, audience, expiry, revocation, and
    that the grant, account or client behind it is still live."""
    settings = ctx.settings
    checks: dict[str, Any] = {
        "audience": api_audience(settings),
        "issuer": settings.issuer,
        "require": ACCESS_REQUIRED,
    }
    memory = ctx.memory
    try:
        seen = memory.verified(token)
        if seen is not None and seen[0] is await memory.verification_keys(
            session, None, origin=settings.issuer
        ):
            # Verified before, with the key set still in use: the time-bound checks again.
            claims = seen[1]
            jose.check_claims(claims, **checks)
        else:
            header = jose.unverified_header(token)
            if header.get("typ") not in ("at+jwt", "application/at+jwt"):
                raise InvalidToken("not an access token")
            keyset = await memory.verification_keys(
                session, header.get("kid"), origin=settings.issuer
            )
            claims = jose.decode(token, keys=keyset, algorithms=jose.ACCESS_TOKEN_ALGS, **checks)
            memory.remember_verified(token, keyset, claims)
    except jose.JoseError as exc:
        raise InvalidToken(str(exc)) from None
    client, revoked = await repo.client_and_revocation(
        session, str(claims["client_id"]), str(claims["jti"]), built=ctx.clients
    )
    if revoked:
        raise InvalidToken("the token was revoked")
    # A suspended client is cut off at once: agency tokens and relying parties' citizen tokens.
    if client is None or not client.active:
        raise InvalidToken("the client is suspended")
    grant = account = None
    gid = claims.get("gid")
    if gid:
        grant = await repo.grant(session, str(gid))
        if grant is None or grant.revoked_at is not None:
            raise InvalidToken("the grant was revoked")
        account = await repo.account_by_id(session, grant.account_id)
        if account is None or account.status != "active":
            raise InvalidToken("the electronic identity is locked or closed")
    return AccessToken(
        claims=claims,
        client_id=str(claims["client_id"]),
        scopes=frozenset(str(claims.get("scope", "")).split()),
        grant=grant,
        account=account,
        client=client,
    )
