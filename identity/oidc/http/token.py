"""The token endpoint (RFC 6749 3.2)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from core.deps import SessionDep
from core.headers import NO_STORE
from core.inputs import OutsideTextRoute, checks_own_text
from identity.http_common import answer_client
from identity.models import Client
from identity.oidc import dpop, tokens
from identity.oidc.errors import OAuthError
from identity.oidc.openapi import CLIENT_AUTH, TokenRequest, TokenResponse, form_body, oauth_errors
from identity.services import IdentityServices, ServicesDep

router = APIRouter(route_class=OutsideTextRoute)


@router.post(
    "/token",
    summary="Token endpoint",
    response_model=TokenResponse,
    responses=oauth_errors(400, 401),
    openapi_extra={**form_body(TokenRequest), "security": CLIENT_AUTH},
)
@checks_own_text
async def token_endpoint(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """RFC 6749 3.2: authorization_code, refresh_token, client_credentials."""

    async def grant(client: Client, form: dict[str, str]) -> Response:
        settings = services.settings
        jkt = await dpop.endpoint_proof(
            session,
            settings,
            request.headers.getlist("dpop"),
            path="/token",
            required=dpop.requires_dpop(client),
            housekeeping=services.tokens.housekeeping,
        )
        body = await _grant(session, services, client, form, jkt)
        # RFC 9449 8.2: the nonce for the client's next proofs (here and at the resources).
        headers = {**NO_STORE, "DPoP-Nonce": dpop.nonce(settings)} if jkt else NO_STORE
        return JSONResponse(body, headers=headers)

    return await answer_client(request, session, services, "/token", grant)


async def _grant(
    session: AsyncSession,
    services: IdentityServices,
    client: Client,
    form: Mapping[str, str],
    jkt: str | None,
) -> dict[str, Any]:
    grant_type = form.get("grant_type")
    ctx = services.tokens
    if grant_type == "authorization_code":
        return await tokens.authorization_code_grant(session, ctx, client, form, jkt)
    if grant_type == "refresh_token":
        return await tokens.refresh_token_grant(session, ctx, client, form, jkt)
    if grant_type == "client_credentials":
        return await tokens.client_credentials_grant(session, ctx, client, form, jkt)
    if not grant_type:
        raise OAuthError("invalid_request", "grant_type is required.")
    raise OAuthError("unsupported_grant_type", f"Unsupported grant_type {grant_type[:40]}.")
