"""Portal routes: sign-in through the registry's own OIDC client, and the citizen's pages.

Pages need no JavaScript (passkeys excepted), work at phone width, speak Vietnamese by default
with an English switch, and send CSP, frame-ancestors, Referrer-Policy and no-store headers.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from core.deps import SessionDep
from core.headers import NO_STORE
from core.inputs import OutsideTextRoute
from identity import accounts
from identity.authn import session_cookie_name
from identity.oidc import tokens
from identity.services import IdentityServices, get_services
from identity.web import csrf_ok, pick_locale, set_cookie
from registry.portal import service
from registry.portal.session import (
    FLOW_COOKIE,
    PORTAL_CLIENT_ID,
    SESSION_COOKIE,
    PortalUser,
    callback_uri,
    check_callback,
    current_user,
    end_session,
    start_flow,
    start_session,
)
from registry.portal.web import render_page

router = APIRouter(route_class=OutsideTextRoute, include_in_schema=False)
ServicesDep = Annotated[IdentityServices, Depends(get_services)]

FIELD_LABELS = {
    "vi": {
        "id_number": "Số định danh cá nhân", "full_name": "Họ, chữ đệm và tên",
        "other_names": "Tên gọi khác", "birth_date": "Ngày sinh", "gender": "Giới tính",
        "birth_province": "Nơi đăng ký khai sinh", "birth_place": "Nơi sinh",
        "hometown": "Quê quán", "ethnicity": "Dân tộc", "religion": "Tôn giáo",
        "nationality": "Quốc tịch", "marital_status": "Tình trạng hôn nhân",
        "blood_type": "Nhóm máu", "permanent_address": "Nơi thường trú",
        "temporary_address": "Nơi tạm trú", "current_address": "Nơi ở hiện tại",
        "household_id": "Số hộ", "household_relationship": "Quan hệ với chủ hộ",
        "status": "Tình trạng", "card_number": "Số thẻ căn cước",
        "card_issue_date": "Ngày cấp thẻ", "card_issue_place": "Nơi cấp thẻ",
        "card_expiry_date": "Thẻ có giá trị đến", "old_id_number": "Số CMND cũ",
    },
    "en": {},
}  # fmt: skip


def label(name: str, locale: str) -> str:
    """A field's label in the locale (English falls back to a readable field name)."""
    return FIELD_LABELS.get(locale, {}).get(name) or name.replace("_", " ").capitalize()


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
    from registry.portal.session import ensure_portal_client

    settings = services.settings
    await ensure_portal_client(session, settings)
    locale = request.query_params.get("lang") or request.cookies.get("registry_lang")
    url, cookie = start_flow(settings, next_path=next, locale=locale)
    response = RedirectResponse(url, status_code=303, headers=NO_STORE)
    set_cookie(response, settings, FLOW_COOKIE, cookie, max_age=600)
    return response


@router.get("/portal/callback")
async def callback(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """Redeem the code in-process through the token rules, then start a portal session."""
    settings = services.settings
    params = request.query_params
    flow = check_callback(
        settings, request.cookies.get(FLOW_COOKIE), state=params.get("state"),
        iss=params.get("iss"),
    )  # fmt: skip
    locale = pick_locale(request)
    if flow is None or not params.get("code"):
        message = params.get("error_description") or "The sign-in could not be completed."
        return render_page(request, settings, "error.html", locale=locale, status_code=400,
                           context={"message": message})  # fmt: skip
    from identity import repository as identity_repo
    from identity.oidc.errors import OAuthError

    client = await identity_repo.client(session, PORTAL_CLIENT_ID)
    if client is None:  # the start-up could not register it (database down then)
        from registry.portal.session import ensure_portal_client

        await ensure_portal_client(session, settings)
        client = await identity_repo.client(session, PORTAL_CLIENT_ID)
    if client is None:
        return render_page(request, settings, "error.html", locale=locale, status_code=400,
                           context={"message": "The portal is not registered."})  # fmt: skip
    form = {"code": params["code"], "redirect_uri": callback_uri(settings),
            "code_verifier": str(flow["v"])}  # fmt: skip
    try:
        # In-process: the code checks of the token endpoint, no token minted; staff too.
        grant, account = await tokens.first_party_sign_in(session, services.tokens, client, form)
    except OAuthError:
        return render_page(request, settings, "error.html", locale=locale, status_code=400,
                           context={"message": "The sign-in could not be completed."})  # fmt: skip
    next_path = str(flow["next"])
    kind = "console" if next_path.startswith("/console") else "citizen"
    token = await start_session(
        session, settings, account=account, grant_id=grant.id, amr=grant.amr, kind=kind,
    )  # fmt: skip
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
        return render_page(request, settings, "error.html", locale=pick_locale(request),
                           status_code=400, context={"message": "The form expired."})  # fmt: skip
    sid = await end_session(request, session)
    provider_cookie = session_cookie_name(settings)
    await accounts.sign_out(session, token=request.cookies.get(provider_cookie), sid=sid)
    response = RedirectResponse("/portal/signed-out", status_code=303, headers=NO_STORE)
    response.delete_cookie(SESSION_COOKIE, path="/")
    response.delete_cookie(provider_cookie, path="/", secure=settings.cookie_secure, httponly=True)
    return response


@router.get("/portal/signed-out")
async def signed_out(request: Request, services: ServicesDep) -> Response:
    """Where a sign-out lands: nothing personal, no session needed."""
    return render_page(
        request, services.settings, "logout.html", locale=pick_locale(request),
        context={"carry": {}, "done": True},
    )  # fmt: skip


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
    if user.citizen_id is None:  # staff have the console, not a citizen record
        return RedirectResponse("/console", status_code=303, headers=NO_STORE)
    locale = pick_locale(request, lang)
    rows = await service.my_record(session, user.principal)
    shown = [{**r, "label": label(r["name"], locale)} for r in rows]
    return render_page(
        request, services.settings, "record.html", locale=locale, context={"rows": shown}
    )
