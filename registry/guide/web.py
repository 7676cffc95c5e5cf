"""Rendering the guide's pages: its templates, then identity's base, in the registry's catalog."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from gettext import NullTranslations
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, PackageLoader

from core import i18n
from core.settings import Settings
from identity.web import page_environment, pick_locale, render_with
from registry.guide.assets import asset_urls


def translations(locale: str) -> NullTranslations:
    """The guide's messages in ``locale`` (registry/locale, then identity's shared ones)."""
    return i18n.translations(locale, "registry", "identity")


def gettext(locale: str, message: str) -> str:
    """One of the guide's messages in ``locale``."""
    return translations(locale).gettext(message)


@cache
def _env(locale: str) -> Environment:
    loader = ChoiceLoader(
        [PackageLoader("registry", "guide/templates"), PackageLoader("identity", "templates")]
    )
    return page_environment(loader, translations(locale))


def render_guide(
    request: Request,
    template: str,
    *,
    headers: Mapping[str, str] | None = None,
    context: Mapping[str, Any] | None = None,
) -> HTMLResponse:
    """A guide page in the visitor's language, with the pages' security headers (``headers``
    replace some of them)."""
    settings: Settings = request.app.state.settings
    locale = pick_locale(request)
    context = {"assets": asset_urls(), **(context or {})}
    response = render_with(
        _env(locale), request, settings, template, locale=locale, context=context
    )
    for name, value in (headers or {}).items():
        response.headers[name] = value
    return response
