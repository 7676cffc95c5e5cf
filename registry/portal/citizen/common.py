"""What the citizen's pages share: the gate (a signed-in citizen), forms with CSRF and
POST-redirect-GET, notices after a form, labels of codes, times in Vietnamese time."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from datetime import datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from core.clock import time_text
from core.errors import RegistryError
from core.headers import NO_STORE
from core.i18n import LOCALES
from identity.services import IdentityServices
from identity.web import CLAIMS, FORM_EXPIRED, LANG_COOKIE, csrf_ok, pick_locale, set_cookie
from registry.portal import labels, service
from registry.portal.pages import portal_user
from registry.portal.session import PortalUser
from registry.portal.web import gettext, render_page

Lang = Annotated[str | None, Query(max_length=2)]
EventUid = Annotated[str, Path(min_length=1, max_length=64)]


def coded(locale: str, table: Mapping[str, str], code: str | None, default: str) -> str:
    """The label of a code from one of the tables in registry.portal.labels, in the locale."""
    found = table.get(code) if code is not None else None
    return gettext(locale, found) if found is not None else default


def field_label(name: str, locale: str) -> str:
    """A record field or an OIDC claim, as the citizen reads it."""
    found = labels.FIELDS.get(name) or CLAIMS.get(name)
    return gettext(locale, found) if found else name.replace("_", " ").capitalize()


def when(value: datetime | None) -> str:
    """A timestamp in Vietnamese time, dd/mm/yyyy HH:MM (the pages say so in their headings)."""
    return time_text(value, empty="—")


def page(
    request: Request,
    services: IdentityServices,
    template: str,
    *,
    locale: str,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    """Render one of these pages; ``?lang=`` also sets the language cookie (the switch sticks)."""
    response = render_page(
        request,
        services.settings,
        template,
        locale=locale,
        status_code=status_code,
        context={"when": when, **(context or {})},
    )
    if request.query_params.get("lang") in LOCALES:
        set_cookie(response, services.settings, LANG_COOKIE, locale, max_age=31_536_000)
    return response


def error_page(
    request: Request, services: IdentityServices, locale: str, message: str, status_code: int
) -> Response:
    """The shared error page."""
    return page(
        request,
        services,
        "error.html",
        locale=locale,
        status_code=status_code,
        context={"message": message},
    )


def to_login(path: str) -> RedirectResponse:
    """Sign in first, then come back to ``path``."""
    return RedirectResponse(
        "/portal/login?" + urlencode({"next": path}), status_code=303, headers=NO_STORE
    )


def back(path: str, **params: str) -> RedirectResponse:
    """The 303 that ends a form POST (POST-redirect-GET)."""
    target = path + ("?" + urlencode(params) if params else "")
    return RedirectResponse(target, status_code=303, headers=NO_STORE)


async def citizen(
    request: Request, session: AsyncSession, services: IdentityServices, *, path: str
) -> PortalUser | Response:
    """The signed-in citizen; otherwise the answer: sign in first (then back to ``path``), or
    403 for staff signed in to the console (a redirect to sign in again would loop)."""
    user = await portal_user(request, session, services)
    if user is None:
        return to_login(path)
    if user.citizen_id is None:
        await service.record_view(
            session,
            user.principal,
            page=request.url.path[:100],
            subject=None,
            refused="citizens_only",
        )
        locale = pick_locale(request)
        return error_page(
            request,
            services,
            locale,
            gettext(locale, "Các trang này dành cho công dân đăng nhập bằng số định danh cá nhân."),
            403,
        )
    return user


async def posted(request: Request, services: IdentityServices) -> dict[str, str] | None:
    """The form's fields when its CSRF token matches this browser; None otherwise."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return fields if csrf_ok(request, services.settings, fields.get("csrf")) else None


async def citizen_form(
    request: Request, session: AsyncSession, services: IdentityServices, *, path: str
) -> tuple[PortalUser, dict[str, str]] | Response:
    """The signed-in citizen and the posted fields (CSRF checked), or the refusing response."""
    user = await citizen(request, session, services, path=path)
    if isinstance(user, Response):
        return user
    fields = await posted(request, services)
    if fields is None:
        locale = pick_locale(request)
        return error_page(request, services, locale, gettext(locale, FORM_EXPIRED), 403)
    return user, fields


def notice(request: Request, locale: str) -> dict[str, str | None]:
    """The message a redirect after a form asked for (only known keys are shown)."""
    done, error = request.query_params.get("done"), request.query_params.get("error")
    failed = gettext(locale, labels.ERRORS["failed"])
    shown_error = coded(locale, labels.ERRORS, error, failed) if error else None
    return {"done": coded(locale, labels.DONE, done, "") or None, "error": shown_error}


async def failed(session: AsyncSession, exc: RegistryError) -> None:
    """Undo what a refused form did, unless the refusal's own record must be kept."""
    if not exc.commit_unit_of_work:
        await session.rollback()


async def form_action(
    request: Request,
    session: AsyncSession,
    services: IdentityServices,
    *,
    path: str,
    act: Callable[[PortalUser, dict[str, str]], Awaitable[object]],
    done: str,
    error: Callable[[RegistryError], str] = lambda _exc: "failed",
) -> Response:
    """A form that does one thing for the signed-in citizen: ``act``, then back to ``path``
    saying ``done``, or, refused, saying ``error(refusal)`` with its writes undone."""
    signed = await citizen_form(request, session, services, path=path)
    if isinstance(signed, Response):
        return signed
    try:
        await act(*signed)
    except RegistryError as exc:
        await failed(session, exc)
        return back(path, error=error(exc))
    return back(path, done=done)
