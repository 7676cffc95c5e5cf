"""Sign-in: passwords with throttling, the sessions a sign-in opens, and unlocking by signing in.

Every sign-in, failed sign-in and unlock is an audit event whose subject is the citizen
(invariant 1 of docs/architecture.md: the event commits with the change or not at all).
"""

from __future__ import annotations

import secrets
import uuid
from datetime import datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from audit import recording as audit
from audit.events import Outcome
from core.clock import utcnow
from core.digests import sha256_hex
from core.errors import RateLimited, RegistryError, Unauthenticated
from core.inputs import is_ascii_digits
from core.settings import Settings
from identity import repository as repo
from identity.accounts import (
    CITIZEN_LOGIN_LEN,
    AccountClosed,
    AccountLocked,
    IdentityContext,
    PasskeyRequired,
    _actor_for_login,
    _subject,
    acr_value,
    close_account,
    principal_of,
    unlock_account,
)
from identity.models import Account, LoginSession

BACKOFF_AFTER = 5  # consecutive failures before each further attempt has to wait
BACKOFF_CAP = timedelta(minutes=15)
ADDRESS_WINDOW = timedelta(minutes=1)  # failures per client address are counted per minute
SESSION_TOUCH = timedelta(seconds=60)  # last_seen_at is written at most this often


# ------------------------------------------------------------------------------ sign-in


async def _check_address(
    session: AsyncSession, ctx: IdentityContext, client_ip: str | None, now: datetime
) -> None:
    if not client_ip:
        return
    row = await repo.address_failures(session, "ip:" + client_ip)
    if row is None or now - row.window_start >= ADDRESS_WINDOW:
        return
    if row.failures >= ctx.settings.login_ip_failures_per_minute:
        wait = int(ADDRESS_WINDOW.total_seconds()) - int((now - row.window_start).total_seconds())
        raise RateLimited(
            "Too many failed sign-ins from this address; try again later.",
            headers={"Retry-After": str(max(wait, 1))},
        )


async def _count_address_failure(
    session: AsyncSession, client_ip: str | None, now: datetime
) -> None:
    if not client_ip:
        return
    await repo.count_address_failure(session, "ip:" + client_ip, now, ADDRESS_WINDOW)


def _backoff(failures: int) -> timedelta | None:
    # NIST SP 800-63B 5.2.2: rate limiting; exponential from the 6th failure, capped.
    if failures < BACKOFF_AFTER:
        return None
    return min(timedelta(seconds=2 ** min(failures - BACKOFF_AFTER, 10)), BACKOFF_CAP)


async def _refuse_login(
    session: AsyncSession,
    error: RegistryError,
    *,
    account: Account | None,
    login: str,
    reason: str,
    method: str,
) -> RegistryError:
    return await audit.refuse(
        session,
        error,
        actor=_actor_for_login(account, login),
        action="identity.login",
        outcome="denied",
        subject=_subject(account, login),
        detail={"method": method, "reason": reason},
    )


async def _check_citizen_alive(
    session: AsyncSession, ctx: IdentityContext, account: Account, now: datetime
) -> None:
    if account.kind != "citizen" or not account.citizen_id:
        return
    facts = await ctx.directory.facts(session, account.citizen_id)
    if facts is None or facts.status == "deceased":
        await close_account(session, account, now=now, reason="death")
        raise await _refuse_login(
            session,
            AccountClosed("This electronic identity is closed."),
            account=account,
            login=account.citizen_id,
            reason="closed",
            method="pwd",
        )


def check_usable(account: Account) -> None:
    """Refuse a locked or closed identity (sign-in, token refresh, release to a service)."""
    if account.status == "closed":
        raise AccountClosed("This electronic identity is closed.")
    if account.status == "locked":
        raise AccountLocked(
            extensions={"reason": account.lock_reason or "failures"},
            detail="This electronic identity is locked. "
            + (
                "Unlock it with your password at the registry's unlock page."
                if account.lock_reason == "citizen"
                else "Ask an official for an activation code to unlock it."
            ),
        )


async def count_failure(
    session: AsyncSession, ctx: IdentityContext, account: Account, now: datetime
) -> None:
    """One more wrong password for this account: backoff, and the lock at the limit."""
    if account.status == "closed":
        return
    account.failed_logins += 1
    backoff = _backoff(account.failed_logins)
    account.throttled_until = now + backoff if backoff else None
    if account.failed_logins >= ctx.settings.login_max_failures:
        account.status, account.lock_reason, account.locked_at = "locked", "failures", now
    await session.flush()


async def password_login(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    login: str,
    password: str,
    client_ip: str | None,
    allow_locked_by_citizen: bool = False,
) -> Account:
    """Check an ID number (citizens) or username (staff) and password; return the account.

    Wrong credentials and unknown accounts get the same answer after the same work (a dummy
    argon2 hash). Failures count per account (backoff, lock at the limit) and per address.
    """
    now = utcnow()
    login = login.strip()
    await _check_address(session, ctx, client_ip, now)
    is_citizen = len(login) == CITIZEN_LOGIN_LEN and is_ascii_digits(login)
    account = (
        await repo.account_by_citizen(session, login, for_update=True)
        if is_citizen
        else await repo.account_by_username(session, login, for_update=True)
    )
    if account is not None and account.throttled_until and account.throttled_until > now:
        wait = int((account.throttled_until - now).total_seconds()) + 1
        raise await _refuse_login(
            session,
            RateLimited(
                "Too many failed sign-ins for this account; wait before trying again.",
                headers={"Retry-After": str(wait)},
            ),
            account=account,
            login=login,
            reason="throttled",
            method="pwd",
        )
    check = await ctx.hasher.verify_async(account.password_hash if account else None, password)
    wrong = Unauthenticated("The ID number (or username) or the password is wrong.")
    if account is None or not check.ok:
        await _count_address_failure(session, client_ip, now)
        if account is not None:
            await count_failure(session, ctx, account, now)
        raise await _refuse_login(
            session, wrong, account=account, login=login, reason="credentials", method="pwd"
        )
    if account.failed_logins or account.throttled_until:
        account.failed_logins, account.throttled_until = 0, None
    if check.new_hash:
        account.password_hash = check.new_hash
    if account.kind == "staff" and await repo.count_passkeys(session, account.id) > 0:
        raise await _refuse_login(
            session,
            PasskeyRequired("Staff sign in with their passkey once one is registered."),
            account=account,
            login=login,
            reason="passkey_required",
            method="pwd",
        )
    if not (
        allow_locked_by_citizen and account.status == "locked" and account.lock_reason == "citizen"
    ):
        try:
            check_usable(account)
        except RegistryError as exc:
            raise await _refuse_login(
                session, exc, account=account, login=login, reason=account.status, method="pwd"
            ) from None
    await _check_citizen_alive(session, ctx, account, now)
    await session.flush()
    return account


async def record_login(
    session: AsyncSession, account: Account, *, method: str, outcome: Outcome = "granted"
) -> None:
    """The audit event of a successful sign-in."""
    await audit.record(
        session,
        actor=principal_of(account),
        action="identity.login",
        outcome=outcome,
        subject=account.citizen_id,
        detail={"method": method},
    )


# ------------------------------------------------------------------------------ sessions


def session_limits(settings: Settings, account: Account) -> tuple[timedelta, timedelta]:
    """(idle, absolute) timeouts: staff sessions are shorter."""
    if account.kind == "staff":
        return (
            timedelta(seconds=settings.staff_session_idle_timeout),
            timedelta(seconds=settings.staff_session_absolute_timeout),
        )
    return (
        timedelta(seconds=settings.session_idle_timeout),
        timedelta(seconds=settings.session_absolute_timeout),
    )


async def start_session(
    session: AsyncSession,
    settings: Settings,
    account: Account,
    *,
    amr: tuple[str, ...],
    user_agent: str | None = None,
    ip: str | None = None,
) -> tuple[str, LoginSession]:
    """A new sign-in session, with the browser and address it came from (the citizen's list
    of devices); returns the cookie value (shown once) and the row."""
    now = utcnow()
    token = secrets.token_urlsafe(32)
    _, absolute = session_limits(settings, account)
    method = "passkey" if "hwk" in amr or "swk" in amr else "pwd"
    row = LoginSession(
        id=sha256_hex(token),
        sid=str(uuid.uuid4()),
        account_id=account.id,
        auth_time=now,
        amr=" ".join(amr),
        acr=acr_value(account.level, method),
        last_seen_at=now,
        expires_at=now + absolute,
        user_agent=user_agent[:256] if user_agent else None,
        ip=ip[:45] if ip else None,
    )
    await repo.insert(session, row)
    return token, row


async def resolve_session(
    session: AsyncSession, settings: Settings, token: str | None
) -> tuple[LoginSession, Account] | None:
    """The live session and usable account behind a cookie, or None (ended, idle, expired)."""
    if not token or len(token) > 100:
        return None
    found = await repo.live_session_and_account(session, sha256_hex(token))
    if found is None:
        return None
    row, account = found
    if account.status != "active":
        return None
    now = utcnow()
    idle, _ = session_limits(settings, account)
    if now >= row.expires_at or now - row.last_seen_at >= idle:
        row.ended_at = now
        await session.flush()
        return None
    if now - row.last_seen_at >= SESSION_TOUCH:
        row.last_seen_at = now
        await session.flush()
    return row, account


async def sign_out(session: AsyncSession, *, token: str | None, sid: str | None = None) -> None:
    """Sign out: end the sign-in session behind this cookie and the one named ``sid`` (the
    portal's, whose cookie may be another), and record it. The grants made in them die with
    them unless offline_access was granted, their refresh tokens too (OIDC Core 11)."""
    now = utcnow()
    rows: list[LoginSession] = []
    if token and len(token) <= 100:
        row = await repo.live_session(session, sha256_hex(token))
        rows += [row] if row is not None else []
    if sid:
        row = await repo.session_by_sid(session, sid)
        rows += [row] if row is not None and row not in rows else []
    for row in rows:
        for grant in await repo.grants_of_session(session, row.account_id, row.sid):
            if "offline_access" not in grant.scope.split():
                await repo.revoke_grant(session, grant.id, now)
        if row.ended_at is not None:
            continue
        row.ended_at = now
        await session.flush()
        account = await repo.account_by_id(session, row.account_id)
        if account is not None:
            await audit.record(
                session,
                actor=principal_of(account),
                action="identity.logout",
                outcome="granted",
                subject=account.citizen_id,
            )


async def unlock(
    session: AsyncSession, ctx: IdentityContext, *, login: str, password: str, client_ip: str | None
) -> Account:
    """Unlock an identity the citizen locked, proving it is them with their password; an
    identity with a passkey needs the passkey (or an in-person code): a stolen password alone
    must not undo the lock its owner set."""
    account = await password_login(
        session,
        ctx,
        login=login,
        password=password,
        client_ip=client_ip,
        allow_locked_by_citizen=True,
    )
    if account.status == "locked" and await repo.count_passkeys(session, account.id) > 0:
        raise await audit.refuse(
            session,
            PasskeyRequired(
                "This identity has a passkey: unlock it with the passkey "
                "or with an activation code issued in person."
            ),
            actor=principal_of(account),
            action="identity.unlock",
            outcome="denied",
            subject=account.citizen_id,
            detail={"method": "pwd", "reason": "passkey_required"},
        )
    if account.status == "locked" and account.lock_reason == "citizen":
        await unlock_account(session, account, method="pwd")
    return account
