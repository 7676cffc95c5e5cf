"""Token introspection (RFC 7662)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from core.deps import SessionDep
from core.headers import NO_STORE
from core.inputs import OutsideTextRoute, checks_own_text
from identity.http_common import answer_client
from identity.models import Client
from identity.oidc import token_status
from identity.oidc.openapi import CLIENT_AUTH, Introspection, TokenHint, form_body, oauth_errors
from identity.services import ServicesDep

router = APIRouter(route_class=OutsideTextRoute)


@router.post(
    "/introspect",
    summary="Token introspection (RFC 7662)",
    response_model=Introspection,
    responses=oauth_errors(400, 401),
    openapi_extra={**form_body(TokenHint), "security": CLIENT_AUTH},
)
@checks_own_text
async def introspect_endpoint(
    request: Request, session: SessionDep, services: ServicesDep
) -> Response:
    """RFC 7662 2: whether a token is active, answered to the client it was issued to."""

    async def introspect(client: Client, form: dict[str, str]) -> Response:
        body = await token_status.introspect(session, services.tokens, client, form)
        return JSONResponse(body, headers=NO_STORE)

    return await answer_client(request, session, services, "/introspect", introspect)
