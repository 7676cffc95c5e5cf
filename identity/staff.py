"""The staff lifecycle: create, list, show, disable, enable, set roles, and reset a staff
member's passkeys with a one-time enrolment code handed over in person.

Every change is an audit event naming who made it: an administrator signed in with a passkey,
or the operator who ran the ``registry staff`` command (``cli:<system user>``). The staff
account changed is named in the event's detail (staff are not citizens: no subject).
"""

from __future__ import annotations

import hmac
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from audit import recording as audit
from audit.events import (
    STAFF_CREATE,
    STAFF_DISABLE,
    STAFF_ENABLE,
    STAFF_ENROL,
    STAFF_RESET,
    STAFF_SET_ROLES,
    STAFF_VIEW,
)
from core.auth import Principal
from core.clock import utcnow
from core.digests import sha256_hex
from core.errors import (
    Conflict,
    FieldError,
    NotFound,
    RegistryError,
    Unauthenticated,
    ValidationFailed,
)
from identity import repository as repo
from identity import staff_repository as srepo
from identity.accounts import (
    Account,
    IdentityContext,
    _canonical_code,
    _new_activation_code,
    create_staff,
    staff_principal,
    staff_username_ok,
)
from identity.models import STAFF_ROLES, StaffEnrolmentCode
from identity.signin import _check_address, _count_address_failure

ROLES = STAFF_ROLES  # what a staff account may hold, for the administrator's pages

# Wrong codes a code survives; then it is spent and the administrator issues another.
MAX_CODE_ATTEMPTS = 5
DISABLED = "disabled"  # the lock reason of a staff account an administrator disabled


class StaffChangeRefused(Conflict):
    """A change the rules refuse; ``extensions["reason"]`` says which rule (the page's key)."""


async def _refused(
    session: AsyncSession, actor: Principal, action: str, username: str, detail: str, reason: str
) -> RegistryError:
    """A refused change, recorded (denied, naming who asked and why) before it is answered."""
    return await audit.refuse(
        session,
        StaffChangeRefused(detail, extensions={"reason": reason}),
        actor=actor,
        action=action,
        outcome="denied",
        detail={"username": username, "reason": reason},
    )


def operator_principal(operator: str) -> Principal:
    """The actor of a ``registry staff`` command: the system user who ran it on the server."""
    name = "".join(ch for ch in operator if ch.isalnum() or ch in "._-")[:60] or "unknown"
    return Principal(
        actor_type="administrator", actor_id="cli:" + name, roles=frozenset({"administrator"})
    )


def administrator_principal(principal: Principal) -> Principal:
    """An administrator acting as such: recorded as an administrator, whatever other roles."""
    return Principal(
        actor_type="administrator",
        actor_id=principal.actor_id,
        roles=principal.roles,
        auth_methods=principal.auth_methods,
    )


# ------------------------------------------------------------------------------ reading


@dataclass(frozen=True, slots=True)
class CodeState:
    """A staff member's latest enrolment code, as an administrator sees it (never the code)."""

    state: str  # pending | used | expired | spent (too many wrong attempts)
    issued_by: str
    created_at: datetime | None
    expires_at: datetime
    used_at: datetime | None
    failed_attempts: int


@dataclass(frozen=True, slots=True)
class StaffSummary:
    """A staff account as the list and the detail show it."""

    username: str
    display_name: str
    roles: tuple[str, ...]
    status: str  # active | disabled | locked (after failed sign-ins)
    passkeys: int
    last_sign_in: datetime | None
    live_sessions: int
    created_at: datetime | None
    code: CodeState | None = None
    passkey_list: tuple[dict[str, Any], ...] = field(default_factory=tuple)


def status_of(account: Account) -> str:
    """active, disabled (by an administrator) or locked (after failed sign-ins)."""
    if account.status == "active":
        return "active"
    return DISABLED if account.lock_reason == DISABLED else "locked"


def _code_state(row: StaffEnrolmentCode, now: datetime) -> CodeState:
    if row.used_at is not None:
        state = "used"
    elif row.failed_attempts >= MAX_CODE_ATTEMPTS:
        state = "spent"
    elif row.expires_at <= now:
        state = "expired"
    else:
        state = "pending"
    return CodeState(
        state, row.issued_by, row.created_at, row.expires_at, row.used_at, row.failed_attempts
    )


def _summary(row: srepo.StaffRow) -> StaffSummary:
    account = row.account
    return StaffSummary(
        username=account.username or "",
        display_name=account.display_name or "",
        roles=tuple(account.roles.split()),
        status=status_of(account),
        passkeys=row.passkeys,
        last_sign_in=row.last_sign_in,
        live_sessions=row.live_sessions,
        created_at=account.created_at,
    )


async def list_staff(session: AsyncSession, *, actor: Principal) -> list[StaffSummary]:
    """Every staff account, by username; the view is recorded."""
    found = [_summary(row) for row in await srepo.staff_rows(session)]
    await audit.record(
        session, actor=actor, action=STAFF_VIEW, outcome="granted", detail={"listed": len(found)}
    )
    return found


async def show_staff(session: AsyncSession, *, actor: Principal, username: str) -> StaffSummary:
    """One staff account with its passkeys and enrolment code; the view is recorded."""
    rows = await srepo.staff_rows(session, username=username) if _plausible(username) else []
    if not rows:
        raise await _not_found(session, actor, STAFF_VIEW)
    summary = _summary(rows[0])
    code = await srepo.enrolment_code(session, rows[0].account.id)
    keys = await repo.passkeys_of(session, rows[0].account.id)
    await audit.record(
        session, actor=actor, action=STAFF_VIEW, outcome="granted", detail={"username": username}
    )
    return replace(
        summary,
        code=_code_state(code, utcnow()) if code is not None else None,
        passkey_list=tuple(
            {"name": p.name, "created_at": p.created_at, "last_used_at": p.last_used_at}
            for p in keys
        ),
    )


async def _not_found(session: AsyncSession, actor: Principal, action: str) -> NotFound:
    error = await audit.refuse(
        session,
        NotFound("No staff account has this username."),
        actor=actor,
        action=action,
        outcome="not_found",
    )
    return error  # type: ignore[return-value]


def _plausible(username: str) -> bool:
    return staff_username_ok(username)


async def _staff_for_change(
    session: AsyncSession, actor: Principal, username: str, action: str
) -> Account:
    account = (
        await repo.account_by_username(session, username, for_update=True)
        if _plausible(username)
        else None
    )
    if account is None or account.kind != "staff":
        raise await _not_found(session, actor, action)
    return account


def check_roles(roles: tuple[str, ...]) -> tuple[str, ...]:
    """The roles, sorted, if each is a staff role and there is at least one."""
    unknown = sorted(set(roles) - set(STAFF_ROLES))
    if not roles or unknown:
        raise ValidationFailed(
            "Staff roles must be among: " + ", ".join(STAFF_ROLES) + ".",
            errors=[FieldError("unknown or missing role", parameter="roles")],
        )
    return tuple(sorted(set(roles)))


async def _keeps_an_administrator(session: AsyncSession, account: Account) -> bool:
    """Whether another active administrator remains if this account stops being one."""
    if account.status != "active" or "administrator" not in account.roles.split():
        return True
    return await srepo.count_active_administrators(session) > 1


# ------------------------------------------------------------------------------ changes


async def create(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    actor: Principal,
    username: str,
    display_name: str,
    roles: tuple[str, ...],
    password: str | None,
    office: str | None = None,
) -> tuple[Account, tuple[str, datetime] | None]:
    """A staff account, and its enrolment code when it was given no password (the first
    sign-in is then with the code); either way a passkey is registered at the first sign-in.
    ``office``: where they work, as citizens read it in their access log."""
    account = await create_staff(
        session,
        ctx,
        username=username,
        display_name=display_name,
        roles=check_roles(roles),
        password=password,
        office=office,
    )
    await audit.record(
        session,
        actor=actor,
        action=STAFF_CREATE,
        outcome="granted",
        detail={"username": username, "roles": account.roles, "password": password is not None},
    )
    if password is not None:
        return account, None
    return account, await _issue_code(session, ctx, actor, account)


async def disable(session: AsyncSession, *, actor: Principal, username: str) -> Account:
    """Disable a staff account: its sessions end and its tokens stop working at once."""
    account = await _staff_for_change(session, actor, username, STAFF_DISABLE)
    if actor.actor_id == username:
        raise await _refused(
            session, actor, STAFF_DISABLE, username, "You cannot disable your own account.", "self"
        )
    if not await _keeps_an_administrator(session, account):
        raise await _refused(
            session,
            actor,
            STAFF_DISABLE,
            username,
            "The last active administrator cannot be disabled.",
            "last_administrator",
        )
    now = utcnow()
    account.status, account.lock_reason, account.locked_at = "locked", DISABLED, now
    account.updated_at = now
    await _end_access(session, account, now)
    await audit.record(
        session, actor=actor, action=STAFF_DISABLE, outcome="granted", detail={"username": username}
    )
    return account


async def enable(session: AsyncSession, *, actor: Principal, username: str) -> Account:
    """Enable a disabled staff account (or one locked after failed sign-ins)."""
    account = await _staff_for_change(session, actor, username, STAFF_ENABLE)
    if account.status == "closed":
        raise await _refused(
            session, actor, STAFF_ENABLE, username, "A closed account cannot be enabled.", "closed"
        )
    account.status, account.lock_reason, account.locked_at = "active", None, None
    account.failed_logins, account.throttled_until, account.updated_at = 0, None, utcnow()
    await session.flush()
    await audit.record(
        session, actor=actor, action=STAFF_ENABLE, outcome="granted", detail={"username": username}
    )
    return account


async def set_roles(
    session: AsyncSession, *, actor: Principal, username: str, roles: tuple[str, ...]
) -> Account:
    """Replace a staff member's roles (effective on their next request)."""
    wanted = check_roles(roles)
    account = await _staff_for_change(session, actor, username, STAFF_SET_ROLES)
    before = account.roles
    if "administrator" not in wanted and not await _keeps_an_administrator(session, account):
        raise await _refused(
            session,
            actor,
            STAFF_SET_ROLES,
            username,
            "The last active administrator keeps the administrator role.",
            "last_administrator",
        )
    account.roles, account.updated_at = " ".join(wanted), utcnow()
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action=STAFF_SET_ROLES,
        outcome="granted",
        detail={"username": username, "before": before, "after": account.roles},
    )
    return account


async def reset(
    session: AsyncSession, ctx: IdentityContext, *, actor: Principal, username: str
) -> tuple[str, datetime]:
    """A lost or stolen device: the staff member's passkeys and password stop working, their
    sessions end, their tokens are revoked, and a one-time enrolment code is issued (shown
    once, to hand over in person) with which they register a new passkey."""
    account = await _staff_for_change(session, actor, username, STAFF_RESET)
    if actor.actor_id == username:
        raise await _refused(
            session,
            actor,
            STAFF_RESET,
            username,
            "Another administrator resets your own passkeys.",
            "self",
        )
    now = utcnow()
    removed = await srepo.delete_passkeys_of(session, account.id)
    account.password_hash = None
    account.passkey_required = True
    account.failed_logins, account.throttled_until, account.updated_at = 0, None, now
    if account.status == "locked" and account.lock_reason == "failures":
        account.status, account.lock_reason, account.locked_at = "active", None, None
    await _end_access(session, account, now)
    await audit.record(
        session,
        actor=actor,
        action=STAFF_RESET,
        outcome="granted",
        detail={"username": username, "passkeys_removed": removed},
    )
    return await _issue_code(session, ctx, actor, account)


async def _end_access(session: AsyncSession, account: Account, now: datetime) -> None:
    # Sessions end; grants are revoked with their refresh tokens, and access tokens die with
    # their grant (identity.oidc.tokens.validate_access_token checks it on every call).
    await repo.end_sessions_of(session, account.id, now)
    await repo.revoke_grants_of(session, account.id, now)
    await session.flush()


async def _issue_code(
    session: AsyncSession, ctx: IdentityContext, actor: Principal, account: Account
) -> tuple[str, datetime]:
    code = _new_activation_code()
    expires = utcnow() + timedelta(seconds=ctx.settings.staff_enrolment_code_ttl)
    await srepo.replace_enrolment_code(
        session,
        StaffEnrolmentCode(
            account_id=account.id,
            code_hash=sha256_hex(_canonical_code(code)),
            issued_by=actor.actor_id,
            expires_at=expires,
            failed_attempts=0,
        ),
    )
    return code, expires


# ------------------------------------------------------------------------------ the code


async def sign_in_with_code(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    username: str,
    code: str,
    client_ip: str | None,
) -> Account:
    """A staff member's first sign-in with the enrolment code an administrator handed over:
    single use, until it expires, and spent after a few wrong attempts. The session it opens
    may only register a passkey (identity.authn.session_principal)."""
    now = utcnow()
    await _check_address(session, ctx, client_ip, now)
    username = username.strip()
    account = (
        await repo.account_by_username(session, username, for_update=True)
        if _plausible(username)
        else None
    )
    row = (
        await srepo.enrolment_code(session, account.id, for_update=True)
        if account is not None and account.kind == "staff"
        else None
    )
    given = sha256_hex(_canonical_code(code[:64]))
    reason = "unknown" if row is None else _code_state(row, now).state
    if reason == "pending" and row is not None:
        if hmac.compare_digest(row.code_hash, given):
            reason = "" if account is not None and account.status == "active" else "disabled"
        else:
            row.failed_attempts += 1
            reason = "wrong"
    if reason or row is None or account is None:
        await _count_address_failure(session, client_ip, now)
        await session.flush()
        raise await audit.refuse(
            session,
            Unauthenticated("The username or the enrolment code is not valid."),
            actor=staff_principal(account)
            if row is not None and account is not None
            else Principal(actor_type="system", actor_id="anonymous"),
            action=STAFF_ENROL,
            outcome="denied",
            detail={"reason": reason},
        )
    row.used_at = now
    account.failed_logins, account.throttled_until = 0, None
    await session.flush()
    await audit.record(
        session,
        actor=staff_principal(account),
        action=STAFF_ENROL,
        outcome="granted",
        detail={"username": username},
    )
    return account
