"""The staff pages: the staff home (where a staff member's roles lead) and the administrator's
pages for staff accounts (list, detail, create, disable, enable, roles, passkey reset).

Thin routes: the gate (administrator role, passkey sign-in), one call into identity.staff,
a page. Every view and change is recorded by identity.staff with the administrator as actor.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Request
from fastapi.responses import RedirectResponse, Response
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.routing import Match

from audit import recording as audit
from audit.events import STAFF_VIEW
from core.auth import Principal
from core.clock import time_text
from core.deps import SessionDep, SettingsDep
from core.errors import RegistryError
from core.headers import NO_STORE
from core.i18n import N_
from core.inputs import OutsideTextRoute
from core.settings import Settings
from identity import staff
from identity.services import ServicesDep
from identity.web import csrf_ok, pick_locale
from registry.portal.session import current_user
from registry.portal.web import gettext, render_page

router = APIRouter(route_class=OutsideTextRoute, include_in_schema=False)
Username = Annotated[str, Path(min_length=1, max_length=64)]

ROLE_LABELS = {
    "official": N_("Cán bộ nghiệp vụ"),
    "auditor": N_("Kiểm toán viên"),
    "administrator": N_("Quản trị viên"),
}
STATUS_LABELS = {
    "active": N_("Đang hoạt động"),
    "disabled": N_("Đã vô hiệu hóa"),
    "locked": N_("Bị khóa do nhập sai nhiều lần"),
}
CODE_LABELS = {
    "pending": N_("Chưa dùng"),
    "used": N_("Đã dùng"),
    "expired": N_("Đã hết hạn"),
    "spent": N_("Bị vô hiệu do nhập sai nhiều lần"),
}
# What each change says once done, and why a change was refused (identity.staff's reasons).
DONE = {
    "disabled": N_("Đã vô hiệu hóa tài khoản; các phiên đăng nhập và mã truy cập đã bị thu hồi."),
    "enabled": N_("Đã kích hoạt lại tài khoản."),
    "roles": N_("Đã cập nhật vai trò."),
}
REFUSED = {
    "self": N_("Bạn không thể thực hiện thao tác này với chính tài khoản của mình."),
    "last_administrator": N_("Phải còn ít nhất một quản trị viên đang hoạt động."),
    "closed": N_("Tài khoản đã đóng không thể kích hoạt lại."),
    "roles": N_("Hãy chọn ít nhất một vai trò."),
    "username": N_("Tên đăng nhập gồm 1-64 chữ cái không dấu, chữ số, dấu chấm hoặc gạch nối."),
    "exists": N_("Đã có tài khoản cán bộ với tên đăng nhập này."),
    "name": N_("Hãy nhập họ tên (tối đa 100 ký tự)."),
}
# Where each role works, by the path of its page (offered only when the app serves it).
PLACES = (
    ("administrator", "/admin/staff", N_("Quản trị tài khoản cán bộ")),
    ("auditor", "/console", N_("Bảng điều khiển kiểm toán")),
    ("official", "/workspace", N_("Nghiệp vụ hộ tịch, cư trú")),
)


def when(value: datetime | None) -> str:
    """dd/mm/yyyy HH:MM, Vietnam time; a dash for nothing."""
    return time_text(value, empty="—")


def _page(
    request: Request, settings: Settings, template: str, locale: str, **context: Any
) -> Response:
    status_code = int(context.pop("status_code", 200))
    return render_page(
        request,
        settings,
        template,
        locale=locale,
        status_code=status_code,
        context={
            "role_labels": ROLE_LABELS,
            "status_labels": STATUS_LABELS,
            "code_labels": CODE_LABELS,
            "when": when,
            "roles_all": staff.ROLES,
            **context,
        },
    )


def _served(request: Request, path: str) -> bool:
    """Whether this app answers GET ``path`` (a role's page may belong to a part not built)."""
    scope = {"type": "http", "path": path, "method": "GET", "root_path": "", "path_params": {}}
    return any(route.matches(scope)[0] == Match.FULL for route in request.app.router.routes)


def _to_login(request: Request) -> Response:
    target = request.url.path + ("?" + request.url.query if request.url.query else "")
    return RedirectResponse(
        "/portal/login?" + urlencode({"next": target}), status_code=303, headers=NO_STORE
    )


@router.get("/staff")
async def staff_home(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Where a staff member works: straight there with one role, a choice with several."""
    user = await current_user(request, session, settings)
    if user is None:
        return _to_login(request)
    if user.account.kind != "staff":
        return RedirectResponse("/portal", status_code=303, headers=NO_STORE)
    if "staff_enrolment" in user.principal.roles:  # a password session: the passkey first
        return RedirectResponse("/staff/passkey", status_code=303, headers=NO_STORE)
    places = [
        (path, label)
        for role, path, label in PLACES
        if role in user.principal.roles and _served(request, path)
    ]
    if len(places) == 1:
        return RedirectResponse(places[0][0], status_code=303, headers=NO_STORE)
    return _page(
        request,
        settings,
        "staff_home.html",
        pick_locale(request),
        places=places,
        name=user.account.display_name or user.account.username,
    )


async def _administrator(
    request: Request, session: AsyncSession, settings: Settings
) -> Principal | Response:
    """The signed-in administrator (passkey), or the response for everyone else."""
    user = await current_user(request, session, settings)
    if user is None:
        return _to_login(request)
    if "administrator" in user.principal.roles:
        return staff.administrator_principal(user.principal)
    if "staff_enrolment" in user.principal.roles:
        return RedirectResponse("/staff/passkey", status_code=303, headers=NO_STORE)
    await audit.record(
        session,
        actor=user.principal,
        action=STAFF_VIEW,
        outcome="denied",
        detail={"page": request.url.path[:100]},
    )
    return _page(request, settings, "admin_notice.html", pick_locale(request), status_code=403)


@router.get("/admin/staff")
async def staff_list(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Every staff account, with a form to create one."""
    admin = await _administrator(request, session, settings)
    if isinstance(admin, Response):
        return admin
    rows = await staff.list_staff(session, actor=admin)
    return _page(request, settings, "admin_staff.html", pick_locale(request), rows=rows, form={})


@router.get("/admin/staff/{username}")
async def staff_detail(
    request: Request, session: SessionDep, settings: SettingsDep, username: Username
) -> Response:
    """One staff account and what can be done to it."""
    admin = await _administrator(request, session, settings)
    if isinstance(admin, Response):
        return admin
    done = request.query_params.get("done")
    return await _detail(request, session, settings, admin, username, notice=done)


async def _detail(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    admin: Principal,
    username: str,
    *,
    notice: str | None = None,
    error: str | None = None,
    status_code: int = 200,
) -> Response:
    locale = pick_locale(request)
    try:
        row = await staff.show_staff(session, actor=admin, username=username)
    except RegistryError:
        return _page(request, settings, "admin_notice.html", locale, status_code=404, missing=True)
    return _page(
        request,
        settings,
        "admin_staff_detail.html",
        locale,
        row=row,
        me=admin.actor_id == username,
        notice=gettext(locale, DONE[notice]) if notice in DONE else None,
        error=gettext(locale, REFUSED[error]) if error in REFUSED else None,
        status_code=status_code,
    )


async def _form(request: Request, settings: Settings) -> dict[str, Any] | None:
    form = await request.form()
    csrf = form.get("csrf")
    if not csrf_ok(request, settings, csrf if isinstance(csrf, str) else None):
        return None
    return {
        "values": {k: v for k, v in form.items() if isinstance(v, str)},
        "roles": tuple(r for r in form.getlist("role") if isinstance(r, str)),
    }


def _expired(request: Request, settings: Settings) -> Response:
    locale = pick_locale(request)
    return _page(request, settings, "admin_notice.html", locale, status_code=400, expired=True)


@router.post("/admin/staff/{username}/{change}")
async def staff_change(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    username: Username,
    change: Annotated[str, Path(pattern="^(disable|enable|roles|reset)$")],
) -> Response:
    """Disable, enable, set the roles of, or reset the passkeys of a staff account."""
    settings = services.settings
    admin = await _administrator(request, session, settings)
    if isinstance(admin, Response):
        return admin
    form = await _form(request, settings)
    if form is None:
        return _expired(request, settings)
    try:
        if change == "reset":
            code, expires = await staff.reset(session, services.ctx, actor=admin, username=username)
            return _code_page(request, settings, username, code, expires, reset=True)
        if change == "disable":
            await staff.disable(session, actor=admin, username=username)
        elif change == "enable":
            await staff.enable(session, actor=admin, username=username)
        else:
            if not form["roles"]:
                return await _detail(
                    request, session, settings, admin, username, error="roles", status_code=422
                )
            await staff.set_roles(session, actor=admin, username=username, roles=form["roles"])
    except staff.StaffChangeRefused as exc:
        reason = str(exc.extensions.get("reason", ""))
        return await _detail(
            request, session, settings, admin, username, error=reason, status_code=409
        )
    except RegistryError as exc:
        if exc.status == 404:
            locale = pick_locale(request)
            return _page(
                request, settings, "admin_notice.html", locale, status_code=404, missing=True
            )
        raise
    done = {"disable": "disabled", "enable": "enabled", "roles": "roles"}[change]
    return RedirectResponse(
        f"/admin/staff/{username}?" + urlencode({"done": done}), status_code=303, headers=NO_STORE
    )


def _code_page(
    request: Request,
    settings: Settings,
    username: str,
    code: str,
    expires: datetime,
    *,
    reset: bool,
) -> Response:
    """The enrolment code, shown once: the administrator hands it over in person."""
    return _page(
        request,
        settings,
        "admin_staff_code.html",
        pick_locale(request),
        username=username,
        code=code,
        expires=when(expires),
        reset=reset,
    )


@router.post("/admin/staff")
async def staff_create(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """Create a staff account without a password: its first sign-in is with a code."""
    settings = services.settings
    admin = await _administrator(request, session, settings)
    if isinstance(admin, Response):
        return admin
    form = await _form(request, settings)
    if form is None:
        return _expired(request, settings)
    values = form["values"]
    username = values.get("username", "").strip()[:64]
    name = " ".join(values.get("name", "").split())
    errors: dict[str, str] = {}
    if not (0 < len(username) <= 64 and username.replace(".", "").replace("-", "").isalnum()):
        errors["username"] = "username"
    if not 0 < len(name) <= 100:
        errors["name"] = "name"
    if not form["roles"] or set(form["roles"]) - set(staff.ROLES):
        errors["roles"] = "roles"
    if not errors:
        try:
            _, code = await staff.create(
                session,
                services.ctx,
                actor=admin,
                username=username,
                display_name=name,
                roles=form["roles"],
                password=None,
            )
        except RegistryError as exc:
            if exc.status != 409:
                raise
            errors["username"] = "exists"
        else:
            if code is not None:
                return _code_page(request, settings, username, *code, reset=False)
    locale = pick_locale(request)
    rows = await staff.list_staff(session, actor=admin)
    return _page(
        request,
        settings,
        "admin_staff.html",
        locale,
        rows=rows,
        form={"username": username, "name": name, "roles": form["roles"]},
        errors={k: gettext(locale, REFUSED[v]) for k, v in errors.items()},
        status_code=422,
    )
