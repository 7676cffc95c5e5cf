"""Accounts: enrolment (levels 1 and 2), staff, locks, closing, consents, and the reads other
packages make of accounts. Signing in and its sessions are identity.signin.

Every enrolment, lock and closing is an audit event whose subject is the
citizen (invariant 1 of docs/architecture.md: the event commits with the change or not at all).
"""

from __future__ import annotations

import re
import secrets
import unicodedata
import uuid
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from sqlalchemy.ext.asyncio import AsyncSession

from audit import recording as audit
from core.auth import Principal
from core.clock import utcnow
from core.digests import sha256_hex
from core.errors import (
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    RegistryError,
    ValidationFailed,
)
from core.inputs import is_ascii_digits
from core.settings import Settings
from identity import repository as repo
from identity.directory import CitizenDirectory, CitizenFacts
from identity.models import STAFF_ROLES, ActivationCode

# Other packages hold an account as this handle and pass it back to identity's functions.
from identity.models import Account as Account
from identity.passwords import PasswordHasher, check_password_policy

CITIZEN_LOGIN_LEN = 12
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


# Staff sign-in names: ASCII only (no look-alike letters from other scripts), and never only
# digits (a 12-digit name would read as a citizen's ID number, in sign-in and in the audit log).
_STAFF_USERNAME = re.compile(r"[a-z0-9][a-z0-9.-]{0,63}")


def staff_username_ok(username: str) -> bool:
    """Whether ``username`` is a valid staff sign-in name."""
    return _STAFF_USERNAME.fullmatch(username) is not None and not username.isdigit()


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
    password (every session ends), and unlocks an identity its owner locked or that was locked
    after failures. Also the way back for a forgotten password or a lost passkey."""
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
        account.updated_at = now
        # A new password: whoever held the old one is signed out, their tokens revoked.
        await repo.end_sessions_of(session, account.id, now)
        await repo.revoke_grants_of(session, account.id, now)
        if account.status == "locked" and account.lock_reason in ("failures", "citizen"):
            await unlock_account(session, account, method="code")
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


OFFICE_LIMIT = 200  # account.office


async def create_staff(
    session: AsyncSession,
    ctx: IdentityContext,
    *,
    username: str,
    display_name: str,
    roles: tuple[str, ...],
    password: str | None,
    office: str | None = None,
) -> Account:
    """A staff account; it must register a passkey after its first sign-in (made with the
    password, or without one with an enrolment code: identity.staff). ``office``: where they
    work, as citizens read it in their access log."""
    unknown = sorted(set(roles) - set(STAFF_ROLES))
    if not roles or unknown:
        raise ValidationFailed(
            "Staff roles must be among: " + ", ".join(STAFF_ROLES) + ".",
            errors=[FieldError("unknown or missing role", parameter="roles")],
        )
    if not staff_username_ok(username):
        raise ValidationFailed(
            "The username must be 1-64 lower-case letters a-z, digits, dots or hyphens, "
            "starting with a letter or digit and not only digits.",
            errors=[FieldError("invalid username", parameter="username")],
        )
    if office is not None:
        office = " ".join(unicodedata.normalize("NFC", office).split()) or None
    if office is not None and (len(office) > OFFICE_LIMIT or not office.isprintable()):
        raise ValidationFailed(
            f"The office must be at most {OFFICE_LIMIT} printable characters.",
            errors=[FieldError("invalid office", parameter="office")],
        )
    if password is not None:
        check_password_policy(password, context_words=(username,))
    if await repo.account_by_username(session, username) is not None:
        raise Conflict("A staff account with this username exists.")
    account = Account(
        id=str(uuid.uuid4()),
        kind="staff",
        username=username,
        display_name=display_name,
        office=office,
        roles=" ".join(sorted(set(roles))),
        level=2,
        status="active",
        failed_logins=0,
        passkey_required=True,
        password_hash=await ctx.hasher.hash_async(password) if password is not None else None,
    )
    await repo.add(session, account)
    return account


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


async def unlock_account(session: AsyncSession, account: Account, *, method: str) -> None:
    """Open a locked identity again, once its owner proved who they are by ``method``."""
    now = utcnow()
    account.status, account.lock_reason, account.locked_at, account.updated_at = (
        "active",
        None,
        None,
        now,
    )
    account.failed_logins, account.throttled_until = 0, None
    await session.flush()
    await audit.record(
        session,
        actor=principal_of(account),
        action="identity.unlock",
        outcome="granted",
        subject=account.citizen_id,
        detail={"method": method},
    )


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


@dataclass(frozen=True)
class StaffCard:
    """How a staff member is named to the people whose data they handle."""

    username: str
    display_name: str | None
    office: str | None


async def staff_cards(session: AsyncSession, usernames: list[str]) -> dict[str, StaffCard]:
    """Name and office of the staff members with these sign-in names, by sign-in name."""
    found = await repo.staff_by_usernames(session, list(dict.fromkeys(usernames)))
    return {
        str(a.username): StaffCard(str(a.username), a.display_name, a.office)
        for a in found
        if a.username
    }


async def staff_directory(session: AsyncSession, *, limit: int = 500) -> list[StaffCard]:
    """Staff members by name (for pickers): sign-in name, name and office."""
    return [
        StaffCard(str(a.username), a.display_name, a.office)
        for a in await repo.staff_accounts(session, limit=limit)
        if a.username
    ]


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
