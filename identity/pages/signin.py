"""The sign-in page: password form and its submission."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from core.deps import SessionDep
from core.errors import RegistryError
from core.headers import NO_STORE
from core.i18n import LOCALES, N_
from core.inputs import OutsideTextRoute
from identity import accounts, signin, staff
from identity import repository as repo
from identity.http_common import after_login, client_ip, page_error, set_session_cookie, unseal
from identity.models import Account
from identity.oidc import authorize as authz
from identity.pages import staff as staff_pages
from identity.services import IdentityServices, ServicesDep
from identity.web import (
    FORM_EXPIRED,
    LANG_COOKIE,
    THROTTLED,
    csrf_ok,
    gettext,
    pick_locale,
    render,
    set_cookie,
)

router = APIRouter(route_class=OutsideTextRoute)

# What the sign-in page says after an account page sent the citizen back to it.
NOTICES = {
    "enrolled": N_(
        "Đã tạo danh tính điện tử của bạn. Hãy đăng nhập bằng số định danh và mật khẩu."
    ),
    "activated": N_("Đã kích hoạt: danh tính của bạn đạt mức 2 và mật khẩu mới có hiệu lực."),
    "recovered": N_("Đã đặt mật khẩu mới. Mọi phiên đăng nhập cũ đã kết thúc."),
    "unlocked": N_("Danh tính điện tử đã được mở khóa. Bạn có thể đăng nhập lại."),
    "everywhere": N_("Bạn đã đăng xuất khỏi mọi thiết bị."),
    "password": N_("Đã đổi mật khẩu. Hãy đăng nhập bằng mật khẩu mới."),
}


@router.get("/login", include_in_schema=False)
async def login_page(request: Request, services: ServicesDep, req: str = "") -> Response:
    """The sign-in page (password, or passkey with JavaScript). It reads nothing from the
    database: the client's name comes with the signed request (a transaction to read that name
    was much of this page's CPU: docs/performance.md, "Client reads without a transaction")."""
    try:
        auth_request = unseal(services, req)
    except authz.PageError as exc:
        return page_error(request, services, str(exc))
    locale = (auth_request.locale() if auth_request else None) or pick_locale(request)
    response = render(
        request,
        services.settings,
        "login.html",
        locale=locale,
        context={
            **_login_context(auth_request, req),
            "login_hint": (auth_request.login_hint or "") if auth_request else "",
            "lang_query": urlencode({"req": req}) + "&" if req else "",
            "notice": _notice(locale, request.query_params.get("notice")),
        },
    )
    if request.query_params.get("lang") in LOCALES:
        set_cookie(response, services.settings, LANG_COOKIE, locale, max_age=31_536_000)
    return response


def _notice(locale: str, key: str | None) -> str | None:
    found = NOTICES.get(key) if key else None
    return gettext(locale, found) if found else None


def _login_context(auth_request: authz.AuthRequest | None, req: str) -> dict[str, Any]:
    """What the sign-in page shows of the request it serves, and its links to the account
    pages (carrying the request, so that the citizen comes back to it)."""
    return {
        "req": req,
        "req_query": "?" + urlencode({"req": req}) if req else "",
        "client_name": auth_request.client_name if auth_request else None,
        "passkey_asked": auth_request.passkey if auth_request else False,
    }


async def _staff_may_continue(
    session: AsyncSession, auth_request: authz.AuthRequest | None
) -> bool:
    """Whether a staff sign-in leads somewhere staff work: no service, or a first-party one
    (any other service answers access_denied: staff do not sign in to citizens' services)."""
    if auth_request is None:
        return True
    client = await repo.client(session, auth_request.client_id)
    return client is not None and client.first_party


def _signed_in_response(
    services: IdentityServices, token: str, location: str, account: Account
) -> Response:
    response = RedirectResponse(location, status_code=303, headers=NO_STORE)
    set_session_cookie(response, services, token, account)
    return response


@router.post("/login", include_in_schema=False)
async def login_submit(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """Check the password; start the session; continue the authorization request."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    settings = services.settings
    req = fields.get("req") or ""
    try:
        auth_request = unseal(services, req)
    except authz.PageError as exc:
        return page_error(request, services, str(exc))
    locale = (auth_request.locale() if auth_request else None) or pick_locale(request)
    if not csrf_ok(request, settings, fields.get("csrf")):
        return page_error(request, services, FORM_EXPIRED)
    login, password = fields.get("login", "")[:64], fields.get("password", "")[:1024]

    def again(
        message: str, status: int, *, locked: bool = False, passkey_first: bool = False
    ) -> Response:
        context = {
            **_login_context(auth_request, req),
            "error": message,
            "login_hint": login,
            "locked": locked,
        }
        if passkey_first:
            context["passkey_first"] = True
        return render(
            request, settings, "login.html", locale=locale, status_code=status, context=context
        )

    try:
        account = await signin.password_login(
            session, services.ctx, login=login, password=password, client_ip=client_ip(request)
        )
    except accounts.PasskeyRequired:
        return again(gettext(locale, staff_pages.PASSKEY_REQUIRED), 403, passkey_first=True)
    except accounts.AccountLocked as exc:
        if exc.extensions.get("reason") == staff.DISABLED:
            return again(gettext(locale, staff_pages.STAFF_DISABLED), 403)
        return again(gettext(locale, "Danh tính điện tử này đang bị khóa."), 403, locked=True)
    except RegistryError as exc:
        if exc.status == 429:
            response = again(gettext(locale, THROTTLED), 429)
            response.headers.update(exc.headers)
            return response
        if exc.status == 401:
            return again(gettext(locale, "Số định danh hoặc mật khẩu không đúng."), 401)
        return again(exc.detail, exc.status)
    token, row = await signin.start_session(
        session,
        settings,
        account,
        amr=("pwd",),
        user_agent=request.headers.get("user-agent"),
        ip=client_ip(request),
    )
    await signin.record_login(session, account, method="pwd")
    if account.kind == "staff" and await _staff_may_continue(session, auth_request):
        # No passkey yet (else refused above): register one now, then on to the work.
        return _signed_in_response(services, token, staff_pages.passkey_step(req), account)
    return _signed_in_response(
        services, token, after_login(services, auth_request, row.sid), account
    )
