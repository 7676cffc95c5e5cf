"""The authorization endpoint (OIDC Core 3.1.2): GET, form post, and the return from
sign-in."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from core.deps import SessionDep
from core.headers import NO_STORE
from core.i18n import N_
from core.inputs import OutsideTextRoute
from core.openapi import problems
from identity import repository as repo
from identity.http_common import page_error, unseal
from identity.oidc import authorize as authz
from identity.oidc import par
from identity.oidc.openapi import REDIRECT, AuthorizationRequest, form_body, page, query_parameters
from identity.pages.staff import passkey_step
from identity.services import IdentityServices, ServicesDep
from identity.web import pick_locale, render

router = APIRouter(route_class=OutsideTextRoute)


async def _continue(
    request: Request,
    session: AsyncSession,
    services: IdentityServices,
    auth_request: authz.AuthRequest,
    client: Any,
) -> Response:
    """Sign-in, consent, or the code, for a validated request (OIDC Core 3.1.2.3-5)."""
    settings = services.settings
    signed_in = await services.authenticator.signed_in(request, session)
    try:
        decision = await authz.decide(session, settings, auth_request, client, signed_in)
    except authz.RedirectError as exc:
        return RedirectResponse(exc.location(), status_code=303, headers=NO_STORE)
    if decision.kind == "login":
        asked = replace(auth_request, passkey=decision.passkey)
        sealed = authz.seal(asked, settings.derived_secret("authorize"))
        return RedirectResponse(
            "/login?" + urlencode({"req": sealed}), status_code=303, headers=NO_STORE
        )
    sealed = authz.seal(auth_request, settings.derived_secret("authorize"))
    locale = auth_request.locale() or pick_locale(request)
    if signed_in is None:  # decide() asks for a sign-in first; never reached
        return RedirectResponse("/login?" + urlencode({"req": sealed}), status_code=303)
    login_session, account = signed_in
    if decision.kind == "consent":
        return render(
            request,
            settings,
            "consent.html",
            locale=locale,
            context={
                "req": sealed,
                "client_name": client.name,
                "claims": authz.consent_claims(auth_request),
            },
        )
    if account.kind == "staff" and "hwk" not in login_session.amr.split():
        # Staff reach a (first-party) service only after a passkey sign-in: first the passkey
        # step, whose passkey sign-in comes back here for this request.
        return RedirectResponse(passkey_step(sealed), status_code=303, headers=NO_STORE)
    location = await authz.issue_code(
        session, settings, auth_request, client, login_session, account
    )
    return RedirectResponse(location, status_code=303, headers=NO_STORE)


async def _authorize(
    request: Request, session: AsyncSession, services: IdentityServices, params: Mapping[str, str]
) -> Response:
    pushed = "request_uri" in params
    try:
        if pushed:  # RFC 9126 4: the pushed request stands for every parameter
            params = await par.pushed_params(session, params)
        auth_request, client = await authz.parse_request(
            session, services.settings, params, built=services.tokens.clients, pushed=pushed
        )
    except authz.PageError as exc:
        return page_error(request, services, str(exc))
    except authz.RedirectError as exc:
        return RedirectResponse(exc.location(), status_code=303, headers=NO_STORE)
    return await _continue(request, session, services, auth_request, client)


_AUTHORIZE: dict[int | str, dict[str, Any]] = {
    200: page("The consent page."),
    303: REDIRECT,
    400: page("The request cannot be used."),
    **problems(503),
}


@router.get(
    "/authorize",
    summary="Authorization endpoint (code flow, PKCE S256)",
    responses=_AUTHORIZE,
    openapi_extra=query_parameters(AuthorizationRequest),
)
async def authorize_get(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """OIDC Core 3.1.2.1: the request in the query string."""
    params = {k: v for k, v in request.query_params.items() if v != ""}
    return await _authorize(request, session, services, params)


@router.post(
    "/authorize",
    summary="Authorization endpoint (form post)",
    responses=_AUTHORIZE,
    openapi_extra=form_body(AuthorizationRequest),
)
async def authorize_post(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """OIDC Core 3.1.2.1: the request as a form."""
    form = await request.form()
    params = {k: v for k, v in form.items() if isinstance(v, str) and v != ""}
    return await _authorize(request, session, services, params)


@router.get("/authorize/resume", include_in_schema=False)
async def authorize_resume(
    request: Request, session: SessionDep, services: ServicesDep, req: str = ""
) -> Response:
    """Back from the sign-in page."""
    try:
        auth_request = unseal(services, req)
        if auth_request is None:
            raise authz.PageError(N_("Thiếu yêu cầu đăng nhập."))
        client = await repo.detached_client(
            session, auth_request.client_id, built=services.tokens.clients
        )
        if client is None or not client.active:
            raise authz.PageError(authz.UNKNOWN_CLIENT)
    except authz.PageError as exc:
        return page_error(request, services, str(exc))
    return await _continue(request, session, services, auth_request, client)
