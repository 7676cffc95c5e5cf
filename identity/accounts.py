"""Accounts: enrolment (levels 1 and 2), password sign-in with throttling, sessions, locks.

Every sign-in, failed sign-in, enrolment, lock and unlock is an audit event whose subject is the
citizen (invariant 1 of docs/architecture.md: the event commits with the change or not at all).
"""

from __future__ import annotations

import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from audit import recording as audit
from audit.events import Outcome
from core.auth import Principal
from core.clock import utcnow
from core.digests import sha256_hex
from core.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    RateLimited,
    RegistryError,
    Unauthenticated,
    ValidationFailed,
)
from core.inputs import is_ascii_digits
from core.settings import Settings
from identity import repository as repo
from identity.directory import CitizenDirectory, CitizenFacts
from identity.models import STAFF_ROLES, ActivationCode, LoginSession

# Other packages hold an account as this handle and pass it back to identity's functions.
from identity.models import Account as Account
from identity.passwords import PasswordHasher, check_password_policy

CITIZEN_LOGIN_LEN = 12
BACKOFF_AFTER = 5  # consecutive failures before each further attempt has to wait
BACKOFF_CAP = timedelta(minutes=15)
ADDRESS_WINDOW = timedelta(minutes=1)  # failures per client address are counted per minute
SESSION_TOUCH = timedelta(seconds=60)  # last_seen_at is written at most this often
ACTIVATION_ALPHABET = "ABCDEFGHJKLMNPQRSTUVWXYZ23456789"  # no 0/O, 1/I


class AccountLocked(RegistryError):
    """The electronic identity is locked (by its owner, after failures, or by an official)."""

    status = 403
    code = "identity-locked"
    title = "Electronic identity locked"


class AccountClosed(RegistryError):
    """The electronic identity is closed (the citizen is recorded as deceased)."""

    status = 403
    code = "identity-closed"
    title = "Electronic identity closed"


class PasskeyRequired(RegistryError):
    """Staff sign in with a passkey once they have one."""

    status = 403
    code = "passkey-required"
    title = "Passkey required"


def acr_value(level: int, method: str) -> str:
    """The acr of an authentication: enrolment level and method (OIDC Core 2, `acr`)."""
    return f"urn:vn:registry:loa:{level}:{method}"


ACR_VALUES = tuple(acr_value(level, m) for level in (1, 2) for m in ("pwd", "passkey"))


def acr_rank(acr: str) -> int:
    """Order of strength: level first, then passkey over password."""
    return ACR_VALUES.index(acr) if acr in ACR_VALUES else -1


def citizen_principal(citizen_id: str, *, amr: tuple[str, ...] = ()) -> Principal:
    """The Principal of a citizen acting for themself."""
    return Principal(
        actor_type="citizen",
        actor_id=citizen_id,
        roles=frozenset({"citizen"}),
        auth_methods=amr,
    )


def staff_principal(account: Account, *, amr: tuple[str, ...] = ()) -> Principal:
    """The Principal of a staff member; the first role names the actor type in the trail."""
    roles = frozenset(account.roles.split())
    actor_type = (
        "official"
        if "official" in roles
        else "auditor"
        if "auditor" in roles
        else ("administrator")
    )
    return Principal(
        actor_type=actor_type,  # type: ignore[arg-type]
        actor_id=account.username or account.id,
        roles=roles,
        auth_methods=amr,
    )


def principal_of(account: Account, *, amr: tuple[str, ...] = ()) -> Principal:
    """The Principal an account acts as."""
    if account.kind == "citizen" and account.citizen_id:
        return citizen_principal(account.citizen_id, amr=amr)
    return staff_principal(account, amr=amr)


def _subject(account: Account | None, login: str | None = None) -> str | None:
    if account is not None and account.citizen_id:
        return account.citizen_id
    if login and len(login) == CITIZEN_LOGIN_LEN and is_ascii_digits(login):
        return login
    return None


def _actor_for_login(account: Account | None, login: str) -> Principal:
    if account is not None:
        return principal_of(account)
    if len(login) == CITIZEN_LOGIN_LEN and is_ascii_digits(login):
        return citizen_principal(login)
    return Principal(actor_type="system", actor_id="anonymous")


def _same_name(declared: str, recorded: str) -> bool:
    # Enrolment compares exactly after NFC, whitespace collapsing and case folding: the citizen
    # types their name as on the card, diacritics included.
    def norm(text: str) -> str:
        return " ".join(unicodedata.normalize("NFC", text).split()).casefold()

    return norm(declared) == norm(recorded)


def _same_birth_date(declared: date, facts: CitizenFacts) -> bool:
    recorded = facts.birth_date
    if facts.birth_date_precision == "year":
        return declared.year == recorded.year
    if facts.birth_date_precision == "month":
        return (declared.year, declared.month) == (recorded.year, recorded.month)
    return declared == recorded


@dataclass(frozen=True)
class IdentityContext:
    """What the identity services need from the composition root."""

    settings: Settings
    hasher: PasswordHasher
    directory: CitizenDirectory


# ------------------------------------------------------------------------------ enrolment


async def enrol(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    citizen_id: str,
    full_name: str,
    birth_date: date,
    card_issue_date: date,
    password: str,
    display_name: str | None = None,
) -> Account:
    """Level 1: the citizen's declared data matched the registry; the account is created."""
    check_password_policy(password, context_words=(citizen_id,))
    actor = citizen_principal(citizen_id)
    facts = await ctx.directory.facts(session, citizen_id)
    matched = (
        facts is not None
        and facts.status == "alive"
        and facts.card_issue_date is not None
        and facts.card_issue_date == card_issue_date
        and _same_name(full_name, facts.full_name)
        and _same_birth_date(birth_date, facts)
    )
    if not matched:
        # One answer for every mismatch, so enrolment cannot be used to learn a record.
        raise await audit.refuse(
            session,
            Forbidden("The details given do not match the registry's record."),
            actor=actor,
            action="identity.enrol",
            outcome="denied",
            subject=citizen_id,
            detail={"level": 1},
        )
    if await repo.account_by_citizen(session, citizen_id) is not None:
        raise Conflict("This citizen already has an electronic identity; sign in instead.")
    account = Account(
        id=str(uuid.uuid4()),
        kind="citizen",
        citizen_id=citizen_id,
        level=1,
        status="active",
        roles="",
        failed_logins=0,
        passkey_required=False,
        password_hash=await ctx.hasher.hash_async(password),
        display_name=display_name,
    )
    await repo.add(session, account)
    await audit.record(
        session,
        actor=actor,
        action="identity.enrol",
        outcome="granted",
        subject=citizen_id,
        detail={"level": 1},
    )
    return account


def _new_activation_code() -> str:
    raw = "".join(secrets.choice(ACTIVATION_ALPHABET) for _ in range(12))
    return "-".join(raw[i : i + 4] for i in range(0, 12, 4))


def _canonical_code(code: str) -> str:
    return "".join(ch for ch in code.upper() if ch.isalnum())


async def issue_activation_code(
    session: AsyncSession, ctx: IdentityContext, *, official: Principal, citizen_id: str
) -> tuple[str, datetime]:
    """An official, having checked the citizen in person, issues a single-use code (level 2)."""
    facts = await ctx.directory.facts(session, citizen_id)
    if facts is None:
        raise await audit.refuse(
            session,
            NotFound("No citizen has this ID number."),
            actor=official,
            action="identity.activation_code",
            outcome="not_found",
            subject=citizen_id,
        )
    if facts.status == "deceased":
        raise Conflict("The citizen is recorded as deceased; no identity can be activated.")
    code = _new_activation_code()
    expires = utcnow() + timedelta(seconds=ctx.settings.activation_code_ttl)
    await repo.add(
        session,
        ActivationCode(
            code_hash=sha256_hex(_canonical_code(code)),
            citizen_id=citizen_id,
            issued_by=official.actor_id,
            expires_at=expires,
        ),
    )
    await audit.record(
        session,
        actor=official,
        action="identity.activation_code",
        outcome="granted",
        subject=citizen_id,
    )
    return code, expires


async def activate(
    session: AsyncSession, ctx: IdentityContext, *, citizen_id: str, code: str, password: str
) -> Account:
    """Level 2: redeem an in-person activation code; creates or raises the account, sets the
    password, and unlocks an identity locked after failures."""
    check_password_policy(password, context_words=(citizen_id,))
    now = utcnow()
    row = await repo.activation_code(session, sha256_hex(_canonical_code(code)))
    actor = citizen_principal(citizen_id)
    if (
        row is None
        or row.citizen_id != citizen_id
        or row.used_at is not None
        or (row.expires_at <= now)
    ):
        raise await audit.refuse(
            session,
            Forbidden("The activation code is not valid (wrong, used or expired)."),
            actor=actor,
            action="identity.activate",
            outcome="denied",
            subject=citizen_id,
        )
    row.used_at = now
    facts = await ctx.directory.facts(session, citizen_id)
    if facts is None or facts.status == "deceased":
        raise Conflict("The citizen's record does not allow an electronic identity.")
    account = await repo.account_by_citizen(session, citizen_id, for_update=True)
    password_hash = await ctx.hasher.hash_async(password)
    if account is None:
        account = Account(
            id=str(uuid.uuid4()),
            kind="citizen",
            citizen_id=citizen_id,
            level=2,
            status="active",
            roles="",
            failed_logins=0,
            passkey_required=False,
            password_hash=password_hash,
        )
        await repo.add(session, account)
    else:
        if account.status == "closed":
            raise AccountClosed("This electronic identity is closed.")
        account.level = 2
        account.password_hash = password_hash
        account.failed_logins = 0
        account.throttled_until = None
        if account.status == "locked" and account.lock_reason == "failures":
            account.status, account.lock_reason, account.locked_at = "active", None, None
        account.updated_at = now
        await repo.end_sessions_of(session, account.id, now)
    await session.flush()
    await audit.record(
        session,
        actor=actor,
        action="identity.activate",
        outcome="granted",
        subject=citizen_id,
        detail={"level": 2},
    )
    return account


# ------------------------------------------------------------------------------ staff


async def create_staff(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    username: str,
    display_name: str,
    roles: tuple[str, ...],
    password: str,
) -> Account:
    """A staff account; it must register a passkey after its first sign-in."""
    unknown = sorted(set(roles) - set(STAFF_ROLES))
    if not roles or unknown:
        raise ValidationFailed(
            "Staff roles must be among: " + ", ".join(STAFF_ROLES) + ".",
            errors=[FieldError("unknown or missing role", parameter="roles")],
        )
    if (
        not username
        or len(username) > 64
        or not username.replace(".", "").replace("-", "").isalnum()
    ):
        raise ValidationFailed(
            "The username must be 1-64 letters, digits, dots or hyphens.",
            errors=[FieldError("invalid username", parameter="username")],
        )
    check_password_policy(password, context_words=(username,))
    if await repo.account_by_username(session, username) is not None:
        raise Conflict("A staff account with this username exists.")
    account = Account(
        id=str(uuid.uuid4()),
        kind="staff",
        username=username,
        display_name=display_name,
        roles=" ".join(sorted(set(roles))),
        level=2,
        status="active",
        failed_logins=0,
        passkey_required=True,
        password_hash=await ctx.hasher.hash_async(password),
    )
    await repo.add(session, account)
    return account


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
            "This electronic identity is locked. "
            + (
                "Unlock it with your password at the registry's unlock page."
                if account.lock_reason == "citizen"
                else "Ask an official for an activation code to unlock it."
            )
        )


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
        if account is not None and account.status != "closed":
            account.failed_logins += 1
            backoff = _backoff(account.failed_logins)
            account.throttled_until = now + backoff if backoff else None
            if account.failed_logins >= ctx.settings.login_max_failures:
                account.status, account.lock_reason, account.locked_at = "locked", "failures", now
            await session.flush()
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
    session: AsyncSession, settings: Settings, account: Account, *, amr: tuple[str, ...]
) -> tuple[str, LoginSession]:
    """A new sign-in session; returns the cookie value (shown once) and the row."""
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


# ------------------------------------------------------------------------------ lock, close


async def lock(session: AsyncSession, account: Account) -> None:
    """The citizen locks their identity: no sign-in, no release to any service until unlocked."""
    now = utcnow()
    if account.status == "closed":
        raise AccountClosed("This electronic identity is closed.")
    account.status, account.lock_reason, account.locked_at, account.updated_at = (
        "locked",
        "citizen",
        now,
        now,
    )
    await repo.end_sessions_of(session, account.id, now)
    await repo.revoke_grants_of(session, account.id, now)
    await session.flush()
    await audit.record(
        session,
        actor=principal_of(account),
        action="identity.lock",
        outcome="granted",
        subject=account.citizen_id,
    )


async def unlock(
    session: AsyncSession, ctx: IdentityContext, *, login: str, password: str, client_ip: str | None
) -> Account:
    """Unlock an identity the citizen locked, proving it is them with their password."""
    account = await password_login(
        session,
        ctx,
        login=login,
        password=password,
        client_ip=client_ip,
        allow_locked_by_citizen=True,
    )
    if account.status == "locked" and account.lock_reason == "citizen":
        now = utcnow()
        account.status, account.lock_reason, account.locked_at, account.updated_at = (
            "active",
            None,
            None,
            now,
        )
        await session.flush()
        await audit.record(
            session,
            actor=principal_of(account),
            action="identity.unlock",
            outcome="granted",
            subject=account.citizen_id,
        )
    return account


async def close_account(
    session: AsyncSession, account: Account, *, now: datetime | None = None, reason: str = "death"
) -> None:
    """Close an identity for good (the citizen is recorded as deceased)."""
    now = now or utcnow()
    if account.status == "closed":
        return
    account.status, account.lock_reason, account.locked_at, account.updated_at = (
        "closed",
        reason,
        now,
        now,
    )
    await repo.end_sessions_of(session, account.id, now)
    await repo.revoke_grants_of(session, account.id, now)
    await session.flush()
    await audit.record(
        session,
        actor=Principal(actor_type="system", actor_id="registry"),
        action="identity.close",
        outcome="granted",
        subject=account.citizen_id,
        detail={"reason": reason},
    )


async def close_for_death(session: AsyncSession, citizen_id: str) -> None:
    """Called by the registry when it records a death: the citizen's identity closes."""
    account = await repo.account_by_citizen(session, citizen_id, for_update=True)
    if account is not None:
        await close_account(session, account, reason="death")


async def revoke_consent(session: AsyncSession, account: Account, client_id: str) -> None:
    """Withdraw consent from one service: its grants (and refresh tokens) are revoked too."""
    row = await repo.consent(session, account.id, client_id)
    if row is None or row.revoked_at is not None:
        raise NotFound("You have no consent for this service.")
    now = utcnow()
    row.revoked_at = now
    await repo.revoke_grants_of(session, account.id, now, client_id=client_id)
    await session.flush()
    await audit.record(
        session,
        actor=principal_of(account),
        action="identity.consent.revoke",
        outcome="granted",
        subject=account.citizen_id,
        detail={"client": client_id[:64]},
    )


# ------------------------------------------------------------------------------ for other packages


@dataclass(frozen=True, slots=True)
class GrantState:
    """A grant as a relying party's session sees it: revoked or not, and its sign-in session."""

    revoked: bool
    session_sid: str | None


@dataclass(frozen=True, slots=True)
class ConsentSummary:
    """A service the citizen consented to: its scopes (space-separated), when, and whether
    the consent was withdrawn."""

    client_id: str
    client_name: str
    scope: str
    granted_at: datetime
    revoked_at: datetime | None


async def find_account(session: AsyncSession, account_id: str) -> Account | None:
    """The account with this id."""
    return await repo.account_by_id(session, account_id)


async def staff_account(session: AsyncSession, username: str) -> Account | None:
    """The staff account with this sign-in name."""
    return await repo.account_by_username(session, username)


async def citizen_named(session: AsyncSession, display_name: str) -> str | None:
    """The ID number of the citizen whose account bears this display name."""
    return await repo.citizen_by_display_name(session, display_name)


async def grant_state(session: AsyncSession, grant_id: str) -> GrantState | None:
    """Whether the grant with this id is revoked, and its sign-in session; None if unknown."""
    grant = await repo.grant(session, grant_id)
    if grant is None:
        return None
    return GrantState(revoked=grant.revoked_at is not None, session_sid=grant.session_sid)


async def consents_of(session: AsyncSession, account: Account) -> list[ConsentSummary]:
    """The account's consents, newest first."""
    return [
        ConsentSummary(c.client_id, k.name, c.scope, c.granted_at, c.revoked_at)
        for c, k in await repo.consents_of(session, account.id)
    ]
