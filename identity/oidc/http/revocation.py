"""Token revocation (RFC 7009)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from core.deps import SessionDep
from core.headers import NO_STORE
from core.inputs import OutsideTextRoute, checks_own_text
from identity.http_common import answer_client
from identity.models import Client
from identity.oidc import token_status
from identity.oidc.openapi import CLIENT_AUTH, TokenHint, form_body, oauth_errors
from identity.services import ServicesDep

router = APIRouter(route_class=OutsideTextRoute)


@router.post(
    "/revoke",
    summary="Token revocation (RFC 7009)",
    responses={
        200: {"description": "Revoked, or not known.", "content": None},
        **oauth_errors(400, 401),
    },
    openapi_extra={**form_body(TokenHint), "security": CLIENT_AUTH},
)
@checks_own_text
async def revoke_endpoint(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """RFC 7009 2: always 200 for a valid client, whether or not the token was known."""

    async def revoke(client: Client, form: dict[str, str]) -> Response:
        await token_status.revoke(session, services.tokens, client, form)
        return Response(status_code=200, headers=NO_STORE)

    return await answer_client(request, session, services, "/revoke", revoke)
