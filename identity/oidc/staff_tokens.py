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

from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from audit import recording as audit
from identity import jose, keys
from identity.models import Account, Client, Grant
from identity.oidc.claims import STAFF_SCOPE, id_token_claims
from identity.oidc.errors import OAuthError
from identity.oidc.tokens import (
    TokenContext,
    _access_token,
    _refresh_token,
    client_principal,
)
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
    jkt: str | None = None,
) -> dict[str, Any]:
    """The token response of a staff member's grant (OIDC Core 3.1.3.3); its access token bound
    to the DPoP key ``jkt`` when the request proved one (RFC 9449 5)."""
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
        jkt=jkt,
    )
    id_claims = id_token_claims(
        settings, client, grant, sub=account.id, access_token=access, nonce=nonce
    )
    id_claims.update(
        preferred_username=account.username,
        name=account.display_name or account.username,
        roles=roles,
    )
    key = await keys.active_key(session, settings, client.id_token_alg, cache=ctx.signing)
    id_token = jose.sign(id_claims, key)
    lifetime = min(settings.refresh_token_ttl, settings.staff_session_absolute_timeout)
    refresh = await _refresh_token(
        session, settings, grant.id, grant.auth_time + timedelta(seconds=lifetime)
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
        "token_type": "DPoP" if jkt else "Bearer",
        "expires_in": ttl,
        "refresh_token": refresh,
        "id_token": id_token,
        "scope": grant.scope,
    }
