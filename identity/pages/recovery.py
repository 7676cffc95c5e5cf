"""The way back in, without being signed in: a forgotten password recovered with a registered
passkey, and unlocking an identity (with its passkey; with the password only when it has
none). The in-person activation code, the other way back, is identity.pages.account's."""

from __future__ import annotations

from fastapi import APIRouter, Request, Response

from core.deps import SessionDep
from core.errors import RegistryError
from core.i18n import N_
from core.inputs import OutsideTextRoute
from core.text import ID_NUMBER_RE
from identity import accounts, selfservice, signin
from identity.http_common import client_ip
from identity.pages.account import (
    FAILED,
    PASSWORD_PROBLEMS,
    account_page,
    expired,
    new_password_errors,
    posted,
    sealed_request,
    to_login,
)
from identity.services import ServicesDep
from identity.web import THROTTLED, gettext, pick_locale

router = APIRouter(route_class=OutsideTextRoute)

PROOF_MISSING = N_("Hãy xác nhận bằng khóa truy cập.")
PROOF_WRONG = N_("Xác nhận bằng khóa truy cập không hợp lệ hoặc đã hết hạn; hãy thử lại.")
UNLOCK_WRONG = N_("Số định danh hoặc mật khẩu không đúng.")
UNLOCK_NEEDS_PASSKEY = N_(
    "Danh tính này có khóa truy cập: hãy mở khóa bằng khóa truy cập, "
    "hoặc bằng mã kích hoạt do cán bộ cấp. Mật khẩu thôi không đủ."
)
UNLOCK_OFFICIAL = N_(
    "Danh tính này không do bạn khóa: hãy đến cơ quan công an để được cấp mã kích hoạt."
)
CLOSED = N_("Danh tính điện tử này đã đóng.")
LOCKED_NOW = N_("Danh tính điện tử của bạn đã bị khóa và bạn đã được đăng xuất ở mọi nơi.")


# ------------------------------------------------------------------------------ recovery


@router.get("/recover", include_in_schema=False)
async def recover_page(request: Request, services: ServicesDep, req: str = "") -> Response:
    """Forgot the password: recover with a passkey, or go to the activation code."""
    return account_page(
        request,
        services,
        "recover.html",
        locale=pick_locale(request),
        context={"req": sealed_request(services, req), "proof": ""},
    )


@router.post("/recover", include_in_schema=False)
async def recover_submit(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """A new password, once a passkey proved who it is; every session ends."""
    locale = pick_locale(request)
    fields = await posted(request, services)
    if fields is None:
        return expired(request, services, locale)
    req = sealed_request(services, fields.get("req"))
    proof = fields.get("proof", "")[:100]
    errors = new_password_errors(locale, fields, ())

    def again(status_code: int, error: str | None, kept: str = "") -> Response:
        return account_page(
            request,
            services,
            "recover.html",
            locale=locale,
            status_code=status_code,
            context={"req": req, "errors": errors, "error": error, "proof": kept},
        )

    if not proof:
        return again(400, gettext(locale, PROOF_MISSING))
    if errors:
        return again(400, None, proof)
    try:
        await selfservice.recover_with_passkey(
            session, services.ctx, proof=proof, new_password=fields.get("new_password", "")[:1024]
        )
    except RegistryError as exc:
        if not exc.commit_unit_of_work:
            await session.rollback()  # the proof stays unspent: only the password was wrong
        if isinstance(exc, selfservice.ProofInvalid):
            return again(403, gettext(locale, PROOF_WRONG))
        if isinstance(exc, accounts.AccountClosed):
            return again(403, gettext(locale, CLOSED))
        if exc.status != 422:
            return again(exc.status, gettext(locale, FAILED))
        # The policy's one rule the page cannot check before the proof names the account.
        errors["new_password"] = gettext(locale, PASSWORD_PROBLEMS["personal"])
        return again(400, None, proof)
    return to_login(req, "recovered")


# ------------------------------------------------------------------------------ unlock


def _unlock_page(
    request: Request,
    services: ServicesDep,
    locale: str,
    *,
    status_code: int = 200,
    message: str | None = None,
    error: str | None = None,
    errors: dict[str, str] | None = None,
    id_number: str = "",
) -> Response:
    return account_page(
        request,
        services,
        "unlock.html",
        locale=locale,
        status_code=status_code,
        context={
            "message": message,
            "error": error,
            "errors": errors or {},
            "id_number_value": id_number,
        },
    )


@router.get("/unlock", include_in_schema=False)
async def unlock_page(request: Request, services: ServicesDep) -> Response:
    """What locking does, and the ways to unlock: passkey, activation code, password."""
    locale = pick_locale(request)
    locked = request.query_params.get("locked") == "1"
    return _unlock_page(
        request, services, locale, message=gettext(locale, LOCKED_NOW) if locked else None
    )


@router.post("/unlock/passkey", include_in_schema=False)
async def unlock_with_passkey(
    request: Request, session: SessionDep, services: ServicesDep
) -> Response:
    """Unlock with the passkey the browser just proved."""
    locale = pick_locale(request)
    fields = await posted(request, services)
    if fields is None:
        return expired(request, services, locale)
    proof = fields.get("proof", "")[:100]
    if not proof:
        return _unlock_page(
            request, services, locale, status_code=400, error=gettext(locale, PROOF_MISSING)
        )
    try:
        await selfservice.unlock_with_passkey(session, proof=proof)
    except RegistryError as exc:
        if not exc.commit_unit_of_work:
            await session.rollback()
        message = (
            PROOF_WRONG
            if isinstance(exc, selfservice.ProofInvalid)
            else UNLOCK_OFFICIAL
            if isinstance(exc, accounts.AccountLocked)
            else CLOSED
        )
        return _unlock_page(
            request, services, locale, status_code=exc.status, error=gettext(locale, message)
        )
    return to_login("", "unlocked")


@router.post("/unlock", include_in_schema=False)
async def unlock_with_password(
    request: Request, session: SessionDep, services: ServicesDep
) -> Response:
    """Unlock with the ID number and password, for an identity without a passkey (counted like
    any failed sign-in)."""
    locale = pick_locale(request)
    fields = await posted(request, services)
    if fields is None:
        return expired(request, services, locale)
    login, password = fields.get("id_number", "").strip()[:12], fields.get("password", "")[:1024]

    def again(status_code: int, message: str, field: str | None = None) -> Response:
        shown = gettext(locale, message)
        return _unlock_page(
            request,
            services,
            locale,
            status_code=status_code,
            error=None if field else shown,
            errors={field: shown} if field else None,
            id_number=login,
        )

    if not ID_NUMBER_RE.fullmatch(login):
        return again(400, UNLOCK_WRONG, "password")
    try:
        account = await signin.unlock(
            session, services.ctx, login=login, password=password, client_ip=client_ip(request)
        )
    except accounts.PasskeyRequired:
        return again(403, UNLOCK_NEEDS_PASSKEY)
    except accounts.AccountLocked:
        return again(403, UNLOCK_OFFICIAL)
    except RegistryError as exc:
        if not exc.commit_unit_of_work:
            await session.rollback()
        if exc.status == 429:
            return again(429, THROTTLED)
        if exc.status == 401:
            return again(401, UNLOCK_WRONG, "password")
        return again(exc.status, CLOSED if isinstance(exc, accounts.AccountClosed) else FAILED)
    if account.status != "active":  # locked by failures or an official: a code is needed
        return again(403, UNLOCK_OFFICIAL)
    return to_login("", "unlocked")
