"""The account pages: the signed-in account, self-enrolment (level 1: the declared data must
match the record) and the in-person activation code (level 2, which also sets a new password
and unlocks). Each form shows its errors beside the fields; a refusal keeps its audit event."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Any
from urllib.parse import urlencode

from fastapi import APIRouter, Request, Response
from fastapi.responses import RedirectResponse

from core.deps import SessionDep
from core.errors import Conflict, RegistryError, ValidationFailed
from core.headers import NO_STORE
from core.i18n import LOCALES, N_
from core.inputs import OutsideTextRoute
from core.text import ID_NUMBER_RE
from identity import accounts, passkeys
from identity import repository as repo
from identity.http_common import unseal
from identity.oidc import authorize as authz
from identity.passwords import password_problem
from identity.services import IdentityServices, ServicesDep
from identity.web import (
    FORM_EXPIRED,
    LANG_COOKIE,
    csrf_ok,
    gettext,
    pick_locale,
    render,
    set_cookie,
)

router = APIRouter(route_class=OutsideTextRoute)

# Beside a new password: how it breaks the policy (keys of identity.passwords.POLICY_PROBLEMS).
PASSWORD_PROBLEMS = {
    "invalid": N_("Mật khẩu chứa ký tự không hợp lệ."),
    "short": N_("Mật khẩu phải có ít nhất 8 ký tự."),
    "long": N_("Mật khẩu dài tối đa 128 ký tự."),
    "common": N_("Mật khẩu này quá phổ biến; hãy chọn mật khẩu khác."),
    "personal": N_("Mật khẩu không được là số định danh hay thông tin cá nhân của bạn."),
}
PASSWORDS_DIFFER = N_("Hai lần nhập mật khẩu mới không giống nhau.")
ID_NUMBER_WRONG = N_("Số định danh cá nhân gồm đúng 12 chữ số.")
NAME_MISSING = N_("Hãy nhập họ, chữ đệm và tên như trên thẻ căn cước.")
DATE_WRONG = N_("Hãy nhập ngày theo dạng ngày/tháng/năm, ví dụ 14/05/2003.")
NOT_MATCHED = N_(
    "Thông tin bạn khai không khớp với hồ sơ trong cơ sở dữ liệu quốc gia về dân cư. "
    "Hãy kiểm tra lại với thẻ căn cước, hoặc đến cơ quan công an để được cấp mã kích hoạt."
)
ALREADY_ENROLLED = N_("Công dân này đã có danh tính điện tử; hãy đăng nhập.")
CODE_WRONG = N_("Mã kích hoạt không đúng, đã dùng hoặc đã hết hạn.")
CODE_MISSING = N_("Hãy nhập mã kích hoạt do cán bộ cấp.")
NOT_ALLOWED = N_("Hồ sơ của công dân này không cho phép có danh tính điện tử.")
FAILED = N_("Không thực hiện được yêu cầu. Vui lòng thử lại.")

_DATE = re.compile(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})")


# ------------------------------------------------------------------------------ form helpers


async def posted(request: Request, services: IdentityServices) -> dict[str, str] | None:
    """The form's fields when its CSRF token matches this browser; None otherwise."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return fields if csrf_ok(request, services.settings, fields.get("csrf")) else None


def sealed_request(services: IdentityServices, req: str | None) -> str:
    """``req`` when it is a valid sealed authorization request (carried back to sign-in)."""
    try:
        return req if req and unseal(services, req) is not None else ""
    except authz.PageError:
        return ""


def to_login(req: str, notice: str) -> RedirectResponse:
    """Back to sign-in, saying ``notice`` (a key of the sign-in page's notices)."""
    params = {"notice": notice, **({"req": req} if req else {})}
    return RedirectResponse("/login?" + urlencode(params), status_code=303, headers=NO_STORE)


def account_page(
    request: Request,
    services: IdentityServices,
    template: str,
    *,
    locale: str,
    context: Mapping[str, Any],
    status_code: int = 200,
) -> Response:
    """One of these pages; ``?lang=`` also sets the language cookie (the switch sticks)."""
    req = str(context.get("req") or "")
    response = render(
        request,
        services.settings,
        template,
        locale=locale,
        status_code=status_code,
        context={
            "errors": {},
            "error": None,
            "req": req,
            "req_query": "?" + urlencode({"req": req}) if req else "",
            "lang_query": urlencode({"req": req}) + "&" if req else "",
            **context,
        },
    )
    if request.query_params.get("lang") in LOCALES:
        set_cookie(response, services.settings, LANG_COOKIE, locale, max_age=31_536_000)
    return response


def expired(request: Request, services: IdentityServices, locale: str) -> Response:
    """The answer to a form whose CSRF token does not match this browser."""
    return render(
        request,
        services.settings,
        "error.html",
        locale=locale,
        status_code=403,
        context={"message": gettext(locale, FORM_EXPIRED)},
    )


def new_password_errors(
    locale: str, fields: Mapping[str, str], context_words: tuple[str, ...]
) -> dict[str, str]:
    """The errors of the new-password pair: the policy, then the repetition."""
    new, again = fields.get("new_password", "")[:1024], fields.get("new_password_again", "")[:1024]
    problem = password_problem(new, context_words)
    if problem is not None:
        return {"new_password": gettext(locale, PASSWORD_PROBLEMS[problem])}
    if new != again:
        return {"new_password_again": gettext(locale, PASSWORDS_DIFFER)}
    return {}


def parse_date(text: str) -> date | None:
    """A day written dd/mm/yyyy (or with dots or hyphens); None if it is not one."""
    found = _DATE.fullmatch(text.strip())
    if found is None:
        return None
    day, month, year = (int(g) for g in found.groups())
    try:
        return date(year, month, day)
    except ValueError:
        return None


# ------------------------------------------------------------------------------ signed in


@router.get("/account", include_in_schema=False)
async def account_home(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """The signed-in account: passkeys (add with WebAuthn) and sign-out."""
    signed_in = await services.authenticator.signed_in(request, session)
    if signed_in is None:
        return RedirectResponse("/login", status_code=303, headers=NO_STORE)
    _, account = signed_in
    listed = [passkeys.describe(p) for p in await repo.passkeys_of(session, account.id)]
    return render(
        request,
        services.settings,
        "account.html",
        locale=pick_locale(request),
        context={
            "who": account.citizen_id or account.username,
            "level": account.level,
            "passkeys": listed,
            # An official's work is in the registry's workspace (/workspace).
            "official": account.kind == "staff" and "official" in account.roles.split(),
        },
    )


# ------------------------------------------------------------------------------ level 1


@router.get("/enrol", include_in_schema=False)
async def enrol_page(request: Request, services: ServicesDep, req: str = "") -> Response:
    """The self-enrolment form."""
    return account_page(
        request,
        services,
        "enrol.html",
        locale=pick_locale(request),
        context={"req": sealed_request(services, req), "values": {}},
    )


@router.post("/enrol", include_in_schema=False)
async def enrol_submit(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """Level 1: the declared data must match the record (identity.accounts.enrol, as the API)."""
    locale = pick_locale(request)
    fields = await posted(request, services)
    if fields is None:
        return expired(request, services, locale)
    req = sealed_request(services, fields.get("req"))
    values = {k: fields.get(k, "").strip()[:100] for k in ("id_number", "full_name")}
    values |= {k: fields.get(k, "").strip()[:10] for k in ("birth_date", "card_issue_date")}
    errors: dict[str, str] = {}
    if not ID_NUMBER_RE.fullmatch(values["id_number"]):
        errors["id_number"] = gettext(locale, ID_NUMBER_WRONG)
    if not values["full_name"]:
        errors["full_name"] = gettext(locale, NAME_MISSING)
    birth, issued = parse_date(values["birth_date"]), parse_date(values["card_issue_date"])
    for name, parsed in (("birth_date", birth), ("card_issue_date", issued)):
        if parsed is None:
            errors[name] = gettext(locale, DATE_WRONG)
    errors |= new_password_errors(locale, fields, (values["id_number"],))

    def again(status_code: int, error: str | None = None) -> Response:
        return account_page(
            request,
            services,
            "enrol.html",
            locale=locale,
            status_code=status_code,
            context={"req": req, "values": values, "errors": errors, "error": error},
        )

    if errors or birth is None or issued is None:
        return again(400)
    try:
        await accounts.enrol(
            session,
            services.ctx,
            citizen_id=values["id_number"],
            full_name=values["full_name"],
            birth_date=birth,
            card_issue_date=issued,
            password=fields.get("new_password", "")[:1024],
        )
    except RegistryError as exc:
        if not exc.commit_unit_of_work:
            await session.rollback()
        if isinstance(exc, Conflict):
            return again(409, gettext(locale, ALREADY_ENROLLED))
        return again(exc.status, gettext(locale, NOT_MATCHED if exc.status == 403 else FAILED))
    return to_login(req, "enrolled")


# ------------------------------------------------------------------------------ level 2


@router.get("/activate", include_in_schema=False)
async def activate_page(request: Request, services: ServicesDep, req: str = "") -> Response:
    """The in-person activation code form."""
    return account_page(
        request,
        services,
        "activate.html",
        locale=pick_locale(request),
        context={"req": sealed_request(services, req), "values": {}},
    )


@router.post("/activate", include_in_schema=False)
async def activate_submit(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """Redeem the code (identity.accounts.activate, as the API): level 2, a new password, the
    identity unlocked, every session ended."""
    locale = pick_locale(request)
    fields = await posted(request, services)
    if fields is None:
        return expired(request, services, locale)
    req = sealed_request(services, fields.get("req"))
    values = {"id_number": fields.get("id_number", "").strip()[:12]}
    values["code"] = fields.get("code", "").strip()[:40]
    errors: dict[str, str] = {}
    if not ID_NUMBER_RE.fullmatch(values["id_number"]):
        errors["id_number"] = gettext(locale, ID_NUMBER_WRONG)
    if not values["code"]:
        errors["code"] = gettext(locale, CODE_MISSING)
    errors |= new_password_errors(locale, fields, (values["id_number"],))

    def again(status_code: int, error: str | None = None) -> Response:
        return account_page(
            request,
            services,
            "activate.html",
            locale=locale,
            status_code=status_code,
            context={"req": req, "values": values, "errors": errors, "error": error},
        )

    if errors:
        return again(400)
    try:
        await accounts.activate(
            session,
            services.ctx,
            citizen_id=values["id_number"],
            code=values["code"],
            password=fields.get("new_password", "")[:1024],
        )
    except RegistryError as exc:
        if not exc.commit_unit_of_work:
            await session.rollback()
        if exc.status == 403 and not isinstance(exc, accounts.AccountClosed):
            errors["code"] = gettext(locale, CODE_WRONG)
            return again(403)
        if isinstance(exc, ValidationFailed):
            return again(400, gettext(locale, FAILED))
        return again(exc.status, gettext(locale, NOT_ALLOWED))
    return to_login(req, "activated")
