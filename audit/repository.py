"""SQL of the audit log's events and checkpoints: the recording insert, the reads of proofs
and searches (the Merkle tree's storage is audit/tree_repository.py). Functions flush
through the caller's session and never commit."""

from __future__ import annotations

from collections.abc import AsyncGenerator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import ColumnElement, func, insert, literal_column, select, true
from sqlalchemy.ext.asyncio import AsyncSession

from audit.events import EVENT_FIELDS, EventData
from audit.models import AuditCheckpoint, AuditEvent, AuditLeaf
from core.db import dialect_of, driver_connection, driver_errors, is_unavailable, may_commit
from core.models import instant_bounds

EVENT_COLUMNS = (
    AuditEvent.id,
    *(getattr(AuditEvent, name) for name in EVENT_FIELDS),
    AuditEvent.txid,
)


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


# occurred_at is the database clock's (its default).
EVENT_COLUMNS_INSERTED = tuple(name for name in EVENT_FIELDS if name != "occurred_at")
# The hot path's INSERT on PostgreSQL, sent straight to the driver (core.db.driver_connection):
# the id, the database's clock and the inserting transaction are the table's defaults.
INSERT_EVENT_SQL = (
    f"INSERT INTO audit_event ({', '.join(EVENT_COLUMNS_INSERTED)}) "  # noqa: S608 - constants
    f"VALUES ({', '.join(f'${n}' for n in range(1, len(EVENT_COLUMNS_INSERTED) + 1))})"
)


def insert_event_select(values: Mapping[str, str], source: str) -> str:
    """An INSERT of one event per row of ``source`` (SQL text: a CTE's name, for a statement
    that inserts its event with the access it records), each column given by ``values`` (SQL
    expressions, one per EVENT_COLUMNS_INSERTED, in that order); it returns the events' ids."""
    if tuple(values) != EVENT_COLUMNS_INSERTED:
        raise ValueError(f"give each of {EVENT_COLUMNS_INSERTED} in order, not {tuple(values)}")
    return (
        f"INSERT INTO audit_event ({', '.join(values)}) "  # noqa: S608 - the caller's SQL
        f"SELECT {', '.join(values.values())} FROM {source} RETURNING event_uid"
    )


class EventNotRecorded(Exception):
    """The database refused the event's INSERT (the caller's transaction is doomed)."""


async def insert_event(
    session: AsyncSession, values: dict[str, Any], *, begin: bool = True
) -> None:
    """The hot path: one INSERT, in the caller's transaction (``begin=False``: in a transaction
    of its own when the caller has not begun one; see audit.recording.record's ``last``)."""
    driver = await driver_connection(session, begin=begin)
    if driver is None:
        await session.execute(insert(AuditEvent), [values])
        return
    if not begin:
        may_commit()  # the INSERT may commit by itself
    async with driver_errors(session):
        try:
            await driver.execute(
                INSERT_EVENT_SQL, *(values[name] for name in EVENT_COLUMNS_INSERTED)
            )
        except asyncpg.PostgresError as exc:
            if is_unavailable(exc):
                raise  # driver_errors: the database is gone or not ready, not the event refused
            raise EventNotRecorded(type(exc).__name__) from exc


async def insert_events(session: AsyncSession, rows: list[dict[str, Any]]) -> None:
    """Several events in one executemany, in the caller's transaction."""
    await session.execute(insert(AuditEvent), rows)


# ----------------------------------------------------------------------------- checkpoints


async def latest_checkpoint(session: AsyncSession) -> AuditCheckpoint | None:
    """The newest signed checkpoint."""
    return (
        await session.execute(
            select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(1)
        )
    ).scalar_one_or_none()


async def first_checkpoint_note(session: AsyncSession) -> str | None:
    """The signed note of the log's first checkpoint (None before one is signed)."""
    stmt = select(AuditCheckpoint.note).order_by(AuditCheckpoint.id).limit(1)
    note: str | None = (await session.execute(stmt)).scalar_one_or_none()
    return note


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


async def checkpoints_before(
    session: AsyncSession, before: int | None, limit: int
) -> Sequence[AuditCheckpoint]:
    """Up to ``limit`` checkpoints smaller than ``before``, newest first."""
    query = select(AuditCheckpoint).order_by(AuditCheckpoint.tree_size.desc()).limit(limit)
    if before is not None:
        query = query.where(AuditCheckpoint.tree_size < before)
    return (await session.execute(query)).scalars().all()


async def insert_checkpoint(session: AsyncSession, tree_size: int, root: bytes, note: str) -> None:
    """Record a signed checkpoint."""
    await session.execute(
        insert(AuditCheckpoint), [{"tree_size": tree_size, "root_hash": root, "note": note}]
    )


# ------------------------------------------------------------------------------ reading


@dataclass(frozen=True)
class ProofTarget:
    """An event with its leaf (None until sequenced), the newest checkpoint (None if none),
    and, on PostgreSQL, the stored hashes of its inclusion proof's nodes in that checkpoint."""

    event: EventData
    leaf_index: int | None
    leaf_hash: bytes | None
    tree_size: int | None
    note: str | None
    nodes: dict[tuple[int, int], bytes] | None = None


# The complete subtrees an inclusion proof of leaf i in a tree of n leaves reads (the set of
# merkle.inclusion_nodes(i, n).ids; merkle.inclusion_node_set is the same rule in Python):
# the siblings (l, (i >> l) xor 1) of the leaf's path that lie wholly inside the tree, and the
# right-border subtrees (l, (n >> l) - 1) below the level where the paths to i and to n - 1
# part. Over a relation t(leaf_index, tree_size); levels up to 62 cover any bigint size.
PROOF_NODE_IDS_SQL = """
SELECT t.leaf_index, t.tree_size, g.lv::smallint AS level, (t.leaf_index >> g.lv) # 1 AS idx
  FROM t CROSS JOIN generate_series(0, 62) AS g(lv)
 WHERE t.leaf_index < t.tree_size AND ((t.leaf_index >> g.lv) # 1) < (t.tree_size >> g.lv)
UNION ALL
SELECT t.leaf_index, t.tree_size, g.lv::smallint, (t.tree_size >> g.lv) - 1
  FROM t CROSS JOIN generate_series(0, 62) AS g(lv)
 WHERE t.leaf_index < t.tree_size AND ((t.tree_size >> g.lv) & 1) = 1
   AND ((t.leaf_index # t.tree_size) >> (g.lv + 1)) > 0
"""

# One round trip for the whole proof: the event, its leaf, the newest checkpoint, and the
# proof's node hashes (leaves from audit_leaf, higher levels from audit_node, by primary key).
_PROOF_TARGET_SQL = f"""
WITH t AS (
SELECT l.leaf_index, l.leaf_hash, c.tree_size, c.note, e.event_uid, e.occurred_at,
       e.actor_type, e.actor_id, e.on_behalf_of, e.subject, e.action, e.fields, e.purpose,
       e.outcome, e.request_id, e.detail
  FROM audit_event e
  LEFT JOIN audit_leaf l ON l.event_id = e.id
  LEFT JOIN LATERAL (
       SELECT tree_size, note FROM audit_checkpoint ORDER BY tree_size DESC LIMIT 1) c ON true
 WHERE e.event_uid = $1
), w AS ({PROOF_NODE_IDS_SQL}
), n AS (
SELECT w.level, w.idx, coalesce(lf.leaf_hash, nd.hash) AS hash
  FROM w
  LEFT JOIN audit_leaf lf ON w.level = 0 AND lf.leaf_index = w.idx
  LEFT JOIN audit_node nd ON w.level > 0 AND nd.level = w.level AND nd.idx = w.idx
)
SELECT t.*,
       (SELECT array_agg(level ORDER BY level, idx) FROM n WHERE hash IS NOT NULL) AS levels,
       (SELECT array_agg(idx ORDER BY level, idx) FROM n WHERE hash IS NOT NULL) AS idxs,
       (SELECT array_agg(hash ORDER BY level, idx) FROM n WHERE hash IS NOT NULL) AS hashes
  FROM t
"""  # noqa: S608 - constant text, no input


async def proof_target(session: AsyncSession, event_uid: str) -> ProofTarget | None:
    """What an inclusion proof needs: the event, its leaf, the newest checkpoint's size and
    note, and on PostgreSQL the proof's node hashes too, all in one query."""
    if dialect_of(session) == "postgresql":
        return await proof_target_postgresql(session, event_uid)
    return await proof_target_portable(session, event_uid)


async def proof_target_postgresql(session: AsyncSession, event_uid: str) -> ProofTarget | None:
    """``proof_target`` in one PostgreSQL statement, node hashes included
    (tests/audit/test_proof_nodes_sql.py holds it to ``proof_target_portable`` and to
    merkle's rule)."""
    # One statement, read-only: no BEGIN and COMMIT round trips.
    driver: Any = await driver_connection(session, begin=False)
    async with driver_errors(session):
        record = await driver.fetchrow(_PROOF_TARGET_SQL, event_uid)
    if record is None:
        return None
    event = EventData(**{name: record[name] for name in EVENT_FIELDS})
    nodes = dict(
        zip(
            zip(record["levels"] or (), record["idxs"] or (), strict=True),
            record["hashes"] or (),
            strict=True,
        )
    )
    return ProofTarget(
        event,
        record["leaf_index"],
        record["leaf_hash"],
        record["tree_size"],
        record["note"],
        nodes=nodes,
    )


async def proof_target_portable(session: AsyncSession, event_uid: str) -> ProofTarget | None:
    """``proof_target`` without the node hashes, on any database."""
    head = (
        select(AuditCheckpoint.tree_size, AuditCheckpoint.note)
        .order_by(AuditCheckpoint.tree_size.desc())
        .limit(1)
        .subquery()
    )
    row = (
        await session.execute(
            select(
                AuditLeaf.leaf_index,
                AuditLeaf.leaf_hash,
                head.c.tree_size,
                head.c.note,
                *EVENT_COLUMNS,
            )
            .select_from(AuditEvent)
            .outerjoin(AuditLeaf, AuditLeaf.event_id == AuditEvent.id)
            .outerjoin(head, true())
            .where(AuditEvent.event_uid == event_uid)
        )
    ).first()
    if row is None:
        return None
    return ProofTarget(
        event_data(row),
        None if row.leaf_index is None else int(row.leaf_index),
        None if row.leaf_hash is None else bytes(row.leaf_hash),
        None if row.tree_size is None else int(row.tree_size),
        row.note,
    )


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


# ------------------------------------------------------------------------------ searching


@dataclass(frozen=True)
class EventFilter:
    """What an audit search matches: every filter that is set must hold; None matches any."""

    subject: str | None = None
    actor_id: str | None = None
    actor_type: str | None = None
    action: str | None = None
    actions: tuple[str, ...] | None = None  # any of these actions
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


def _conditions(
    dialect: str, where: EventFilter, before_id: int | None
) -> list[ColumnElement[bool]]:
    conditions = [
        column == getattr(where, name)
        for name, column in _EQUALITY_FILTERS
        if getattr(where, name) is not None
    ]
    if where.actions is not None:
        conditions.append(AuditEvent.action.in_(where.actions))
    conditions.extend(
        instant_bounds(AuditEvent.occurred_at, dialect, since=where.since, until=where.until)
    )
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


async def daily_counts(
    session: AsyncSession, *, actor_type: str, since: datetime, utc_offset_hours: int
) -> Sequence[Any]:
    """(actor_id, day, n): events of ``actor_type`` at or after ``since``, grouped by actor and
    local day (``utc_offset_hours`` from UTC). The day is computed in SQL with inline constants
    only, so PostgreSQL sees the same expression in SELECT and GROUP BY."""
    occurred = AuditEvent.occurred_at
    dialect = dialect_of(session)
    if dialect == "sqlite":
        # Stored as UTC text 'YYYY-MM-DD HH:MM:SS.fff'.
        day = func.date(occurred, literal_column(f"'+{utc_offset_hours:d} hours'"))
    else:
        local = func.timezone(literal_column("'UTC'"), occurred) + literal_column(
            f"INTERVAL '{utc_offset_hours:d} hours'"
        )
        day = func.to_char(local, literal_column("'YYYY-MM-DD'"))
    query = (
        select(AuditEvent.actor_id, day.label("day"), func.count().label("n"))
        .where(AuditEvent.actor_type == actor_type, *instant_bounds(occurred, dialect, since=since))
        .group_by(AuditEvent.actor_id, day)
    )
    return (await session.execute(query)).all()
