"""The citizen's own account: changing and recovering the password, unlocking with a passkey,
and the devices and sessions signed in.

A new password, however it was set, signs out every other session and revokes their grants
(and so their refresh tokens): whoever held the old password is out. Every change and every
refusal is an audit event whose subject is the citizen, committed with it (invariant 1).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from audit import recording as audit
from core.auth import Principal
from core.clock import utcnow
from core.errors import Forbidden, NotFound, RateLimited, RegistryError, Unauthenticated
from identity import passkeys
from identity import repository as repo
from identity.accounts import (
    AccountClosed,
    AccountLocked,
    IdentityContext,
    principal_of,
    unlock_account,
)
from identity.devices import Device, describe_agent
from identity.models import Account
from identity.passwords import check_password_policy
from identity.signin import count_failure


class ProofInvalid(RegistryError):
    """The passkey proof is unknown, spent, expired, or another account's."""

    status = 403
    code = "passkey-proof-invalid"
    title = "Passkey proof not valid"


def _policy(account: Account, password: str, pointer: str) -> None:
    check_password_policy(
        password, pointer=pointer, context_words=(account.citizen_id, account.username)
    )


async def _refuse(
    session: AsyncSession,
    error: RegistryError,
    *,
    account: Account | None,
    action: str,
    detail: dict[str, str],
) -> RegistryError:
    actor = (
        principal_of(account)
        if account is not None
        else Principal(actor_type="system", actor_id="anonymous")
    )
    return await audit.refuse(
        session,
        error,
        actor=actor,
        action=action,
        outcome="denied",
        subject=account.citizen_id if account else None,
        detail=detail,
    )


async def _record(
    session: AsyncSession, account: Account, action: str, detail: dict[str, str | int]
) -> None:
    await audit.record(
        session,
        actor=principal_of(account),
        action=action,
        outcome="granted",
        subject=account.citizen_id,
        detail=detail,
    )


async def _sign_out_others(
    session: AsyncSession, account: Account, *, keep_sid: str | None, now: datetime
) -> int:
    """End every session but ``keep_sid`` and revoke every grant not made in it; how many
    sessions ended."""
    ended = await repo.end_sessions_except(session, account.id, keep_sid, now)
    await repo.revoke_grants_except(session, account.id, keep_sid, now)
    return len(ended)


async def _set_password(
    session: AsyncSession, ctx: IdentityContext, account: Account, password: str, now: datetime
) -> None:
    account.password_hash = await ctx.hasher.hash_async(password)
    account.failed_logins, account.throttled_until, account.updated_at = 0, None, now


# ------------------------------------------------------------------------------ the password


async def change_password(
    session: AsyncSession,
    ctx: IdentityContext,
    account: Account,
    *,
    current_password: str | None,
    proof: str | None,
    new_password: str,
    keep_sid: str | None,
) -> int:
    """Change the password of a signed-in citizen who proves it is them again, with the
    current password or a passkey; every other session ends. How many sessions ended."""
    now = utcnow()
    method = "passkey" if proof else "pwd"
    action = "identity.password.change"
    if proof:
        proven = await passkeys.take_proof(session, proof, use="password")
        if proven is None or proven.id != account.id:
            raise await _refuse(
                session,
                ProofInvalid("The passkey proof is not valid; confirm with your passkey again."),
                account=account,
                action=action,
                detail={"method": method, "reason": "proof"},
            )
    else:
        if account.throttled_until and account.throttled_until > now:
            wait = int((account.throttled_until - now).total_seconds()) + 1
            raise await _refuse(
                session,
                RateLimited(
                    "Too many wrong passwords; wait before trying again.",
                    headers={"Retry-After": str(wait)},
                ),
                account=account,
                action=action,
                detail={"method": method, "reason": "throttled"},
            )
        check = await ctx.hasher.verify_async(account.password_hash, current_password or "")
        if not check.ok:
            await count_failure(session, ctx, account, now)
            raise await _refuse(
                session,
                Unauthenticated("The current password is wrong."),
                account=account,
                action=action,
                detail={"method": method, "reason": "credentials"},
            )
    _policy(account, new_password, "#/new_password")
    await _set_password(session, ctx, account, new_password, now)
    ended = await _sign_out_others(session, account, keep_sid=keep_sid, now=now)
    await _record(session, account, action, {"method": method, "ended": ended})
    return ended


async def _proven(session: AsyncSession, proof: str, *, use: str, action: str) -> Account:
    account = await passkeys.take_proof(session, proof, use=use)
    if account is None:
        raise await _refuse(
            session,
            ProofInvalid("The passkey proof is not valid; use your passkey again."),
            account=None,
            action=action,
            detail={"method": "passkey", "reason": "proof"},
        )
    if account.status == "closed":
        raise await _refuse(
            session,
            AccountClosed("This electronic identity is closed."),
            account=account,
            action=action,
            detail={"method": "passkey", "reason": "closed"},
        )
    if account.kind == "staff":
        # Staff get back in only through an administrator's enrolment code (identity.staff):
        # a passkey a reset removed, or a thief's, must not set a password or unlock.
        raise await _refuse(
            session,
            Forbidden("Staff accounts are recovered by an administrator's enrolment code."),
            account=account,
            action=action,
            detail={"method": "passkey", "reason": "staff"},
        )
    return account


async def recover_with_passkey(
    session: AsyncSession, ctx: IdentityContext, *, proof: str, new_password: str
) -> Account:
    """A forgotten password: the citizen proved it is them with a registered passkey and sets a
    new password; every session ends. An identity locked after wrong passwords opens again (the
    passkey is the stronger proof); one its owner locked stays locked until unlocked."""
    account = await _proven(session, proof, use="recover", action="identity.password.recover")
    # After the proof: the policy refuses the account's own ID number. A refused password
    # undoes the form's writes, so the proof stays unspent for the next try.
    _policy(account, new_password, "#/new_password")
    now = utcnow()
    await _set_password(session, ctx, account, new_password, now)
    if account.status == "locked" and account.lock_reason == "failures":
        account.status, account.lock_reason, account.locked_at = "active", None, None
    await _sign_out_others(session, account, keep_sid=None, now=now)
    await session.flush()
    await _record(session, account, "identity.password.recover", {"method": "passkey"})
    return account


# ------------------------------------------------------------------------------ unlock


async def unlock_with_passkey(session: AsyncSession, *, proof: str) -> Account:
    """Unlock an identity its owner locked (or that wrong passwords locked) with its passkey.
    One an official locked needs an official."""
    account = await _proven(session, proof, use="unlock", action="identity.unlock")
    if account.status != "locked":
        return account
    if account.lock_reason not in ("citizen", "failures"):
        raise await _refuse(
            session,
            AccountLocked("An official locked this identity; ask an official to unlock it."),
            account=account,
            action="identity.unlock",
            detail={"method": "passkey", "reason": "official"},
        )
    await unlock_account(session, account, method="passkey")
    return account


# ------------------------------------------------------------------------------ sessions


@dataclass(frozen=True, slots=True)
class SessionSummary:
    """A sign-in session as the citizen's devices list shows it."""

    sid: str
    signed_in_at: datetime
    last_seen_at: datetime
    method: str  # pwd | passkey
    device: Device
    ip: str | None
    current: bool


async def sessions_of(
    session: AsyncSession, account: Account, *, current_sid: str | None
) -> list[SessionSummary]:
    """The account's live sessions, the current one first, then by last activity."""
    rows = await repo.live_sessions_of(session, account.id, utcnow())
    listed = [
        SessionSummary(
            sid=row.sid,
            signed_in_at=row.auth_time,
            last_seen_at=row.last_seen_at,
            method="passkey" if {"hwk", "swk"} & set(row.amr.split()) else "pwd",
            device=describe_agent(row.user_agent),
            ip=row.ip,
            current=row.sid == current_sid,
        )
        for row in rows
    ]
    return sorted(listed, key=lambda s: not s.current)


async def sign_out_session(session: AsyncSession, account: Account, *, sid: str) -> None:
    """End one of the account's sessions (another device) and revoke its grants."""
    row = await repo.session_by_sid(session, sid)
    if row is None or row.account_id != account.id or row.ended_at is not None:
        raise NotFound("No session of yours has this id.")
    now = utcnow()
    row.ended_at = now
    for grant in await repo.grants_of_session(session, account.id, sid):
        await repo.revoke_grant(session, grant.id, now)
    await session.flush()
    await _record(session, account, "identity.sessions.end", {"scope": "one", "ended": 1})


async def sign_out_everywhere(session: AsyncSession, account: Account) -> int:
    """End every session of the account, this one too, and revoke every grant (offline ones
    too); how many sessions ended."""
    ended = await _sign_out_others(session, account, keep_sid=None, now=utcnow())
    await _record(session, account, "identity.sessions.end", {"scope": "all", "ended": ended})
    return ended
