"""Server-rendered pages of the provider: templates, locale, CSRF, cookies, security headers."""

from __future__ import annotations

import hashlib
import hmac
import secrets
from collections.abc import Mapping
from functools import cache
from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import Environment, PackageLoader, select_autoescape

from core.headers import NO_STORE
from core.settings import Settings

LOCALES = ("vi", "en")
CSRF_COOKIE = "registry_csrf"
LANG_COOKIE = "registry_lang"

# Pages never come from cache, never in a frame, never leak the URL (it may carry a login hint).
PAGE_HEADERS = {
    "Content-Security-Policy": (
        "default-src 'none'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
        "form-action 'self' http: https:; frame-ancestors 'none'; base-uri 'none'; "
        "connect-src 'self'"
    ),
    "X-Frame-Options": "DENY",
    "Referrer-Policy": "no-referrer",
    **NO_STORE,
    "X-Content-Type-Options": "nosniff",
}

TEXT: dict[str, dict[str, str]] = {
    "vi": {
        "title": "Cổng định danh điện tử quốc gia",
        "sign_in": "Đăng nhập",
        "login_label": "Số định danh cá nhân (hoặc tên đăng nhập cán bộ)",
        "password": "Mật khẩu",
        "submit": "Đăng nhập",
        "with_passkey": "Đăng nhập bằng khóa truy cập (passkey)",
        "passkey_asked": "Dịch vụ này đề nghị bạn đăng nhập bằng khóa truy cập (passkey). "
        "Nếu không có khóa bên mình, bạn vẫn có thể đăng nhập bằng mật khẩu.",
        "wrong": "Số định danh hoặc mật khẩu không đúng.",
        "signing_in_to": "Đăng nhập để tiếp tục tới",
        "consent_title": "Cho phép chia sẻ thông tin",
        "consent_intro": "Dịch vụ sau đề nghị nhận các thông tin của bạn:",
        "allow": "Đồng ý",
        "deny": "Từ chối",
        "error_title": "Không thể tiếp tục",
        "logout_title": "Đăng xuất",
        "logout_confirm": "Bạn có muốn đăng xuất khỏi cổng định danh không?",
        "logout_done": "Bạn đã đăng xuất.",
        "yes_logout": "Đăng xuất",
        "language": "English",
        "claim.name": "Họ và tên",
        "claim.family_name": "Họ",
        "claim.given_name": "Tên",
        "claim.middle_name": "Tên đệm",
        "claim.birthdate": "Ngày sinh",
        "claim.gender": "Giới tính",
        "claim.address": "Địa chỉ thường trú",
        "claim.national_id": "Số định danh cá nhân",
        "passkey_failed": "Không đăng nhập được bằng khóa truy cập.",
        "locked": "Danh tính điện tử này đang bị khóa.",
        "throttled": "Bạn đã thử quá nhiều lần. Vui lòng thử lại sau.",
        "account_title": "Tài khoản định danh điện tử",
        "signed_in_as": "Đang đăng nhập:",
        "level": "mức",
        "passkeys": "Khóa truy cập (passkey)",
        "passkey_name": "Tên khóa",
        "created": "Ngày tạo",
        "last_used": "Lần dùng gần nhất",
        "no_passkeys": "Bạn chưa có khóa truy cập nào.",
        "add_passkey": "Thêm khóa truy cập",
        "default_passkey_name": "Điện thoại của tôi",
    },
    "en": {
        "title": "National electronic identity",
        "sign_in": "Sign in",
        "login_label": "Personal ID number (or staff username)",
        "password": "Password",
        "submit": "Sign in",
        "with_passkey": "Sign in with a passkey",
        "passkey_asked": "This service asks you to sign in with your passkey. "
        "Without it at hand, you can still sign in with your password.",
        "wrong": "The ID number or the password is wrong.",
        "signing_in_to": "Sign in to continue to",
        "consent_title": "Share your information",
        "consent_intro": "This service asks to receive the following information about you:",
        "allow": "Allow",
        "deny": "Deny",
        "error_title": "Cannot continue",
        "logout_title": "Sign out",
        "logout_confirm": "Do you want to sign out of the national identity portal?",
        "logout_done": "You are signed out.",
        "yes_logout": "Sign out",
        "language": "Tiếng Việt",
        "claim.name": "Full name",
        "claim.family_name": "Family name",
        "claim.given_name": "Given name",
        "claim.middle_name": "Middle name",
        "claim.birthdate": "Date of birth",
        "claim.gender": "Gender",
        "claim.address": "Permanent address",
        "claim.national_id": "Personal ID number",
        "passkey_failed": "Signing in with the passkey did not work.",
        "locked": "This electronic identity is locked.",
        "throttled": "Too many attempts. Please try again later.",
        "account_title": "Your electronic identity",
        "signed_in_as": "Signed in as",
        "level": "level",
        "passkeys": "Passkeys",
        "passkey_name": "Name",
        "created": "Created",
        "last_used": "Last used",
        "no_passkeys": "You have no passkeys yet.",
        "add_passkey": "Add a passkey",
        "default_passkey_name": "My phone",
    },
}


@cache
def _env() -> Environment:
    return Environment(
        loader=PackageLoader("identity", "templates"),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
    )


def pick_locale(request: Request, preferred: str | None = None) -> str:
    """ui_locales first, then the language cookie, then Accept-Language; Vietnamese by default."""
    if preferred in LOCALES:
        return preferred
    asked = request.query_params.get("lang") or request.cookies.get(LANG_COOKIE)
    if asked in LOCALES:
        return asked
    accept = request.headers.get("accept-language", "")
    for part in accept.split(","):
        tag = part.split(";")[0].strip().split("-")[0].lower()
        if tag in LOCALES:
            return tag
    return "vi"


def csrf_cookie(request: Request) -> tuple[str, bool]:
    """The browser's CSRF cookie value, and whether it is new (must be set on the response)."""
    value = request.cookies.get(CSRF_COOKIE)
    if value and 20 <= len(value) <= 100:
        return value, False
    return secrets.token_urlsafe(24), True


def csrf_token(settings: Settings, cookie_value: str) -> str:
    """The form token bound to the CSRF cookie (signed double-submit, OWASP CSRF cheat sheet)."""
    key = settings.derived_secret("csrf")
    return hmac.new(key, cookie_value.encode(), hashlib.sha256).hexdigest()


def csrf_ok(request: Request, settings: Settings, submitted: str | None) -> bool:
    """True when the submitted token matches the browser's CSRF cookie."""
    cookie = request.cookies.get(CSRF_COOKIE)
    if not cookie or not submitted:
        return False
    # Bytes: compare_digest refuses str with non-ASCII characters (a TypeError, so a 500).
    return hmac.compare_digest(csrf_token(settings, cookie).encode(), submitted.encode())


def set_cookie(
    response: Response, settings: Settings, name: str, value: str, *, max_age: int | None
) -> None:
    """HttpOnly, SameSite=Lax (the OIDC redirect back must carry it), Secure over HTTPS."""
    response.set_cookie(
        name, value, max_age=max_age, httponly=True, secure=settings.cookie_secure,
        samesite="lax", path="/",
    )  # fmt: skip


def render(
    request: Request,
    settings: Settings,
    template: str,
    *,
    locale: str,
    status_code: int = 200,
    context: Mapping[str, Any] | None = None,
) -> HTMLResponse:
    """Render a page with the locale's strings, a CSRF token and the security headers."""
    cookie, new = csrf_cookie(request)
    body = _env().get_template(template).render(
        t=TEXT[locale], lang=locale, other_lang="en" if locale == "vi" else "vi",
        csrf=csrf_token(settings, cookie), **(context or {}),
    )  # fmt: skip
    response = HTMLResponse(body, status_code=status_code, headers=PAGE_HEADERS)
    if new:
        set_cookie(response, settings, CSRF_COOKIE, cookie, max_age=None)
    return response
