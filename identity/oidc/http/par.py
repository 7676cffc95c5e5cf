"""The pushed authorization request endpoint (RFC 9126 2)."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response
from fastapi.responses import JSONResponse

from core.deps import SessionDep
from core.headers import NO_STORE
from core.inputs import OutsideTextRoute, checks_own_text
from identity.http_common import answer_client
from identity.models import Client
from identity.oidc import authorize as authz
from identity.oidc import dpop, par
from identity.oidc.errors import OAuthError
from identity.oidc.openapi import (
    CLIENT_AUTH,
    PushedRequest,
    PushedResponse,
    form_body,
    oauth_errors,
)
from identity.services import ServicesDep
from identity.web import gettext

router = APIRouter(route_class=OutsideTextRoute)


@router.post(
    "/par",
    summary="Pushed authorization request endpoint (RFC 9126)",
    status_code=201,
    response_model=PushedResponse,
    responses=oauth_errors(400, 401),
    openapi_extra={**form_body(PushedRequest), "security": CLIENT_AUTH},
)
@checks_own_text
async def pushed_authorization_request(
    request: Request, session: SessionDep, services: ServicesDep
) -> Response:
    """RFC 9126 2.1: the request, validated as /authorize would, answered 201 with its
    single-use request_uri."""
    settings = services.settings

    async def work(client: Client, form: dict[str, str]) -> Response:
        jkt = await dpop.endpoint_proof(
            session,
            settings,
            request.headers.getlist("dpop"),
            path="/par",
            required=False,
            housekeeping=services.tokens.housekeeping,
        )
        try:
            body = await par.push(
                session,
                settings,
                client,
                form,
                built=services.tokens.clients,
                jkt=jkt,
                housekeeping=services.tokens.housekeeping,
            )
        except authz.PageError as exc:
            # RFC 9126 2.3: the errors of the authorization endpoint, as a token error body.
            raise OAuthError("invalid_request", gettext("en", str(exc))) from None
        return JSONResponse(body, status_code=201, headers=NO_STORE)

    return await answer_client(request, session, services, "/par", work)
