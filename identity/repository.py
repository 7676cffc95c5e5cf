"""All SQL of the electronic identity. Functions flush, never commit."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any, TypeVar, cast

from sqlalchemy import Table, bindparam, case, delete, exists, func, select, update
from sqlalchemy.dialects import postgresql
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import dialect_of, insert_row, may_commit
from core.models import Base
from core.statements import Statement, insert_for
from identity.models import (
    Account,
    ActivationCode,
    AuthorizationCode,
    Client,
    Consent,
    Grant,
    LoginSession,
    LoginThrottle,
    Passkey,
    PushedRequest,
    RefreshToken,
    RevokedToken,
    SpentProof,
    WebAuthnChallenge,
)

ModelT = TypeVar("ModelT", bound=Base)


def _column_names(model: type[Base]) -> list[str]:
    """The stored columns of a model's table, in order."""
    return [column.name for column in cast(Table, model.__table__).columns]


def _table(model: type[Base]) -> Table:
    return cast(Table, model.__table__)


async def _detached(
    session: AsyncSession,
    model: type[ModelT],
    statement: Statement,
    params: dict[str, Any],
    *,
    begin: bool = True,
) -> ModelT | None:
    """The row of ``statement`` (which selects or returns every stored column of ``model``,
    so a column added to the model is read without touching the statement) as a detached
    object to read, or None."""
    row = await statement.fetch_row(session, params, begin=begin)
    return None if row is None else model(**dict(row))


def _storable(key: str) -> bool:
    # PostgreSQL text cannot hold NUL: a key sent with one names no row (and is no 500).
    return "\x00" not in key


# ------------------------------------------------------------------------------ accounts


async def account_by_id(session: AsyncSession, account_id: str) -> Account | None:
    """The account with this id."""
    return await session.get(Account, account_id)


async def account_by_citizen(
    session: AsyncSession, citizen_id: str, *, for_update: bool = False
) -> Account | None:
    """The citizen account of this ID number."""
    if not _storable(citizen_id):
        return None
    stmt = select(Account).where(Account.citizen_id == citizen_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def staff_accounts(session: AsyncSession, *, limit: int) -> list[Account]:
    """Staff accounts by display name (at most ``limit``)."""
    stmt = (
        select(Account)
        .where(Account.kind == "staff")
        .order_by(Account.display_name, Account.username)
        .limit(limit)
    )
    return list((await session.execute(stmt)).scalars())


async def staff_by_usernames(session: AsyncSession, usernames: list[str]) -> list[Account]:
    """The staff accounts with these sign-in names (those that exist)."""
    wanted = [u for u in usernames if _storable(u)]
    if not wanted:
        return []
    stmt = select(Account).where(Account.kind == "staff", Account.username.in_(wanted))
    return list((await session.execute(stmt)).scalars())


async def account_by_username(
    session: AsyncSession, username: str, *, for_update: bool = False
) -> Account | None:
    """The staff account with this sign-in name."""
    if not _storable(username):
        return None
    stmt = select(Account).where(Account.username == username)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def citizen_by_display_name(session: AsyncSession, display_name: str) -> str | None:
    """The citizen ID of the account bearing this display name."""
    stmt = select(Account.citizen_id).where(Account.display_name == display_name)
    citizen_id: str | None = (await session.execute(stmt)).scalar_one_or_none()
    return citizen_id


async def add(session: AsyncSession, row: object) -> None:
    """Insert one row."""
    session.add(row)
    await session.flush()


async def insert(session: AsyncSession, row: Base) -> None:
    """Insert one row that this unit of work does not change again (a sign-in session, a
    grant, its code, a refresh token, a passkey challenge): through ``core.db.insert_row``,
    straight to the driver on PostgreSQL, without the ORM's flush. The object stays detached:
    its server-side defaults (``created_at``) are not read back."""
    table = row.__table__
    values = {
        column.key: getattr(row, column.key)
        for column in table.columns
        if column.key in row.__dict__
    }
    await insert_row(session, table, values)  # type: ignore[arg-type]


async def count_passkeys(session: AsyncSession, account_id: str) -> int:
    """How many passkeys the account has."""
    stmt = select(func.count()).select_from(Passkey).where(Passkey.account_id == account_id)
    return int((await session.execute(stmt)).scalar_one())


async def passkeys_of(session: AsyncSession, account_id: str) -> Sequence[Passkey]:
    """The account's passkeys, oldest first."""
    stmt = (
        select(Passkey)
        .where(Passkey.account_id == account_id)
        .order_by(Passkey.created_at, Passkey.id)
    )
    return (await session.execute(stmt)).scalars().all()


async def passkey_by_credential(session: AsyncSession, credential_id: bytes) -> Passkey | None:
    """The passkey with this WebAuthn credential id."""
    stmt = select(Passkey).where(Passkey.credential_id == credential_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def passkey_of(session: AsyncSession, account_id: str, passkey_id: str) -> Passkey | None:
    """One passkey of this account."""
    if not _storable(passkey_id):
        return None
    stmt = select(Passkey).where(Passkey.id == passkey_id, Passkey.account_id == account_id)
    return (await session.execute(stmt)).scalar_one_or_none()


async def delete_row(session: AsyncSession, row: object) -> None:
    """Delete one row."""
    await session.delete(row)
    await session.flush()


# ------------------------------------------------------------------------------ challenges


async def take_challenge(
    session: AsyncSession, challenge_id: str, purpose: str, now: datetime
) -> WebAuthnChallenge | None:
    """Remove and return an unexpired challenge of this purpose (single use; an expired one is
    removed too). A concurrent completion of the same ceremony waits for the row, then finds
    it gone. One DELETE ... RETURNING (the challenge is detached)."""
    row = await _detached(
        session, WebAuthnChallenge, _TAKE_CHALLENGE, {"id": challenge_id, "purpose": purpose}
    )
    return row if row is not None and row.expires_at > now else None


_CHALLENGE = _table(WebAuthnChallenge)
_TAKE_CHALLENGE = Statement(
    delete(_CHALLENGE)
    .where(_CHALLENGE.c.id == bindparam("id"), _CHALLENGE.c.purpose == bindparam("purpose"))
    .returning(*_CHALLENGE.c)
)


async def purge_challenges(session: AsyncSession, now: datetime) -> None:
    """Drop expired ceremonies (housekeeping: an expired one is refused when taken anyway)."""
    await session.execute(delete(WebAuthnChallenge).where(WebAuthnChallenge.expires_at <= now))


# ------------------------------------------------------------------------------ throttling


async def address_failures(session: AsyncSession, key: str) -> LoginThrottle | None:
    """The failure window of one client address, read without a lock.

    A sign-in reads it before its password check (argon2id, tens of milliseconds). Locked, it
    queued every sign-in from the address behind the one before, once the address had failed
    once: a carrier's NAT address is shared by thousands of citizens (docs/performance.md,
    "Address throttle without a lock"). Failures are counted
    by :func:`count_address_failure`.
    """
    # Detached (read, never changed: failures are counted by count_address_failure).
    return await _detached(session, LoginThrottle, _THROTTLE, {"key": key})


_THROTTLE_TABLE = _table(LoginThrottle)
_THROTTLE = Statement(select(_THROTTLE_TABLE).where(_THROTTLE_TABLE.c.key == bindparam("key")))


async def count_address_failure(
    session: AsyncSession, key: str, now: datetime, window: timedelta
) -> None:
    """One more failure for this address in its window, or the first of a new window, in one
    atomic UPSERT: concurrent failures all count, and concurrent first failures from an
    address do not collide on its primary key."""
    stmt = insert_for(session, _THROTTLE_TABLE).values(key=key, window_start=now, failures=1)
    expired = LoginThrottle.window_start <= now - window
    stmt = stmt.on_conflict_do_update(
        index_elements=[LoginThrottle.key],
        set_={
            "failures": case((expired, 1), else_=LoginThrottle.failures + 1),
            "window_start": case(
                (expired, stmt.excluded.window_start), else_=LoginThrottle.window_start
            ),
        },
    )
    await session.execute(stmt)


# ------------------------------------------------------------------------------ sessions


async def live_session(session: AsyncSession, token_hash: str) -> LoginSession | None:
    """The sign-in session of this cookie, if not ended."""
    stmt = select(LoginSession).where(
        LoginSession.id == token_hash, LoginSession.ended_at.is_(None)
    )
    return (await session.execute(stmt)).scalar_one_or_none()


async def live_session_and_account(
    session: AsyncSession, token_hash: str
) -> tuple[LoginSession, Account] | None:
    """The sign-in session of this cookie, if not ended, with its account: one statement."""
    stmt = (
        select(LoginSession, Account)
        .join(Account, Account.id == LoginSession.account_id)
        .where(LoginSession.id == token_hash, LoginSession.ended_at.is_(None))
    )
    found = (await session.execute(stmt)).first()
    return None if found is None else (found[0], found[1])


async def session_by_sid(session: AsyncSession, sid: str) -> LoginSession | None:
    """The sign-in session with this public handle."""
    stmt = select(LoginSession).where(LoginSession.sid == sid)
    return (await session.execute(stmt)).scalar_one_or_none()


async def end_sessions_of(session: AsyncSession, account_id: str, now: datetime) -> None:
    """End every live session of an account (lock, death, password change)."""
    await session.execute(
        update(LoginSession)
        .where(LoginSession.account_id == account_id, LoginSession.ended_at.is_(None))
        .values(ended_at=now)
    )


async def live_sessions_of(
    session: AsyncSession, account_id: str, now: datetime
) -> Sequence[LoginSession]:
    """The account's sessions not ended nor past their absolute timeout, newest first."""
    stmt = (
        select(LoginSession)
        .where(
            LoginSession.account_id == account_id,
            LoginSession.ended_at.is_(None),
            LoginSession.expires_at > now,
        )
        .order_by(LoginSession.last_seen_at.desc())
    )
    return (await session.execute(stmt)).scalars().all()


async def end_sessions_except(
    session: AsyncSession, account_id: str, keep_sid: str | None, now: datetime
) -> list[str]:
    """End every live session of an account but ``keep_sid``; the sids ended."""
    stmt = select(LoginSession).where(
        LoginSession.account_id == account_id, LoginSession.ended_at.is_(None)
    )
    ended: list[str] = []
    for row in (await session.execute(stmt)).scalars().all():
        if row.sid != keep_sid:
            row.ended_at = now
            ended.append(row.sid)
    await session.flush()
    return ended


async def revoke_grants_except(
    session: AsyncSession, account_id: str, keep_sid: str | None, now: datetime
) -> None:
    """Revoke every live grant of an account (offline ones too) but those of ``keep_sid``."""
    stmt = select(Grant.id, Grant.session_sid).where(
        Grant.account_id == account_id, Grant.revoked_at.is_(None)
    )
    for grant_id, sid in (await session.execute(stmt)).all():
        if keep_sid is None or sid != keep_sid:
            await revoke_grant(session, grant_id, now)


# ------------------------------------------------------------------------------ activation


async def activation_code(session: AsyncSession, code_hash: str) -> ActivationCode | None:
    """The activation code with this hash, locked for update."""
    stmt = select(ActivationCode).where(ActivationCode.code_hash == code_hash).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


# ------------------------------------------------------------------------------ clients


async def client(session: AsyncSession, client_id: str) -> Client | None:
    """The OAuth client with this id."""
    if not _storable(client_id):
        return None
    return await session.get(Client, client_id)


async def clients(session: AsyncSession) -> Sequence[Client]:
    """Every client, by name."""
    return (await session.execute(select(Client).order_by(Client.name))).scalars().all()


# ------------------------------------------------------------------------------ grants, codes


async def code_for_update(
    session: AsyncSession, code_hash: str
) -> tuple[AuthorizationCode, Grant | None, Account | None] | None:
    """The authorization code with this hash, locked so two redemptions serialise, with its
    grant and the grant's account: one statement (outer joins; only the code is locked)
    instead of three on every token request."""
    stmt = (
        select(AuthorizationCode, Grant, Account)
        .outerjoin(Grant, Grant.id == AuthorizationCode.grant_id)
        .outerjoin(Account, Account.id == Grant.account_id)
        .where(AuthorizationCode.code_hash == code_hash)
        .with_for_update(of=AuthorizationCode)
    )
    found = (await session.execute(stmt)).first()
    return None if found is None else (found[0], found[1], found[2])


async def grant(session: AsyncSession, grant_id: str) -> Grant | None:
    """The grant with this id."""
    return await session.get(Grant, grant_id)


async def revoke_grant(session: AsyncSession, grant_id: str, now: datetime) -> None:
    """Revoke a grant and every refresh token of its family."""
    await session.execute(
        update(Grant).where(Grant.id == grant_id, Grant.revoked_at.is_(None)).values(revoked_at=now)
    )
    await session.execute(
        update(RefreshToken)
        .where(RefreshToken.grant_id == grant_id, RefreshToken.used_at.is_(None))
        .values(used_at=now)
    )


async def grants_of_session(session: AsyncSession, account_id: str, sid: str) -> Sequence[Grant]:
    """The live grants an account made in one sign-in session."""
    stmt = select(Grant).where(
        Grant.account_id == account_id, Grant.session_sid == sid, Grant.revoked_at.is_(None)
    )
    return (await session.execute(stmt)).scalars().all()


async def revoke_grants_of(
    session: AsyncSession, account_id: str, now: datetime, *, client_id: str | None = None
) -> None:
    """Revoke every live grant of an account (optionally only one client's)."""
    stmt = select(Grant.id).where(Grant.account_id == account_id, Grant.revoked_at.is_(None))
    if client_id is not None:
        stmt = stmt.where(Grant.client_id == client_id)
    for grant_id in (await session.execute(stmt)).scalars().all():
        await revoke_grant(session, grant_id, now)


async def refresh_for_update(session: AsyncSession, token_hash: str) -> RefreshToken | None:
    """The refresh token with this hash, locked."""
    stmt = select(RefreshToken).where(RefreshToken.token_hash == token_hash).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


# Every bearer request reads its client and whether its token id was revoked: one statement,
# sent straight to the driver on PostgreSQL (core.statements).
_CLIENT_COLUMNS = _column_names(Client)
_CLIENT_TABLE = _table(Client)
_CLIENT = Statement(
    select(_CLIENT_TABLE).where(_CLIENT_TABLE.c.client_id == bindparam("client_id"))
)
_REVOKED = _table(RevokedToken)
_CLIENT_AND_REVOCATION = Statement(
    select(
        _CLIENT_TABLE, exists().where(_REVOKED.c.jti == bindparam("jti")).label("revoked")
    ).where(_CLIENT_TABLE.c.client_id == bindparam("client_id"))
)


CLIENTS_BUILT_MAX = 10_000


class BuiltClients:
    """The detached Client objects an app built from ``oauth_client`` rows, by client id, each
    with the values it was built from: an agency sends the same client with every request, and
    building an ORM object costs more than the query. A Client is handed out again only while
    its row is unchanged, and never attached to a session.

    Made by the composition root (``identity.services.build_services``); lives as long as the
    app. At most CLIENTS_BUILT_MAX clients; when full it starts again empty.
    """

    def __init__(self) -> None:
        self._built: dict[str, tuple[tuple[Any, ...], Client]] = {}

    def of(self, row: Any) -> Client:
        """The Client of this row (as ``_CLIENT`` selects it)."""
        values = tuple(row[name] for name in _CLIENT_COLUMNS)
        built = self._built.get(row["client_id"])
        if built is not None and built[0] == values:
            return built[1]
        client = Client(**dict(zip(_CLIENT_COLUMNS, values, strict=True)))
        if len(self._built) >= CLIENTS_BUILT_MAX:
            self._built.clear()
        self._built[row["client_id"]] = (values, client)
        return client


async def detached_client(
    session: AsyncSession, client_id: str, *, built: BuiltClients
) -> Client | None:
    """The client with this id, to check its credentials or to validate a request against its
    settings (detached, and shared between requests: read it, never change or attach it). On
    PostgreSQL one statement to the driver that joins the unit of work's transaction if one
    has begun, else runs alone: the token endpoint's client_credentials grant, and /authorize
    sending a browser without a session to the sign-in page, then send no BEGIN or COMMIT at
    all (docs/performance.md, "Client reads without a transaction")."""
    if not _storable(client_id):
        return None
    row = await _CLIENT.fetch_row(session, {"client_id": client_id}, begin=False)
    return None if row is None else built.of(row)


async def client_and_revocation(
    session: AsyncSession, client_id: str, jti: str, *, built: BuiltClients
) -> tuple[Client | None, bool]:
    """The client with this id (not attached to the session: read it, do not change it), and
    whether the access token id was revoked: one round trip."""
    if not _storable(client_id) or not _storable(jti):
        return None, True
    # A read: it joins the unit of work's transaction if one has begun, else runs alone.
    row = await _CLIENT_AND_REVOCATION.fetch_row(
        session, {"client_id": client_id, "jti": jti}, begin=False
    )
    if row is None:
        return None, await is_revoked(session, jti)
    return built.of(row), bool(row["revoked"])


async def is_revoked(session: AsyncSession, jti: str) -> bool:
    """True when this access token id was revoked."""
    stmt = select(RevokedToken.jti).where(RevokedToken.jti == jti)
    return (await session.execute(stmt)).first() is not None


async def remember_jti(session: AsyncSession, jti: str, expires_at: datetime) -> bool:
    """Record a token id as spent; False when it was already there (a replay).

    One INSERT ... ON CONFLICT DO NOTHING: of concurrent requests spending one id, exactly one
    inserts it, and the others see a replay instead of a unique violation."""
    statement = (
        insert_for(session, _REVOKED)
        .values(jti=jti, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=[RevokedToken.jti])
        .returning(RevokedToken.jti)
    )
    return (await session.execute(statement)).first() is not None


# ------------------------------------------------------------------------------ PAR, DPoP

_PUSHED = _table(PushedRequest)
_SPENT = _table(SpentProof)


async def take_pushed(
    session: AsyncSession, request_hash: str, now: datetime
) -> PushedRequest | None:
    """The pushed request with this hash, marked used by this call; None when unknown or used
    before (RFC 9126 4: a request_uri is used once). Expiry is the caller's to check."""
    statement = (
        update(_PUSHED)
        .where(_PUSHED.c.request_hash == request_hash, _PUSHED.c.used_at.is_(None))
        .values(used_at=now)
        .returning(*_PUSHED.c)
    )
    row = (await session.execute(statement)).mappings().first()
    return None if row is None else PushedRequest(**dict(row))


_SPEND = Statement(
    postgresql.insert(_SPENT)
    .values(proof_hash=bindparam("proof_hash"), expires_at=bindparam("expires_at"))
    .on_conflict_do_nothing(index_elements=[_SPENT.c.proof_hash])
    .returning(_SPENT.c.proof_hash)
)


async def spend_proof(session: AsyncSession, proof_hash: str, expires_at: datetime) -> bool:
    """Record a DPoP proof as seen; False when it was seen before (a replay). One INSERT ...
    ON CONFLICT DO NOTHING, so of concurrent requests exactly one spends it. On PostgreSQL it
    goes to the driver and, unless the unit of work has begun, commits by itself: a proof is
    spent whatever becomes of its request, and a bound request pays no BEGIN and COMMIT."""
    params = {"proof_hash": proof_hash, "expires_at": expires_at}
    if dialect_of(session) == "postgresql":
        may_commit()
        return await _SPEND.fetch_row(session, params, begin=False) is not None
    statement = (
        insert_for(session, _SPENT)
        .values(proof_hash=proof_hash, expires_at=expires_at)
        .on_conflict_do_nothing(index_elements=[_SPENT.c.proof_hash])
        .returning(_SPENT.c.proof_hash)
    )
    return (await session.execute(statement)).first() is not None


async def purge_pushed_and_proofs(session: AsyncSession, now: datetime) -> None:
    """Drop pushed requests and seen proofs past their time (housekeeping: both are refused
    when expired anyway; this bounds the tables)."""
    await session.execute(delete(_PUSHED).where(_PUSHED.c.expires_at <= now))
    await session.execute(delete(_SPENT).where(_SPENT.c.expires_at <= now))


# ------------------------------------------------------------------------------ consent


async def consent(session: AsyncSession, account_id: str, client_id: str) -> Consent | None:
    """The consent this account gave this client."""
    return await session.get(Consent, (account_id, client_id))


async def consent_to_read(session: AsyncSession, account_id: str, client_id: str) -> Consent | None:
    """The consent this account gave this client, detached, to read only (``/authorize``
    decides whether it covers a request on every sign-in): on PostgreSQL one statement
    straight to the driver (core.statements)."""
    return await _detached(
        session, Consent, _CONSENT, {"account_id": account_id, "client_id": client_id}
    )


_CONSENT_TABLE = _table(Consent)
_CONSENT = Statement(
    select(_CONSENT_TABLE).where(
        _CONSENT_TABLE.c.account_id == bindparam("account_id"),
        _CONSENT_TABLE.c.client_id == bindparam("client_id"),
    )
)


async def consents_of(session: AsyncSession, account_id: str) -> Sequence[tuple[Consent, Client]]:
    """The account's consents with their clients, newest first."""
    stmt = (
        select(Consent, Client)
        .join(Client, Client.client_id == Consent.client_id)
        .where(Consent.account_id == account_id)
        .order_by(Consent.granted_at.desc())
    )
    return [(c, k) for c, k in (await session.execute(stmt)).all()]


def as_dict(row: Any) -> dict[str, Any]:
    """A row's columns as a dict (for tests and the CLI)."""
    return {c.key: getattr(row, c.key) for c in row.__table__.columns}
