"""Audit rules: record in the caller's transaction, sequence into the Merkle log, checkpoint,
prove, and verify. No HTTP here."""

from __future__ import annotations

import asyncio
import base64
import os
from collections.abc import AsyncIterator, Iterable, Mapping
from contextlib import aclosing
from dataclasses import dataclass, field
from functools import partial
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from audit import merkle
from audit import repository as repo
from audit.checkpoint import (
    Checkpoint,
    CheckpointError,
    Signer,
    Verifier,
    is_key_name,
    open_checkpoint,
)
from audit.checkpoint import sign_checkpoint as sign_note
from audit.events import (
    DetailValue,
    EventData,
    Outcome,
    check_labels,
    encode_detail,
    encode_fields,
    leaf_bytes,
)
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
from core.db import Database, dialect_of
from core.errors import (
    AuditUnavailable,
    Conflict,
    FieldError,
    Forbidden,
    NotFound,
    RegistryError,
    ValidationFailed,
)
from core.logging import request_id_var
from core.principal import Principal
from core.text import ID_NUMBER_RE

try:  # verify's leaf loop in C (audit/_native.c), optional at build time
    from audit import _native
except ImportError:  # pragma: no cover - built without a compiler or OpenSSL's headers
    _native = None  # type: ignore[assignment]
NATIVE_VERIFY = _native is not None

DEFAULT_BATCH = 5_000
MAX_REPORTED = 50  # problem lines kept in a verify report (the first index is always kept)
MOVED_SEARCH_WINDOW = 64  # how far verify looks for a moved event's original index
MAX_MOVED_SEARCHES = 16  # leaves for which verify looks at all (a mass renumbering is obvious)


# ------------------------------------------------------------------------------ recording


async def record(
    session: AsyncSession,
    *,
    actor: Principal,
    action: str,
    outcome: Outcome,
    subject: str | None = None,
    fields: Iterable[str] = (),
    purpose: str | None = None,
    detail: Mapping[str, DetailValue] | None = None,
    last: bool = False,
) -> str:
    """Record one access in the caller's unit of work and return the event's public id.

    If this INSERT fails the caller's transaction fails with it: no access without its record.

    ``last``: the access was a read, and this event is the last statement of its unit of work
    before the data is answered (the agency API). When the unit of work has begun no
    transaction yet, the INSERT then commits by itself on PostgreSQL, without BEGIN and COMMIT
    round trips: the event is committed before anything is released (invariant 1 as DESIGN.md
    words it for reads), and if it fails nothing is.
    """
    values = new_event(
        actor=actor, action=action, outcome=outcome, subject=subject, fields=fields,
        purpose=purpose, detail=detail,
    )  # fmt: skip
    try:
        await repo.insert_event(session, values, begin=not last)
    except (SQLAlchemyError, repo.EventNotRecorded) as exc:
        # Whatever the database said, the caller's transaction is now doomed: no data leaves.
        raise AuditUnavailable("The access could not be recorded, so it was not made.") from exc
    return str(values["event_uid"])


def new_event_uid() -> str:
    """A random UUID (RFC 9562 version 4) in its text form: what ``str(uuid.uuid4())`` gives,
    made without building the UUID object on the hot path."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_event(
    *,
    actor: Principal,
    action: str,
    outcome: Outcome,
    subject: str | None = None,
    fields: Iterable[str] = (),
    purpose: str | None = None,
    detail: Mapping[str, DetailValue] | None = None,
) -> dict[str, Any]:
    """The inserted columns of one event (``EVENT_COLUMNS_INSERTED``), checked and encoded,
    with a new public id; for ``record``, and for a statement that inserts it with the access
    (the agency API's one-statement path)."""
    check_labels(action=action, purpose=purpose, subject=subject)
    return {
        "event_uid": new_event_uid(),
        "actor_type": actor.actor_type,
        "actor_id": actor.actor_id,
        "on_behalf_of": actor.on_behalf_of,
        "subject": subject,
        "action": action,
        "fields": encode_fields(fields),
        "purpose": purpose,
        "outcome": outcome,
        "request_id": request_id_var.get(),
        "detail": encode_detail(detail),
    }


@dataclass(frozen=True)
class EventSpec:
    """One event of a batch recorded with ``record_many``."""

    action: str
    outcome: Outcome
    subject: str | None = None
    fields: tuple[str, ...] = ()
    purpose: str | None = None
    detail: Mapping[str, DetailValue] | None = None


async def record_many(
    session: AsyncSession, *, actor: Principal, events: Iterable[EventSpec]
) -> list[str]:
    """Record several accesses of one actor in one INSERT (a batch call: one event per item)."""
    rows = [
        new_event(
            actor=actor,
            action=e.action,
            outcome=e.outcome,
            subject=e.subject,
            fields=e.fields,
            purpose=e.purpose,
            detail=e.detail,
        )  # fmt: skip
        for e in events
    ]
    if not rows:
        return []
    try:
        await repo.insert_events(session, rows)
    except SQLAlchemyError as exc:
        raise AuditUnavailable("The accesses could not be recorded, so none was made.") from exc
    return [row["event_uid"] for row in rows]


async def refuse(
    session: AsyncSession,
    error: RegistryError,
    *,
    actor: Principal,
    action: str,
    outcome: Outcome,
    subject: str | None = None,
    fields: Iterable[str] = (),
    purpose: str | None = None,
    detail: Mapping[str, DetailValue] | None = None,
) -> RegistryError:
    """Record a refused access (denied, not found) and return ``error`` marked so that the
    unit of work commits that record before the error is answered. Raise what it returns."""
    await record(
        session, actor=actor, action=action, outcome=outcome, subject=subject,
        fields=fields, purpose=purpose, detail=detail,
    )  # fmt: skip
    error.commit_unit_of_work = True
    return error


# ------------------------------------------------------------------------------ sequencing


async def sequence_batch(session: AsyncSession, *, limit: int = DEFAULT_BATCH) -> int | None:
    """Give leaves to up to ``limit`` committed events; None when another sequencer is active."""
    if not await repo.try_sequencer_lock(session):
        return None
    cursor = await repo.current_cursor(session)
    horizon = await repo.finished_txid_horizon(session)
    if horizon is not None and _native is not None:
        found = await _native_leaves(session, cursor, horizon, limit)
    else:
        found = await _python_leaves(session, cursor, horizon, limit)
    if not found:
        return 0
    ids, hashes = found
    frontier_ids = merkle.frontier_ids(cursor.tree_size)
    stored = await repo.fetch_nodes(session, frontier_ids)
    compact = merkle.CompactRange(cursor.tree_size, tuple(stored[i] for i in frontier_ids))
    leaves = [
        {"leaf_index": cursor.tree_size + offset, "event_id": event_id, "leaf_hash": leaf}
        for offset, ((event_id, _), leaf) in enumerate(zip(ids, hashes, strict=True))
    ]
    compact, new_nodes = compact.append(hashes)
    nodes = [{"level": lv, "idx": ix, "hash": h} for lv, ix, h in new_nodes if lv > 0]
    last_id, last_txid = ids[-1]
    await repo.append_leaves(
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
    session: AsyncSession, cursor: repo.Cursor, horizon: int | None, limit: int
) -> _Leaves | None:
    rows = await repo.next_events(session, cursor, horizon, limit)
    if not rows:
        return None
    hashes = [
        merkle.leaf_hash(leaf_bytes(repo.event_data(row), cursor.tree_size + offset))
        for offset, row in enumerate(rows)
    ]
    return [(int(row.id), int(row.txid or 0)) for row in rows], hashes


async def _native_leaves(
    session: AsyncSession, cursor: repo.Cursor, horizon: int, limit: int
) -> _Leaves | None:
    """PostgreSQL with audit/_native.c: the events by binary COPY, each rendered and hashed in
    C (``leaf_hashes``, the renderer verify uses); a row it cannot render with certainty is
    rendered by ``leaf_bytes``, so every leaf is the Python definition's. About a tenth of
    the per-event CPU of ``_python_leaves`` (bench/lookup: the sequencer's bursts were what
    the agency API's slowest requests waited behind)."""
    assert _native is not None  # noqa: S101 - the caller chose this path for that reason
    found = await repo.next_events_copied(session, cursor, horizon, limit)
    if not found.ids:
        return None
    count, first, _, packed, suspects = _native.leaf_hashes(found.rows)
    if count != len(found.ids) or (count and first != cursor.tree_size):
        raise RuntimeError("the sequencer's two reads of its next events disagree")
    hashes = [packed[k : k + 32] for k in range(0, len(packed), 32)]
    if suspects:
        rows = await repo.events_by_id(session, [found.ids[r][0] for r in suspects])
        for r in suspects:
            event = repo.event_data(rows[found.ids[r][0]])
            hashes[r] = merkle.leaf_hash(leaf_bytes(event, cursor.tree_size + r))
    return found.ids, hashes


async def tree_head(session: AsyncSession) -> tuple[int, bytes]:
    """The sequenced tree's size and root hash, from the stored right frontier."""
    cursor = await repo.current_cursor(session)
    ids = merkle.frontier_ids(cursor.tree_size)
    stored = await repo.fetch_nodes(session, ids)
    return cursor.tree_size, merkle.frontier_root([stored[i] for i in ids])


# ----------------------------------------------------------------------------- checkpoints


async def log_origin(session: AsyncSession, *, default: str) -> str:
    """The log's origin (tlog-checkpoint §Note text: it identifies the log): the origin line of
    its first checkpoint, fixed when that was signed; ``default`` (the settings') until then.
    Every tool reads it from there, so none depends on the URL it was started with."""
    note = await repo.first_checkpoint_note(session)
    if note is None:
        return default
    origin = note.split("\n", 1)[0]
    # Not a line this registry signed (the key is named after it): verify names the checkpoint.
    return origin if is_key_name(origin) else default


async def log_signer(session: AsyncSession, key: Signer, *, default_origin: str) -> Signer:
    """The checkpoint signing ``key`` named after the log's origin (see ``log_origin``); its
    ``verifier()`` and ``name`` are what every check of the log's checkpoints expects."""
    return key.named(await log_origin(session, default=default_origin))


async def make_checkpoint(session: AsyncSession, signer: Signer, *, origin: str) -> str | None:
    """Sign and store a checkpoint of the current tree if it grew; returns the note or None.
    ``origin`` is the origin of a log that has no checkpoint yet; afterwards the log's own."""
    size, root = await tree_head(session)
    latest = await repo.latest_checkpoint(session)
    if latest is not None and latest.tree_size >= size:
        return None
    signer = await log_signer(session, signer, default_origin=origin)
    note = sign_note(Checkpoint(origin=signer.name, size=size, root_hash=root), signer)
    await repo.insert_checkpoint(session, size, root, note)
    return note


async def latest_signed(session: AsyncSession) -> str:
    """The newest signed checkpoint note."""
    latest = await repo.latest_checkpoint(session)
    if latest is None:
        raise NotFound("No checkpoint has been signed yet.")
    return latest.note


# ------------------------------------------------------------------------------ proofs


def b64(raw: bytes) -> str:
    """Standard base64, as in checkpoints."""
    return base64.b64encode(raw).decode("ascii")


async def inclusion_proof(session: AsyncSession, event_uid: str) -> dict[str, Any]:
    """An inclusion proof of one event against the newest checkpoint, checkable offline."""
    # One query on PostgreSQL (the proof's nodes come with the event); two on SQLite.
    target = await repo.proof_target(session, event_uid)
    if target is None:
        raise NotFound("No audit event with this id.")
    if target.leaf_index is None or target.leaf_hash is None:
        raise Conflict("The event is recorded but not yet sequenced; try again shortly.")
    index, leaf_hash = target.leaf_index, bytes(target.leaf_hash)
    if target.tree_size is None or target.note is None or target.tree_size <= index:
        raise Conflict("The event is not yet covered by a signed checkpoint; try again shortly.")
    tree_size, note = target.tree_size, target.note
    plan = merkle.inclusion_nodes(index, tree_size)
    path = _path(plan, target.nodes if target.nodes is not None else await _nodes(session, plan))
    return {
        "event_uid": event_uid,
        "leaf_index": index,
        "tree_size": tree_size,
        "leaf_data": b64(leaf_bytes(target.event, index)),
        "leaf_hash": b64(leaf_hash),
        "proof": [b64(h) for h in path],
        "checkpoint": note,
    }


async def consistency_proof(session: AsyncSession, size1: int, size2: int) -> dict[str, Any]:
    """A consistency proof between two signed checkpoints (RFC 9162 section 2.1.4)."""
    if not 0 <= size1 <= size2:
        raise Conflict("Sizes must satisfy 0 <= first <= second.")
    first = await repo.checkpoint_at(session, size1)
    second = await repo.checkpoint_at(session, size2)
    if first is None or second is None:
        raise NotFound("Both sizes must be sizes of signed checkpoints.")
    path = await _assemble(session, merkle.consistency_nodes(size1, size2)) if size1 else []
    return {
        "first": {"tree_size": size1, "checkpoint": first.note},
        "second": {"tree_size": size2, "checkpoint": second.note},
        "proof": [b64(h) for h in path],
    }


async def _assemble(session: AsyncSession, plan: merkle.ProofPlan) -> list[bytes]:
    return _path(plan, await _nodes(session, plan))


async def _nodes(session: AsyncSession, plan: merkle.ProofPlan) -> dict[merkle.NodeID, bytes]:
    return await repo.fetch_nodes(session, plan.ids)


def _path(plan: merkle.ProofPlan, found: Mapping[merkle.NodeID, bytes]) -> list[bytes]:
    missing = [i for i in plan.ids if i not in found]
    if missing:
        raise Conflict(f"The log is missing {len(missing)} stored subtree hashes; run verify.")
    return plan.assemble([found[i] for i in plan.ids])


def check_inclusion(proof: Mapping[str, Any], verifier: Verifier, *, origin: str) -> Checkpoint:
    """Verify an inclusion proof offline: signature, leaf data, path. Raises ProofError."""
    try:
        checkpoint = open_checkpoint(str(proof["checkpoint"]), verifier, origin=origin)
        index = int(proof["leaf_index"])
        data = base64.b64decode(str(proof["leaf_data"]), validate=True)
        path = [base64.b64decode(str(h), validate=True) for h in proof["proof"]]
        claimed_size = int(proof.get("tree_size", checkpoint.size))
    except CheckpointError as exc:
        raise ProofError(f"checkpoint rejected: {exc}") from None
    except (KeyError, TypeError, ValueError) as exc:
        raise ProofError(f"malformed proof: {exc}") from None
    if not isinstance(proof["proof"], list):
        raise ProofError("malformed proof: 'proof' must be a list of hashes")
    if claimed_size != checkpoint.size:
        raise ProofError("the proof's tree size is not the checkpoint's")
    leaf = merkle.leaf_hash(data)
    if not merkle.verify_inclusion(leaf, index, checkpoint.size, path, checkpoint.root_hash):
        raise ProofError("the inclusion proof does not lead to the checkpoint's root")
    return checkpoint


def _original_index(
    event: EventData, stored_hash: bytes, index: int, report: VerifyReport
) -> int | None:
    """Where a moved event was sequenced: its leaf hash commits to its original index."""
    report.searches += 1
    if report.searches > MAX_MOVED_SEARCHES:
        return None
    for distance in range(1, MOVED_SEARCH_WINDOW + 1):
        for candidate in (index - distance, index + distance):
            if candidate >= 0 and merkle.leaf_hash(leaf_bytes(event, candidate)) == stored_hash:
                return candidate
    return None


class ProofError(ValueError):
    """A proof that does not verify."""


# ------------------------------------------------------------------------------ verifying


@dataclass
class VerifyReport:
    """What ``verify`` found: sizes checked, and the first disagreement if any."""

    leaves: int = 0
    checkpoints: int = 0
    root: bytes = b""
    first_bad_index: int | None = None
    problems: list[str] = field(default_factory=list)
    searches: int = 0

    @property
    def ok(self) -> bool:
        """True when every leaf, every checkpoint and the root agree."""
        return not self.problems


class _Rebuild:
    """The tree being rebuilt by verify: leaves in index order, gaps and checkpoints noted."""

    def __init__(self, report: VerifyReport, checkpoints: list[Checkpoint]) -> None:
        self.report = report
        self.pending = checkpoints
        self.compact = merkle.CompactRange()
        self.expected = 0  # the index the next stored leaf should have
        self.check_checkpoints()

    def note_bad(self, index: int, why: str) -> None:
        report = self.report
        if report.first_bad_index is None or index < report.first_bad_index:
            report.first_bad_index = index
        if len(report.problems) < MAX_REPORTED:
            report.problems.append(f"index {index}: {why}")

    def saw(self, index: int) -> None:
        """A stored leaf at ``index``: note the gap when the previous ones are missing."""
        if index != self.expected:
            self.note_bad(self.expected, f"leaf missing (next stored leaf is {index})")
        self.expected = index + 1

    def leaf(self, row: Any) -> bytes:
        """The leaf hash of one log row recomputed in Python, with what is wrong noted."""
        index = int(row.leaf_index)
        stored_hash = bytes(row.leaf_hash)
        if row.event_uid is None:
            self.note_bad(index, "its event row is missing")
            # Any 32 bytes keep the tree going; a root over them cannot match a checkpoint.
            return stored_hash if len(stored_hash) == 32 else merkle.leaf_hash(stored_hash)
        event = repo.event_data(row)
        rebuilt = merkle.leaf_hash(leaf_bytes(event, index))
        if rebuilt != stored_hash:
            origin_index = _original_index(event, stored_hash, index, self.report)
            if origin_index is None:
                self.note_bad(index, "the event does not match its leaf (modified)")
            else:
                # Rows were renumbered: everything from the nearer position on is suspect.
                self.note_bad(
                    min(origin_index, index),
                    f"the event sequenced at index {origin_index} now sits at {index} "
                    "(rows inserted, deleted or reordered)",
                )
        return rebuilt

    def extend(self, packed: bytes | bytearray) -> None:
        """Append leaf hashes packed end to end, stopping at each checkpoint size to compare
        roots."""
        count = len(packed) // 32
        position = 0
        while position < count:
            stop = count
            if self.pending and self.pending[0].size - self.compact.size < stop - position:
                stop = position + self.pending[0].size - self.compact.size
            self.compact = self.compact.extend_packed(packed[32 * position : 32 * stop])
            position = stop
            self.check_checkpoints()

    def check_checkpoints(self) -> None:
        while self.pending and self.pending[0].size == self.compact.size:
            cp = self.pending.pop(0)
            if self.compact.root() != cp.root_hash:
                self.report.problems.append(
                    f"checkpoint of size {cp.size} does not match the rebuilt root"
                )


async def verify(session: AsyncSession, verifier: Verifier, *, origin: str) -> VerifyReport:
    """Recompute every leaf from its event, rebuild the root, check every signed checkpoint.

    Reads one snapshot of the log, so it must be the first call of its unit of work.
    """
    await repo.read_one_snapshot(session)
    report = VerifyReport()
    checkpoints = []
    for stored in await repo.all_checkpoints(session):
        try:
            checkpoints.append(open_checkpoint(stored.note, verifier, origin=origin))
        except CheckpointError as exc:
            report.problems.append(f"checkpoint of size {stored.tree_size} is not valid: {exc}")
    report.checkpoints = len(checkpoints)
    tree = _Rebuild(report, list(checkpoints))
    if NATIVE_VERIFY and dialect_of(session) == "postgresql":
        await _rebuild_in_database(session, tree)
    else:
        await _rebuild_in_python(session, tree)
    compact = tree.compact
    report.leaves = compact.size
    report.root = compact.root()
    for cp in tree.pending:
        report.problems.append(
            f"checkpoint of size {cp.size} is beyond the {compact.size} leaves in the log"
        )
    cursor = await repo.current_cursor(session)
    if cursor.tree_size != compact.size:
        report.problems.append(
            f"the sequencer recorded {cursor.tree_size} leaves but the log holds {compact.size}"
        )
    for row in await repo.unsequenced_behind(session, cursor):
        where = await repo.leaf_index_after_event(session, int(row.id))
        tree.note_bad(
            where, f"event {row.event_uid} was inserted behind the sequencer, without a leaf"
        )
    return report


async def _rebuild_in_python(session: AsyncSession, tree: _Rebuild) -> None:
    """Every leaf recomputed here from its event row (SQLite)."""
    async for rows in repo.stream_log(session):
        hashes = []
        for row in rows:
            tree.saw(int(row.leaf_index))
            hashes.append(tree.leaf(row))
        tree.extend(b"".join(hashes))


async def _rebuild_in_database(session: AsyncSession, tree: _Rebuild) -> None:
    """PostgreSQL streams the log rows chunk by chunk (binary COPY) and audit/_native.c renders
    and hashes each event in a thread while the next chunk arrives. The leaves it cannot render
    with certainty, or whose hash differs from the stored one, are recomputed here from their
    row, so every verdict on a leaf is leaf_bytes'."""
    assert _native is not None  # noqa: S101 - verify() chose this path for that reason
    async with aclosing(repo.LeafCopies(session)) as chunks:
        async for copied in chunks:
            if copied.events is None:
                work = partial(_native.leaf_rows, copied.leaves)
            else:
                work = partial(_native.leaf_rows_joined, copied.leaves, copied.events)
            count, first, indexes, packed, suspects = await asyncio.to_thread(work)
            if indexes is None:
                tree.saw(first)
                tree.expected = first + count
            else:
                for index in indexes:
                    tree.saw(index)
            if suspects:
                at = [first + k if indexes is None else indexes[k] for k in suspects]
                rows = {int(row.leaf_index): row for row in await chunks.rows(at)}
                mended = bytearray(packed)
                for k, index in zip(suspects, at, strict=True):
                    mended[32 * k : 32 * k + 32] = tree.leaf(rows[index])
                tree.extend(mended)
            else:
                tree.extend(packed)


# ------------------------------------------------------------------- auditor and citizen views

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
            session, NotFound("No audit event with this id."), actor=auditor,
            action="audit.event_view", outcome="not_found", detail={"event_uid": event_uid[:64]},
        )  # fmt: skip
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
            session, NotFound(_NOT_IN_YOUR_LOG), actor=citizen, action="audit.proof",
            outcome="not_found", subject=me, detail={"event_uid": event_uid[:64]},
        )  # fmt: skip
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
