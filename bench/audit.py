"""Audit log benchmark: record + sequence under concurrent writers, drain, verify, proofs.

Everything runs against a throwaway PostgreSQL 15 started here (tests/pgcluster.py):

1. Writers in several OS processes (asyncio tasks in each) commit transactions that call
   ``audit.recording.record`` (1 and 50 events per transaction) while the real
   ``AuditWorker.sequence_pending()`` runs in its own process: record rate and end-to-end rate
   (wall time from the first insert until the sequencer has given a leaf to the last event).
   Then the sequencer's own drain rate over a pre-recorded backlog (committed 50 events per
   transaction with COPY). Every log is checked: leaf indexes gapless 0..N-1, every event
   exactly one leaf.
2. ``audit.verification.verify`` over the drained log, after signing a checkpoint.
3. Inclusion-proof latency at 1M and 10M leaves (``--quick``: 100k and 1M): a synthetic but
   valid log bulk-loaded with COPY (leaf hashes computed with ``leaf_bytes`` exactly as the
   sequencer does, nodes from ``CompactRange.append``), then ``inclusion_proof`` for random
   events, each proof checked offline with ``check_inclusion``. For speed audit_event's
   secondary indexes are dropped during the load and rebuilt from their own definitions, and
   the leaf foreign key is not fired row by row (the log check proves it holds).
4. Peers in the same run: pgbench with the hot path's single-row INSERT (same client count),
   and a raw asyncpg query fetching the same rows as a proof (the floor for its latency).

``python -m bench audit [--quick | --tiny]`` (or ``BENCH_QUICK=1``, ``BENCH_TINY=1``); how long
each takes: docs/performance.md, "How long the benches run".
"""

from __future__ import annotations

import argparse
import asyncio
import multiprocessing as mp
import os
import random
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from multiprocessing.context import SpawnProcess
from multiprocessing.queues import Queue
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import asyncpg

import migrations
from audit import merkle, verification
from audit import tree_repository as tree_repo
from audit.checkpoint import Signer
from audit.events import EVENT_FIELDS, EventData, Outcome, encode_detail, encode_fields, leaf_bytes
from audit.proofs import b64, check_inclusion, inclusion_proof
from audit.recording import record
from audit.signing import make_checkpoint, tree_head
from audit.worker import AuditWorker
from bench.harness import report
from bench.harness.database import admin, pgbench, start_cluster
from bench.harness.report import console, emit, percentile, run_async, table, timed
from core.auth import Principal
from core.db import Database
from core.logging import request_id_var
from core.settings import Settings
from tests.pgcluster import PostgresCluster

ORIGIN = "bench.registry.example/audit"
WRITER_PROCS = 3  # the full and quick runs
TASKS_PER_PROC = 8
SEQUENCE_INTERVAL = 0.25  # AuditWorker's default: its pause after a run that found nothing
LOAD_WORKERS = 2
LOAD_CHUNK = 50_000
PROOF_WARMUP = 20

TARGET_SEQUENCER = 10_000.0  # events/s
TARGET_VERIFY = 1_000_000.0  # events/s
TARGET_PROOF_P99_MS = 5.0


@dataclass(frozen=True)
class Scale:
    """How much work each part does."""

    name: str
    e2e_1: int  # events, 1 per transaction, writers + sequencer
    e2e_50: int  # events, 50 per transaction, writers + sequencer
    record_1: int  # events, 1 per transaction, writers only
    record_50: int  # events, 50 per transaction, writers only
    backlog: int  # events committed 50 per transaction (COPY), then drained by the sequencer
    pgbench_seconds: int
    proof_sizes: tuple[int, ...]
    proofs: int = 500
    writer_procs: int = WRITER_PROCS

    @property
    def clients(self) -> int:
        """Writers at once (pgbench's clients too)."""
        return self.writer_procs * TASKS_PER_PROC


FULL = Scale("full", 10_000, 50_000, 10_000, 25_000, 200_000, 10, (1_000_000, 10_000_000))
QUICK = Scale("quick", 5_000, 25_000, 5_000, 15_000, 50_000, 5, (100_000, 1_000_000))
TINY = Scale("tiny", 240, 1_200, 240, 1_200, 1_000, 1, (2_000,), proofs=20, writer_procs=1)


# ------------------------------------------------------------------------------ database


def settings_for(url: str, pool: int = 4) -> Settings:
    """Settings for one bench process: no in-app sequencer, a pool sized for its tasks."""
    return Settings(
        database_url=url,
        audit_sequencer_enabled=False,
        database_pool_size=pool,
        database_max_overflow=2,
        log_level="WARNING",
        audit_log_origin=ORIGIN,
    )


@dataclass
class Cluster:
    """The throwaway server and its migrated template database."""

    pg: PostgresCluster
    counter: int = 0

    def fresh(self, label: str) -> tuple[str, str]:
        """A new database cloned from the migrated template: (SQLAlchemy URL, DSN)."""
        self.counter += 1
        name = f"bench_{label}_{self.counter}"
        run_async(admin(self.pg.dsn(), f'CREATE DATABASE "{name}" TEMPLATE audit_template'))
        return self.pg.url(name), self.pg.dsn(name)

    def drop(self, dsn_name: str) -> None:
        """Drop a database that is no longer needed (frees disk and cache)."""
        name = dsn_name.rsplit("/", 1)[1]
        run_async(admin(self.pg.dsn(), f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)'))


def start_template() -> Cluster:
    """initdb, start, and migrate a template database."""
    pg = start_cluster(bulk=True)
    run_async(admin(pg.dsn(), "CREATE DATABASE audit_template"))
    migrations.upgrade(pg.url("audit_template"))
    return Cluster(pg)


@dataclass(frozen=True)
class LogCheck:
    """The shape of a sequenced log."""

    events: int
    leaves: int
    min_index: int
    max_index: int
    distinct_events: int
    without_leaf: int
    batch_size: int

    @property
    def gapless(self) -> bool:
        """Leaf indexes are exactly 0..leaves-1 (the primary key makes them distinct)."""
        return self.leaves == 0 or (self.min_index == 0 and self.max_index == self.leaves - 1)

    @property
    def one_leaf_each(self) -> bool:
        """Every event has exactly one leaf and every leaf a distinct event."""
        return (
            self.without_leaf == 0
            and self.distinct_events == self.leaves == self.events
            and self.batch_size == self.leaves
        )

    def text(self) -> str:
        """One line for the console."""
        verdict = "OK" if self.gapless and self.one_leaf_each else "FAILED"
        return (
            f"log check {verdict}: {self.events:,} events, {self.leaves:,} leaves, indexes "
            f"{self.min_index}..{self.max_index} ({'gapless' if self.gapless else 'GAPS'}), "
            f"{self.without_leaf} events without a leaf, {self.distinct_events:,} distinct "
            f"events in leaves, newest batch tree_size {self.batch_size:,}"
        )


async def check_log(dsn: str) -> LogCheck:
    """Count events and leaves and look for gaps and unsequenced events."""
    conn = await asyncpg.connect(dsn)
    try:
        row = await conn.fetchrow(
            """
            SELECT (SELECT count(*) FROM audit_event) AS events,
                   (SELECT count(*) FROM audit_leaf) AS leaves,
                   (SELECT coalesce(min(leaf_index), -1) FROM audit_leaf) AS min_index,
                   (SELECT coalesce(max(leaf_index), -1) FROM audit_leaf) AS max_index,
                   (SELECT count(DISTINCT event_id) FROM audit_leaf) AS distinct_events,
                   (SELECT count(*) FROM audit_event e
                     WHERE NOT EXISTS (SELECT 1 FROM audit_leaf l WHERE l.event_id = e.id))
                     AS without_leaf,
                   (SELECT coalesce(max(tree_size), 0) FROM audit_batch) AS batch_size
            """
        )
    finally:
        await conn.close()
    return LogCheck(**{k: int(v) for k, v in dict(row).items()})


def require_valid(check: LogCheck, expected: int) -> None:
    """Print the check; fail loudly when the log is not what it must be."""
    console.print(check.text())
    if not (check.gapless and check.one_leaf_each and check.events == expected):
        raise SystemExit(f"audit log check FAILED (expected {expected:,} events): {check}")


# ------------------------------------------------------------------------------ writers

ACTIONS = (
    "person.read",
    "person.search",
    "address.read",
    "identity.document.read",
    "person.relations.read",
    "person.update",
)
PURPOSES = (
    "tax.assessment",
    "benefit.eligibility",
    "law-enforcement.case",
    "healthcare.care",
    "population.statistics",
    None,
)
FIELD_SETS = (
    ("name.given", "name.family"),
    ("address.street", "address.city", "address.postcode"),
    ("birth_date",),
    ("name.given", "name.family", "birth_date", "citizenship"),
    (),
)
OUTCOMES: tuple[Outcome, ...] = ("granted",) * 17 + ("denied", "not_found", "error")
AGENCIES = (
    "agency:tax-authority",
    "agency:social-insurance",
    "agency:police",
    "agency:health-board",
    "agency:statistics-office",
)


def subject_of(rng: random.Random) -> str:
    """A 12-digit personal ID number."""
    return f"{rng.randrange(10**12):012d}"


async def _writer(
    url: str, transactions: int, per_tx: int, seed: int, ready: Queue[Any], start: Event
) -> dict[str, Any]:
    rng = random.Random(seed)
    database = Database(settings_for(url, pool=TASKS_PER_PROC))
    principals = [
        Principal(actor_type="agency", actor_id=a, on_behalf_of=f"official:{rng.randrange(10**6)}")
        for a in AGENCIES
    ]

    async def warm() -> None:
        await database.ping(timeout=30)

    await asyncio.gather(*(warm() for _ in range(TASKS_PER_PROC)))
    ready.put(os.getpid())
    await asyncio.get_running_loop().run_in_executor(None, start.wait)
    began = time.monotonic()
    remaining = transactions
    latencies: list[float] = []

    async def task() -> None:
        nonlocal remaining
        while remaining > 0:
            remaining -= 1
            t0 = time.perf_counter()
            request_id_var.set(uuid.uuid4().hex)
            async with database.unit_of_work() as session:
                for _ in range(per_tx):
                    await record(
                        session,
                        actor=rng.choice(principals),
                        action=rng.choice(ACTIONS),
                        outcome=rng.choice(OUTCOMES),
                        subject=subject_of(rng),
                        fields=rng.choice(FIELD_SETS),
                        purpose=rng.choice(PURPOSES),
                        detail={"records": rng.randrange(1, 5)} if rng.random() < 0.3 else None,
                    )
            latencies.append(time.perf_counter() - t0)

    await asyncio.gather(*(task() for _ in range(TASKS_PER_PROC)))
    ended = time.monotonic()
    await database.dispose()
    return {"began": began, "ended": ended, "events": transactions * per_tx, "latencies": latencies}


def writer_process(
    url: str,
    transactions: int,
    per_tx: int,
    seed: int,
    ready: Queue[Any],
    start: Event,
    out: Queue[Any],
) -> None:
    """One OS process of writers (spawned)."""
    out.put(("writer", run_async(_writer(url, transactions, per_tx, seed, ready, start))))


async def _sequencer(url: str, expected: int, ready: Queue[Any], start: Event) -> dict[str, Any]:
    database = Database(settings_for(url, pool=2))
    worker = AuditWorker(
        database, Signer.generate(ORIGIN), origin=ORIGIN, sequence_interval=SEQUENCE_INTERVAL
    )
    await database.ping(timeout=30)
    ready.put(os.getpid())
    await asyncio.get_running_loop().run_in_executor(None, start.wait)
    total = 0
    busy = 0.0
    runs = 0
    deadline = time.monotonic() + 900
    # As AuditWorker.run(): sequence what is pending, then pause as it does (pause_after).
    while True:
        t0 = time.monotonic()
        appended = await worker.sequence_pending()
        total += appended
        busy += time.monotonic() - t0
        runs += 1
        if total >= expected:
            break
        if time.monotonic() > deadline:
            raise RuntimeError(f"sequencer gave up after {total} of {expected} events")
        await asyncio.sleep(worker.pause_after(appended))
    done = time.monotonic()
    await database.dispose()
    return {"done": done, "total": total, "busy": busy, "runs": runs}


def sequencer_process(
    url: str, expected: int, ready: Queue[Any], start: Event, out: Queue[Any]
) -> None:
    """The real AuditWorker.sequence_pending(), in its own OS process (spawned)."""
    out.put(("sequencer", run_async(_sequencer(url, expected, ready, start))))


@dataclass
class WriteRun:
    """What one writers (+ sequencer) run measured."""

    events: int
    per_tx: int
    record_seconds: float
    e2e_seconds: float | None
    tx_p50_ms: float
    tx_p99_ms: float
    sequencer_busy: float | None = None
    sequencer_runs: int | None = None

    @property
    def record_rate(self) -> float:
        """Events committed per second by all writers."""
        return self.events / self.record_seconds

    @property
    def e2e_rate(self) -> float | None:
        """Events recorded and sequenced per second."""
        return None if self.e2e_seconds is None else self.events / self.e2e_seconds


def run_writers(
    url: str, events: int, per_tx: int, *, processes: int, with_sequencer: bool
) -> WriteRun:
    """Writers in ``processes`` processes, optionally the sequencer in another; wait for all."""
    ctx = mp.get_context("spawn")
    ready: Queue[Any] = ctx.Queue()
    out: Queue[Any] = ctx.Queue()
    start = ctx.Event()
    transactions = events // per_tx
    shares = [transactions // processes + (i < transactions % processes) for i in range(processes)]
    procs: list[SpawnProcess] = [
        ctx.Process(target=writer_process, args=(url, n, per_tx, 1000 + i, ready, start, out))
        for i, n in enumerate(shares)
    ]
    if with_sequencer:
        procs.append(
            ctx.Process(
                target=sequencer_process, args=(url, transactions * per_tx, ready, start, out)
            )
        )
    for proc in procs:
        proc.start()
    try:
        for _ in procs:
            ready.get(timeout=120)
        t0 = time.monotonic()
        start.set()
        results: list[tuple[str, dict[str, Any]]] = []
        while len(results) < len(procs):
            try:
                results.append(out.get(timeout=5))
            except Exception:  # queue.Empty: check that nobody died
                dead = [p for p in procs if p.exitcode not in (None, 0)]
                if dead:
                    raise RuntimeError(
                        f"a bench process failed (exit {dead[0].exitcode})"
                    ) from None
        for proc in procs:
            proc.join(timeout=60)
    finally:
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join()
    writers = [r for kind, r in results if kind == "writer"]
    latencies = sorted(x for w in writers for x in w["latencies"])
    ended = max(w["ended"] for w in writers)
    seq = next((r for kind, r in results if kind == "sequencer"), None)
    return WriteRun(
        events=sum(w["events"] for w in writers),
        per_tx=per_tx,
        record_seconds=ended - t0,
        e2e_seconds=None if seq is None else seq["done"] - t0,
        tx_p50_ms=percentile(latencies, 50) * 1000,
        tx_p99_ms=percentile(latencies, 99) * 1000,
        sequencer_busy=None if seq is None else seq["busy"],
        sequencer_runs=None if seq is None else seq["runs"],
    )


# ------------------------------------------------------------------------------ sequencer drain


@dataclass
class DrainResult:
    """The sequencer over a backlog, then verify over the same log."""

    events: int
    seconds: float
    verify_seconds: float
    verify_leaves: int
    checkpoint_seconds: float


async def drain_and_verify(url: str, expected: int) -> DrainResult:
    """Time AuditWorker.sequence_pending() over the backlog; sign; time verification.verify()."""
    database = Database(settings_for(url, pool=2))
    signer = Signer.generate(ORIGIN)
    worker = AuditWorker(database, signer, origin=ORIGIN)
    await database.ping(timeout=30)
    t0 = time.perf_counter()
    total = await worker.sequence_pending()
    seconds = time.perf_counter() - t0
    if total != expected:
        raise SystemExit(f"sequencer drained {total:,} events, expected {expected:,}")
    t0 = time.perf_counter()
    note = await worker.checkpoint()
    checkpoint_seconds = time.perf_counter() - t0
    if note is None:
        raise SystemExit("no checkpoint was signed")
    t0 = time.perf_counter()
    async with database.unit_of_work() as session:
        report = await verification.verify(session, signer.verifier(), origin=ORIGIN)
    verify_seconds = time.perf_counter() - t0
    await database.dispose()
    if not report.ok or report.leaves != expected or report.checkpoints != 1:
        raise SystemExit(f"verify FAILED: {report}")
    return DrainResult(total, seconds, verify_seconds, report.leaves, checkpoint_seconds)


# ------------------------------------------------------------------------------ pgbench

# The hot path's statement: one row, values as bind parameters (pgbench -D variables), the
# event_uid made server-side; the database fills occurred_at and txid as for the app.
PGBENCH_INSERT = (
    "INSERT INTO audit_event (event_uid, actor_type, actor_id, on_behalf_of, subject, action, "
    "fields, purpose, outcome, request_id, detail) VALUES (gen_random_uuid()::text, "
    ":actor_type, :actor_id, :behalf, lpad(CAST(:subject AS text), 12, '0'), :action, :fields, "
    ":purpose, :outcome, md5(random()::text), NULL);"
)
PGBENCH_VARIABLES = {
    "actor_type": "agency",
    "actor_id": "agency:tax-authority",
    "behalf": "official:4711",
    "action": "person.read",
    "fields": '["name.family","name.given"]',
    "purpose": "tax.assessment",
    "outcome": "granted",
}


def run_pgbench(
    cluster: PostgresCluster, db: str, per_tx: int, seconds: int, clients: int
) -> float:
    """tps of BEGIN; per_tx x the hot path's INSERT; COMMIT with ``clients`` clients."""
    lines = ["\\set subject random(1, 999999999999)", "BEGIN;"]
    lines += [PGBENCH_INSERT] * per_tx
    lines.append("COMMIT;")
    script = "\n".join(lines) + "\n"
    done = pgbench(cluster, db, script, clients=clients, seconds=seconds, defines=PGBENCH_VARIABLES)
    return done.tps


# ------------------------------------------------------------------------------ bulk load

EVENT_COPY_COLUMNS = ("id", *EVENT_FIELDS)
LOG_START = datetime(2025, 1, 1, tzinfo=UTC)


Profile = tuple[str, str, str | None, str, str, str | None, str, str | None]


def _profiles(rng: random.Random) -> list[Profile]:
    """4,096 (actor type, actor id, on behalf of, action, fields, purpose, outcome, detail)."""
    fields = [encode_fields(f) for f in FIELD_SETS]
    details = (
        [None] * 6
        + [encode_detail({"records": n}) for n in (1, 2, 3)]
        + [encode_detail({"matches": 12, "query": "name+birth_date"})]
    )
    out: list[Profile] = []
    for _ in range(4096):
        if rng.random() < 0.9:
            actor_type, actor_id = "agency", rng.choice(AGENCIES)
            behalf: str | None = f"official:{rng.randrange(5000)}"
        else:
            actor_type = rng.choice(("citizen", "official", "auditor"))
            actor_id, behalf = f"{actor_type}:{rng.randrange(10**12):012d}", None
        out.append(
            (
                actor_type,
                actor_id,
                behalf,
                rng.choice(ACTIONS),
                rng.choice(fields),
                rng.choice(PURPOSES),
                rng.choice(OUTCOMES),
                rng.choice(details),
            )
        )
    return out


def synthetic_chunk(first: int, end: int, seed: int) -> tuple[list[tuple[Any, ...]], list[bytes]]:
    """Events [first, end) with realistic values and their leaf hashes, as the sequencer makes."""
    rng = random.Random(seed)
    bits = rng.getrandbits
    profiles = _profiles(random.Random(0))
    events: list[tuple[Any, ...]] = []
    hashes: list[bytes] = []
    leaf_hash = merkle.leaf_hash
    for index in range(first, end):
        u = bits(128)
        h = f"{u:032x}"
        uid = f"{h[:8]}-{h[8:12]}-4{h[13:16]}-{'89ab'[u & 3]}{h[17:20]}-{h[20:]}"  # version 4
        # ~3.2 s apart on average: 10M events cover about a year.
        occurred = LOG_START + timedelta(microseconds=index * 3_153_600 + bits(20))
        actor_type, actor_id, behalf, action, fields, purpose, outcome, detail = profiles[bits(12)]
        subject = f"{bits(40) % 10**12:012d}"
        request_id = f"{bits(128):032x}"
        event = EventData(
            uid,
            occurred,
            actor_type,
            actor_id,
            behalf,
            subject,
            action,
            fields,
            purpose,
            outcome,
            request_id,
            detail,
        )
        hashes.append(leaf_hash(leaf_bytes(event, index)))
        events.append(
            (
                index + 1,
                uid,
                occurred,
                actor_type,
                actor_id,
                behalf,
                subject,
                action,
                fields,
                purpose,
                outcome,
                request_id,
                detail,
            )
        )
    return events, hashes


async def copy_backlog(dsn: str, events: int, per_tx: int = 50) -> None:
    """Commit ``events`` unsequenced events, ``per_tx`` per transaction, with COPY.

    As from the app, the database assigns id, occurred_at and txid (one txid per transaction).
    """
    conn = await asyncpg.connect(dsn)
    try:
        for first in range(0, events, LOAD_CHUNK):
            rows, _ = synthetic_chunk(first, min(first + LOAD_CHUNK, events), seed=10**6 + first)
            columns = EVENT_COPY_COLUMNS[1:2] + EVENT_COPY_COLUMNS[3:]  # not id, occurred_at
            for k in range(0, len(rows), per_tx):
                batch = [row[1:2] + row[3:] for row in rows[k : k + per_tx]]
                async with conn.transaction():
                    await conn.copy_records_to_table("audit_event", records=batch, columns=columns)
    finally:
        await conn.close()


async def _load_worker(dsn: str, chunks: list[tuple[int, int, int]], out: Queue[Any]) -> None:
    conn = await asyncpg.connect(dsn)
    # Bulk load only: skip the per-row foreign-key trigger of audit_leaf (as pg_restore does);
    # check_log() proves afterwards that every leaf points at a distinct existing event.
    await conn.execute("SET session_replication_role = replica")
    try:
        for number, first, end in chunks:
            events, hashes = synthetic_chunk(first, end, seed=number)
            leaves = [(first + i, first + i + 1, h) for i, h in enumerate(hashes)]
            async with conn.transaction():
                await conn.copy_records_to_table(
                    "audit_event", records=events, columns=EVENT_COPY_COLUMNS
                )
                await conn.copy_records_to_table(
                    "audit_leaf", records=leaves, columns=("leaf_index", "event_id", "leaf_hash")
                )
            out.put((number, b"".join(hashes)))
    finally:
        await conn.close()


def load_worker_process(dsn: str, chunks: list[tuple[int, int, int]], out: Queue[Any]) -> None:
    """Generate and COPY events and leaves of the given chunks; send the leaf hashes back."""
    run_async(_load_worker(dsn, chunks, out))


@dataclass(frozen=True)
class LoadTime:
    """How long one bulk-load stage took, and where."""

    size: int
    total: float
    copy: float  # generate + COPY events, leaves, nodes
    indexes: float  # rebuild the secondary indexes of audit_event
    vacuum: float  # VACUUM (ANALYZE)


@dataclass
class Log:
    """A synthetic log being built: its right frontier lives here between stages."""

    url: str
    dsn: str
    compact: merkle.CompactRange
    signer: Signer
    loads: list[LoadTime] = field(default_factory=list)


INDEX_DEFS = """
SELECT indexname, indexdef FROM pg_indexes
 WHERE schemaname = current_schema() AND tablename = 'audit_event' ORDER BY indexname
"""


async def drop_secondary_indexes(conn: Any) -> list[str]:
    """Drop audit_event's unique constraint and indexes but the primary key; return the DDL
    that recreates them exactly (building an index once is far cheaper than 10M inserts)."""
    constraints = await conn.fetch(
        "SELECT conname, pg_get_constraintdef(oid) AS def FROM pg_constraint "
        "WHERE conrelid = 'audit_event'::regclass AND contype = 'u'"
    )
    primary = await conn.fetchval(
        "SELECT conname FROM pg_constraint WHERE conrelid = 'audit_event'::regclass "
        "AND contype = 'p'"
    )
    owned = {r["conname"] for r in constraints} | {primary}
    indexes = [r for r in await conn.fetch(INDEX_DEFS) if r["indexname"] not in owned]
    recreate = [
        f'ALTER TABLE audit_event ADD CONSTRAINT "{r["conname"]}" {r["def"]}' for r in constraints
    ] + [r["indexdef"] for r in indexes]
    for r in constraints:
        await conn.execute(f'ALTER TABLE audit_event DROP CONSTRAINT "{r["conname"]}"')
    for r in indexes:
        await conn.execute(f'DROP INDEX "{r["indexname"]}"')
    return recreate


async def _copy_nodes(conn: Any, nodes: list[tuple[int, int, bytes]]) -> None:
    rows = [n for n in nodes if n[0] > 0]
    if rows:
        await conn.copy_records_to_table(
            "audit_node", records=rows, columns=("level", "idx", "hash")
        )


async def _grow(log: Log, size: int) -> float:
    """Append synthetic events until the log has ``size`` leaves; batch row and checkpoint."""
    t0 = time.perf_counter()
    first = log.compact.size
    # (chunk number, first index, end index); the number seeds the chunk's generator.
    chunks = [
        (a // LOAD_CHUNK, a, min(a + LOAD_CHUNK, size)) for a in range(first, size, LOAD_CHUNK)
    ]
    ctx = mp.get_context("spawn")
    queues: list[Queue[Any]] = [ctx.Queue(maxsize=3) for _ in range(LOAD_WORKERS)]
    procs = [
        ctx.Process(target=load_worker_process, args=(log.dsn, chunks[w::LOAD_WORKERS], queues[w]))
        for w in range(LOAD_WORKERS)
    ]
    conn = await asyncpg.connect(log.dsn)
    before = [tuple(r) for r in await conn.fetch(INDEX_DEFS)]
    recreate = await drop_secondary_indexes(conn)
    for proc in procs:
        proc.start()
    try:
        for k, (number, a, b) in enumerate(chunks):
            while True:
                try:
                    got, blob = queues[k % LOAD_WORKERS].get(timeout=5)
                    break
                except Exception:  # queue.Empty
                    if procs[k % LOAD_WORKERS].exitcode not in (None, 0):
                        raise RuntimeError("a bulk-load worker failed") from None
            if got != number or len(blob) != 32 * (b - a):
                raise RuntimeError(f"bulk load out of order: chunk {got}, wanted {number}")
            hashes = [blob[i : i + 32] for i in range(0, len(blob), 32)]
            log.compact, nodes = log.compact.append(hashes)
            await _copy_nodes(conn, nodes)
        for proc in procs:
            proc.join(timeout=120)
            if proc.exitcode != 0:
                raise RuntimeError(f"bulk-load worker exit {proc.exitcode}")
        t1 = time.perf_counter()
        await conn.execute("SET maintenance_work_mem = '1GB'")
        for statement in recreate:
            await conn.execute(statement)
        if [tuple(r) for r in await conn.fetch(INDEX_DEFS)] != before:
            raise SystemExit("audit_event's indexes differ after the bulk load")
        t2 = time.perf_counter()
        last = await conn.fetchrow(
            "SELECT txid, id FROM audit_event ORDER BY txid DESC, id DESC LIMIT 1"
        )
        await conn.execute(
            "INSERT INTO audit_batch (first_leaf, tree_size, cursor_txid, cursor_event) "
            "VALUES ($1, $2, $3, $4)",
            first,
            size,
            last["txid"],
            last["id"],
        )
        await conn.execute("SELECT setval(pg_get_serial_sequence('audit_event', 'id'), $1)", size)
        t3 = time.perf_counter()
        await conn.execute("VACUUM (ANALYZE) audit_event, audit_leaf, audit_node, audit_batch")
        t4 = time.perf_counter()
    finally:
        await conn.close()
        for proc in procs:
            if proc.is_alive():
                proc.terminate()
                proc.join()
    database = Database(settings_for(log.url, pool=2))
    try:
        async with database.unit_of_work() as session:
            note = await make_checkpoint(session, log.signer, origin=ORIGIN)
            tree = await tree_head(session)
    finally:
        await database.dispose()
    if note is None or tree != (size, log.compact.root()):
        raise SystemExit("the bulk-loaded log's stored frontier does not give the expected root")
    seconds = time.perf_counter() - t0
    log.loads.append(LoadTime(size, seconds, t1 - t0, t2 - t1, t4 - t3))
    return seconds


# ------------------------------------------------------------------------------ proofs

RAW_LEAF = """
SELECT l.leaf_index, l.leaf_hash, e.event_uid, e.occurred_at, e.actor_type, e.actor_id,
       e.on_behalf_of, e.subject, e.action, e.fields, e.purpose, e.outcome, e.request_id, e.detail
  FROM audit_event e JOIN audit_leaf l ON l.event_id = e.id
 WHERE e.event_uid = $1
"""
RAW_NODES = """
SELECT 0::smallint AS level, leaf_index AS idx, leaf_hash AS hash
  FROM audit_leaf WHERE leaf_index = ANY($1::bigint[])
UNION ALL
SELECT n.level, n.idx, n.hash
  FROM audit_node n JOIN unnest($2::smallint[], $3::bigint[]) AS w(level, idx)
    ON n.level = w.level AND n.idx = w.idx
"""


@dataclass
class ProofResult:
    """Latencies of inclusion_proof() and of the raw asyncpg floor, at one tree size."""

    size: int
    ours_ms: list[float]
    raw_ms: list[float]
    checked: int

    @staticmethod
    def _stats(values: list[float]) -> tuple[float, float, float]:
        ordered = sorted(values)
        return percentile(ordered, 50), percentile(ordered, 99), ordered[-1]

    @property
    def ours(self) -> tuple[float, float, float]:
        """p50, p99, max in ms."""
        return self._stats(self.ours_ms)

    @property
    def raw(self) -> tuple[float, float, float]:
        """p50, p99, max in ms."""
        return self._stats(self.raw_ms)


async def measure_proofs(log: Log, count: int) -> ProofResult:
    """Time inclusion_proof() and the raw floor over disjoint random events; check each proof."""
    size = log.compact.size
    rng = random.Random(size)
    picks = rng.sample(range(size), 2 * (count + PROOF_WARMUP))
    conn = await asyncpg.connect(log.dsn)
    rows = await conn.fetch(
        "SELECT l.leaf_index, e.event_uid FROM audit_leaf l JOIN audit_event e "
        "ON e.id = l.event_id WHERE l.leaf_index = ANY($1::bigint[])",
        picks,
    )
    uid_of = {int(r["leaf_index"]): str(r["event_uid"]) for r in rows}
    uids = [uid_of[i] for i in picks]
    ours_uids, raw_uids = uids[: len(uids) // 2], uids[len(uids) // 2 :]
    leaf_stmt = await conn.prepare(RAW_LEAF)
    nodes_stmt = await conn.prepare(RAW_NODES)

    database = Database(settings_for(log.url, pool=2))
    proofs: list[dict[str, Any]] = []

    async def ours(uid: str) -> float:
        t0 = time.perf_counter()
        async with database.unit_of_work() as session:
            proof = await inclusion_proof(session, uid)
        elapsed = time.perf_counter() - t0
        proofs.append(proof)
        return elapsed

    raw_paths: list[tuple[str, list[bytes]]] = []

    async def raw(uid: str) -> float:
        t0 = time.perf_counter()
        leaf = await leaf_stmt.fetchrow(uid)
        plan = merkle.inclusion_nodes(int(leaf["leaf_index"]), size)
        leaf_ids = [i for lv, i in plan.ids if lv == 0]
        node_levels = [lv for lv, _ in plan.ids if lv > 0]
        node_idx = [i for lv, i in plan.ids if lv > 0]
        found = await nodes_stmt.fetch(leaf_ids, node_levels, node_idx)
        elapsed = time.perf_counter() - t0
        by_id = {(int(r["level"]), int(r["idx"])): bytes(r["hash"]) for r in found}
        raw_paths.append((uid, plan.assemble([by_id[i] for i in plan.ids])))
        return elapsed

    try:
        for i in range(PROOF_WARMUP):
            await ours(ours_uids[i])
            await raw(raw_uids[i])
        proofs.clear()
        raw_paths.clear()
        ours_ms: list[float] = []
        raw_ms: list[float] = []
        for i in range(PROOF_WARMUP, PROOF_WARMUP + count):
            ours_ms.append(await ours(ours_uids[i]) * 1000)
            raw_ms.append(await raw(raw_uids[i]) * 1000)
        # The raw floor must fetch the same data: compare its path with the service's.
        async with database.unit_of_work() as session:
            for uid, path in raw_paths[:50]:
                expected = (await inclusion_proof(session, uid))["proof"]
                if [b64(h) for h in path] != expected:
                    raise SystemExit("the raw asyncpg floor assembled a different proof")
    finally:
        await database.dispose()
        await conn.close()
    verifier = log.signer.verifier()
    for proof in proofs:
        checkpoint = check_inclusion(proof, verifier, origin=ORIGIN)
        if checkpoint.size != size:
            raise SystemExit(f"a proof was against tree size {checkpoint.size}, not {size}")
    return ProofResult(size, ours_ms, raw_ms, len(proofs))


# ------------------------------------------------------------------------------ main


# ------------------------------------------------------------------------------ verify at size


@dataclass(frozen=True)
class VerifyRun:
    """verification.verify() over a bulk-loaded log, and PostgreSQL handing out the same rows."""

    size: int
    seconds: float
    cpu_seconds: float  # this process (asyncpg, the C loop, the tree)
    native: bool
    floor_seconds: float  # psql: COPY of the same rows to /dev/null, nothing else done

    @property
    def rate(self) -> float:
        return self.size / self.seconds

    @property
    def floor_rate(self) -> float:
        return self.size / self.floor_seconds


async def verify_log(log: Log, size: int) -> tuple[float, float]:
    """Wall and CPU seconds of verification.verify() over the whole log; it must find it intact."""
    database = Database(settings_for(log.url, pool=2))
    try:
        t0, c0 = time.perf_counter(), time.process_time()
        async with database.unit_of_work() as session:
            report = await verification.verify(session, log.signer.verifier(), origin=ORIGIN)
        seconds, cpu = time.perf_counter() - t0, time.process_time() - c0
    finally:
        await database.dispose()
    if not report.ok or report.leaves != size or not report.checkpoints:
        raise SystemExit(f"verify FAILED at {size:,} leaves: {report}")
    return seconds, cpu


async def _chunk_bounds(dsn: str, size: int) -> list[tuple[int, int, int, int]]:
    """(begin, end, lowest event id, highest) of each chunk of leaves verify copies."""
    conn = await asyncpg.connect(dsn)
    try:
        out = []
        for begin in range(0, size, tree_repo.LEAF_CHUNK):
            end = min(size, begin + tree_repo.LEAF_CHUNK)
            _, low, high = await conn.fetchrow(tree_repo.LEAF_BOUNDS_SQL, begin, end)
            out.append((begin, end, int(low), int(high)))
        return out
    finally:
        await conn.close()


def copy_floor(cluster: PostgresCluster, dsn: str, size: int) -> float:
    """Seconds for psql to receive the rows verify reads, the same statements by binary COPY
    into /dev/null (each chunk's leaves, then the events they name), the chunks dealt out to
    as many connections as verify uses: what PostgreSQL alone needs to hand them out, the
    ceiling of any verifier that reads them through SQL this way."""
    psql = cluster.bindir / "psql"
    streams = tree_repo.LEAF_STREAMS
    scripts: list[list[str]] = [["SET jit = off;"] for _ in range(streams)]
    for k, (begin, end, low, high) in enumerate(run_async(_chunk_bounds(dsn, size))):
        for sql in (
            tree_repo.LEAVES_COPY_SQL.format(begin=begin, end=end),
            tree_repo.EVENTS_COPY_SQL.format(low=low, high=high),
        ):
            scripts[k % streams].append(
                f"\\copy ({' '.join(sql.split())}) TO '/dev/null' (FORMAT binary)"
            )
    directory = Path(tempfile.mkdtemp(prefix="bench-audit-floor-"))
    commands = []
    for k, lines in enumerate(scripts):
        path = directory / f"stream{k}.sql"
        path.write_text("\n".join(lines) + "\n")
        commands.append(
            [
                str(psql) if psql.exists() else "psql",
                dsn,
                "-X",
                "-q",
                "-v",
                "ON_ERROR_STOP=1",
                "-f",
                str(path),
            ]
        )
    t0 = time.perf_counter()
    procs = [subprocess.Popen(c, stdout=subprocess.DEVNULL) for c in commands]  # noqa: S603
    codes = [p.wait() for p in procs]
    seconds = time.perf_counter() - t0
    shutil.rmtree(directory, ignore_errors=True)
    if any(codes):
        raise SystemExit(f"psql COPY floor failed: exit codes {codes}")
    return seconds


def measure_verify(cluster: PostgresCluster, log: Log, size: int) -> VerifyRun:
    """Verify twice (the first warms the cache, as the floor's run then finds it), keep the
    second; then the floor."""
    run_async(verify_log(log, size))
    seconds, cpu = run_async(verify_log(log, size))
    floor = copy_floor(cluster, log.dsn, size)
    return VerifyRun(size, seconds, cpu, verification.NATIVE_VERIFY, floor)


def fmt_size(n: int) -> str:
    """1M, 10M, 100k."""
    return f"{n // 1_000_000}M" if n % 1_000_000 == 0 else f"{n // 1000}k"


def main(argv: list[str] | None = None) -> None:
    """Run every part on one throwaway cluster and print the tables and the JSON line."""
    parser = argparse.ArgumentParser(prog="bench audit")
    report.add_scale_options(parser, "smaller runs; proofs at 100k and 1M leaves")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    scale = report.pick_scale(args, full=FULL, quick=QUICK, tiny=TINY)
    timings: list[tuple[str, float]] = []
    began = time.perf_counter()
    # Other work on this machine skews every figure: say how busy it was.
    load_start = os.getloadavg()[0]
    console.print(f"{os.cpu_count()} CPUs, 1-minute load average at start {load_start:.2f}")
    cluster = timed("start PostgreSQL and migrate", timings, start_template)
    try:
        results = _run_parts(cluster, scale, timings)
    finally:
        cluster.pg.cleanup()
    total = time.perf_counter() - began
    _report(scale, results, timings, total, (load_start, os.getloadavg()[0]))


@dataclass
class Results:
    """Everything measured."""

    e2e_1: WriteRun
    e2e_50: WriteRun
    record_1: WriteRun
    record_50: WriteRun
    drain: DrainResult
    pgbench_1: float
    pgbench_50: float
    proofs: list[ProofResult]
    verifies: list[VerifyRun]
    loads: list[LoadTime]
    checks: list[str]


def _run_parts(cluster: Cluster, scale: Scale, timings: list[tuple[str, float]]) -> Results:
    checks: list[str] = []

    def e2e(events: int, per_tx: int) -> WriteRun:
        url, dsn = cluster.fresh(f"e2e{per_tx}")
        run = run_writers(url, events, per_tx, processes=scale.writer_procs, with_sequencer=True)
        check = run_async(check_log(dsn))
        require_valid(check, run.events)
        checks.append(f"e2e {per_tx}/tx: {check.text()}")
        cluster.drop(dsn)
        return run

    e2e_1 = timed(
        f"writers + sequencer, 1 event/tx, {scale.e2e_1:,} events",
        timings,
        lambda: e2e(scale.e2e_1, 1),
    )
    e2e_50 = timed(
        f"writers + sequencer, 50 events/tx, {scale.e2e_50:,} events",
        timings,
        lambda: e2e(scale.e2e_50, 50),
    )

    def record_only(events: int, per_tx: int) -> WriteRun:
        url, dsn = cluster.fresh(f"rec{per_tx}")
        run = run_writers(url, events, per_tx, processes=scale.writer_procs, with_sequencer=False)
        cluster.drop(dsn)
        return run

    record_1 = timed(
        f"writers only, 1 event/tx, {scale.record_1:,} events",
        timings,
        lambda: record_only(scale.record_1, 1),
    )
    record_50 = timed(
        f"writers only, 50 events/tx, {scale.record_50:,} events",
        timings,
        lambda: record_only(scale.record_50, 50),
    )
    url, dsn = cluster.fresh("drain")
    timed(
        f"backlog: {scale.backlog:,} events committed 50 per transaction (COPY)",
        timings,
        lambda: run_async(copy_backlog(dsn, scale.backlog)),
    )
    drain = timed(
        "sequencer drain, checkpoint, verify",
        timings,
        lambda: run_async(drain_and_verify(url, scale.backlog)),
    )
    check = run_async(check_log(dsn))
    require_valid(check, scale.backlog)
    checks.append(f"drained backlog: {check.text()}")
    cluster.drop(dsn)

    def pgbench(per_tx: int) -> float:
        _, pdsn = cluster.fresh(f"pgbench{per_tx}")
        tps = run_pgbench(
            cluster.pg, pdsn.rsplit("/", 1)[1], per_tx, scale.pgbench_seconds, scale.clients
        )
        cluster.drop(pdsn)
        return tps

    pgbench_1 = timed("pgbench, 1 INSERT/tx", timings, lambda: pgbench(1))
    pgbench_50 = timed("pgbench, 50 INSERTs/tx", timings, lambda: pgbench(50))

    url, dsn = cluster.fresh("proofs")
    log = Log(url, dsn, merkle.CompactRange(), Signer.generate(ORIGIN))
    proofs: list[ProofResult] = []
    verifies: list[VerifyRun] = []
    for size in scale.proof_sizes:

        def grow(size: int = size) -> float:
            return run_async(_grow(log, size))

        timed(f"bulk load to {fmt_size(size)} leaves (COPY)", timings, grow)
        check = run_async(check_log(dsn))
        require_valid(check, size)
        checks.append(f"bulk {fmt_size(size)}: {check.text()}")
        proofs.append(
            timed(
                f"inclusion proofs at {fmt_size(size)}",
                timings,
                lambda: run_async(measure_proofs(log, scale.proofs)),
            )
        )

        def verify(size: int = size) -> VerifyRun:
            return measure_verify(cluster.pg, log, size)

        verifies.append(
            timed(f"verify at {fmt_size(size)} leaves, and the COPY floor", timings, verify)
        )
    return Results(
        e2e_1,
        e2e_50,
        record_1,
        record_50,
        drain,
        pgbench_1,
        pgbench_50,
        proofs,
        verifies,
        log.loads,
        checks,
    )


def _ms(x: float) -> str:
    return f"{x:.2f}"


def _report(
    scale: Scale,
    r: Results,
    timings: list[tuple[str, float]],
    total: float,
    load: tuple[float, float],
) -> None:
    drain_rate = r.drain.events / r.drain.seconds
    # The verify target is judged on the largest log (the 200k backlog is mostly fixed costs).
    verify_rate = (
        r.verifies[-1].rate if r.verifies else r.drain.verify_leaves / r.drain.verify_seconds
    )
    pg_1 = r.pgbench_1
    pg_50 = r.pgbench_50 * 50

    def ratio(a: float | None, b: float) -> float | None:
        return None if a is None or not b else round(a / b, 3)

    def tail(run: WriteRun) -> str:
        return f"{(run.e2e_seconds or 0) - run.record_seconds:.2f}"

    runs = [("1/tx + seq", r.e2e_1), ("50/tx + seq", r.e2e_50)]
    runs += [("1/tx alone", r.record_1), ("50/tx alone", r.record_50)]
    report.columns_table(
        f"record() + sequencer: {scale.clients} clients ({scale.writer_procs} processes x "
        f"{TASKS_PER_PROC} "
        f"tasks), AuditWorker in its own process ({scale.name})",
        [
            ("run", lambda run: run[0]),
            ("events", lambda run: run[1].events),
            ("record ev/s", lambda run: run[1].record_rate),
            ("tx p50 ms", lambda run: _ms(run[1].tx_p50_ms)),
            ("tx p99 ms", lambda run: _ms(run[1].tx_p99_ms)),
            ("e2e ev/s", lambda run: run[1].e2e_rate or "-"),
            ("tail s", lambda run: "-" if run[1].e2e_seconds is None else tail(run[1])),
        ],
        runs,
    )
    console.print(
        "e2e ev/s: events recorded and sequenced per second (first insert until the last event "
        "has a leaf); tail s: how long after the last commit the sequencer finished."
    )
    table(
        f"Peer: pgbench -M prepared, the same single-row INSERT, {scale.clients} clients "
        "(no sequencer)",
        ["events/tx", "record() ev/s", "pgbench ev/s", "ours/pgbench"],
        [
            [1, r.record_1.record_rate, pg_1, f"{r.record_1.record_rate / pg_1:.3f}"],
            [50, r.record_50.record_rate, pg_50, f"{r.record_50.record_rate / pg_50:.3f}"],
        ],
    )
    table(
        "Sequencer drain (pre-recorded backlog) and verify",
        ["what", "events", "seconds", "events/s"],
        [
            ["AuditWorker.sequence_pending()", r.drain.events, r.drain.seconds, drain_rate],
            ["service.verify(), 1 checkpoint", r.drain.verify_leaves, r.drain.verify_seconds]
            + [verify_rate],
        ],
    )
    report.columns_table(
        "Verify over the bulk-loaded logs (1 checkpoint), next to PostgreSQL alone handing out "
        f"the same rows (psql, binary COPY to /dev/null, {tree_repo.LEAF_STREAMS} connections as "
        "verify)",
        [
            ("leaves", lambda v: fmt_size(v.size)),
            ("verify s", lambda v: v.seconds),
            ("verify ev/s", lambda v: v.rate),
            ("our CPU s", lambda v: v.cpu_seconds),
            ("C loop", lambda v: "yes" if v.native else "NO"),
            ("floor s", lambda v: v.floor_seconds),
            ("floor rows/s", lambda v: v.floor_rate),
            ("verify/floor", lambda v: f"{v.rate / v.floor_rate:.3f}"),
        ],
        r.verifies,
    )
    console.print(
        "floor: PostgreSQL alone sending the rows verify reads (its statements, chunk by chunk, "
        "on as many connections), received by psql into /dev/null: no hashing, no tree."
    )
    proof_rows: list[list[Any]] = []
    for p in r.proofs:
        size = fmt_size(p.size)
        proof_rows.append([f"{size} inclusion_proof()", p.checked, *map(_ms, p.ours)])
        proof_rows.append([f"{size} raw asyncpg floor", len(p.raw_ms), *map(_ms, p.raw)])
    table(
        "Inclusion proofs, ms (random events; every proof checked with check_inclusion)",
        ["tree / what", "proofs", "p50", "p99", "max"],
        proof_rows,
    )
    console.print(
        "raw asyncpg floor: 2 prepared queries on one connection (event + leaf by event_uid, "
        "then the proof's node rows), no session, no transaction."
    )
    table(
        "Synthetic log bulk load (COPY, 2 generator processes; leaf_bytes() for every event)",
        ["to size", "seconds", "gen+COPY", "indexes", "VACUUM", "events/s"],
        [
            [fmt_size(x.size), x.total, x.copy, x.indexes, x.vacuum, (x.size - before) / x.total]
            for x, before in zip(r.loads, [0] + [x.size for x in r.loads], strict=False)
        ],
    )
    target_rows: list[tuple[str, Any, str, bool | str]] = [
        (
            "sequencer drain ev/s",
            drain_rate,
            f">= {TARGET_SEQUENCER:,.0f}",
            drain_rate >= TARGET_SEQUENCER,
        ),
        ("verify ev/s", verify_rate, f">= {TARGET_VERIFY:,.0f}", verify_rate >= TARGET_VERIFY),
    ]
    target_rows += [
        (
            f"proof p99 ms at {fmt_size(p.size)}",
            _ms(p.ours[1]),
            f"< {TARGET_PROOF_P99_MS:g}",
            p.ours[1] < TARGET_PROOF_P99_MS,
        )
        for p in r.proofs
    ]
    report.targets_table("Targets", target_rows)
    report.timings_table(timings, total, load)
    for line in r.checks:
        console.print(line)

    def r3(x: float | None) -> float | None:
        return None if x is None else round(x, 3)

    figures: dict[str, Any] = {
        "scale": scale.name,
        "clients": scale.clients,
        "cpus": os.cpu_count(),
        "loadavg_1m_start_end": [round(load[0], 2), round(load[1], 2)],
        "total_seconds": round(total, 1),
        "e2e_events_per_s_1_per_tx": r3(r.e2e_1.e2e_rate),
        "e2e_events_per_s_50_per_tx": r3(r.e2e_50.e2e_rate),
        "record_events_per_s_1_per_tx_with_sequencer": r3(r.e2e_1.record_rate),
        "record_events_per_s_50_per_tx_with_sequencer": r3(r.e2e_50.record_rate),
        "record_events_per_s_1_per_tx": r3(r.record_1.record_rate),
        "record_events_per_s_50_per_tx": r3(r.record_50.record_rate),
        "sequencer_busy_seconds_during_e2e": [
            r3(r.e2e_1.sequencer_busy),
            r3(r.e2e_50.sequencer_busy),
        ],
        "tx_p99_ms_1_per_tx": r3(r.record_1.tx_p99_ms),
        "tx_p99_ms_50_per_tx": r3(r.record_50.tx_p99_ms),
        "sequencer_drain_events_per_s": r3(drain_rate),
        "sequencer_drain_events": r.drain.events,
        "verify_events_per_s": r3(verify_rate),
        "verify_backlog_events_per_s": r3(r.drain.verify_leaves / r.drain.verify_seconds),
        "verify_backlog_events": r.drain.verify_leaves,
        "logs_gapless_one_leaf_each": True,  # require_valid() stops the run otherwise
    }
    peer: dict[str, Any] = {
        "name": f"pgbench -M prepared -c {scale.clients} (same INSERT); raw asyncpg proof queries",
        "pgbench_tps_1_insert_per_tx": r3(pg_1),
        "pgbench_events_per_s_50_inserts_per_tx": r3(pg_50),
    }
    ratios: dict[str, Any] = {
        "record_1_per_tx_vs_pgbench": ratio(r.record_1.record_rate, pg_1),
        "record_50_per_tx_vs_pgbench": ratio(r.record_50.record_rate, pg_50),
    }
    proof_targets: dict[str, Any] = {}
    for p in r.proofs:
        key = fmt_size(p.size)
        o, w = p.ours, p.raw
        figures[f"proof_{key}_ms"] = {"p50": r3(o[0]), "p99": r3(o[1]), "max": r3(o[2])}
        peer[f"raw_proof_{key}_ms"] = {"p50": r3(w[0]), "p99": r3(w[1]), "max": r3(w[2])}
        ratios[f"proof_{key}_p50_vs_raw"] = ratio(o[0], w[0])
        ratios[f"proof_{key}_p99_vs_raw"] = ratio(o[1], w[1])
        proof_targets[key] = {"measured": r3(o[1]), "met": o[1] < TARGET_PROOF_P99_MS}
    for v in r.verifies:
        key = fmt_size(v.size)
        figures[f"verify_{key}"] = {
            "seconds": r3(v.seconds),
            "events_per_s": r3(v.rate),
            "cpu_seconds": r3(v.cpu_seconds),
            "native": v.native,
        }
        peer[f"copy_floor_{key}"] = {"seconds": r3(v.floor_seconds), "rows_per_s": r3(v.floor_rate)}
        ratios[f"verify_{key}_vs_copy_floor"] = ratio(v.rate, v.floor_rate)
    for x in r.loads:
        figures[f"load_seconds_to_{fmt_size(x.size)}"] = {
            "total": round(x.total, 1),
            "gen_copy": round(x.copy, 1),
            "indexes": round(x.indexes, 1),
            "vacuum": round(x.vacuum, 1),
        }
    targets = {
        "sequencer_events_per_s": {
            "target": f">= {TARGET_SEQUENCER:.0f}",
            "measured": r3(drain_rate),
            "met": drain_rate >= TARGET_SEQUENCER,
        },
        "verify_events_per_s": {
            "target": f">= {TARGET_VERIFY:.0f}",
            "measured": r3(verify_rate),
            "met": verify_rate >= TARGET_VERIFY,
        },
        "proof_p99_ms": {"target": f"< {TARGET_PROOF_P99_MS:g}", **proof_targets},
    }
    emit("audit", figures=figures, peer=peer, ratio=ratios, targets=targets)


if __name__ == "__main__":
    main()
