"""RP-Initiated Logout 1.0."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import utcnow
from core.deps import SessionDep
from core.headers import NO_STORE
from core.i18n import N_
from core.inputs import OutsideTextRoute
from core.openapi import problems
from identity import keys, signin
from identity import repository as repo
from identity.authn import session_cookie_name
from identity.http_common import page_error
from identity.oidc import authorize as authz
from identity.oidc.clients import post_logout_uris
from identity.oidc.openapi import REDIRECT, LogoutRequest, form_body, page, query_parameters
from identity.services import IdentityServices, ServicesDep
from identity.web import FORM_EXPIRED, csrf_ok, pick_locale, render

router = APIRouter(route_class=OutsideTextRoute)


async def _logout_target(
    session: AsyncSession, services: IdentityServices, params: Mapping[str, str]
) -> tuple[str | None, str | None]:
    """(validated post-logout redirect, sid named by id_token_hint) per RP-Initiated Logout 2-3."""
    from identity import jose

    target = params.get("post_logout_redirect_uri")
    client_id = params.get("client_id")
    sid = None
    hint = params.get("id_token_hint")
    if hint:
        try:
            keyset = await keys.verification_keys(session, utcnow())
            # An expired ID token is still a valid hint (RP-Initiated Logout 1.0 section 2).
            # Any audience is acceptable: our signature makes it one of our clients.
            aud_claim = jose.unverified_claims(hint).get("aud")
            audience = aud_claim if isinstance(aud_claim, str | list) else None
            claims = jose.decode(
                hint,
                keys=keyset,
                algorithms=jose.ID_TOKEN_ALGS,
                audience=audience,
                issuer=services.settings.issuer,
                leeway=10**9,
                require=("aud",),
            )
        except jose.JoseError:
            raise authz.PageError(
                N_("Tham số id_token_hint không phải là ID token hợp lệ do cổng định danh cấp.")
            ) from None
        aud = claims.get("aud")
        hinted = (
            aud if isinstance(aud, str) else (aud[0] if isinstance(aud, list) and aud else None)
        )
        if client_id and hinted and client_id != hinted:
            raise authz.PageError(N_("client_id và id_token_hint chỉ hai dịch vụ khác nhau."))
        client_id = client_id or hinted
        sid = claims.get("sid") if isinstance(claims.get("sid"), str) else None
    if target:
        client = await repo.client(session, client_id) if client_id else None
        if client is None or target not in post_logout_uris(client):
            raise authz.PageError(N_("Địa chỉ chuyển hướng sau khi đăng xuất chưa được đăng ký."))
        state = params.get("state")
        if state:
            target += ("&" if "?" in target else "?") + urlencode({"state": state})
    return target, sid


@router.get(
    "/logout",
    summary="RP-initiated logout",
    responses={
        200: page("Asks the citizen to confirm."),
        400: page("A hint or URI is wrong."),
        **problems(503),
    },
    openapi_extra=query_parameters(LogoutRequest),
)
async def logout_get(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """OpenID Connect RP-Initiated Logout 1.0: ask the citizen to confirm."""
    params = {k: v for k, v in request.query_params.items() if v != ""}
    try:
        await _logout_target(session, services, params)
    except authz.PageError as exc:
        return page_error(request, services, str(exc))
    carry = {
        k: params[k]
        for k in ("id_token_hint", "post_logout_redirect_uri", "state", "client_id")
        if k in params
    }
    return render(
        request,
        services.settings,
        "logout.html",
        locale=pick_locale(request),
        context={"carry": carry, "done": False},
    )


@router.post(
    "/logout",
    summary="RP-initiated logout (confirmed)",
    responses={
        200: page("Signed out."),
        303: REDIRECT,
        400: page("The form expired, or a hint or URI is wrong."),
        **problems(503),
    },
    openapi_extra=form_body(LogoutRequest),
)
async def logout_post(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """End the sign-in session; return to the relying party when it asked to."""
    form = await request.form()
    params = {k: v for k, v in form.items() if isinstance(v, str) and v != ""}
    if not csrf_ok(request, services.settings, params.get("csrf")):
        return page_error(request, services, FORM_EXPIRED)
    try:
        target, _ = await _logout_target(session, services, params)
    except authz.PageError as exc:
        return page_error(request, services, str(exc))
    cookie = session_cookie_name(services.settings)
    await signin.sign_out(session, token=request.cookies.get(cookie))
    if target:
        response: Response = RedirectResponse(target, status_code=303, headers=NO_STORE)
    else:
        response = render(
            request,
            services.settings,
            "logout.html",
            locale=pick_locale(request),
            context={"carry": {}, "done": True},
        )
    response.delete_cookie(cookie, path="/", secure=services.settings.cookie_secure, httponly=True)
    return response
