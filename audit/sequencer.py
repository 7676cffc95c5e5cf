"""The sequencer: gives committed events their leaves, in order, and extends the Merkle
tree (one sequencer at a time across processes). No HTTP here."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncSession

from audit import merkle
from audit import repository as repo
from audit import tree_repository as tree_repo
from audit.events import leaf_bytes

try:  # the sequencer's leaf loop in C (audit/_native.c), optional at build time
    from audit import _native
except ImportError:  # pragma: no cover - built without a compiler or OpenSSL's headers
    _native = None  # type: ignore[assignment]

DEFAULT_BATCH = 5_000


async def sequence_batch(session: AsyncSession, *, limit: int = DEFAULT_BATCH) -> int | None:
    """Give leaves to up to ``limit`` committed events; None when another sequencer is active."""
    if not await tree_repo.try_sequencer_lock(session):
        return None
    cursor = await tree_repo.current_cursor(session)
    horizon = await tree_repo.finished_txid_horizon(session)
    if horizon is not None and _native is not None:
        found = await _native_leaves(session, cursor, horizon, limit)
    else:
        found = await _python_leaves(session, cursor, horizon, limit)
    if not found:
        return 0
    ids, hashes = found
    frontier_ids = merkle.frontier_ids(cursor.tree_size)
    stored = await tree_repo.fetch_nodes(session, frontier_ids)
    compact = merkle.CompactRange(cursor.tree_size, tuple(stored[i] for i in frontier_ids))
    leaves = [
        {"leaf_index": cursor.tree_size + offset, "event_id": event_id, "leaf_hash": leaf}
        for offset, ((event_id, _), leaf) in enumerate(zip(ids, hashes, strict=True))
    ]
    compact, new_nodes = compact.append(hashes)
    nodes = [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in new_nodes if lv > 0]
    last_id, last_txid = ids[-1]
    await tree_repo.append_leaves(
        session,
        leaves,
        nodes,
        {
            "first_leaf": cursor.tree_size,
            "tree_size": compact.size,
            "cursor_txid": last_txid if horizon is not None else None,
            "cursor_event": last_id,
        },
    )
    return len(ids)


_Leaves = tuple[list[tuple[int, int]], list[bytes]]  # ((event id, txid), leaf hash) in order


async def _python_leaves(
    session: AsyncSession, cursor: tree_repo.Cursor, horizon: int | None, limit: int
) -> _Leaves | None:
    rows = await tree_repo.next_events(session, cursor, horizon, limit)
    if not rows:
        return None
    hashes = [
        merkle.leaf_hash(leaf_bytes(repo.event_data(row), cursor.tree_size + offset))
        for offset, row in enumerate(rows)
    ]
    return [(int(row.id), int(row.txid or 0)) for row in rows], hashes


async def _native_leaves(
    session: AsyncSession, cursor: tree_repo.Cursor, horizon: int, limit: int
) -> _Leaves | None:
    """PostgreSQL with audit/_native.c: the events by binary COPY, each rendered and hashed in
    C (``leaf_hashes``, the renderer verify uses); a row it cannot render with certainty is
    rendered by ``leaf_bytes``, so every leaf is the Python definition's. Far cheaper per event
    than ``_python_leaves``: the sequencer's bursts were what the agency API's slowest requests
    waited behind (docs/performance.md, "Sequencer leaf hashing in C")."""
    assert _native is not None  # noqa: S101 - the caller chose this path for that reason
    found = await tree_repo.next_events_copied(session, cursor, horizon, limit)
    if not found.ids:
        return None
    count, first, _, packed, suspects = _native.leaf_hashes(found.rows)
    if count != len(found.ids) or (count and first != cursor.tree_size):
        raise RuntimeError("the sequencer's two reads of its next events disagree")
    hashes = [packed[k : k + 32] for k in range(0, len(packed), 32)]
    if suspects:
        rows = await tree_repo.events_by_id(session, [found.ids[r][0] for r in suspects])
        for r in suspects:
            event = repo.event_data(rows[found.ids[r][0]])
            hashes[r] = merkle.leaf_hash(leaf_bytes(event, cursor.tree_size + r))
    return found.ids, hashes
