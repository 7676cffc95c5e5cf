"""Revocation (RFC 7009) and introspection (RFC 7662) of the provider's tokens."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.digests import sha256_hex
from identity import repository as repo
from identity.models import Client, RefreshToken
from identity.oidc.errors import OAuthError
from identity.oidc.tokens import AccessToken, InvalidToken, TokenContext, validate_access_token


async def _find(
    session: AsyncSession, ctx: TokenContext, token: str, hint: str | None
) -> RefreshToken | AccessToken | None:
    """The refresh token (locked) or the valid access token ``token`` is, or None.

    RFC 7009 2.1 and RFC 7662 2.1: the hint only says where to look first; a token not found
    there is looked for among the other types."""

    async def access() -> AccessToken | None:
        try:
            return await validate_access_token(session, ctx, token)
        except InvalidToken:
            return None

    async def refresh() -> RefreshToken | None:
        return await repo.refresh_for_update(session, sha256_hex(token))

    for look in (access, refresh) if hint == "access_token" else (refresh, access):
        found = await look()
        if found is not None:
            return found
    return None


async def revoke(
    session: AsyncSession, ctx: TokenContext, client: Client, form: Mapping[str, str]
) -> None:
    """RFC 7009 2.1: revoke a refresh token (and its family) or an access token."""
    token = form.get("token")
    if not token:
        raise OAuthError("invalid_request", "token is required.")
    # RFC 7009 2.2: an invalid token, or another client's, changes nothing and is no error.
    found = await _find(session, ctx, token, form.get("token_type_hint"))
    if isinstance(found, RefreshToken):
        grant = await repo.grant(session, found.grant_id)
        if grant is not None and grant.client_id == client.client_id:
            await repo.revoke_grant(session, grant.id, utcnow())
    elif found is not None and found.client_id == client.client_id:
        exp = datetime.fromtimestamp(float(found.claims["exp"]), UTC)
        await repo.remember_jti(session, str(found.claims["jti"]), exp)


async def introspect(
    session: AsyncSession, ctx: TokenContext, client: Client, form: Mapping[str, str]
) -> dict[str, Any]:
    """RFC 7662 2.2: whether a token is active, for the client it was issued to."""
    token = form.get("token")
    if not token:
        raise OAuthError("invalid_request", "token is required.")
    inactive: dict[str, Any] = {"active": False}
    found = await _find(session, ctx, token, form.get("token_type_hint"))
    if isinstance(found, RefreshToken):
        grant = await repo.grant(session, found.grant_id)
        if (
            grant is None
            or grant.client_id != client.client_id
            or grant.revoked_at
            or found.used_at
            or found.expires_at <= utcnow()
        ):
            return inactive
        return {
            "active": True,
            "token_type": "refresh_token",
            "client_id": grant.client_id,
            "scope": grant.scope,
            "exp": int(found.expires_at.timestamp()),
            "iss": ctx.settings.issuer,
        }
    if found is None or found.client_id != client.client_id:
        return inactive
    claims = found.claims
    bound = {"cnf": claims["cnf"], "token_type": "DPoP"} if "cnf" in claims else {}
    return {
        "active": True,
        "token_type": "Bearer",
        "client_id": found.client_id,
        "scope": claims.get("scope", ""),
        "sub": claims.get("sub"),
        "exp": claims.get("exp"),
        "iat": claims.get("iat"),
        "iss": claims.get("iss"),
        "aud": claims.get("aud"),
        "jti": claims.get("jti"),
        **bound,  # RFC 9449 6.2
    }
