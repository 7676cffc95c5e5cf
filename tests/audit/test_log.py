"""The audit log end to end: record, sequence, checkpoint, verify, and tampering detected."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine, create_async_engine
from typer.testing import CliRunner

from audit import merkle, proofs, record, recording, sequencer, signing, verification
from audit import repository as audit_repo
from audit import tree_repository as tree_repo
from audit.checkpoint import Checkpoint, Signer, open_checkpoint, sign_checkpoint
from audit.events import InvalidEvent, leaf_bytes
from audit.keys import load_signer
from audit.models import APPEND_ONLY_TABLES
from audit.repository import event_data
from audit.tree_repository import fetch_nodes
from audit.worker import BUSY_INTERVAL, FAILURE_PAUSE_MAX, AuditWorker
from core.auth import Principal
from core.db import Database
from core.settings import Settings
from tests.faults import fail_audit_inserts

AGENCY = Principal("agency", "bank-001", on_behalf_of="teller-17")
SUBJECT = "001203004512"


@pytest.fixture
def worker(database: Database, settings: Settings) -> AuditWorker:
    return AuditWorker(database, load_signer(settings), origin=settings.audit_origin)


@pytest.fixture
async def superuser(database_url: str) -> AsyncIterator[AsyncEngine]:
    """A connection pool that bypasses the app's protections, as a database superuser could."""
    engine = create_async_engine(database_url)
    yield engine
    await engine.dispose()


async def record_events(database: Database, count: int, *, per_transaction: int = 1) -> list[str]:
    uids: list[str] = []
    for start in range(0, count, per_transaction):
        async with database.unit_of_work() as session:
            for i in range(start, min(count, start + per_transaction)):
                uids.append(
                    await record(
                        session,
                        actor=AGENCY,
                        action="citizen.lookup",
                        outcome="granted" if i % 3 else "denied",
                        subject=SUBJECT,
                        fields=["full_name", "birth_date"],
                        purpose="kyc",
                        detail={"batch": i},
                    )
                )
    return uids


async def stored_leaves(database: Database) -> list[Any]:
    """Every stored leaf with its event's columns, in leaf order."""
    async with database.unit_of_work() as session:
        query = text(
            "SELECT l.leaf_index, l.leaf_hash, e.* FROM audit_leaf l "
            "JOIN audit_event e ON e.id = l.event_id ORDER BY l.leaf_index"
        )
        return list((await session.execute(query)).all())


async def sealed_log(database: Database, worker: AuditWorker, count: int) -> None:
    """``count`` events recorded, sequenced and checkpointed."""
    await record_events(database, count)
    await worker.sequence_pending()
    await worker.checkpoint()


@pytest.fixture(params=[None, 3], ids=["one-chunk", "chunks-of-3"])
def leaf_chunk(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> int | None:
    """Verify's chunk size: on PostgreSQL, chunks of 3 leaves make it copy the log on two
    connections at once."""
    size: int | None = request.param
    if size:
        monkeypatch.setattr(tree_repo, "LEAF_CHUNK", size)
    return size


async def run_verify(database: Database, worker: AuditWorker) -> verification.VerifyReport:
    async with database.unit_of_work() as session:
        return await verification.verify(session, worker.signer.verifier(), origin=worker.origin)


async def test_record_sequence_checkpoint_verify(database: Database, worker: AuditWorker) -> None:
    uids = await record_events(database, 37, per_transaction=5)
    assert await worker.sequence_pending() == 37
    assert await worker.sequence_pending() == 0
    note = await worker.checkpoint()
    assert note is not None
    assert await worker.checkpoint() is None  # the tree did not grow

    checkpoint = open_checkpoint(note, worker.signer.verifier(), origin=worker.origin)
    assert checkpoint.size == 37
    rows = await stored_leaves(database)
    assert [r.leaf_index for r in rows] == list(range(37))
    assert sorted(r.event_uid for r in rows) == sorted(uids)
    leaves = [merkle.leaf_hash(leaf_bytes(event_data(r), r.leaf_index)) for r in rows]
    assert leaves == [bytes(r.leaf_hash) for r in rows]
    assert checkpoint.root_hash == merkle.root(leaves)

    report = await run_verify(database, worker)
    assert report.ok, report.problems
    assert report.leaves == 37
    assert report.checkpoints == 1


async def test_events_hold_field_names_never_values(database: Database) -> None:
    async with database.unit_of_work() as session:
        await record(
            session,
            actor=AGENCY,
            action="citizen.lookup",
            outcome="granted",
            subject=SUBJECT,
            fields=["full_name", "full_name", "address.permanent"],
            purpose="kyc",
        )
    async with database.unit_of_work() as session:
        row = (await session.execute(text("SELECT * FROM audit_event"))).one()
    assert json.loads(row.fields) == ["address.permanent", "full_name"]
    assert row.on_behalf_of == "teller-17"
    assert row.occurred_at is not None


async def count_events(database: Database) -> int:
    async with database.unit_of_work() as session:
        return int((await session.execute(text("SELECT count(*) FROM audit_event"))).scalar_one())


async def test_the_last_event_of_a_read_commits_before_anything_else_can_fail(
    database: Database,
) -> None:
    granted = {
        "actor": AGENCY,
        "action": "citizen.lookup",
        "outcome": "granted",
        "subject": SUBJECT,
        "fields": ["full_name"],
        "purpose": "kyc",
        "last": True,
    }

    # A read-only unit of work: the event is committed by its own INSERT on PostgreSQL, so an
    # error after it (nothing is released then) leaves the record of an access that was made.
    async def read_then_fail() -> None:
        async with database.unit_of_work() as session:
            await record(session, **granted)  # type: ignore[arg-type]
            raise RuntimeError("the answer is never sent")

    with pytest.raises(RuntimeError):
        await read_then_fail()
    assert await count_events(database) == (1 if database.dialect == "postgresql" else 0)

    # A unit of work that has begun its transaction: the event joins it, and rolls back with it.
    async def write_then_fail() -> None:
        async with database.unit_of_work() as session:
            await session.execute(text("SELECT 1"))
            await record(session, **granted)  # type: ignore[arg-type]
            raise RuntimeError("roll back")

    before = await count_events(database)
    with pytest.raises(RuntimeError):
        await write_then_fail()
    assert await count_events(database) == before


@pytest.mark.parametrize(
    "bad",
    [
        {"action": "Citizen Lookup"},
        {"purpose": "no spaces allowed"},
        {"subject": "12345"},
        {"fields": ["Nguyễn Văn A"]},  # a value, not a field name
        {"detail": {"name": {"nested": "no"}}},
    ],
)
async def test_malformed_events_are_refused(database: Database, bad: dict[str, object]) -> None:
    arguments: dict[str, object] = {
        "actor": AGENCY,
        "action": "citizen.lookup",
        "outcome": "granted",
        "subject": SUBJECT,
        "fields": ["full_name"],
        "purpose": "kyc",
        **bad,
    }
    async with database.unit_of_work() as session:
        with pytest.raises(InvalidEvent):
            await record(session, **arguments)  # type: ignore[arg-type]


# --------------------------------------------------------------------- append-only


async def tamper(engine: AsyncEngine, *statements: str) -> None:
    """Run statements as a superuser who switched the protections off."""
    async with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            # Disables triggers and foreign-key checks for this session (superuser only).
            await conn.execute(text("SET session_replication_role = replica"))
        else:
            await conn.execute(text("PRAGMA foreign_keys = OFF"))
            await _drop_sqlite_triggers(conn)
        for statement in statements:
            await conn.execute(text(statement))


async def _drop_sqlite_triggers(conn: AsyncConnection) -> None:
    names = (
        await conn.execute(text("SELECT name FROM sqlite_master WHERE type = 'trigger'"))
    ).scalars()
    for name in list(names):
        await conn.execute(text(f'DROP TRIGGER "{name}"'))


@pytest.mark.parametrize("table", APPEND_ONLY_TABLES)
@pytest.mark.parametrize("statement", ["UPDATE {t} SET {c} = {c}", "DELETE FROM {t}"])
async def test_triggers_refuse_update_and_delete(
    database: Database, worker: AuditWorker, superuser: AsyncEngine, table: str, statement: str
) -> None:
    await record_events(database, 3)
    await worker.sequence_pending()
    await worker.checkpoint()
    column = {"audit_node": "hash", "audit_leaf": "leaf_hash"}.get(table, "id")
    with pytest.raises(DBAPIError, match="append-only"):
        async with superuser.begin() as conn:
            await conn.execute(text(statement.format(t=table, c=column)))


@pytest.mark.postgresql_only
async def test_app_role_may_only_insert_and_select_audit_tables(
    database_url: str, worker: AuditWorker, database: Database
) -> None:
    await record_events(database, 2)
    await worker.sequence_pending()
    as_app = Database(
        Settings(environment="test", database_url=database_url, database_role="registry_app")
    )
    try:
        async with as_app.unit_of_work() as session:
            assert (await session.execute(text("SELECT current_user"))).scalar_one() == (
                "registry_app"
            )
            await record(session, actor=AGENCY, action="citizen.verify", outcome="granted")
        # The whole pipeline runs as the restricted role.
        app_worker = AuditWorker(as_app, worker.signer, origin=worker.origin)
        assert await app_worker.sequence_pending() == 1
        assert await app_worker.checkpoint() is not None
        for table in APPEND_ONLY_TABLES:
            for statement in (f"UPDATE {table} SET id = id", f"DELETE FROM {table}"):
                if table in ("audit_leaf", "audit_node"):
                    statement = statement.replace("SET id = id", "SET event_id = event_id")
                    statement = (
                        statement.replace("event_id = event_id", "hash = hash")
                        if (table == "audit_node")
                        else statement
                    )
                with pytest.raises(DBAPIError, match="permission denied"):
                    async with as_app.unit_of_work() as session:
                        await session.execute(text(statement))
    finally:
        await as_app.dispose()


# ----------------------------------------------------------------------- sequencer


async def test_concurrent_writers_get_gapless_leaves(
    database: Database, worker: AuditWorker
) -> None:
    async def writer(n: int) -> None:
        for _ in range(n):
            await record_events(database, 3, per_transaction=3)

    async def sequencer(stop: asyncio.Event) -> int:
        total = 0
        while not stop.is_set():
            total += await worker.sequence_pending()
            await asyncio.sleep(0)
        return total + await worker.sequence_pending()

    stop = asyncio.Event()
    seq_task = asyncio.create_task(sequencer(stop))
    await asyncio.gather(*(writer(10) for _ in range(6)))
    stop.set()
    assert await seq_task == 180
    async with database.unit_of_work() as session:
        indexes = (
            await session.execute(text("SELECT leaf_index FROM audit_leaf ORDER BY leaf_index"))
        ).scalars()
        assert list(indexes) == list(range(180))
        unsequenced = (
            await session.execute(
                text(
                    "SELECT count(*) FROM audit_event e LEFT JOIN audit_leaf l "
                    "ON l.event_id = e.id WHERE l.event_id IS NULL"
                )
            )
        ).scalar_one()
    assert unsequenced == 0
    await worker.checkpoint()
    assert (await run_verify(database, worker)).ok


@pytest.mark.postgresql_only
async def test_an_open_transaction_holds_later_events_back_and_nothing_is_lost(
    database: Database, worker: AuditWorker
) -> None:
    early = database.sessions()
    try:
        # This transaction starts first (smaller txid) and stays open.
        await record(early, actor=AGENCY, action="citizen.lookup", outcome="granted")
        await record_events(database, 3)  # committed, but with later txids
        assert await worker.sequence_pending() == 0  # must wait: the early one may still commit
        await early.commit()
    finally:
        await early.close()
    assert await worker.sequence_pending() == 4
    await worker.checkpoint()
    assert (await run_verify(database, worker)).ok


@pytest.mark.postgresql_only
async def test_the_sequencer_does_not_scan_the_event_table_per_leaf(settings: Settings) -> None:
    # One backend throughout (a pool of one), which plans its statements while audit_event is
    # small and known to be (analyzed, as after a bulk load); the later, larger batch must not
    # scan it once per leaf. A leaf's foreign-key check once did, from a plan kept since the
    # table was small (migration 0008 dropped the key). The count is this transaction's
    # sequential scans of audit_event, from PostgreSQL's statistics.
    database = Database(
        settings.model_copy(update={"database_pool_size": 1, "database_max_overflow": 0})
    )
    try:
        await record_events(database, 2)
        async with database.unit_of_work() as session:
            assert await sequencer.sequence_batch(session) == 2
            await session.execute(text("ANALYZE audit_event"))
        for _ in range(8):  # past the 5 custom plans, so the kept plan is the generic one
            await record_events(database, 2)
            async with database.unit_of_work() as session:
                assert await sequencer.sequence_batch(session) == 2
        await record_events(database, 600, per_transaction=600)
        async with database.unit_of_work() as session:
            assert await sequencer.sequence_batch(session) == 600
            scans = (
                await session.execute(
                    text("SELECT pg_stat_get_xact_numscans('audit_event'::regclass)")
                )
            ).scalar_one()
        # A per-leaf check with a stale plan gave one per leaf (601 measured); the sequencer's
        # own reads may still scan it now and then while it is this small.
        assert scans < 150, f"{scans} sequential scans of audit_event for 600 leaves"
    finally:
        await database.dispose()


@pytest.mark.postgresql_only
async def test_only_one_sequencer_at_a_time(database: Database, worker: AuditWorker) -> None:
    await record_events(database, 5)
    async with database.unit_of_work() as first, database.unit_of_work() as second:
        assert await sequencer.sequence_batch(first) == 5
        assert await sequencer.sequence_batch(second) is None  # the lock is held by `first`
    assert await worker.sequence_pending() == 0


async def test_in_app_worker_sequences_and_checkpoints(
    database: Database, settings: Settings
) -> None:
    worker = AuditWorker(
        database,
        load_signer(settings),
        origin=settings.audit_origin,
        sequence_interval=0.01,
        checkpoint_interval=0.01,
    )
    await record_events(database, 4)
    worker.start()
    try:
        for _ in range(500):
            async with database.unit_of_work() as session:
                size, _root = await signing.tree_head(session)
                signed = await session.execute(text("SELECT count(*) FROM audit_checkpoint"))
            if size == 4 and signed.scalar_one() > 0:
                break
            await asyncio.sleep(0.02)
    finally:
        await worker.stop()
    assert size == 4


def test_worker_runs_again_soon_after_a_run_that_found_events(
    database: Database, settings: Settings
) -> None:
    worker = AuditWorker(database, load_signer(settings), origin=settings.audit_origin)
    assert worker.sequence_interval == 0.25
    assert worker.pause_after(0) == 0.25  # idle: polled no more often than configured
    assert worker.pause_after(1) == BUSY_INTERVAL < 0.25
    assert worker.pause_after(5_000) == BUSY_INTERVAL
    quick = AuditWorker(database, worker.signer, origin=worker.origin, sequence_interval=0.01)
    assert quick.pause_after(7) == 0.01  # never longer than the configured interval


async def run_for_pauses(
    worker: AuditWorker,
    monkeypatch: pytest.MonkeyPatch,
    runs: int,
    after_pause: Callable[[int], None] = lambda n: None,
) -> list[float]:
    """Run the worker's loop for ``runs`` runs without waiting: each pause it asks for is
    recorded instead of slept (``after_pause`` is told how many so far); the pauses."""
    pauses: list[float] = []

    async def sleep(seconds: float) -> None:
        pauses.append(seconds)
        after_pause(len(pauses))
        if len(pauses) == runs:
            raise asyncio.CancelledError

    monkeypatch.setattr("audit.worker.asyncio.sleep", sleep)
    with pytest.raises(asyncio.CancelledError):
        await worker.run()
    return pauses


async def test_worker_loop_waits_by_what_each_run_found(
    database: Database, settings: Settings, monkeypatch: pytest.MonkeyPatch
) -> None:
    worker = AuditWorker(database, load_signer(settings), origin=settings.audit_origin)
    await record_events(database, 3)
    pauses = await run_for_pauses(worker, monkeypatch, 2)
    # The first run gave the 3 events their leaves; the second found nothing.
    assert pauses == [BUSY_INTERVAL, worker.sequence_interval]
    async with database.unit_of_work() as session:
        size, _root = await signing.tree_head(session)
    assert size == 3


def test_worker_backs_off_after_failed_runs(database: Database, settings: Settings) -> None:
    worker = AuditWorker(database, load_signer(settings), origin=settings.audit_origin)
    assert [worker.pause_after(0, n) for n in (1, 2, 3, 4)] == [0.25, 0.5, 1.0, 2.0]
    assert worker.pause_after(0, 8) == FAILURE_PAUSE_MAX == 30.0
    assert worker.pause_after(0, 10_000) == FAILURE_PAUSE_MAX  # no overflow however long


async def test_worker_loop_backs_off_while_the_database_fails_then_catches_up(
    database: Database,
    settings: Settings,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    # A database without the audit tables (not migrated) fails every run for real; after the
    # third failure the worker is given the migrated one, as when the database comes back.
    broken = Database(
        Settings(environment="test", database_url=f"sqlite+aiosqlite:///{tmp_path}/empty.db")
    )
    worker = AuditWorker(broken, load_signer(settings), origin=settings.audit_origin)
    await record_events(database, 2)

    def recover(paused: int) -> None:
        if paused == 3:
            worker.database = database

    try:
        with caplog.at_level(logging.WARNING, logger="registry.audit"):
            pauses = await run_for_pauses(worker, monkeypatch, 5, recover)
    finally:
        await broken.dispose()
    # Three failures, each pause twice the one before; then the run that catches up (the two
    # events get their leaves), and the next one finds nothing.
    assert pauses == [0.25, 0.5, 1.0, BUSY_INTERVAL, worker.sequence_interval]
    logged = [(r.msg, r.__dict__.get("fields", {})) for r in caplog.records]
    assert [m for m, _ in logged] == ["audit.worker_error"] * 3 + ["audit.worker_recovered"]
    assert [f["failures"] for _, f in logged] == [1, 2, 3, 3]
    assert [f.get("retry_in_s") for _, f in logged[:3]] == [0.25, 0.5, 1.0]
    async with database.unit_of_work() as session:
        size, _root = await signing.tree_head(session)
    assert size == 2


# ------------------------------------------------------------------------ tampering

Attack = Callable[[dict[int, int]], list[str]]


def modify(ev: dict[int, int]) -> list[str]:
    return [f"UPDATE audit_event SET purpose = 'forged' WHERE id = {ev[5]}"]


def delete(ev: dict[int, int]) -> list[str]:
    return [
        "DELETE FROM audit_leaf WHERE leaf_index = 5",
        f"DELETE FROM audit_event WHERE id = {ev[5]}",
    ]


def delete_and_renumber(ev: dict[int, int]) -> list[str]:
    return [
        *delete(ev),
        "UPDATE audit_leaf SET leaf_index = -leaf_index WHERE leaf_index > 5",
        "UPDATE audit_leaf SET leaf_index = -leaf_index - 1 WHERE leaf_index < 0",
    ]


def reorder(ev: dict[int, int]) -> list[str]:
    return [  # swap which events sit at positions 5 and 8, leaving the stored hashes in place
        "UPDATE audit_leaf SET event_id = -1 WHERE leaf_index = 5",
        f"UPDATE audit_leaf SET event_id = {ev[5]} WHERE leaf_index = 8",
        f"UPDATE audit_leaf SET event_id = {ev[8]} WHERE leaf_index = 5",
    ]


def reorder_rows(ev: dict[int, int]) -> list[str]:
    return [  # swap the leaf rows themselves (hashes travel with their events)
        "UPDATE audit_leaf SET leaf_index = -1 WHERE leaf_index = 5",
        "UPDATE audit_leaf SET leaf_index = 5 WHERE leaf_index = 8",
        "UPDATE audit_leaf SET leaf_index = 8 WHERE leaf_index = -1",
    ]


def far_gap(events: dict[int, int]) -> list[str]:
    """Move the last leaves far away: verify must skip the empty ranges, and name index 8."""
    return ["UPDATE audit_leaf SET leaf_index = leaf_index + 1000000 WHERE leaf_index >= 8"]


@pytest.mark.parametrize(
    ("attack", "first_bad"),
    [
        (modify, 5),
        (delete, 5),
        (delete_and_renumber, 5),
        (reorder, 5),
        (reorder_rows, 5),
        ("insert", 5),
        ("insert_behind", 5),
        (far_gap, 8),
    ],
    ids=[
        "modify",
        "delete",
        "delete+renumber",
        "reorder",
        "reorder-rows",
        "insert",
        "insert-behind-sequencer",
        "far-gap",
    ],
)
@pytest.mark.usefixtures("leaf_chunk")
async def test_tampering_is_detected_at_the_right_index(
    database: Database,
    worker: AuditWorker,
    superuser: AsyncEngine,
    attack: Attack | str,
    first_bad: int,
) -> None:
    await sealed_log(database, worker, 12)
    assert (await run_verify(database, worker)).ok
    async with database.unit_of_work() as session:
        rows = (await session.execute(text("SELECT leaf_index, event_id FROM audit_leaf"))).all()
    events = {int(r.leaf_index): int(r.event_id) for r in rows}

    if attack == "insert":
        await forge_insert(database, superuser, events, at=5)
    elif attack == "insert_behind":
        await forge_behind(superuser, events, before=5)
    else:
        assert callable(attack)
        await tamper(superuser, *attack(events))

    report = await run_verify(database, worker)
    assert not report.ok
    assert report.first_bad_index == first_bad, report.problems


@pytest.mark.usefixtures("leaf_chunk")
async def test_event_ids_far_apart_still_verify(
    database: Database, worker: AuditWorker, superuser: AsyncEngine
) -> None:
    # Event ids are not hashed: moving one far away (leaf and event together) changes nothing
    # that verify checks, but the chunk's ids are no longer dense, so PostgreSQL joins it.
    await sealed_log(database, worker, 12)
    async with database.unit_of_work() as session:
        moved = (
            await session.execute(text("SELECT event_id FROM audit_leaf WHERE leaf_index = 5"))
        ).scalar_one()
    await tamper(
        superuser,
        f"UPDATE audit_event SET id = {moved + 10**6} WHERE id = {moved}",
        f"UPDATE audit_leaf SET event_id = {moved + 10**6} WHERE event_id = {moved}",
    )
    report = await run_verify(database, worker)
    assert report.ok, report.problems
    assert report.leaves == 12


async def forge_insert(
    database: Database, superuser: AsyncEngine, events: dict[int, int], *, at: int
) -> None:
    """Insert a forged event with a correctly computed leaf at ``at``, shifting the rest up."""
    forged_id = max(events.values()) + 1000
    await tamper(
        superuser,
        "INSERT INTO audit_event (id, event_uid, actor_type, actor_id, action, fields, outcome, "
        f"subject) VALUES ({forged_id}, 'forged-0000-0000-0000-000000000000', 'agency', "
        f"'bank-001', 'citizen.lookup', '[]', 'granted', '{SUBJECT}')",
        f"UPDATE audit_leaf SET leaf_index = -leaf_index - 1 WHERE leaf_index >= {at}",
        "UPDATE audit_leaf SET leaf_index = -leaf_index WHERE leaf_index < 0",
    )
    async with database.unit_of_work() as session:
        row = (
            await session.execute(text(f"SELECT * FROM audit_event WHERE id = {forged_id}"))
        ).one()
    leaf = merkle.leaf_hash(leaf_bytes(event_data(row), at)).hex()
    literal = f"X'{leaf}'" if database.dialect == "sqlite" else f"'\\x{leaf}'::bytea"
    await tamper(
        superuser,
        f"INSERT INTO audit_leaf (leaf_index, event_id, leaf_hash) "
        f"VALUES ({at}, {forged_id}, {literal})",
    )


async def forge_behind(superuser: AsyncEngine, events: dict[int, int], *, before: int) -> None:
    """Insert a forged, backdated event among old ones, where the sequencer will never look."""
    # Make room in the id sequence: move the later events' ids up (their leaves follow).
    shift = 1000
    later = [events[i] for i in events if i >= before]
    statements = []
    for event_id in sorted(later, reverse=True):
        statements.append(f"UPDATE audit_event SET id = {event_id + shift} WHERE id = {event_id}")
        statements.append(
            f"UPDATE audit_leaf SET event_id = {event_id + shift} WHERE event_id = {event_id}"
        )
    forged_id = events[before - 1] + 1
    statements.append(
        "INSERT INTO audit_event (id, event_uid, actor_type, actor_id, action, fields, outcome, "
        f"subject, txid) SELECT {forged_id}, 'forged-behind-0000-0000-000000000000', 'agency', "
        f"'bank-001', 'citizen.lookup', '[]', 'granted', '{SUBJECT}', txid "
        f"FROM audit_event WHERE id = {events[before - 1]}"
    )
    await tamper(superuser, *statements)


async def test_rewriting_every_leaf_consistently_is_caught_by_the_signed_checkpoint(
    database: Database, worker: AuditWorker, superuser: AsyncEngine
) -> None:
    await record_events(database, 9)
    await worker.sequence_pending()
    await worker.checkpoint()
    await tamper(superuser, "UPDATE audit_event SET purpose = 'forged' WHERE purpose = 'kyc'")
    # The attacker also recomputes every stored leaf hash, so each leaf matches its event.
    rows = await stored_leaves(database)
    updates = []
    for r in rows:
        new = merkle.leaf_hash(leaf_bytes(event_data(r), r.leaf_index)).hex()
        literal = f"X'{new}'" if database.dialect == "sqlite" else f"'\\x{new}'::bytea"
        updates.append(
            f"UPDATE audit_leaf SET leaf_hash = {literal} WHERE leaf_index = {r.leaf_index}"
        )
    await tamper(superuser, *updates)
    report = await run_verify(database, worker)
    assert not report.ok
    assert any("checkpoint of size 9 does not match" in p for p in report.problems)


# --------------------------------------------------------------------------- proofs


async def test_every_inclusion_and_consistency_proof_verifies(
    database: Database, worker: AuditWorker
) -> None:
    sizes = []
    uids: list[str] = []
    for batch in (1, 6, 13):
        uids += await record_events(database, batch)
        await worker.sequence_pending()
        await worker.checkpoint()
        sizes.append(len(uids))
    verifier = worker.signer.verifier()
    async with database.unit_of_work() as session:
        for uid in uids:
            proof = await proofs.inclusion_proof(session, uid)
            checkpoint = proofs.check_inclusion(proof, verifier, origin=worker.origin)
            assert checkpoint.size == 20
        for size1 in sizes:
            for size2 in sizes:
                if size1 > size2:
                    continue
                result = await proofs.consistency_proof(session, size1, size2)
                first = open_checkpoint(
                    result["first"]["checkpoint"], verifier, origin=worker.origin
                )
                second = open_checkpoint(
                    result["second"]["checkpoint"], verifier, origin=worker.origin
                )
                path = [__import__("base64").b64decode(h) for h in result["proof"]]
                assert merkle.verify_consistency(
                    size1, size2, first.root_hash, second.root_hash, path
                )
        # Stored nodes are exactly the complete subtrees of the tree.
        ids = merkle.range_nodes(0, 20)
        assert set((await fetch_nodes(session, ids)).keys()) == set(ids)


async def proved(database: Database, settings: Settings, tmp_path: Path) -> tuple[Path, str]:
    """Five events and a checkpoint; a file with the CLI's proof of the fourth, the public key."""
    uids = await record_events(database, 5)
    env: dict[str, str | None] = {"REGISTRY_DATABASE_URL": settings.database_url}
    result = await cli("audit", "checkpoint", env=env)
    assert result.exit_code == 0, result.output
    done = await cli("audit", "prove", uids[3], env=env)
    assert done.exit_code == 0, done.output
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(done.stdout)
    return proof_file, (await cli("audit", "public-key", env=env)).stdout.strip()


async def check_offline(proof_file: Path, public_key: str) -> Any:
    """``registry audit check-proof`` with no database in the environment at all."""
    offline: dict[str, str | None] = {
        "REGISTRY_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none"
    }
    return await cli(
        "audit", "check-proof", str(proof_file), "--public-key", public_key, env=offline
    )


async def test_cli_prove_then_check_offline(
    database: Database, worker: AuditWorker, settings: Settings, tmp_path: Path
) -> None:
    checked = await check_offline(*await proved(database, settings, tmp_path))
    assert checked.exit_code == 0, checked.output
    assert "VALID: leaf 3 is in the log of 5 leaves" in checked.output


async def test_cli_check_finds_a_proof_moved_to_another_leaf_invalid(
    database: Database, worker: AuditWorker, settings: Settings, tmp_path: Path
) -> None:
    proof_file, public_key = await proved(database, settings, tmp_path)
    proof = json.loads(proof_file.read_text())
    proof["leaf_index"] = 2
    proof_file.write_text(json.dumps(proof))
    forged = await check_offline(proof_file, public_key)
    assert forged.exit_code == 1
    assert "INVALID" in forged.output


async def test_cli_verify_finds_a_checkpointed_log_sound(
    database: Database, worker: AuditWorker, settings: Settings, tmp_path: Path
) -> None:
    await proved(database, settings, tmp_path)
    verified = await cli("audit", "verify", env={"REGISTRY_DATABASE_URL": settings.database_url})
    assert verified.exit_code == 0, verified.output
    assert "OK" in verified.output


async def cli(*args: str, env: dict[str, str | None]) -> Any:
    """Run the ``registry`` command (its own event loop, so from a thread); the result."""
    from registry.cli import app

    return await asyncio.to_thread(CliRunner().invoke, app, list(args), env=env)


@pytest.fixture
async def served_elsewhere(database: Database, settings: Settings) -> AuditWorker:
    """The worker of a server started with ``make run PORT=8123`` (public URL on that port),
    after it signed a checkpoint of five events."""
    served = settings.model_copy(update={"public_url": "http://localhost:8123"})
    worker = AuditWorker(database, load_signer(served), origin=served.audit_origin)
    await record_events(database, 5)
    await worker.sequence_pending()
    assert await worker.checkpoint() is not None
    return worker


async def test_the_cli_checks_the_log_of_a_server_started_on_another_url(
    database: Database, settings: Settings, served_elsewhere: AuditWorker, tmp_path: Path
) -> None:
    # The CLI's settings name the default public URL (port 8000), not the server's.
    env: dict[str, str | None] = {
        "REGISTRY_DATABASE_URL": settings.database_url,
        "REGISTRY_PUBLIC_URL": None,
    }
    verified = await cli("audit", "verify", env=env)
    assert verified.exit_code == 0, verified.output
    assert "origin: localhost:8123/audit" in verified.output
    assert "OK" in verified.output
    # The CLI signs the next checkpoint under the log's origin too, and proves against it.
    uids = await record_events(database, 2)
    signed = await cli("audit", "checkpoint", env=env)
    assert signed.exit_code == 0, signed.output
    assert signed.stdout.startswith("localhost:8123/audit\n7\n")
    proved = await cli("audit", "prove", uids[1], env=env)
    assert proved.exit_code == 0, proved.output
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(proved.stdout)
    vkey = (await cli("audit", "public-key", env=env)).stdout.strip()
    assert vkey == served_elsewhere.signer.verifier_key()
    offline: dict[str, str | None] = {
        "REGISTRY_DATABASE_URL": "postgresql+asyncpg://nobody@127.0.0.1:1/none"
    }
    checked = await cli("audit", "check-proof", str(proof_file), "--public-key", vkey, env=offline)
    assert checked.exit_code == 0, checked.output
    assert "VALID: leaf 6 is in the log of 7 leaves" in checked.output
    again = await cli("audit", "verify", env=env)
    assert again.exit_code == 0, again.output
    assert "checkpoints: 2" in again.output


async def foreign_checkpoints(database: Database, worker: AuditWorker) -> Signer:
    """Six leaves checkpointed under another key, then seven under the log's key but another
    origin; the other key."""
    other_key = Signer.generate("localhost:8123/audit")
    await record_events(database, 1)
    await worker.sequence_pending()
    async with database.unit_of_work() as session:  # six leaves, under another key
        await signing.make_checkpoint(session, other_key, origin="unused")
    await record_events(database, 1)
    await worker.sequence_pending()
    async with database.unit_of_work() as session:  # seven leaves, our key, another origin
        size, root = await signing.tree_head(session)
        note = sign_checkpoint(
            Checkpoint(origin="registry.example/audit", size=size, root_hash=root),
            worker.signer.named("registry.example/audit"),
        )
        await audit_repo.insert_checkpoint(session, size, root, note)
    return other_key


async def verify_log(settings: Settings) -> Any:
    """``registry audit verify`` on the test's database."""
    return await cli("audit", "verify", env={"REGISTRY_DATABASE_URL": settings.database_url})


async def test_a_checkpoint_under_another_key_is_reported_as_such(
    database: Database, settings: Settings, served_elsewhere: AuditWorker
) -> None:
    log_key = served_elsewhere.signer.verifier()
    other_key = await foreign_checkpoints(database, served_elsewhere)
    verified = await verify_log(settings)
    assert verified.exit_code == 1
    expected_key = f"localhost:8123/audit+{log_key.key_id.hex()}"
    assert (
        "checkpoint of size 6 is not valid: checkpoint of another log or key: expected key "
        f"{expected_key}, found localhost:8123/audit+{other_key.key_id.hex()}"
    ) in verified.output


async def test_a_checkpoint_under_another_origin_is_reported_as_such(
    database: Database, settings: Settings, served_elsewhere: AuditWorker
) -> None:
    await foreign_checkpoints(database, served_elsewhere)
    verified = await verify_log(settings)
    assert verified.exit_code == 1
    assert (
        "checkpoint of size 7 is not valid: checkpoint of another log or key: expected origin "
        "'localhost:8123/audit', found 'registry.example/audit'; signed by the expected public "
        "key under the name 'registry.example/audit'"
    ) in verified.output


async def test_a_checkpoint_of_another_log_or_key_is_not_called_tampering(
    database: Database, settings: Settings, served_elsewhere: AuditWorker
) -> None:
    await foreign_checkpoints(database, served_elsewhere)
    verified = await verify_log(settings)
    assert "tamper" not in verified.output.lower()


async def test_a_proof_checked_offline_with_another_logs_key_says_so(
    database: Database, settings: Settings, served_elsewhere: AuditWorker, tmp_path: Path
) -> None:
    other_key = await foreign_checkpoints(database, served_elsewhere)
    env: dict[str, str | None] = {"REGISTRY_DATABASE_URL": settings.database_url}
    proved = await cli("audit", "prove", (await record_uids(database))[0], env=env)
    proof_file = tmp_path / "proof.json"
    proof_file.write_text(proved.stdout)
    checked = await cli(
        "audit",
        "check-proof",
        str(proof_file),
        "--public-key",
        other_key.verifier_key(),
        env=env,
    )
    assert checked.exit_code == 1
    assert (
        "INVALID: checkpoint rejected: checkpoint of another log or key: expected origin "
        "'localhost:8123/audit', found 'registry.example/audit'; expected key "
        f"localhost:8123/audit+{other_key.key_id.hex()}, found registry.example/audit+"
    ) in checked.output


async def record_uids(database: Database) -> list[str]:
    """The public ids of the recorded events, oldest first."""
    async with database.unit_of_work() as session:
        rows = await session.execute(text("SELECT event_uid FROM audit_event ORDER BY id"))
        return [str(uid) for (uid,) in rows]


async def test_a_failing_audit_insert_is_a_503_and_nothing_is_committed(
    database: Database, superuser: AsyncEngine
) -> None:
    await fail_audit_inserts(str(superuser.url.render_as_string(hide_password=False)))
    from core.errors import AuditUnavailable

    with pytest.raises(AuditUnavailable) as caught:
        async with database.unit_of_work() as session:
            await record(session, actor=AGENCY, action="citizen.lookup", outcome="granted")
    assert caught.value.status == 503


async def test_a_recorded_refusal_commits_its_event_and_still_raises(database: Database) -> None:
    from core.errors import NotFound

    async def look_up_missing() -> None:
        async with database.unit_of_work() as session:
            raise await recording.refuse(
                session,
                NotFound("No such citizen."),
                actor=AGENCY,
                action="citizen.lookup",
                outcome="not_found",
                subject=SUBJECT,
                purpose="kyc",
            )

    with pytest.raises(NotFound):
        await look_up_missing()
    async with database.unit_of_work() as session:
        row = (await session.execute(text("SELECT outcome, subject FROM audit_event"))).one()
    assert (row.outcome, row.subject) == ("not_found", SUBJECT)


async def record_hostile_text(database: Database) -> None:
    """Three ordinary events, then one whose text needs every kind of JSON escape (index 3)."""
    odd = 'q"uote \\ back\x01\x1f\n\u2028 \U0001f600 ti\u1ebfng Vi\u1ec7t'
    await record_events(database, 3)
    async with database.unit_of_work() as session:
        await record(
            session,
            actor=Principal("agency", odd, on_behalf_of=odd),
            action="citizen.lookup",
            outcome="granted",
            subject=SUBJECT,
            fields=["a.b", "c"],
            purpose="kyc",
            detail={"note": odd, "n": -5, "ok": True, "none": None},
        )


async def test_verify_agrees_with_leaf_bytes_on_hostile_text_and_odd_spellings(
    database: Database, worker: AuditWorker, superuser: AsyncEngine
) -> None:
    # PostgreSQL renders events in SQL for verify; whatever it cannot render, or renders
    # differently, Python (leaf_bytes) decides. Both backends must give the same verdicts.
    await record_hostile_text(database)
    await record_events(database, 2)
    await worker.sequence_pending()
    await worker.checkpoint()
    assert (await run_verify(database, worker)).ok
    async with database.unit_of_work() as session:
        ids = await session.execute(text("SELECT event_id FROM audit_leaf ORDER BY leaf_index"))
        events = [int(r.event_id) for r in ids]
    # The same list spelled with a space: not what encode_fields writes, but the same event.
    await tamper(
        superuser, f'UPDATE audit_event SET fields = \'[ "a.b","c"]\' WHERE id = {events[3]}'
    )
    assert (await run_verify(database, worker)).ok
    await tamper(
        superuser, f"UPDATE audit_event SET detail = '{{\"n\":-6}}' WHERE id = {events[3]}"
    )
    report = await run_verify(database, worker)
    assert report.first_bad_index == 3, report.problems


async def test_the_sequencer_gives_each_event_the_leaf_leaf_bytes_defines(
    database: Database, worker: AuditWorker, superuser: AsyncEngine, monkeypatch: pytest.MonkeyPatch
) -> None:
    # On PostgreSQL the sequencer renders and hashes events in C (audit/_native.c leaf_hashes)
    # and leaves to leaf_bytes what C cannot render with certainty; SQLite takes leaf_bytes
    # throughout. Either way every stored leaf is leaf_bytes' hash of its event at its index.
    await record_hostile_text(database)
    # Written by hand in shapes the recorder never writes: C leaves these rows to Python.
    await tamper(
        superuser,
        "INSERT INTO audit_event (event_uid, actor_type, actor_id, action, fields, outcome, "
        "detail) VALUES ('odd-1', 'agency', 'x', 'citizen.lookup', '[ \"a\"]', 'granted', "
        "'{\"b\": 1, \"a\": 2}'), ('odd-2', 'agency', 'x', 'citizen.lookup', '[]', 'denied', "
        "'{\"a\": 1.5}')",
    )
    await record_events(database, 2)
    left_to_python: list[int] = []
    native = vars(sequencer)["_native"]  # the C module, or None when it was not built
    if native is not None:

        class Watching:
            def __getattr__(self, name: str) -> object:
                return getattr(native, name)

            def leaf_hashes(self, rows: bytes) -> tuple[int, int, object, bytes, list[int]]:
                found: tuple[int, int, object, bytes, list[int]] = native.leaf_hashes(rows)
                left_to_python.extend(found[4])
                return found

        monkeypatch.setattr(sequencer, "_native", Watching())
    assert await worker.sequence_pending() == 8
    if native is not None and database.dialect == "postgresql":
        # The text with escapes, and the two rows written by hand.
        assert left_to_python == [3, 4, 5]
    rows = await stored_leaves(database)
    assert [r.leaf_index for r in rows] == list(range(8))
    for row in rows:
        expected = merkle.leaf_hash(leaf_bytes(event_data(row), row.leaf_index))
        assert bytes(row.leaf_hash) == expected, row.event_uid
    await worker.checkpoint()
    assert (await run_verify(database, worker)).ok
