"""SQL of the portal's own tables: the citizens' questions about accesses (access_dispute)."""

from __future__ import annotations

from collections.abc import Iterable

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from registry.portal.models import AccessDispute


async def add_dispute(session: AsyncSession, dispute: AccessDispute) -> None:
    """Insert a new question (flushed, so a second one about the same access conflicts)."""
    session.add(dispute)
    await session.flush()


async def dispute_of_event(session: AsyncSession, event_uid: str) -> AccessDispute | None:
    """The question about this access, if one was asked."""
    stmt = select(AccessDispute).where(AccessDispute.event_uid == event_uid)
    return (await session.execute(stmt)).scalar_one_or_none()


async def disputes_of_events(
    session: AsyncSession, citizen_id: str, event_uids: Iterable[str]
) -> list[AccessDispute]:
    """The citizen's questions about any of these accesses."""
    wanted = list(event_uids)
    if not wanted:
        return []
    stmt = select(AccessDispute).where(
        AccessDispute.citizen_id == citizen_id, AccessDispute.event_uid.in_(wanted)
    )
    return list((await session.execute(stmt)).scalars())


async def disputes(
    session: AsyncSession, *, status: str | None, actor_id: str | None, limit: int
) -> list[AccessDispute]:
    """Questions, newest first, of one status and one accessor when given."""
    stmt = select(AccessDispute).order_by(AccessDispute.created_at.desc(), AccessDispute.id)
    if status is not None:
        stmt = stmt.where(AccessDispute.status == status)
    if actor_id is not None:
        stmt = stmt.where(AccessDispute.actor_id == actor_id)
    return list((await session.execute(stmt.limit(limit))).scalars())


async def dispute_for_update(session: AsyncSession, dispute_id: str) -> AccessDispute | None:
    """One question, locked for a change of status."""
    stmt = select(AccessDispute).where(AccessDispute.id == dispute_id).with_for_update()
    return (await session.execute(stmt)).scalar_one_or_none()
