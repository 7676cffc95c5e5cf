"""All SQL of the audit log. Functions flush through the caller's session and never commit."""

from __future__ import annotations

from collections.abc import AsyncGenerator, AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import (
    ColumnElement,
    SmallInteger,
    String,
    and_,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    tuple_,
    type_coerce,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncSession

from audit.events import EventData
from audit.models import AuditBatch, AuditCheckpoint, AuditEvent, AuditLeaf, AuditNode

# Any constant will do; it only has to be the same in every process of one database.
SEQUENCER_LOCK_KEY = 0x6175646974  # "audit"

EVENT_COLUMNS = (
    AuditEvent.id,
    AuditEvent.event_uid,
    AuditEvent.occurred_at,
    AuditEvent.actor_type,
    AuditEvent.actor_id,
    AuditEvent.on_behalf_of,
    AuditEvent.subject,
    AuditEvent.action,
    AuditEvent.fields,
    AuditEvent.purpose,
    AuditEvent.outcome,
    AuditEvent.request_id,
    AuditEvent.detail,
    AuditEvent.txid,
)


def dialect_of(session: AsyncSession) -> str:
    """``postgresql`` or ``sqlite``: the backend this session talks to."""
    bind = session.get_bind()
    return bind.dialect.name


def event_data(row: Any) -> EventData:
    """The hashed part of an ``audit_event`` row."""
    occurred_at = row.occurred_at
    if isinstance(occurred_at, str):  # a raw SQLite text value (queries built with text())
        occurred_at = datetime.fromisoformat(occurred_at)
    return EventData(
        event_uid=row.event_uid,
        occurred_at=occurred_at,
        actor_type=row.actor_type,
        actor_id=row.actor_id,
        on_behalf_of=row.on_behalf_of,
        subject=row.subject,
        action=row.action,
        fields=row.fields,
        purpose=row.purpose,
        outcome=row.outcome,
        request_id=row.request_id,
        detail=row.detail,
    )


async def insert_event(session: AsyncSession, values: dict[str, Any]) -> None:
    """The hot path: one INSERT, in the caller's transaction."""
    await session.execute(insert(AuditEvent), [values])


async def insert_events(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Several events in one executemany, in the caller's transaction."""
    await session.execute(insert(AuditEvent), rows)


# ------------------------------------------------------------------------------ sequencer


@dataclass(frozen=True)
class Cursor:
    """How far the sequencer has read: tree size and the last (txid, event id) taken."""

    tree_size: int
    txid: int | None
    event_id: int


async def try_sequencer_lock(session: AsyncSession) -> bool:
    """Become the one active sequencer for this transaction (PostgreSQL advisory lock)."""
    if dialect_of(session) != "postgresql":
        # SQLite has one writer at a time; a second sequencer would fail on the leaf key.
        return True
    result = await session.execute(
        text("SELECT pg_try_advisory_xact_lock(:key)"), {"key": SEQUENCER_LOCK_KEY}
    )
    return bool(result.scalar_one())


async def current_cursor(session: AsyncSession) -> Cursor:
    """The newest batch's cursor, or the start of an empty log."""
    row = (
        await session.execute(
            select(AuditBatch.tree_size, AuditBatch.cursor_txid, AuditBatch.cursor_event)
            .order_by(AuditBatch.tree_size.desc())
            .limit(1)
        )
    ).first()
    if row is None:
        return Cursor(0, None, 0)
    return Cursor(int(row.tree_size), row.cursor_txid, int(row.cursor_event))


async def finished_txid_horizon(session: AsyncSession) -> int | None:
    """PostgreSQL: every transaction id below this one has committed or aborted."""
    if dialect_of(session) != "postgresql":
        return None
    result = await session.execute(
        text("SELECT (pg_snapshot_xmin(pg_current_snapshot())::text)::bigint")
    )
    return int(result.scalar_one())


async def next_events(
    session: AsyncSession, cursor: Cursor, horizon: int | None, limit: int
) -> Sequence[Any]:
    """Committed events after the cursor, in the order they will get their leaves."""
    query = select(*EVENT_COLUMNS)
    if horizon is None:
        # SQLite: ids are handed out under the single write lock, so commit order is id order.
        query = query.where(AuditEvent.id > cursor.event_id).order_by(AuditEvent.id)
    else:
        # A row comparison is one range scan of the (txid, id) index; the equivalent OR is not,
        # and would re-read everything after the cursor on each batch of a large backlog.
        after = (
            AuditEvent.txid >= 0
            if cursor.txid is None
            else tuple_(AuditEvent.txid, AuditEvent.id) > tuple_(cursor.txid, cursor.event_id)
        )
        query = query.where(after, AuditEvent.txid < horizon).order_by(
            AuditEvent.txid, AuditEvent.id
        )
    return (await session.execute(query.limit(limit))).all()


async def append_leaves(
    session: AsyncSession,
    leaves: Sequence[dict[str, Any]],
    nodes: Sequence[dict[str, Any]],
    batch: dict[str, Any],
) -> None:
    """Insert one batch: its leaves, the subtree hashes it completed, and its cursor."""
    await session.execute(insert(AuditBatch), [batch])
    if dialect_of(session) == "postgresql":
        # COPY on the session's own connection (inside its transaction, which the INSERT above
        # opened): several times cheaper than an INSERT of the same rows.
        connection = await session.connection()
        driver = (await connection.get_raw_connection()).driver_connection
        assert driver is not None  # noqa: S101 - an open asyncpg connection
        if leaves:
            await driver.copy_records_to_table(
                "audit_leaf",
                records=[(r["leaf_index"], r["event_id"], r["leaf_hash"]) for r in leaves],
                columns=["leaf_index", "event_id", "leaf_hash"],
            )
        if nodes:
            await driver.copy_records_to_table(
                "audit_node",
                records=[(r["level"], r["idx"], r["hash"]) for r in nodes],
                columns=["level", "idx", "hash"],
            )
        return
    if leaves:
        await session.execute(insert(AuditLeaf), leaves)
    if nodes:
        await session.execute(insert(AuditNode), nodes)


async def fetch_nodes(
    session: AsyncSession, ids: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """Complete-subtree hashes by (level, index): leaves from audit_leaf, the rest audit_node."""
    wanted = set(ids)
    leaf_ids = [i for level, i in wanted if level == 0]
    node_ids = [(level, i) for level, i in wanted if level > 0]
    parts = []
    if leaf_ids:
        parts.append(
            select(
                literal(0, SmallInteger).label("level"),
                AuditLeaf.leaf_index.label("idx"),
                AuditLeaf.leaf_hash.label("hash"),
            ).where(AuditLeaf.leaf_index.in_(leaf_ids))
        )
    if node_ids:
        parts.append(
            select(AuditNode.level, AuditNode.idx, AuditNode.hash).where(
                tuple_(AuditNode.level, AuditNode.idx).in_(node_ids)
            )
        )
    if not parts:
        return {}
    # One round trip for leaves and nodes alike.
    query = parts[0] if len(parts) == 1 else union_all(*parts)
    rows = await session.execute(query)
    return {(int(r.level), int(r.idx)): bytes(r.hash) for r in rows}


# ----------------------------------------------------------------------------- checkpoints


async def latest_checkpoint(session: AsyncSession) -> AuditCheckpoint | None:
    """The newest signed checkpoint."""
    return (
        await session.execute(
            select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1)
        )
    ).scalar_one_or_none()


async def checkpoint_at(session: AsyncSession, tree_size: int) -> AuditCheckpoint | None:
    """The checkpoint of exactly ``tree_size`` leaves."""
    return (
        await session.execute(select(AuditCheckpoint).where(AuditCheckpoint.tree_size == tree_size))
    ).scalar_one_or_none()


async def all_checkpoints(session: AsyncSession) -> Sequence[AuditCheckpoint]:
    """Every checkpoint, smallest tree first."""
    return (
        (await session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size)))
        .scalars()
        .all()
    )


async def insert_checkpoint(session: AsyncSession, tree_size: int, root: bytes, note: str) -> None:
    """Record a signed checkpoint."""
    await session.execute(
        insert(AuditCheckpoint), [{"tree_size": tree_size, "root_hash": root, "note": note}]
    )


# ------------------------------------------------------------------------------ reading


async def event_with_leaf_hash(session: AsyncSession, event_uid: str) -> Any | None:
    """An event row with its leaf index and hash (both None until it is sequenced)."""
    return (
        await session.execute(
            select(AuditLeaf.leaf_index, AuditLeaf.leaf_hash, *EVENT_COLUMNS)
            .select_from(AuditEvent)
            .outerjoin(AuditLeaf, AuditLeaf.event_id == AuditEvent.id)
            .where(AuditEvent.event_uid == event_uid)
        )
    ).first()


async def latest_checkpoint_head(session: AsyncSession) -> tuple[int, str] | None:
    """The newest checkpoint's size and signed note (without loading an ORM object)."""
    row = (
        await session.execute(
            select(AuditCheckpoint.tree_size, AuditCheckpoint.note)
            .order_by(AuditCheckpoint.tree_size.desc())
            .limit(1)
        )
    ).first()
    return None if row is None else (int(row.tree_size), str(row.note))


async def event_by_uid(session: AsyncSession, event_uid: str) -> Any | None:
    """One event row by its public id."""
    return (
        await session.execute(select(*EVENT_COLUMNS).where(AuditEvent.event_uid == event_uid))
    ).first()


async def stream_log(session: AsyncSession, chunk: int = 20_000) -> AsyncIterator[Sequence[Any]]:
    """Every leaf with its event (or None when the event row is gone), by leaf index."""
    last = -1
    while True:
        rows = (
            await session.execute(
                select(AuditLeaf.leaf_index, AuditLeaf.leaf_hash, *EVENT_COLUMNS)
                .outerjoin(AuditEvent, AuditEvent.id == AuditLeaf.event_id)
                .where(AuditLeaf.leaf_index > last)
                .order_by(AuditLeaf.leaf_index)
                .limit(chunk)
            )
        ).all()
        if not rows:
            return
        yield rows
        last = int(rows[-1].leaf_index)


async def unsequenced_behind(session: AsyncSession, cursor: Cursor) -> Sequence[Any]:
    """Events the sequencer has passed without giving them a leaf (rows inserted behind it)."""
    behind = (
        AuditEvent.id <= cursor.event_id
        if cursor.txid is None
        else or_(
            AuditEvent.txid < cursor.txid,
            and_(AuditEvent.txid == cursor.txid, AuditEvent.id <= cursor.event_id),
            AuditEvent.txid.is_(None),
        )
    )
    query = (
        select(AuditEvent.id, AuditEvent.event_uid)
        .outerjoin(AuditLeaf, AuditLeaf.event_id == AuditEvent.id)
        .where(AuditLeaf.event_id.is_(None), behind)
        .order_by(AuditEvent.id)
        .limit(100)
    )
    return (await session.execute(query)).all()


async def leaf_index_after_event(session: AsyncSession, event_id: int) -> int:
    """Where an event with this id would sit in the log (the first leaf of a later event)."""
    value = (
        await session.execute(
            select(func.min(AuditLeaf.leaf_index))
            .join(AuditEvent, AuditEvent.id == AuditLeaf.event_id)
            .where(AuditEvent.id > event_id)
        )
    ).scalar_one_or_none()
    if value is not None:
        return int(value)
    size = (await session.execute(select(func.count()).select_from(AuditLeaf))).scalar_one()
    return int(size)


# ------------------------------------------------------------------------------ searching


@dataclass(frozen=True)
class EventFilter:
    """What an audit search matches: every filter that is set must hold; None matches any."""

    subject: str | None = None
    actor_id: str | None = None
    actor_type: str | None = None
    action: str | None = None
    purpose: str | None = None
    outcome: str | None = None
    since: datetime | None = None  # inclusive, timezone-aware
    until: datetime | None = None  # exclusive, timezone-aware

    def names(self) -> tuple[str, ...]:
        """The names of the filters that are set (never their values)."""
        return tuple(f.name for f in dataclass_fields(self) if getattr(self, f.name) is not None)


_EQUALITY_FILTERS = (
    ("subject", AuditEvent.subject),
    ("actor_id", AuditEvent.actor_id),
    ("actor_type", AuditEvent.actor_type),
    ("action", AuditEvent.action),
    ("purpose", AuditEvent.purpose),
    ("outcome", AuditEvent.outcome),
)


def _sqlite_instant(value: datetime) -> str:
    # SQLite stores occurred_at as UTC text with milliseconds ('YYYY-MM-DD HH:MM:SS.fff', the
    # migration's default), so compare text with text in that very format: the index stays
    # usable and equal instants compare equal. Rounding up to the next millisecond keeps both
    # bounds exact: t >= x  <=>  t >= ceil_ms(x), and t < x  <=>  t < ceil_ms(x).
    value = value.astimezone(UTC)
    if value.microsecond % 1000:
        value += timedelta(microseconds=1000 - value.microsecond % 1000)
    return value.strftime("%Y-%m-%d %H:%M:%S.") + f"{value.microsecond // 1000:03d}"


def _time_bounds(dialect: str, where: EventFilter) -> list[ColumnElement[bool]]:
    conditions: list[ColumnElement[bool]] = []
    if dialect == "sqlite":
        as_text = type_coerce(AuditEvent.occurred_at, String())
        if where.since is not None:
            conditions.append(as_text >= _sqlite_instant(where.since))
        if where.until is not None:
            conditions.append(as_text < _sqlite_instant(where.until))
        return conditions
    if where.since is not None:
        conditions.append(AuditEvent.occurred_at >= where.since)
    if where.until is not None:
        conditions.append(AuditEvent.occurred_at < where.until)
    return conditions


def _conditions(
    dialect: str, where: EventFilter, before_id: int | None
) -> list[ColumnElement[bool]]:
    conditions = [
        column == getattr(where, name)
        for name, column in _EQUALITY_FILTERS
        if getattr(where, name) is not None
    ]
    conditions.extend(_time_bounds(dialect, where))
    if before_id is not None:
        conditions.append(AuditEvent.id < before_id)
    return conditions


async def search_events(
    session: AsyncSession, where: EventFilter, *, before_id: int | None, limit: int
) -> Sequence[Any]:
    """Up to ``limit`` matching events below ``before_id``, newest first, with leaf index."""
    # Newest first on the primary key: with a subject or actor filter this walks the
    # (subject, id) / (actor_id, id) index backwards and stops after ``limit`` rows.
    query = (
        select(*EVENT_COLUMNS, AuditLeaf.leaf_index)
        .outerjoin(AuditLeaf, AuditLeaf.event_id == AuditEvent.id)
        .where(*_conditions(dialect_of(session), where, before_id))
        .order_by(AuditEvent.id.desc())
        .limit(limit)
    )
    return (await session.execute(query)).all()


async def stream_events(
    session: AsyncSession, where: EventFilter, *, chunk: int = 1_000
) -> AsyncGenerator[Sequence[Any], None]:
    """Every matching event, newest first, in keyset chunks of at most ``chunk`` rows."""
    before_id: int | None = None
    while True:
        rows = await search_events(session, where, before_id=before_id, limit=chunk)
        if rows:
            yield rows
        if len(rows) < chunk:
            return
        before_id = int(rows[-1].id)


async def event_with_leaf(session: AsyncSession, event_uid: str) -> Any | None:
    """One event row by its public id, with its leaf index (None until sequenced)."""
    return (
        await session.execute(
            select(*EVENT_COLUMNS, AuditLeaf.leaf_index)
            .outerjoin(AuditLeaf, AuditLeaf.event_id == AuditEvent.id)
            .where(AuditEvent.event_uid == event_uid)
        )
    ).first()
