"""Security: the password (changed with the current one or a passkey), devices and sessions
(sign out one, or everywhere), passkeys (rename, remove), the history of sign-ins and changes,
and locking the electronic identity. Unlocking is the provider's page (/unlock): a locked
identity cannot sign in to reach the portal."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from core.deps import SessionDep
from core.errors import RegistryError
from core.i18n import N_
from core.inputs import OutsideTextRoute
from identity import accounts, selfservice
from identity.pages.account import PASSWORD_PROBLEMS, new_password_errors
from identity.services import IdentityServices
from identity.web import THROTTLED, pick_locale
from registry.agency.policy import purposes
from registry.portal import labels, service
from registry.portal.citizen.access import action_label
from registry.portal.citizen.common import (
    Lang,
    back,
    citizen,
    citizen_form,
    coded,
    failed,
    form_action,
    notice,
    page,
)
from registry.portal.pages import ServicesDep
from registry.portal.session import SESSION_COOKIE, PortalUser, end_session
from registry.portal.web import gettext

router = APIRouter(route_class=OutsideTextRoute, include_in_schema=False)

CURRENT_MISSING = N_("Hãy nhập mật khẩu hiện tại hoặc xác nhận bằng khóa truy cập.")
CURRENT_WRONG = N_("Mật khẩu hiện tại không đúng.")
PROOF_WRONG = N_("Xác nhận bằng khóa truy cập không hợp lệ hoặc đã hết hạn; hãy thử lại.")
# A device in the list of sessions: "Chrome trên Android".
ON_SYSTEM = N_("%(browser)s trên %(system)s")
UNKNOWN_BROWSER = N_("Trình duyệt không rõ")
UNKNOWN_SYSTEM = N_("hệ điều hành không rõ")
DONE = {
    "password": N_("Đã đổi mật khẩu. Mọi phiên đăng nhập khác đã kết thúc."),
    "session_ended": N_("Đã đăng xuất thiết bị đó."),
}


async def _security(
    request: Request,
    session: AsyncSession,
    services: IdentityServices,
    user: PortalUser,
    *,
    locale: str,
    status_code: int = 200,
    password: Mapping[str, Any] | None = None,
) -> Response:
    overview = await service.security_overview(
        session, user.principal, user.account, current_grant=user.row.grant_id
    )
    statutory = [
        p.name_vi if locale == "vi" else p.name_en for p in purposes().values() if p.overrides_lock
    ]

    def worded(s: Mapping[str, Any]) -> dict[str, Any]:
        return {
            **s,
            "method": coded(locale, labels.SIGN_IN_METHODS, s["method"], s["method"] or "—"),
            "reason": coded(locale, labels.SIGN_IN_REASONS, s["reason"], s["reason"])
            if s["reason"]
            else "",
            "outcome": coded(locale, labels.OUTCOMES, s["outcome"], s["outcome"]),
            "outcome_code": s["outcome"],
        }

    changes = [
        {
            **worded(c),
            "action": action_label(c["action"], locale),
            "action_code": c["action"],
        }
        for c in overview["changes"]
    ]
    shown = {**notice(request, locale)}
    done = request.query_params.get("done")
    if done in DONE:
        shown["done"] = gettext(locale, DONE[done])
    return page(
        request,
        services,
        "citizen_security.html",
        locale=locale,
        status_code=status_code,
        context={
            **overview,
            "sign_ins": [worded(s) for s in overview["sign_ins"]],
            "changes": changes,
            "sessions": [_session_row(locale, s) for s in overview["sessions"]],
            "statutory": statutory,
            "password": password or {"errors": {}},
            **shown,
        },
    )


def _session_row(locale: str, s: selfservice.SessionSummary) -> dict[str, Any]:
    """A session as the devices list shows it: the device in words, the method by name."""
    browser = s.device.browser or gettext(locale, UNKNOWN_BROWSER)
    system = s.device.system or gettext(locale, UNKNOWN_SYSTEM)
    return {
        "sid": s.sid,
        "device": gettext(locale, ON_SYSTEM) % {"browser": browser, "system": system},
        "phone": s.device.phone,
        "ip": s.ip or "—",
        "signed_in_at": s.signed_in_at,
        "last_seen_at": s.last_seen_at,
        "method": coded(locale, labels.SIGN_IN_METHODS, s.method, s.method),
        "current": s.current,
    }


@router.get("/portal/security")
async def security_page(
    request: Request, session: SessionDep, services: ServicesDep, lang: Lang = None
) -> Response:
    """The password, devices and sessions, passkeys, the history, and the lock."""
    user = await citizen(request, session, services, path=request.url.path)
    if isinstance(user, Response):
        return user
    return await _security(request, session, services, user, locale=pick_locale(request, lang))


@router.post("/portal/security/password")
async def change_password(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """A new password, confirmed with the current one or a passkey; every other session ends
    (this one stays), with the grants made in them."""
    signed = await citizen_form(request, session, services, path="/portal/security")
    if isinstance(signed, Response):
        return signed
    user, fields = signed
    locale = pick_locale(request)
    current, proof = fields.get("current_password", "")[:1024], fields.get("proof", "")[:100]
    errors = new_password_errors(locale, fields, (user.account.citizen_id or "",))
    if not current and not proof:
        errors["current_password"] = gettext(locale, CURRENT_MISSING)
    if not errors:
        try:
            ended = await selfservice.change_password(
                session,
                services.ctx,
                user.account,
                current_password=current or None,
                proof=proof or None,
                new_password=fields.get("new_password", "")[:1024],
                keep_sid=await _current_sid(session, user),
            )
        except RegistryError as exc:
            await failed(session, exc)
            field, message = _password_refusal(exc)
            errors[field] = gettext(locale, message)
        else:
            return back("/portal/security", done="password", ended=str(ended))
    return await _security(
        request,
        session,
        services,
        user,
        locale=locale,
        status_code=400,
        password={"errors": errors},
    )


def _password_refusal(exc: RegistryError) -> tuple[str, str]:
    """Where a refused password change says why, and what."""
    if isinstance(exc, selfservice.ProofInvalid):
        return "current_password", PROOF_WRONG
    if exc.status == 401:
        return "current_password", CURRENT_WRONG
    if exc.status == 429:
        return "current_password", THROTTLED
    if exc.status == 422:
        return "new_password", PASSWORD_PROBLEMS["personal"]
    return "current_password", labels.ERRORS["failed"]


async def _current_sid(session: AsyncSession, user: PortalUser) -> str | None:
    grant = await accounts.grant_state(session, user.row.grant_id)
    return grant.session_sid if grant else None


@router.post("/portal/security/sessions/{sid}/end")
async def end_session_elsewhere(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    sid: Annotated[str, Path(max_length=36)],
) -> Response:
    """Sign out one other device."""
    return await form_action(
        request,
        session,
        services,
        path="/portal/security",
        act=lambda user, _: selfservice.sign_out_session(session, user.account, sid=sid),
        done="session_ended",
    )


@router.post("/portal/security/sessions/end-all")
async def sign_out_everywhere(
    request: Request, session: SessionDep, services: ServicesDep
) -> Response:
    """Sign out everywhere, this browser too: every session ends, every grant is revoked."""
    signed = await citizen_form(request, session, services, path="/portal/security")
    if isinstance(signed, Response):
        return signed
    user, _ = signed
    await selfservice.sign_out_everywhere(session, user.account)
    await end_session(request, session)
    response = back("/login", notice="everywhere")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


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
        act=lambda user, _: service.remove_passkey(session, user, passkey_id=passkey_id),
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
    response = back("/unlock", locked="1")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/portal/unlock")
async def unlock_page() -> Response:
    """The unlock page moved to the provider, which a locked identity reaches unsigned."""
    return back("/unlock")
