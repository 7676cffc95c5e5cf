"""The SQL of the staff lifecycle: staff accounts with what an administrator sees of them, and
their enrolment codes. Functions flush, never commit."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import delete, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from identity.models import Account, LoginSession, Passkey, StaffEnrolmentCode


@dataclass(frozen=True, slots=True)
class StaffRow:
    """A staff account with its passkey count, its last sign-in and its live sessions."""

    account: Account
    passkeys: int
    last_sign_in: datetime | None
    live_sessions: int


async def staff_rows(session: AsyncSession, *, username: str | None = None) -> list[StaffRow]:
    """Every staff account (or the one named), by username, with what the list shows."""
    passkeys = (
        select(func.count())
        .select_from(Passkey)
        .where(Passkey.account_id == Account.id)
        .scalar_subquery()
    )
    last = (
        select(func.max(LoginSession.auth_time))
        .where(LoginSession.account_id == Account.id)
        .scalar_subquery()
    )
    live = (
        select(func.count())
        .select_from(LoginSession)
        .where(LoginSession.account_id == Account.id, LoginSession.ended_at.is_(None))
        .scalar_subquery()
    )
    stmt = (
        select(Account, passkeys, last, live)
        .where(Account.kind == "staff")
        .order_by(Account.username)
    )
    if username is not None:
        stmt = stmt.where(Account.username == username)
    return [
        StaffRow(
            account=row[0], passkeys=int(row[1]), last_sign_in=row[2], live_sessions=int(row[3])
        )
        for row in (await session.execute(stmt)).all()
    ]


async def count_active_administrators(session: AsyncSession) -> int:
    """Active staff accounts holding the administrator role. Their rows stay locked until the
    transaction ends, so two administrators disabling each other at once cannot both pass the
    check: the second counts again after the first commits."""
    stmt = (
        select(Account.roles)
        .where(Account.kind == "staff", Account.status == "active")
        .with_for_update()
    )
    return sum(
        "administrator" in roles.split() for roles in (await session.execute(stmt)).scalars()
    )


async def delete_passkeys_of(session: AsyncSession, account_id: str) -> int:
    """Remove every passkey of an account; how many there were."""
    result = await session.execute(delete(Passkey).where(Passkey.account_id == account_id))
    return int(getattr(result, "rowcount", 0) or 0)


async def enrolment_code(
    session: AsyncSession, account_id: str, *, for_update: bool = False
) -> StaffEnrolmentCode | None:
    """The account's enrolment code (used or not), locked when asked."""
    stmt = select(StaffEnrolmentCode).where(StaffEnrolmentCode.account_id == account_id)
    if for_update:
        stmt = stmt.with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()


async def replace_enrolment_code(session: AsyncSession, row: StaffEnrolmentCode) -> None:
    """Store the account's new code in place of any earlier one."""
    await session.execute(
        delete(StaffEnrolmentCode).where(StaffEnrolmentCode.account_id == row.account_id)
    )
    session.add(row)
    await session.flush()
