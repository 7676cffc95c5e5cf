"""Security: passkeys (rename, remove), sign-in history, locking the electronic identity,
and the public page that unlocks it."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Path, Request, Response

from core.deps import SessionDep
from core.errors import RegistryError
from core.i18n import N_
from core.inputs import OutsideTextRoute
from core.text import ID_NUMBER_RE
from identity import accounts
from identity.web import FORM_EXPIRED, THROTTLED, pick_locale
from registry.agency.policy import purposes
from registry.portal import labels, service
from registry.portal.citizen.common import (
    Lang,
    back,
    citizen,
    citizen_form,
    coded,
    error_page,
    failed,
    form_action,
    notice,
    page,
    posted,
)
from registry.portal.pages import ServicesDep
from registry.portal.session import SESSION_COOKIE, end_session
from registry.portal.web import gettext

router = APIRouter(route_class=OutsideTextRoute, include_in_schema=False)

UNLOCK_WRONG = N_("Số định danh hoặc mật khẩu không đúng.")
UNLOCK_OFFICIAL = N_(
    "Danh tính này không do bạn khóa: hãy đến cơ quan công an để được cấp mã kích hoạt."
)


@router.get("/portal/security")
async def security_page(
    request: Request, session: SessionDep, services: ServicesDep, lang: Lang = None
) -> Response:
    """Passkeys (add, rename, remove), sign-in history, and the lock."""
    user = await citizen(request, session, services, path=request.url.path)
    if isinstance(user, Response):
        return user
    locale = pick_locale(request, lang)
    overview = await service.security_overview(session, user.principal, user.account)
    statutory = [
        p.name_vi if locale == "vi" else p.name_en for p in purposes().values() if p.overrides_lock
    ]
    sign_ins = [
        {
            **s,
            "method": coded(locale, labels.SIGN_IN_METHODS, s["method"], s["method"] or "—"),
            "reason": coded(locale, labels.SIGN_IN_REASONS, s["reason"], s["reason"])
            if s["reason"]
            else "",
            "outcome": coded(locale, labels.OUTCOMES, s["outcome"], s["outcome"]),
            "outcome_code": s["outcome"],
        }
        for s in overview["sign_ins"]
    ]
    return page(
        request,
        services,
        "citizen_security.html",
        locale=locale,
        context={
            **overview,
            "sign_ins": sign_ins,
            "statutory": statutory,
            **notice(request, locale),
        },
    )


@router.post("/portal/security/passkeys/{passkey_id}/rename")
async def rename_passkey(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    passkey_id: Annotated[str, Path(max_length=36)],
) -> Response:
    """Give a passkey a new name."""
    return await form_action(
        request,
        session,
        services,
        path="/portal/security",
        act=lambda user, fields: service.rename_passkey(
            session, user.account, passkey_id=passkey_id, name=fields.get("name", "")[:200]
        ),
        done="renamed",
        error=lambda exc: "failed" if exc.status == 404 else "passkey_name",
    )


@router.post("/portal/security/passkeys/{passkey_id}/remove")
async def remove_passkey(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    passkey_id: Annotated[str, Path(max_length=36)],
) -> Response:
    """Remove a passkey."""
    return await form_action(
        request,
        session,
        services,
        path="/portal/security",
        act=lambda user, _: service.remove_passkey(session, user.account, passkey_id=passkey_id),
        done="removed",
    )


@router.post("/portal/security/lock")
async def lock_identity(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """Lock the electronic identity; the portal session ends with every other sign-in."""
    signed = await citizen_form(request, session, services, path="/portal/security")
    if isinstance(signed, Response):
        return signed
    user, fields = signed
    if fields.get("confirm") != "yes":
        return back("/portal/security", error="lock_confirm")
    try:
        await service.lock_identity(session, user.account)
    except RegistryError as exc:
        await failed(session, exc)
        return back("/portal/security", error="failed")
    await end_session(request, session)
    response = back("/portal/unlock", locked="1")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/portal/unlock")
async def unlock_page(request: Request, services: ServicesDep, lang: Lang = None) -> Response:
    """The public unlock page (a locked identity cannot sign in to reach the portal)."""
    locale = pick_locale(request, lang)
    state = request.query_params.get("state")
    message = (
        gettext(locale, "Danh tính điện tử đã được mở khóa. Bạn có thể đăng nhập lại.")
        if state == "done"
        else None
    )
    if request.query_params.get("locked") == "1":
        message = gettext(locale, "Danh tính điện tử của bạn đã bị khóa và bạn đã được đăng xuất.")
    return page(
        request,
        services,
        "citizen_unlock.html",
        locale=locale,
        context={"message": message, "done": state == "done"},
    )


@router.post("/portal/unlock")
async def unlock_submit(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """Unlock with the ID number and the password (counted like any failed sign-in)."""
    locale = pick_locale(request)
    fields = await posted(request, services)
    if fields is None:
        return error_page(request, services, locale, gettext(locale, FORM_EXPIRED), 403)
    login, password = fields.get("id_number", "").strip()[:12], fields.get("password", "")[:1024]

    def again(message: str, status_code: int) -> Response:
        return page(
            request,
            services,
            "citizen_unlock.html",
            locale=locale,
            status_code=status_code,
            context={"error": gettext(locale, message), "id_number": login},
        )

    if not ID_NUMBER_RE.fullmatch(login):
        return again(UNLOCK_WRONG, 401)
    try:
        account = await service.unlock_identity(
            session,
            services.ctx,
            login=login,
            password=password,
            client_ip=request.client.host if request.client else None,
        )
    except accounts.AccountLocked:
        return again(UNLOCK_OFFICIAL, 403)
    except RegistryError as exc:
        await failed(session, exc)
        if exc.status == 429:
            return again(THROTTLED, 429)
        return again(UNLOCK_WRONG if exc.status == 401 else labels.ERRORS["failed"], exc.status)
    if account.status != "active":  # locked by failures or an official: a code is needed
        return again(UNLOCK_OFFICIAL, 403)
    return back("/portal/unlock", state="done")
