"""Rendering the workspace's pages: its templates, then the portal's and identity's (the base
page), the registry's catalog then identity's, CSRF and the security headers."""

from __future__ import annotations

from collections.abc import Mapping
from functools import cache
from pathlib import Path
from typing import Any

from fastapi import APIRouter, Request, Response
from fastapi.responses import HTMLResponse
from jinja2 import ChoiceLoader, Environment, PackageLoader, select_autoescape

from core.i18n import LOCALES
from core.inputs import OutsideTextRoute
from core.settings import Settings
from identity.web import LANG_COOKIE, render_with, set_cookie
from registry.portal.web import translations
from registry.workspace import values

STYLESHEET = Path(__file__).resolve().parent / "static" / "workspace.css"
router = APIRouter(route_class=OutsideTextRoute, include_in_schema=False)


@cache
def _env(locale: str) -> Environment:
    env = Environment(
        loader=ChoiceLoader(
            [
                PackageLoader("registry", "workspace/templates"),
                PackageLoader("registry", "portal/templates"),
                PackageLoader("identity", "templates"),
            ]
        ),
        autoescape=select_autoescape(["html"]),
        auto_reload=False,
        extensions=["jinja2.ext.i18n"],
    )
    env.install_gettext_translations(translations(locale), newstyle=True)  # type: ignore[attr-defined]
    env.globals["show_date"] = values.show_date
    env.globals["show_instant"] = values.show_instant
    return env


def render(
    request: Request,
    settings: Settings,
    template: str,
    *,
    locale: str,
    status_code: int = 200,
    context: Mapping[str, Any] | None = None,
) -> HTMLResponse:
    """A workspace page; ``?lang=`` also sets the language cookie (the switch sticks)."""
    response = render_with(
        _env(locale),
        request,
        settings,
        template,
        locale=locale,
        status_code=status_code,
        context={"workspace": True, **(context or {})},
    )
    if request.query_params.get("lang") in LOCALES:
        set_cookie(response, settings, LANG_COOKIE, locale, max_age=31_536_000)
    return response


@router.get("/workspace/static/workspace.css")
async def stylesheet() -> Response:
    """The workspace's own styles (same origin, so the CSP stays 'self')."""
    return Response(
        STYLESHEET.read_bytes(),
        media_type="text/css",
        headers={"Cache-Control": "public, max-age=300", "X-Content-Type-Options": "nosniff"},
    )
