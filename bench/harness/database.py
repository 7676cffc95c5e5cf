"""The throwaway PostgreSQL of a bench (tests/pgcluster.py: fsync, synchronous_commit and
full_page_writes off, for ours and the peer alike), its databases, and pgbench."""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import asyncpg

from bench.harness.report import run_async
from tests.pgcluster import PostgresCluster

# For bulk loads: fewer checkpoints, faster index builds.
BULK_SETTINGS = {
    "max_wal_size": "16GB",
    "checkpoint_timeout": "30min",
    "maintenance_work_mem": "512MB",
}


def start_cluster(*, statements: str = "", bulk: bool = False) -> PostgresCluster:
    """initdb and start; ``statements`` ("top" or "all"): pg_stat_statements loaded and
    tracking those statements (what each request ran); ``bulk``: BULK_SETTINGS."""
    settings = dict(BULK_SETTINGS) if bulk else {}
    if statements:
        settings["shared_preload_libraries"] = "pg_stat_statements"
        settings["pg_stat_statements.track"] = statements
        settings["pg_stat_statements.max"] = "10000"
    return PostgresCluster(extra_settings=settings).start()


def migrated_database(
    cluster: PostgresCluster, name: str, *, statements: bool = False
) -> tuple[str, str]:
    """A new database at the head revision: (SQLAlchemy URL, DSN)."""
    import migrations

    run_async(admin(cluster.dsn(), f'CREATE DATABASE "{name}"'))
    url, dsn = cluster.url(name), cluster.dsn(name)
    migrations.upgrade(url)
    if statements:
        run_async(admin(dsn, "CREATE EXTENSION IF NOT EXISTS pg_stat_statements"))
    return url, dsn


async def admin(dsn: str, *statements: str) -> None:
    """Run statements one by one outside a transaction (CREATE DATABASE, VACUUM)."""
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


async def fetchval(dsn: str, sql: str, *args: Any) -> Any:
    """One value, on a connection of its own."""
    conn = await asyncpg.connect(dsn)
    try:
        return await conn.fetchval(sql, *args)
    finally:
        await conn.close()


def postmaster_pid(cluster: PostgresCluster) -> int:
    """The postmaster's pid, from postmaster.pid."""
    return int((cluster.datadir / "postmaster.pid").read_text().split()[0])


def pgbench_binary(cluster: PostgresCluster) -> str:
    """pgbench from the cluster's bindir, else from PATH."""
    candidate = cluster.bindir / "pgbench"
    if candidate.exists():
        return str(candidate)
    return shutil.which("pgbench") or "/usr/bin/pgbench"


@dataclass(frozen=True)
class PgbenchOutput:
    """What pgbench printed, parsed; ``logs``: the lines of its -l transaction logs."""

    tps: float
    latency_ms: float
    transactions: int
    logs: list[str]


def pgbench(
    cluster: PostgresCluster,
    database: str,
    script: str,
    *,
    clients: int,
    seconds: int,
    defines: dict[str, str],
    options: Sequence[str] = (),
) -> PgbenchOutput:
    """pgbench -n -M prepared -c CLIENTS -j 2 -T SECONDS with the script and -D variables;
    ``options`` such as -R RATE and -l (the transaction logs are read back). Fails on any
    failed transaction."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "script.sql"
        path.write_text(script, encoding="utf-8")
        command = [pgbench_binary(cluster), *"-n -M prepared -j 2 -h 127.0.0.1 -U postgres".split()]
        command += ["-p", str(cluster.port), "-c", str(clients), "-T", str(seconds), *options]
        if "-l" in options:
            command.append(f"--log-prefix={Path(tmp) / 'tx'}")
        command += ["-f", str(path)]
        command += [*(f"-D{k}={v}" for k, v in defines.items()), database]
        done = subprocess.run(command, capture_output=True, text=True, check=False)
        logs = [line for log in Path(tmp).glob("tx.*") for line in log.read_text().splitlines()]
    out = done.stdout
    tps = re.search(r"tps = ([\d.]+) \(without initial connection time\)", out)
    latency = re.search(r"latency average = ([\d.]+) ms", out)
    processed = re.search(r"number of transactions actually processed: (\d+)", out)
    failed = re.search(r"number of failed transactions: (\d+)", out)
    if done.returncode != 0 or tps is None or processed is None or (failed and int(failed[1])):
        raise RuntimeError(f"pgbench failed ({done.returncode}):\n{out}\n{done.stderr}")
    return PgbenchOutput(
        float(tps[1]), float(latency[1]) if latency else float("nan"), int(processed[1]), logs
    )
