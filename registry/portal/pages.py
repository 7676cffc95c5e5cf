"""Portal pages: sign-in through the registry's own OIDC client, sign-out, and my record.

Pages need no JavaScript (passkeys excepted), work at phone width, speak Vietnamese by default
with an English switch, and send CSP, frame-ancestors, Referrer-Policy and no-store headers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import date_text
from core.deps import SessionDep
from core.headers import NO_STORE
from core.i18n import N_
from core.inputs import OutsideTextRoute
from core.settings import Settings
from identity import signin
from identity.authn import session_cookie_name
from identity.oidc import tokens
from identity.oidc.clients import find_client
from identity.oidc.errors import OAuthError
from identity.services import IdentityServices, get_services
from identity.web import csrf_ok, pick_locale, set_cookie
from registry.portal import service
from registry.portal.labels import record_sections
from registry.portal.session import (
    FLOW_COOKIE,
    PORTAL_CLIENT_ID,
    SESSION_COOKIE,
    PortalUser,
    callback_uri,
    check_callback,
    current_user,
    end_session,
    ensure_portal_client,
    start_flow,
    start_session,
)
from registry.portal.web import gettext, render_page

router = APIRouter(route_class=OutsideTextRoute, include_in_schema=False)
ServicesDep = Annotated[IdentityServices, Depends(get_services)]

SIGN_IN_FAILED = N_("Không hoàn tất được việc đăng nhập.")
NOT_REGISTERED = N_("Cổng thông tin chưa được đăng ký với cổng định danh.")
FORM_EXPIRED = N_("Biểu mẫu đã hết hạn.")
SIGN_IN_REFUSED = {
    "access_denied": N_("Bạn đã không cho phép đăng nhập."),
    "login_required": N_("Cần đăng nhập để tiếp tục."),
    "temporarily_unavailable": N_("Hệ thống tạm thời gián đoạn. Vui lòng thử lại sau ít phút."),
}


async def portal_user(
    request: Request, session: AsyncSession, services: IdentityServices
) -> PortalUser | None:
    """The signed-in portal user, if any."""
    return await current_user(request, session, services.settings)


def to_login(request: Request) -> RedirectResponse:
    """Send the browser to sign in, coming back to this page."""
    from urllib.parse import urlencode

    return RedirectResponse(
        "/portal/login?" + urlencode({"next": request.url.path}), status_code=303, headers=NO_STORE
    )


@router.get("/portal/login")
async def login(
    request: Request, session: SessionDep, services: ServicesDep, next: str = "/portal"
) -> Response:
    """Start the code flow against our own provider (PKCE S256, state, nonce)."""
    settings = services.settings
    await ensure_portal_client(session, settings)
    locale = request.query_params.get("lang") or request.cookies.get("registry_lang")
    url, cookie = start_flow(settings, next_path=next, locale=locale)
    response = RedirectResponse(url, status_code=303, headers=NO_STORE)
    set_cookie(response, settings, FLOW_COOKIE, cookie, max_age=600)
    return response


def _refused(request: Request, settings: Settings, locale: str, message: str) -> Response:
    """The error page of a sign-in or sign-out that cannot go on (400)."""
    return render_page(
        request,
        settings,
        "error.html",
        locale=locale,
        status_code=400,
        context={"message": message},
    )


@router.get("/portal/callback")
async def callback(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """Redeem the code in-process through the token rules, then start a portal session."""
    settings = services.settings
    params = request.query_params
    flow = check_callback(
        settings,
        request.cookies.get(FLOW_COOKIE),
        state=params.get("state"),
        iss=params.get("iss"),
    )
    locale = pick_locale(request)
    if flow is None or not params.get("code"):
        # The provider's error_description is English for developers: the page says it plainly.
        reason = SIGN_IN_REFUSED.get(params.get("error") or "", SIGN_IN_FAILED)
        return _refused(request, settings, locale, gettext(locale, reason))
    client = await find_client(session, PORTAL_CLIENT_ID)
    if client is None:  # the start-up could not register it (database down then)
        await ensure_portal_client(session, settings)
        client = await find_client(session, PORTAL_CLIENT_ID)
    if client is None:
        return _refused(request, settings, locale, gettext(locale, NOT_REGISTERED))
    form = {
        "code": params["code"],
        "redirect_uri": callback_uri(settings),
        "code_verifier": str(flow["v"]),
    }
    try:
        # In-process: the code checks of the token endpoint, no token minted; staff too.
        grant, account = await tokens.first_party_sign_in(session, services.tokens, client, form)
    except OAuthError:
        return _refused(request, settings, locale, gettext(locale, SIGN_IN_FAILED))
    next_path = str(flow["next"])
    kind = "console" if next_path.startswith(("/console", "/workspace")) else "citizen"
    token = await start_session(
        session,
        settings,
        account=account,
        grant_id=grant.id,
        amr=grant.amr,
        kind=kind,
    )
    response = RedirectResponse(next_path, status_code=303, headers=NO_STORE)
    set_cookie(response, settings, SESSION_COOKIE, token, max_age=None)
    response.delete_cookie(FLOW_COOKIE, path="/")
    return response


@router.post("/portal/logout")
async def logout(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """End the portal session and the provider's sign-in with it: the portal is the provider's
    own client, so one click signs out of both (no confirmation page to abandon)."""
    settings = services.settings
    form = await request.form()
    csrf = form.get("csrf")
    if not csrf_ok(request, settings, csrf if isinstance(csrf, str) else None):
        locale = pick_locale(request)
        return _refused(request, settings, locale, gettext(locale, FORM_EXPIRED))
    sid = await end_session(request, session)
    provider_cookie = session_cookie_name(settings)
    await signin.sign_out(session, token=request.cookies.get(provider_cookie), sid=sid)
    response = RedirectResponse("/portal/signed-out", status_code=303, headers=NO_STORE)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(provider_cookie, path="/", secure=settings.cookie_secure, httponly=True)
    return response


@router.get("/portal/signed-out")
async def signed_out(request: Request, services: ServicesDep) -> Response:
    """Where a sign-out lands: nothing personal, no session needed."""
    return render_page(
        request,
        services.settings,
        "logout.html",
        locale=pick_locale(request),
        context={"carry": {}, "done": True},
    )


@router.get("/portal")
async def record_page(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    lang: Annotated[str | None, Query(max_length=2)] = None,
) -> Response:
    """My record as the registry holds it, with the date each part last changed."""
    user = await portal_user(request, session, services)
    if user is None:
        return to_login(request)
    if user.citizen_id is None:  # staff have their work (the staff home), not a record
        return RedirectResponse("/staff", status_code=303, headers=NO_STORE)
    locale = pick_locale(request, lang)
    record = await service.my_record(session, user.principal)
    sections = record_sections(record.values, record.changed, locale)
    return render_page(
        request,
        services.settings,
        "record.html",
        locale=locale,
        context={"sections": sections, "date_text": date_text},
    )
