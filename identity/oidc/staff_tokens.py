"""Tokens for officials' integrations: a first-party client granted the ``staff`` scope, after
the staff member signed in (authorization code with PKCE), gets an access token the officials'
and auditors' APIs accept as a Bearer token instead of a session cookie and CSRF header.

The token carries the staff member's roles (RFC 9068 2.2.3.1 ``roles``) for the integration to
read; the APIs decide on the account's roles at each call (identity.authn), and only when the
sign-in was made with a passkey, as for the staff pages. Refresh tokens live no longer than a
staff sign-in session may (``staff_session_absolute_timeout`` from the sign-in), and die with
the account's grants: a disable or a reset revokes them and every access token at once.
"""

from __future__ import annotations

import secrets
import time
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from audit import recording as audit
from core.digests import sha256_hex
from identity import jose, keys
from identity import repository as repo
from identity.models import Account, Client, Grant, RefreshToken
from identity.oidc.claims import STAFF_SCOPE
from identity.oidc.errors import OAuthError
from identity.oidc.tokens import TokenContext, _access_token, client_principal
from identity.signin import check_usable


def acts_with_roles(*, first_party: bool, scopes: frozenset[str], amr: tuple[str, ...]) -> bool:
    """Whether a staff token acts with the staff member's roles: a first-party client, the
    staff scope granted, and a passkey sign-in (RFC 8176 ``hwk``)."""
    return first_party and STAFF_SCOPE in scopes and "hwk" in amr


async def staff_tokens(
    session: AsyncSession,
    ctx: TokenContext,
    *,
    client: Client,
    grant: Grant,
    account: Account,
    nonce: str | None,
    grant_type: str,
) -> dict[str, Any]:
    """The token response of a staff member's grant (OIDC Core 3.1.3.3)."""
    if not client.first_party or STAFF_SCOPE not in grant.scope.split():
        raise OAuthError(
            "invalid_grant",
            "Staff accounts get tokens only from a first-party client granted the staff scope.",
        )
    try:
        check_usable(account)
    except Exception:
        raise OAuthError("invalid_grant", "The staff account is disabled or locked.") from None
    settings = ctx.settings
    roles = sorted(account.roles.split()) if "hwk" in grant.amr.split() else []
    access, ttl = await _access_token(
        session,
        ctx,
        sub=account.id,
        client_id=client.client_id,
        scope=grant.scope,
        grant_id=grant.id,
        auth_time=grant.auth_time,
        acr=grant.acr,
        extra={"roles": roles, "preferred_username": account.username},
    )
    now = int(time.time())
    alg = client.id_token_alg
    id_claims: dict[str, Any] = {
        "iss": settings.issuer,
        "sub": account.id,
        "aud": client.client_id,
        "azp": client.client_id,
        "iat": now,
        "exp": now + settings.id_token_ttl,
        "auth_time": int(grant.auth_time.timestamp()),
        "acr": grant.acr,
        "amr": grant.amr.split(),
        "at_hash": jose.at_hash(access, alg),
        "preferred_username": account.username,
        "name": account.display_name or account.username,
        "roles": roles,
    }
    if grant.session_sid:
        id_claims["sid"] = grant.session_sid
    if nonce:
        id_claims["nonce"] = nonce
    id_token = jose.sign(
        id_claims, await keys.active_key(session, settings, alg, cache=ctx.signing)
    )
    refresh = secrets.token_urlsafe(32)
    lifetime = min(settings.refresh_token_ttl, settings.staff_session_absolute_timeout)
    await repo.insert(
        session,
        RefreshToken(
            token_hash=sha256_hex(refresh),
            grant_id=grant.id,
            expires_at=grant.auth_time + timedelta(seconds=lifetime),
        ),
    )
    await audit.record(
        session,
        actor=client_principal(client),
        action="oidc.token",
        outcome="granted",
        detail={
            "grant_type": grant_type,
            "scope": grant.scope[:200],
            "staff": account.username,
            "roles": " ".join(roles),
        },
    )
    return {
        "access_token": access,
        "token_type": "Bearer",
        "expires_in": ttl,
        "refresh_token": refresh,
        "id_token": id_token,
        "scope": grant.scope,
    }
