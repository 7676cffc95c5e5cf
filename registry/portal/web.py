"""Rendering portal pages: templates (the portal's, then identity's base), locale, CSRF, headers."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape

from core.settings import Settings
from identity.web import CSRF_COOKIE, PAGE_HEADERS, TEXT, csrf_cookie, csrf_token, set_cookie

# Portal strings; identity's TEXT supplies the shared ones (title, sign-out, passkeys, ...).
PORTAL_TEXT: dict[str, dict[str, str]] = {
    "vi": {
        "portal_title": "Cổng thông tin công dân",
        "nav_record": "Hồ sơ của tôi",
        "nav_access": "Ai đã truy cập dữ liệu của tôi",
        "nav_security": "Bảo mật",
        "nav_aliases": "Mã định danh thay thế",
        "nav_consents": "Dịch vụ đã cho phép",
        "console_title": "Bảng điều khiển kiểm toán",
        "field": "Trường thông tin",
        "value": "Giá trị",
        "last_changed": "Thay đổi lần cuối",
        "correction_help": "Nếu thông tin sai, hãy mang giấy tờ chứng minh đến cơ quan "
        "đăng ký hộ tịch hoặc công an nơi cư trú để yêu cầu đính chính.",
        "sign_in_needed": "Vui lòng đăng nhập.",
    },
    "en": {
        "portal_title": "Citizen portal",
        "nav_record": "My record",
        "nav_access": "Who accessed my data",
        "nav_security": "Security",
        "nav_aliases": "Alias IDs",
        "nav_consents": "Services I allowed",
        "console_title": "Audit console",
        "field": "Field",
        "value": "Value",
        "last_changed": "Last changed",
        "correction_help": "If something is wrong, bring a document proving it to the civil "
        "registry office or the police station where you live and ask for a correction.",
        "sign_in_needed": "Please sign in.",
    },
}


@cache
def _env() -> Environment:
    return Environment(
        loader=ChoiceLoader(
            [PackageLoader("registry", "portal/templates"), PackageLoader("identity", "templates")]
        ),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
    )


def strings(locale: str) -> dict[str, str]:
    """Identity's and the portal's strings of a locale."""
    return {**TEXT[locale], **PORTAL_TEXT[locale]}


def render_page(
    request: Request,
    settings: Settings,
    template: str,
    *,
    locale: str,
    status_code: int = 200,
    context: Mapping[str, Any] | None = None,
    text: Mapping[str, Mapping[str, str]] | None = None,
) -> HTMLResponse:
    """A portal page with the security headers (CSP, no framing, no-store) and a CSRF token;
    ``text`` adds a page module's own strings per locale."""
    cookie, new = csrf_cookie(request)
    words = {**strings(locale), **((text or {}).get(locale) or {})}
    body = _env().get_template(template).render(
        t=words, lang=locale, other_lang="en" if locale == "vi" else "vi",
        csrf=csrf_token(settings, cookie), **(context or {}),
    )  # fmt: skip
    response = HTMLResponse(body, status_code=status_code, headers=PAGE_HEADERS)
    if new:
        set_cookie(response, settings, CSRF_COOKIE, cookie, max_age=None)
    return response
