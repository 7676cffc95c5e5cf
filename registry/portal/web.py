"""Rendering portal pages: templates (the portal's, then identity's base), locale, CSRF, headers."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from gettext import NullTranslations
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape

from core import i18n
from core.settings import Settings
from identity.web import CLAIMS, render_with


def translations(locale: str) -> NullTranslations:
    """The portal's messages in ``locale`` (registry/locale), then the provider's (the shared
    ones: title, sign-out, passkeys, ...)."""
    return i18n.translations(locale, "registry", "identity")


def gettext(locale: str, message: str) -> str:
    """One of the portal's messages in ``locale``."""
    return translations(locale).gettext(message)


def pgettext(locale: str, context: str, message: str) -> str:
    """One of the portal's messages in ``locale``, where its text alone is ambiguous."""
    return translations(locale).pgettext(context, message)


@cache
def _env(locale: str) -> Environment:
    env = Environment(
        loader=ChoiceLoader(
            [PackageLoader("registry", "portal/templates"), PackageLoader("identity", "templates")]
        ),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.globals["CLAIMS"] = CLAIMS
    return env


def render_page(
    request: Request,
    settings: Settings,
    template: str,
    *,
    locale: str,
    status_code: int = 200,
    context: Mapping[str, Any] | None = None,
) -> HTMLResponse:
    """A portal page with the security headers (CSP, no framing, no-store) and a CSRF token."""
    return render_with(
        _env(locale),
        request,
        settings,
        template,
        locale=locale,
        status_code=status_code,
        context=context,
    )
