"""Token introspection (RFC 7662)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from core.deps import SessionDep
from core.headers import NO_STORE
from core.inputs import checks_own_text
from identity.http_common import assertion_stays_spent, client_form, oauth_response
from identity.oidc import tokens
from identity.oidc.errors import OAuthError
from identity.oidc.openapi import CLIENT_AUTH, Introspection, TokenHint, form_body, oauth_errors
from identity.services import ServicesDep

router = APIRouter()


@router.post(
    "/introspect", summary="Token introspection (RFC 7662)", response_model=Introspection,
    responses=oauth_errors(400, 401),
    openapi_extra={**form_body(TokenHint), "security": CLIENT_AUTH},
)  # fmt: skip
@checks_own_text
async def introspect_endpoint(
    request: Request, session: SessionDep, services: ServicesDep
) -> Response:
    """RFC 7662 2: whether a token is active, answered to the client it was issued to."""
    try:
        form, client = await client_form(request, session, services, "/introspect")
        async with assertion_stays_spent(session, client):
            body = await tokens.introspect(session, services.tokens, client, form)
    except OAuthError as exc:
        if not exc.commit_unit_of_work:
            await session.rollback()
        return oauth_response(exc)
    return JSONResponse(body, headers=NO_STORE)
