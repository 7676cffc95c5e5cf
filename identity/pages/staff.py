"""A staff member's first sign-in in one flow: the password or the enrolment code an
administrator handed over, then a passkey registered and used at once, then into the work
(the service that asked for the sign-in, or the staff home the composition root names)."""

from __future__ import annotations

from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from core.deps import SessionDep
from core.errors import RegistryError
from core.headers import NO_STORE
from core.i18n import N_
from core.inputs import OutsideTextRoute
from identity import signin, staff
from identity.http_common import client_ip, page_error, set_session_cookie, unseal
from identity.oidc import authorize as authz
from identity.services import ServicesDep
from identity.web import FORM_EXPIRED, THROTTLED, csrf_ok, gettext, pick_locale, render

router = APIRouter(route_class=OutsideTextRoute)

PASSKEY_REQUIRED = N_(
    "Tài khoản cán bộ này đã có khóa truy cập (passkey) nên không đăng nhập bằng mật khẩu "
    "được nữa: hãy bấm «Đăng nhập bằng khóa truy cập». Nếu bị mất thiết bị, hãy đề nghị quản "
    "trị viên cấp mã đăng ký, rồi đăng ký khóa mới bằng mã đó."
)
STAFF_DISABLED = N_("Tài khoản cán bộ này đã bị vô hiệu hóa. Hãy liên hệ quản trị viên.")
CODE_INVALID = N_(
    "Tên đăng nhập hoặc mã đăng ký không đúng, đã được dùng hoặc đã hết hạn. Nếu cần, hãy đề "
    "nghị quản trị viên cấp mã mới."
)


def passkey_step(req: str) -> str:
    """The page that registers the staff member's passkey, continuing ``req`` afterwards."""
    return "/staff/passkey?" + urlencode({"req": req}) if req else "/staff/passkey"


@router.get("/staff/enrol", include_in_schema=False)
async def enrol_page(request: Request, services: ServicesDep, req: str = "") -> Response:
    """Sign in with the enrolment code (first sign-in, or after a reset)."""
    try:
        auth_request = unseal(services, req)
    except authz.PageError as exc:
        return page_error(request, services, str(exc))
    locale = (auth_request.locale() if auth_request else None) or pick_locale(request)
    return render(
        request,
        services.settings,
        "staff_enrol.html",
        locale=locale,
        context={"req": req, "lang_query": urlencode({"req": req}) + "&" if req else ""},
    )


@router.post("/staff/enrol", include_in_schema=False)
async def enrol_submit(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """Check the code; start a session that may only register a passkey; on to that step."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    req = fields.get("req") or ""
    try:
        auth_request = unseal(services, req)
    except authz.PageError as exc:
        return page_error(request, services, str(exc))
    locale = (auth_request.locale() if auth_request else None) or pick_locale(request)
    if not csrf_ok(request, services.settings, fields.get("csrf")):
        return page_error(request, services, FORM_EXPIRED)
    username = fields.get("username", "")[:64]
    try:
        account = await staff.sign_in_with_code(
            session,
            services.ctx,
            username=username,
            code=fields.get("code", ""),
            client_ip=client_ip(request),
        )
    except RegistryError as exc:
        message = THROTTLED if exc.status == 429 else CODE_INVALID
        response = render(
            request,
            services.settings,
            "staff_enrol.html",
            locale=locale,
            status_code=exc.status,
            context={"req": req, "username": username, "error": gettext(locale, message)},
        )
        response.headers.update(exc.headers)
        return response
    token, _ = await signin.start_session(session, services.settings, account, amr=("otp",))
    moved = RedirectResponse(passkey_step(req), status_code=303, headers=NO_STORE)
    set_session_cookie(moved, services, token, account)
    return moved


@router.get("/staff/passkey", include_in_schema=False)
async def passkey_page(
    request: Request, session: SessionDep, services: ServicesDep, req: str = ""
) -> Response:
    """Register the first passkey, then sign in with it (the page's script) and go on."""
    try:
        auth_request = unseal(services, req)
    except authz.PageError as exc:
        return page_error(request, services, str(exc))
    signed_in = await services.authenticator.signed_in(request, session)
    if signed_in is None:
        target = "/login?" + urlencode({"req": req}) if req else "/login"
        return RedirectResponse(target, status_code=303, headers=NO_STORE)
    _, account = signed_in
    if account.kind != "staff":
        return RedirectResponse("/account", status_code=303, headers=NO_STORE)
    locale = (auth_request.locale() if auth_request else None) or pick_locale(request)
    return render(
        request,
        services.settings,
        "staff_passkey.html",
        locale=locale,
        context={
            "req": req,
            "who": account.username,
            "name": account.display_name or account.username,
            "lang_query": urlencode({"req": req}) + "&" if req else "",
        },
    )
