"""SQL of the Merkle tree's storage (audit_batch, audit_leaf, audit_node): the sequencer's
reads of the events it has not sequenced and its appends, the stored subtree hashes, and
verify's reads of the whole log. Functions flush through the caller's session and never
commit."""

from __future__ import annotations

import asyncio
import contextlib
import re
from collections import deque
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy import (
    SmallInteger,
    and_,
    func,
    insert,
    literal,
    or_,
    select,
    text,
    tuple_,
    union_all,
)
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, AsyncSession

from audit.events import EVENT_FIELDS
from audit.models import AuditBatch, AuditEvent, AuditLeaf, AuditNode
from audit.repository import EVENT_COLUMNS
from core.db import dialect_of, driver_connection, driver_errors

# Any constant will do; it only has to be the same in every process of one database.
SEQUENCER_LOCK_KEY = 0x6175646974  # "audit"


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


# The sequencer's next events on PostgreSQL, for audit/_native.c's leaf_hashes: as log rows
# (LEAF_COPY_COLUMNS), each with the leaf index it will get and no leaf hash yet, in leaf
# order; and their ids and transaction ids, in the same order. Two statements, one set: every
# transaction below the horizon has ended, and events are never deleted, so both read the same
# rows whatever commits in between.
_NEXT_EVENTS = (  # the caller fills in integers only
    "FROM audit_event WHERE {after} AND txid < {horizon:d} ORDER BY txid, id LIMIT {limit:d}"
)
NEXT_EVENTS_COPY_SQL = (
    "SELECT {first:d} + row_number() OVER (ORDER BY txid, id) - 1 AS leaf_index, "  # noqa: S608
    "NULL::bytea AS leaf_hash, event_uid, occurred_at, actor_type, actor_id, on_behalf_of, "
    "subject, action, fields, purpose, outcome, request_id, detail "
    f"FROM (SELECT * {_NEXT_EVENTS}) AS e ORDER BY txid, id"
)
NEXT_EVENT_IDS_SQL = f"SELECT id, txid {_NEXT_EVENTS}"  # noqa: S608 - constants


@dataclass(frozen=True)
class NextEvents:
    """The sequencer's next events as the native loop reads them."""

    ids: list[tuple[int, int]]  # (id, txid) in leaf order
    rows: bytes  # NEXT_EVENTS_COPY_SQL's binary COPY stream


async def next_events_copied(
    session: AsyncSession, cursor: Cursor, horizon: int, limit: int
) -> NextEvents:
    """PostgreSQL: ``next_events`` for the native loop (see NEXT_EVENTS_COPY_SQL)."""
    driver: Any = await driver_connection(session)
    after = (
        "txid >= 0"
        if cursor.txid is None
        else f"(txid, id) > ({cursor.txid:d}, {cursor.event_id:d})"
    )
    where = {"after": after, "horizon": horizon, "limit": limit}
    parts: list[bytes] = []

    async def sink(data: bytes) -> None:
        parts.append(data)

    async with driver_errors(session):
        found = await driver.fetch(NEXT_EVENT_IDS_SQL.format(**where))
        if found:
            sql = NEXT_EVENTS_COPY_SQL.format(first=cursor.tree_size, **where)
            await driver.copy_from_query(sql, output=sink, format="binary")
    return NextEvents([(int(r["id"]), int(r["txid"])) for r in found], b"".join(parts))


async def events_by_id(session: AsyncSession, ids: Sequence[int]) -> dict[int, Any]:
    """Event rows (EVENT_COLUMNS) by id."""
    rows = (await session.execute(select(*EVENT_COLUMNS).where(AuditEvent.id.in_(ids)))).all()
    return {int(row.id): row for row in rows}


async def append_leaves(
    session: AsyncSession,
    leaves: Sequence[dict[str, Any]],
    nodes: Sequence[dict[str, Any]],
    batch: dict[str, Any],
) -> None:
    """Insert one batch: its leaves, the subtree hashes it completed, and its cursor."""
    await session.execute(insert(AuditBatch), [batch])
    if dialect_of(session) == "postgresql":
        # COPY on the session's own connection, inside its transaction: several times cheaper
        # than an INSERT of the same rows.
        driver: Any = await driver_connection(session)
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


# Level 0 lives in audit_leaf, the levels above in audit_node; both by primary key.
_NODES_SQL = """
SELECT 0::smallint AS level, leaf_index AS idx, leaf_hash AS hash
  FROM audit_leaf WHERE leaf_index = ANY($1::bigint[])
UNION ALL
SELECT n.level, n.idx, n.hash
  FROM unnest($2::smallint[], $3::bigint[]) AS w(level, idx)
  JOIN audit_node n ON n.level = w.level AND n.idx = w.idx
"""


async def fetch_nodes(
    session: AsyncSession, ids: Iterable[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """Complete-subtree hashes by (level, index): leaves from audit_leaf, the rest audit_node."""
    wanted = set(ids)
    leaf_ids = [i for level, i in wanted if level == 0]
    node_ids = [(level, i) for level, i in wanted if level > 0]
    if not wanted:
        return {}
    if dialect_of(session) == "postgresql":
        return await fetch_nodes_postgresql(session, leaf_ids, node_ids)
    return await fetch_nodes_portable(session, leaf_ids, node_ids)


async def fetch_nodes_postgresql(
    session: AsyncSession, leaf_ids: list[int], node_ids: list[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """``fetch_nodes`` in one PostgreSQL statement (tests/audit/test_proof_nodes_sql.py holds
    it to ``fetch_nodes_portable``)."""
    # One prepared statement whatever the number of ids (arrays, not expanded IN lists).
    # No BEGIN of its own: the sequencer calls it inside its transaction, proofs alone.
    driver: Any = await driver_connection(session, begin=False)
    async with driver_errors(session):
        records = await driver.fetch(
            _NODES_SQL, leaf_ids, [lv for lv, _ in node_ids], [i for _, i in node_ids]
        )
    return {(r[0], r[1]): r[2] for r in records}


async def fetch_nodes_portable(
    session: AsyncSession, leaf_ids: list[int], node_ids: list[tuple[int, int]]
) -> dict[tuple[int, int], bytes]:
    """``fetch_nodes`` on any database."""
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
    # One round trip for leaves and nodes alike.
    query = parts[0] if len(parts) == 1 else union_all(*parts)
    rows = await session.execute(query)
    return {(int(r.level), int(r.idx)): bytes(r.hash) for r in rows}


# ------------------------------------------------------------------------------ verifying


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


# The log rows of leaves [begin, end) for verify's native loop (audit/_native.c), in index
# order, as one binary COPY stream: the columns it expects, in this order. The event is read per
# leaf through its primary key (the LATERAL subquery keeps the planner from hashing the whole
# event table for every chunk, and from sorting); a leaf whose event row is gone has NULLs.
LEAF_COPY_COLUMNS = ("leaf_index", "leaf_hash", *EVENT_FIELDS)
LEAF_COPY_SQL = """
SELECT l.leaf_index, l.leaf_hash, e.event_uid, e.occurred_at, e.actor_type, e.actor_id,
       e.on_behalf_of, e.subject, e.action, e.fields, e.purpose, e.outcome, e.request_id,
       e.detail
  FROM audit_leaf l
  LEFT JOIN LATERAL (SELECT * FROM audit_event WHERE id = l.event_id OFFSET 0) AS e ON true
 WHERE l.leaf_index >= {begin:d} AND l.leaf_index < {end:d}
 ORDER BY l.leaf_index
"""
# The same rows as two streams that PostgreSQL sends at about twice the rate, joined by
# audit/_native.c: the chunk's leaves, and the events with ids between the lowest and highest
# that they name (an index range; used when those ids are dense, as the sequencer leaves them).
# count(*) also keeps the planner on the leaf_index range: min/max alone would be planned as
# walks of the event_id index, filtered, which reach far into it for the later chunks.
LEAF_BOUNDS_SQL = """
SELECT count(*), min(event_id), max(event_id) FROM audit_leaf
 WHERE leaf_index >= $1 AND leaf_index < $2
"""
LEAVES_COPY_SQL = """
SELECT leaf_index, event_id, leaf_hash FROM audit_leaf
 WHERE leaf_index >= {begin:d} AND leaf_index < {end:d} ORDER BY leaf_index
"""
EVENTS_COPY_SQL = """
SELECT id, event_uid, occurred_at, actor_type, actor_id, on_behalf_of, subject, action, fields,
       purpose, outcome, request_id, detail
  FROM audit_event WHERE id >= {low:d} AND id <= {high:d}
"""
# Event ids spread wider than this over a chunk's leaves (renumbered by hand, say) are read
# through the join instead: the range would hold too many events the chunk does not name.
_DENSE_SLACK = 2


@dataclass(frozen=True)
class CopiedChunk:
    """One chunk of the log as binary COPY streams: ``events`` None means ``leaves`` holds the
    joined rows (LEAF_COPY_SQL); otherwise ``leaves`` is LEAVES_COPY_SQL's rows and ``events``
    EVENTS_COPY_SQL's, for audit/_native.c to join."""

    leaves: bytes
    events: bytes | None


LEAF_CHUNK = 65_536  # leaves per COPY: about 20 MB of rows
LEAF_STREAMS = 2  # connections copying at once (docs/performance.md, "Verify")
_SNAPSHOT_ID = re.compile(r"^[0-9A-F]+-[0-9A-F]+(-[0-9]+)?$")


async def read_one_snapshot(session: AsyncSession) -> None:
    """PostgreSQL: every statement of this unit of work reads the same snapshot (REPEATABLE
    READ, read only). Must be the unit of work's first statement. SQLite's read transaction
    already does."""
    if dialect_of(session) == "postgresql":
        await session.execute(text("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ, READ ONLY"))


class LeafCopies:
    """PostgreSQL: every stored leaf with its event row, chunk by chunk of leaf indexes, in
    index order, each chunk as binary COPY streams (:class:`CopiedChunk`).

    LEAF_STREAMS connections copy consecutive chunks of LEAF_CHUNK leaves at once (PostgreSQL
    renders rows in one backend per connection): the session's own, and others that import its
    snapshot, so that all of them read the same log (the session should be in
    :func:`read_one_snapshot`). The
    caller should hand its work on a chunk to a thread, so that the copies go on meanwhile.
    :meth:`rows` reads log rows through the session in between.
    """

    def __init__(self, session: AsyncSession) -> None:
        self.session = session
        self.chunk = LEAF_CHUNK
        self.streams = LEAF_STREAMS
        self._drivers: list[Any] = []
        self._extra: list[AsyncConnection] = []
        self._free: list[Any] = []
        self._queue: deque[tuple[Any, asyncio.Task[CopiedChunk | None]]] = deque()
        self._next = 0
        self._last = -1

    def __aiter__(self) -> LeafCopies:
        return self

    async def _open(self) -> bool:
        first = await driver_connection(self.session)
        if first is None:
            raise RuntimeError("LeafCopies needs PostgreSQL")
        self._drivers = [first]
        await first.execute("SELECT set_config('jit', 'off', true)")
        bounds = await first.fetchrow("SELECT min(leaf_index), max(leaf_index) FROM audit_leaf")
        if bounds[0] is None:
            return False
        self._next, self._last = int(bounds[0]), int(bounds[1])
        if self.streams > 1 and self._last - self._next >= self.chunk:
            snapshot = await first.fetchval("SELECT pg_export_snapshot()")
            if not _SNAPSHOT_ID.fullmatch(snapshot):
                raise RuntimeError("unexpected snapshot id from the database")
            engine = self.session.bind
            if not isinstance(engine, AsyncEngine):
                raise RuntimeError("the session is not bound to an engine")
            for _ in range(self.streams - 1):
                conn = await engine.connect()
                self._extra.append(conn)
                await conn.execution_options(isolation_level="REPEATABLE READ")
                await conn.begin()
                await conn.exec_driver_sql(f"SET TRANSACTION SNAPSHOT '{snapshot}'")
                await conn.exec_driver_sql("SELECT set_config('jit', 'off', true)")
                raw = await conn.get_raw_connection()
                adapted: Any = raw.dbapi_connection
                self._drivers.append(adapted.driver_connection)
        self._free = list(self._drivers)
        return True

    async def _copy(self, driver: Any, begin: int) -> CopiedChunk | None:
        """The chunk of leaves from ``begin``, or None when it holds none."""
        end = min(begin + self.chunk, self._last + 1)
        count, low, high = await driver.fetchrow(LEAF_BOUNDS_SQL, begin, end)
        if not count:
            return None

        async def copy(sql: str) -> bytes:
            parts: list[bytes] = []

            async def sink(data: bytes) -> None:
                parts.append(data)

            await driver.copy_from_query(sql, output=sink, format="binary")
            return b"".join(parts)

        if low is None or high - low >= _DENSE_SLACK * count:
            return CopiedChunk(await copy(LEAF_COPY_SQL.format(begin=begin, end=end)), None)
        leaves = await copy(LEAVES_COPY_SQL.format(begin=begin, end=end))
        return CopiedChunk(leaves, await copy(EVENTS_COPY_SQL.format(low=low, high=high)))

    def _fill(self) -> None:
        while self._free and self._next <= self._last:
            driver = self._free.pop(0)
            self._queue.append((driver, asyncio.ensure_future(self._copy(driver, self._next))))
            self._next += self.chunk

    async def __anext__(self) -> CopiedChunk:
        if not self._drivers:
            if not await self._open():
                raise StopAsyncIteration
            self._fill()
        while True:
            if not self._queue:
                if self._next > self._last:
                    raise StopAsyncIteration
                # Only empty ranges came back (leaves missing or renumbered far apart): go on
                # from the next stored leaf.
                following = await self._drivers[0].fetchval(
                    "SELECT min(leaf_index) FROM audit_leaf WHERE leaf_index >= $1", self._next
                )
                if following is None:
                    raise StopAsyncIteration
                self._next = int(following)
                self._fill()
                continue
            driver, task = self._queue.popleft()
            copied = await task
            self._free.append(driver)
            if copied is not None:
                self._fill()
                await asyncio.sleep(0)  # let the copies send their statements
                return copied

    async def rows(self, indexes: Sequence[int]) -> Sequence[Any]:
        """The log rows at these leaf indexes (see :func:`log_rows`)."""
        for driver, task in self._queue:
            if driver is self._drivers[0]:
                await task  # the session's connection runs one statement at a time
        return await log_rows(self.session, indexes)

    async def aclose(self) -> None:
        """Let the copies in flight finish, so the connections are free for what comes next."""
        for _, task in self._queue:
            with contextlib.suppress(Exception):
                await task
        self._queue.clear()
        for conn in self._extra:
            with contextlib.suppress(Exception):
                await conn.rollback()
            await conn.close()
        self._extra.clear()


async def log_rows(session: AsyncSession, indexes: Sequence[int]) -> Sequence[Any]:
    """The log rows (as from :func:`stream_log`) at these leaf indexes, by leaf index."""
    return (
        await session.execute(
            select(AuditLeaf.leaf_index, AuditLeaf.leaf_hash, *EVENT_COLUMNS)
            .outerjoin(AuditEvent, AuditEvent.id == AuditLeaf.event_id)
            .where(AuditLeaf.leaf_index.in_(list(indexes)))
            .order_by(AuditLeaf.leaf_index)
        )
    ).all()


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
