"""The Authenticator identity plugs into core: bearer access tokens and sign-in sessions."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import Principal
from core.errors import Forbidden, Unauthenticated
from core.settings import Settings
from identity.accounts import principal_of
from identity.models import Account, LoginSession
from identity.oidc import dpop
from identity.oidc.staff_tokens import acts_with_roles
from identity.oidc.tokens import (
    InvalidToken,
    TokenContext,
    client_principal,
    principal_of_client,
    validate_access_token,
)
from identity.signin import resolve_session
from identity.web import csrf_ok

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def session_cookie_name(settings: Settings) -> str:
    """`__Host-` binds the cookie to this origin over HTTPS (RFC 6265bis 4.1.3.2)."""
    return "__Host-registry_session" if settings.cookie_secure else "registry_session"


def session_principal(login_session: LoginSession, account: Account) -> Principal:
    """The Principal of a sign-in session. Staff hold their roles only after a passkey sign-in;
    a password session of a staff member can only register their first passkey."""
    amr = tuple(login_session.amr.split())
    principal = principal_of(account, amr=amr)
    if account.kind == "staff" and "hwk" not in amr:
        return replace(principal, roles=frozenset({"staff_enrolment"}))
    return principal


async def check_dpop(
    request: Request,
    session: AsyncSession,
    tokens: TokenContext,
    claims: Mapping[str, Any],
    scheme: str,
    token: str,
) -> None:
    """The DPoP checks of a resource request (RFC 9449 7): a bound token only with a proof of
    its key for this method and URL; ``dpop.DPoPError`` otherwise."""
    await dpop.check_resource(
        session,
        tokens.settings,
        claims,
        scheme=scheme,
        token=token,
        values=request.headers.getlist("dpop"),
        method=request.method,
        path=request.url.path,
        housekeeping=tokens.housekeeping,
    )


class IdentityAuthenticator:
    """Bearer tokens first (RFC 6750 2.1), then the sign-in session cookie."""

    def __init__(self, tokens: TokenContext) -> None:
        self.settings = tokens.settings
        self.tokens = tokens
        self.cookie = session_cookie_name(tokens.settings)

    async def authenticate(self, request: Request, session: AsyncSession) -> Principal | None:
        """The caller, or None when the request carries no credentials at all."""
        authorization = request.headers.get("authorization")
        if authorization is not None:
            return await self._bearer(request, authorization, session)
        signed_in = await self.signed_in(request, session)
        if signed_in is None:
            return None
        if request.method not in SAFE_METHODS and not csrf_ok(
            request, self.settings, request.headers.get("x-csrf-token")
        ):
            # A session cookie rides along on cross-site requests; unsafe ones need the token.
            raise Forbidden("A session request that changes state needs the X-CSRF-Token header.")
        return session_principal(*signed_in)

    def remembered_agency(self, authorization: str) -> tuple[Principal, str] | None:
        """The agency Principal and token id of a bearer token this app validated before
        (``TokenMemory.remembered_client_token``), without the database; None when
        ``authenticate`` must run. The caller must check in its own statement what this does
        not: that the token's id was not revoked and that its client is still an active
        agency."""
        scheme, _, token = authorization.partition(" ")
        if scheme.lower() != "bearer":
            return None
        claims = self.tokens.memory.remembered_client_token(self.settings, token.strip())
        if claims is None:
            return None
        principal = principal_of_client(
            str(claims["client_id"]), "agency", frozenset(str(claims.get("scope", "")).split())
        )
        return principal, str(claims["jti"])

    async def signed_in(
        self, request: Request, session: AsyncSession
    ) -> tuple[LoginSession, Account] | None:
        """The live sign-in session of this browser."""
        return await resolve_session(session, self.settings, request.cookies.get(self.cookie))

    async def _bearer(
        self, request: Request, authorization: str, session: AsyncSession
    ) -> Principal:
        scheme, _, token = authorization.partition(" ")
        token, scheme = token.strip(), scheme.lower()
        if scheme not in ("bearer", "dpop") or not token:
            raise Unauthenticated(
                "Send the access token as 'Authorization: Bearer <token>' (or DPoP).",
                headers={"WWW-Authenticate": 'Bearer realm="registry", error="invalid_request"'},
            )
        try:
            found = await validate_access_token(session, self.tokens, token)
        except InvalidToken as exc:
            # RFC 6750 3.1: invalid_token covers expired, revoked, malformed, wrong audience.
            description = str(exc).replace('"', "'")[:200]
            raise Unauthenticated(
                "The access token is not valid: " + description + ".",
                headers={
                    "WWW-Authenticate": dpop.challenge("invalid_token", description)
                    if scheme == "dpop"
                    else 'Bearer realm="registry", error="invalid_token", '
                    f'error_description="{description}"'
                },
            ) from None
        try:
            await check_dpop(request, session, self.tokens, found.claims, scheme, token)
        except dpop.DPoPError as exc:
            raise Unauthenticated(
                "The DPoP proof is not accepted: " + exc.description,
                headers=dpop.resource_headers(exc),
            ) from None
        client = found.client
        if client is None:
            raise Unauthenticated("The access token's client no longer exists.")
        # Kept for the request (the agency API reads the client's policy from it).
        request.state.oauth_client = client
        if found.account is not None:
            amr = tuple(found.grant.amr.split()) if found.grant else ()
            principal = replace(principal_of(found.account, amr=amr), scopes=found.scopes)
            if found.account.kind == "staff":
                # An official's integration: the roles after a passkey sign-in, through a
                # first-party client granted the staff scope (identity.oidc.staff_tokens).
                first_party, scopes = client.first_party, found.scopes
                if acts_with_roles(first_party=first_party, scopes=scopes, amr=amr):
                    return principal
                return replace(principal, roles=frozenset())
            # A relying party's token releases the consented claims at /userinfo; only the
            # registry's own (first-party) portal acts as the citizen on the registry's APIs.
            return principal if client.first_party else replace(principal, roles=frozenset())
        return client_principal(client, found.scopes)
