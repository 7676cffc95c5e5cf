"""Server-rendered pages of the provider: templates, locale, CSRF, cookies, security headers."""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from collections.abc import Mapping
from functools import cache
from gettext import NullTranslations
from typing import Any

from fastapi import Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import BaseLoader, Environment, PackageLoader, select_autoescape

from core import i18n
from core.clock import time_text
from core.headers import NO_STORE
from core.i18n import LOCALES, N_
from core.settings import Settings

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

# What each OIDC claim is called on the consent page and in the portal's access log.
CLAIMS = {
    "name": N_("Họ và tên"),
    "family_name": N_("Họ"),
    "given_name": N_("Tên"),
    "middle_name": N_("Tên đệm"),
    "birthdate": N_("Ngày sinh"),
    "gender": N_("Giới tính"),
    "address": N_("Địa chỉ thường trú"),
    "national_id": N_("Số định danh cá nhân"),
}

# Shown where a sign-in or an unlock is throttled (the provider's and the portal's pages).
THROTTLED = N_("Bạn đã thử quá nhiều lần. Vui lòng thử lại sau.")
# Shown where a form's CSRF token does not match (the provider's and the portal's pages).
FORM_EXPIRED = N_("Biểu mẫu đã hết hạn. Vui lòng tải lại trang và thử lại.")


def translations(locale: str) -> NullTranslations:
    """The provider's messages in ``locale`` (identity/locale; Vietnamese is the source)."""
    return i18n.translations(locale, "identity")


def gettext(locale: str, message: str) -> str:
    """One of the provider's messages in ``locale``."""
    return translations(locale).gettext(message)


def page_environment(loader: BaseLoader, messages: NullTranslations) -> Environment:
    """A Jinja2 environment of pages: HTML autoescaped, the i18n extension with ``messages``
    (new-style gettext: ``_("... %(n)s", n=1)``), templates compiled once."""
    env = Environment(
        loader=loader,
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(messages, newstyle=True)  # type: ignore[attr-defined]
    return env


@cache
def _env(locale: str) -> Environment:
    env = page_environment(PackageLoader("identity", "templates"), translations(locale))
    env.globals["CLAIMS"] = CLAIMS
    env.globals["when"] = functools.partial(time_text, empty="—")
    return env


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
        name,
        value,
        max_age=max_age,
        httponly=True,
        secure=settings.cookie_secure,
        samesite="lax",
        path="/",
    )


def render(
    request: Request,
    settings: Settings,
    template: str,
    *,
    locale: str,
    status_code: int = 200,
    context: Mapping[str, Any] | None = None,
) -> HTMLResponse:
    """Render a page in the locale, a CSRF token and the security headers."""
    return render_with(
        _env(locale),
        request,
        settings,
        template,
        locale=locale,
        status_code=status_code,
        context=context,
    )


def render_with(
    environment: Environment,
    request: Request,
    settings: Settings,
    template: str,
    *,
    locale: str,
    status_code: int = 200,
    context: Mapping[str, Any] | None = None,
) -> HTMLResponse:
    """A page of ``environment``'s templates in the locale, with a CSRF token (set as a cookie
    when the browser has none) and the security headers."""
    cookie, new = csrf_cookie(request)
    body = environment.get_template(template).render(
        lang=locale,
        other_lang="en" if locale == "vi" else "vi",
        csrf=csrf_token(settings, cookie),
        **(context or {}),
    )
    response = HTMLResponse(body, status_code=status_code, headers=PAGE_HEADERS)
    if new:
        set_cookie(response, settings, CSRF_COOKIE, cookie, max_age=None)
    return response
