"""The log as auditors and citizens read it: search, one event, proofs, export, a citizen's
own access log. Each read is itself recorded, in the caller's unit of work. No HTTP here.

Other packages read the log only through this module. The plain reads at the end record
nothing: they serve a door that records its own view of the page they fill (the portal)."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Sequence
from contextlib import aclosing
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from audit import repository as repo
from audit.proofs import consistency_proof, inclusion_proof
from audit.recording import record, refuse
from audit.repository import EventFilter as EventFilter
from audit.schemas import (
    PAGE_DEFAULT,
    PAGE_MAX,
    ConsistencyProof,
    EventFilters,
    EventPage,
    EventView,
    InclusionProof,
)
from core import paging
from core.db import Database
from core.errors import FieldError, Forbidden, NotFound, ValidationFailed
from core.principal import Principal
from core.text import ID_NUMBER_RE

EXPORT_CHUNK = 1_000
_MAX_CURSOR_ID = 2**63 - 1
_NOT_IN_YOUR_LOG = "No audit event with this id in your access log."


def encode_cursor(event_id: int) -> str:
    """The opaque page cursor meaning "events older than this one"."""
    return paging.encode_cursor(str(event_id))


def decode_cursor(cursor: str) -> int:
    """The event id inside a cursor made by :func:`encode_cursor`; 422 for anything else."""
    key = paging.decode_cursor(cursor)
    if not (key.isdigit() and int(key) <= _MAX_CURSOR_ID and str(int(key)) == key):
        raise paging.invalid_cursor()
    return int(key)


def _event_filter(filters: EventFilters) -> repo.EventFilter:
    if filters.since is not None and filters.until is not None and filters.since > filters.until:
        raise ValidationFailed(
            "The request has invalid fields.",
            errors=(FieldError("Must not be earlier than since.", parameter="until"),),
        )
    return repo.EventFilter(
        subject=filters.subject,
        actor_id=filters.actor_id,
        actor_type=filters.actor_type,
        action=filters.action,
        purpose=filters.purpose,
        outcome=filters.outcome,
        since=filters.since,
        until=filters.until,
    )


async def _page(
    session: AsyncSession, where: repo.EventFilter, cursor: str | None, limit: int
) -> EventPage:
    if not 1 <= limit <= PAGE_MAX:
        raise ValidationFailed(
            "The request has invalid fields.",
            errors=(FieldError(f"Must be between 1 and {PAGE_MAX}.", parameter="limit"),),
        )
    before_id = None if cursor is None else decode_cursor(cursor)
    # One row more than asked tells whether another page follows.
    rows = await repo.search_events(session, where, before_id=before_id, limit=limit + 1)
    shown = rows[:limit]
    return EventPage(
        items=[EventView.from_row(row) for row in shown],
        next_cursor=encode_cursor(int(shown[-1].id)) if len(rows) > limit else None,
    )


def _check_auditor(auditor: Principal) -> None:
    # The router's require("auditor") is the gate; this keeps the rule true for every caller.
    if "auditor" not in auditor.roles:
        raise Forbidden("This resource requires the auditor role.")


def _citizen_id(citizen: Principal) -> str:
    if citizen.actor_type != "citizen" or not ID_NUMBER_RE.fullmatch(citizen.actor_id):
        raise Forbidden("This resource is only for citizens signed in with their ID number.")
    return citizen.actor_id


async def search_events(
    session: AsyncSession,
    *,
    auditor: Principal,
    filters: EventFilters,
    cursor: str | None,
    limit: int = PAGE_DEFAULT,
) -> EventPage:
    """One page of matching events, newest first; the search is itself recorded, in this UoW."""
    _check_auditor(auditor)
    where = _event_filter(filters)
    page = await _page(session, where, cursor, limit)
    await record(
        session,
        actor=auditor,
        action="audit.search",
        outcome="granted",
        subject=where.subject,
        detail={"filters": ",".join(where.names()), "results": len(page.items)},
    )
    return page


async def citizen_access_log(
    session: AsyncSession, *, citizen: Principal, cursor: str | None, limit: int = PAGE_DEFAULT
) -> EventPage:
    """Every event whose subject is the citizen (bulk accesses included), newest first."""
    me = _citizen_id(citizen)
    page = await _page(session, repo.EventFilter(subject=me), cursor, limit)
    await record(
        session,
        actor=citizen,
        action="audit.own_log",
        outcome="granted",
        subject=me,
        detail={"results": len(page.items)},
    )
    return page


async def view_event(session: AsyncSession, *, auditor: Principal, event_uid: str) -> EventView:
    """One event with its leaf index, for an auditor (recorded as ``audit.event_view``)."""
    _check_auditor(auditor)
    row = await repo.event_with_leaf(session, event_uid)
    if row is None:
        raise await refuse(
            session,
            NotFound("No audit event with this id."),
            actor=auditor,
            action="audit.event_view",
            outcome="not_found",
            detail={"event_uid": event_uid[:64]},
        )
    await record(
        session,
        actor=auditor,
        action="audit.event_view",
        outcome="granted",
        subject=row.subject,
        detail={"event_uid": event_uid},
    )
    return EventView.from_row(row)


async def auditor_inclusion_proof(
    session: AsyncSession, *, auditor: Principal, event_uid: str
) -> InclusionProof:
    """An inclusion proof of any event, for an auditor (recorded as ``audit.proof``)."""
    _check_auditor(auditor)
    proof = InclusionProof.model_validate(await inclusion_proof(session, event_uid))
    row = await repo.event_by_uid(session, event_uid)
    await record(
        session,
        actor=auditor,
        action="audit.proof",
        outcome="granted",
        subject=None if row is None else row.subject,
        detail={"event_uid": event_uid, "tree_size": proof.tree_size},
    )
    return proof


async def citizen_inclusion_proof(
    session: AsyncSession, *, citizen: Principal, event_uid: str
) -> InclusionProof:
    """An inclusion proof of an event about the citizen; any other event is "not found"."""
    me = _citizen_id(citizen)
    row = await repo.event_by_uid(session, event_uid)
    # Checked before anything else, so "not yet sequenced" cannot reveal another's event.
    if row is None or row.subject != me:
        raise await refuse(
            session,
            NotFound(_NOT_IN_YOUR_LOG),
            actor=citizen,
            action="audit.proof",
            outcome="not_found",
            subject=me,
            detail={"event_uid": event_uid[:64]},
        )
    proof = InclusionProof.model_validate(await inclusion_proof(session, event_uid))
    await record(
        session,
        actor=citizen,
        action="audit.proof",
        outcome="granted",
        subject=me,
        detail={"event_uid": event_uid, "tree_size": proof.tree_size},
    )
    return proof


async def auditor_consistency_proof(
    session: AsyncSession, *, auditor: Principal, first: int, second: int
) -> ConsistencyProof:
    """A consistency proof between two signed checkpoints (recorded as ``audit.consistency``)."""
    _check_auditor(auditor)
    if first > second:
        raise ValidationFailed(
            "The request has invalid fields.",
            errors=(FieldError("Must not be larger than second.", parameter="first"),),
        )
    proof = ConsistencyProof.model_validate(await consistency_proof(session, first, second))
    await record(
        session,
        actor=auditor,
        action="audit.consistency",
        outcome="granted",
        detail={"first": first, "second": second},
    )
    return proof


async def start_export(
    session: AsyncSession, *, auditor: Principal, filters: EventFilters, database: Database
) -> AsyncIterator[bytes]:
    """Record the export in the request's UoW now; return the NDJSON body to stream after it.

    The caller must commit ``session`` before it iterates the body (SessionDep does, before the
    response starts), so the export is on record before the first event leaves.
    """
    _check_auditor(auditor)
    where = _event_filter(filters)
    await record(
        session,
        actor=auditor,
        action="audit.export",
        outcome="granted",
        subject=where.subject,
        detail={"filters": ",".join(where.names())},
    )
    return _export_lines(database, where)


async def _export_lines(database: Database, where: repo.EventFilter) -> AsyncIterator[bytes]:
    async with (
        database.sessions() as session,
        aclosing(repo.stream_events(session, where, chunk=EXPORT_CHUNK)) as chunks,
    ):
        async for rows in chunks:
            lines = [EventView.from_row(row).model_dump_json().encode() for row in rows]
            body = b"\n".join(lines) + b"\n"
            # End the read transaction and hand the connection back while the client reads.
            await session.rollback()
            yield body


# ------------------------------------------------------------------------------ plain reads


@dataclass(frozen=True, slots=True)
class StoredCheckpoint:
    """A signed checkpoint as stored: its tree size, when it was made, its root and its note."""

    tree_size: int
    created_at: datetime
    root_hash: bytes
    note: str


@dataclass(frozen=True, slots=True)
class DayCount:
    """How many events one actor caused on one local day (YYYY-MM-DD)."""

    actor_id: str
    day: str
    count: int


# An event row has the columns of audit.events.EventData (``fields`` and ``detail`` as stored
# canonical JSON), its ``id`` (the order of the log) and its ``leaf_index`` (None until
# sequenced).


async def events(
    session: AsyncSession, where: EventFilter, *, before_id: int | None, limit: int
) -> Sequence[Any]:
    """Up to ``limit`` matching event rows below ``before_id``, newest first (not recorded)."""
    return await repo.search_events(session, where, before_id=before_id, limit=limit)


def stream_events(session: AsyncSession, where: EventFilter) -> AsyncGenerator[Sequence[Any], None]:
    """Every matching event row, newest first, in chunks (not recorded); close it when done."""
    return repo.stream_events(session, where)


async def event_with_leaf(session: AsyncSession, event_uid: str) -> Any | None:
    """One event row by its public id (not recorded)."""
    return await repo.event_with_leaf(session, event_uid)


async def latest_checkpoint_size(session: AsyncSession) -> int | None:
    """The tree size of the newest signed checkpoint (None before one is signed)."""
    head = await repo.latest_checkpoint_head(session)
    return None if head is None else head[0]


async def checkpoints_before(
    session: AsyncSession, before: int | None, limit: int
) -> list[StoredCheckpoint]:
    """Up to ``limit`` checkpoints smaller than ``before`` (any when None), newest first."""
    return [
        StoredCheckpoint(int(c.tree_size), c.created_at, bytes(c.root_hash), c.note)
        for c in await repo.checkpoints_before(session, before, limit)
    ]


async def daily_counts(
    session: AsyncSession, *, actor_type: str, since: datetime, utc_offset_hours: int
) -> list[DayCount]:
    """Events of one kind of actor at or after ``since``, counted per actor and local day
    (``utc_offset_hours`` from UTC). Counts only: no personal data."""
    rows = await repo.daily_counts(
        session, actor_type=actor_type, since=since, utc_offset_hours=utc_offset_hours
    )
    return [DayCount(str(r.actor_id), str(r.day), int(r.n)) for r in rows]
