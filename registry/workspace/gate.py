"""Who may use the workspace: staff holding the official role, signed in with a passkey.

Everyone else is sent to sign in (nobody signed in) or refused with a page saying why; a
refusal is an audit event of the page asked for, in the request's unit of work, like the
console's and the citizen portal's.
"""

from __future__ import annotations

from typing import Literal
from urllib.parse import urlencode

from fastapi import Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from audit.gate import named_subject
from core.auth import Principal
from core.headers import NO_STORE
from core.settings import Settings
from identity.web import csrf_ok, pick_locale
from registry.portal.service import record_view
from registry.portal.session import PortalUser, current_user
from registry.workspace.web import render

Access = Literal["ok", "login", "passkey", "forbidden"]


def access(user: PortalUser | None) -> Access:
    """The verdict on one portal user (a staff password session holds only staff_enrolment)."""
    if user is None:
        return "login"
    if user.account.kind != "staff":
        return "forbidden"
    if "official" in user.principal.roles:
        return "ok"
    if "staff_enrolment" in user.principal.roles:
        return "passkey"
    return "forbidden"


def to_login(request: Request) -> RedirectResponse:
    """Sign in first, then come back to this page."""
    target = request.url.path
    if request.url.query:
        target += "?" + request.url.query
    return RedirectResponse(
        "/portal/login?" + urlencode({"next": target}), status_code=303, headers=NO_STORE
    )


async def official(
    request: Request, session: AsyncSession, settings: Settings
) -> Principal | Response:
    """The signed-in official, or the response for everyone else (the refusal recorded)."""
    user = await current_user(request, session, settings)
    verdict = access(user)
    if verdict == "ok" and user is not None:
        return user.principal
    if verdict == "login" or user is None:
        return to_login(request)
    await record_view(
        session,
        user.principal,
        page=request.url.path[:100],
        subject=named_subject(request),
        refused="passkey_required" if verdict == "passkey" else "not_official",
    )
    return refusal(request, settings, verdict)


def refusal(request: Request, settings: Settings, notice: str) -> Response:
    """The 403 page saying why (passkey, forbidden, expired form)."""
    return render(
        request,
        settings,
        "ws_notice.html",
        locale=pick_locale(request),
        status_code=403,
        context={"notice": notice},
    )


async def official_form(
    request: Request, session: AsyncSession, settings: Settings
) -> tuple[Principal, dict[str, str]] | Response:
    """The signed-in official and the posted fields, CSRF checked; or the refusing response."""
    who = await official(request, session, settings)
    if isinstance(who, Response):
        return who
    form = await request.form()
    posted = {k: v for k, v in form.items() if isinstance(v, str)}
    if not csrf_ok(request, settings, posted.get("csrf")):
        return refusal(request, settings, "expired")
    return who, posted
