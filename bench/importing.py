"""Import benchmark: `registry import` of N generated rows vs a raw COPY of the same file.

Both load into a throwaway PostgreSQL started here. The peer is PostgreSQL's own COPY of the same
CSV into a bare table of text columns (no validation, no indexes): the floor of any import. Our
import runs as the real CLI in a subprocess so its peak memory (max RSS) can be read; it is run at
two sizes to show whether memory grows with the file. Then the rerun and kill-and-resume checks
of the issue are made and printed.

Into an empty table (a country's first load, as here) the import builds citizen's secondary
indexes once at its end; the quarter-size file is then imported again into the loaded table,
where they are kept up row by row, and that rate is printed too.

This machine's speed moves from one minute to the next (docs/performance.md, "How the figures
were taken"), so the full import and the peer are each timed RUNS times, alternating, and their
medians are compared; every time is printed.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import asyncpg

from bench.harness.database import admin, fetchval, migrated_database
from bench.harness.probes import tree_rss_kb
from bench.harness.report import add_scale_options, console, emit, pick_scale, table
from registry.record import COLUMNS
from registry.synthetic import write
from tests.pgcluster import PostgresCluster

RUNS = 3  # timed runs of the full import and of the peer, alternating (--runs)


def run_import(url: str, path: Path, *, key_file: Path) -> tuple[float, float, float, str]:
    """Run the CLI import; return (seconds, peak RSS MB of that process, peak RSS MB of it and
    its worker processes together, its last output)."""
    env = {
        **os.environ,
        "REGISTRY_DATABASE_URL": url,
        "REGISTRY_AUDIT_SIGNING_KEY_FILE": str(key_file),
        "COLUMNS": "120",
    }
    code = (
        "import resource, sys; from registry.cli import main; sys.argv = sys.argv[1:]\n"
        "try:\n    main()\nexcept SystemExit:\n    pass\n"
        "sys.stderr.write(f'\\nMAXRSS {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}\\n')"
    )
    started = time.perf_counter()
    proc = subprocess.Popen(
        [sys.executable, "-c", code, "registry", "import", str(path)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    peak_tree = 0
    sampling = threading.Event()

    def sample() -> None:
        nonlocal peak_tree
        while not sampling.wait(0.25):
            peak_tree = max(peak_tree, tree_rss_kb(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    _out, err = proc.communicate()
    seconds = time.perf_counter() - started
    sampling.set()
    sampler.join()
    if proc.returncode:
        raise subprocess.CalledProcessError(proc.returncode, proc.args, _out, err)
    rss_kb = int(err.rsplit("MAXRSS", 1)[1].split()[0])
    said = [line for line in err.rsplit("MAXRSS", 1)[0].splitlines() if line.strip()]
    return seconds, rss_kb / 1024, peak_tree / 1024, said[-1] if said else ""


async def raw_copy(cluster: PostgresCluster, path: Path) -> float:
    """Seconds for COPY of the same CSV into a bare table of text columns, in a database of its
    own that is dropped afterwards: its table would otherwise still be vacuumed and written out
    while ours loads, and the two would not start from the same quiet cluster."""
    conn = await asyncpg.connect(cluster.dsn())
    try:
        await conn.execute('CREATE DATABASE "peer"')
        peer = await asyncpg.connect(cluster.dsn("peer"))
        try:
            columns = ", ".join(f"{c} text" for c in COLUMNS)
            await peer.execute(f"CREATE TABLE raw_copy ({columns}); CHECKPOINT")
            started = time.perf_counter()
            with path.open("rb") as handle:
                await peer.copy_to_table("raw_copy", source=handle, format="csv", header=True)
            return time.perf_counter() - started
        finally:
            await peer.close()
    finally:
        await conn.execute('DROP DATABASE IF EXISTS "peer" WITH (FORCE)')
        await conn.close()


def scalar(dsn: str, sql: str) -> int:
    """One integer from the database."""
    return int(asyncio.run(fetchval(dsn, sql)))


def checkpoint(dsn: str) -> None:
    """Write out what earlier work left dirty, so the next timed load starts from quiet."""
    asyncio.run(admin(dsn, "CHECKPOINT"))


def kill_midway_then_resume(url: str, dsn: str, path: Path, key_file: Path, n: int) -> int:
    """Start an import, SIGKILL it partway, rerun it; return the citizens counted afterwards."""
    env = {
        **os.environ,
        "REGISTRY_DATABASE_URL": url,
        "REGISTRY_AUDIT_SIGNING_KEY_FILE": str(key_file),
    }
    proc = subprocess.Popen(
        [sys.executable, "-m", "registry.cli", "import", str(path)],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline:
        time.sleep(0.5)
        if scalar(dsn, "SELECT count(*) FROM citizen") >= n // 3:
            break
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = scalar(dsn, "SELECT count(*) FROM citizen")
    console.print(f"killed the import at {killed_at:,} of {n:,} rows; rerunning")
    subprocess.run(
        [sys.executable, "-m", "registry.cli", "import", str(path)],
        env=env,
        check=True,
        capture_output=True,
    )
    return scalar(dsn, "SELECT count(*) FROM citizen")


def main(argv: list[str] | None = None) -> None:
    """Generate, COPY, import (two sizes), rerun, kill and resume; print the comparison."""
    parser = argparse.ArgumentParser(prog="bench import")
    parser.add_argument("--rows", type=int, default=1_000_000)
    add_scale_options(parser, "100,000 rows")
    parser.add_argument("--runs", type=int, default=RUNS, help="timed runs of each (median)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    n, runs_of_each = pick_scale(
        args, full=(args.rows, args.runs), quick=(100_000, args.runs), tiny=(2_000, 1)
    )
    small = n // 4
    cluster = PostgresCluster().start()
    tmp = Path(tempfile.mkdtemp(prefix="bench-import-"))
    try:
        key_file = tmp / "key.pem"
        from audit.checkpoint import Signer

        key_file.write_bytes(Signer.generate("bench/audit").to_pem())
        started = time.perf_counter()
        big_file, small_file = tmp / "pop.csv", tmp / "pop-small.csv"
        write(n, seed=1, path=big_file, fmt="csv")
        write(small, seed=2, path=small_file, fmt="csv")
        generated = time.perf_counter() - started
        file_mb = big_file.stat().st_size / 1e6
        console.print(f"generated {n:,} + {small:,} rows in {generated:.1f} s")

        urls = {}
        ours_names = [f"ours{i}" for i in range(runs_of_each)]
        for name in ("small", "resume"):
            urls[name] = migrated_database(cluster, name)[0]
        # Each timed load starts from a checkpoint, as the peer's does: the one before it
        # leaves dirty buffers that would otherwise be written out during it.
        checkpoint(cluster.dsn())
        small_seconds, small_rss, small_tree, _ = run_import(
            urls["small"], small_file, key_file=key_file
        )
        # Vacuumed now, so that autovacuum does not do it during a timed load.
        asyncio.run(admin(cluster.dsn("small"), "VACUUM ANALYZE citizen"))
        copy_runs: list[float] = []
        runs: list[tuple[float, float, float, str]] = []
        for i, name in enumerate(ours_names):
            copy_runs.append(asyncio.run(raw_copy(cluster, big_file)))
            urls[name] = migrated_database(cluster, name)[0]
            checkpoint(cluster.dsn())
            runs.append(run_import(urls[name], big_file, key_file=key_file))
            console.print(f"peer {copy_runs[-1]:.2f} s, ours {runs[-1][0]:.2f} s")
            if i < len(ours_names) - 1:  # the last one is kept for the checks below
                asyncio.run(admin(cluster.dsn(), f'DROP DATABASE "{name}" WITH (FORCE)'))
        # (raw_copy starts each peer run from a checkpoint of its own; the checks below too.)
        checkpoint(cluster.dsn())
        copy_seconds = statistics.median(copy_runs)
        seconds = statistics.median(run[0] for run in runs)
        rss, tree = max(run[1] for run in runs), max(run[2] for run in runs)
        summary = runs[-1][3]
        urls["ours"] = urls[ours_names[-1]]
        dsn_ours = cluster.dsn(ours_names[-1])
        loaded = scalar(dsn_ours, "SELECT count(*) FROM citizen")
        rerun_seconds, _, _, rerun_summary = run_import(urls["ours"], big_file, key_file=key_file)
        after_rerun = scalar(dsn_ours, "SELECT count(*) FROM citizen")
        # The same quarter-size file again, into the loaded table: its indexes are kept up.
        more_seconds, _, _, _ = run_import(urls["ours"], small_file, key_file=key_file)
        more = scalar(dsn_ours, "SELECT count(*) FROM citizen") - n
        resumed = kill_midway_then_resume(
            urls["resume"], cluster.dsn("resume"), big_file, key_file, n
        )
    finally:
        cluster.cleanup()
        shutil.rmtree(tmp, ignore_errors=True)  # the generated files

    ours_rate, copy_rate = n / seconds, n / copy_seconds
    table(
        f"Import of {n:,} generated rows (CSV, {file_mb:,.0f} MB), PostgreSQL 15 throwaway cluster",
        ["what", "seconds", "rows/s", "peak RSS MB", "with workers MB"],
        [
            [
                f"raw COPY into a bare text table (peer), median of {len(copy_runs)}",
                copy_seconds,
                copy_rate,
                "-",
                "-",
            ],
            [
                f"registry import (validate + COPY + indexes + audit), median of {len(runs)}",
                seconds,
                ours_rate,
                rss,
                tree,
            ],
            [
                f"registry import of {small:,} rows",
                small_seconds,
                small / small_seconds,
                small_rss,
                small_tree,
            ],
            ["rerun of the same file", rerun_seconds, "-", "-", "-"],
            [
                f"registry import of the {small:,} rows into the loaded table ({more:,} new)",
                more_seconds,
                small / more_seconds,
                "-",
                "-",
            ],
        ],
    )
    console.print(
        f"loaded {loaded:,}; after rerun {after_rerun:,} ({rerun_summary}); "
        f"killed midway then rerun: {resumed:,}"
    )
    console.print(f"last output: {summary}")
    # Each pair (the peer, then ours) ran within a minute: its ratio is shown too, as the
    # machine's speed drifts across the run (the target is judged on the medians' ratio).
    pairs = [peer / run[0] for peer, run in zip(copy_runs, runs, strict=True)]
    console.print(
        "every timed run (s), alternating: peer "
        + " ".join(f"{x:.2f}" for x in copy_runs)
        + "; ours "
        + " ".join(f"{run[0]:.2f}" for run in runs)
        + "; ratio of each pair "
        + " ".join(f"{x:.3f}" for x in pairs)
    )
    checks = {
        "every_row_loaded": loaded == n,
        "rerun_adds_nothing": after_rerun == n,
        "kill_then_rerun_exact": resumed == n,
    }
    emit(
        "import",
        figures={
            "rows": n,
            "rows_per_s": round(ours_rate),
            "seconds": round(seconds, 2),
            "seconds_each_run": [round(run[0], 2) for run in runs],
            "peak_rss_mb": round(rss, 1),
            "peak_rss_mb_quarter_file": round(small_rss, 1),
            "peak_rss_mb_with_workers": round(tree, 1),
            "peak_rss_mb_with_workers_quarter_file": round(small_tree, 1),
            "rows_per_s_into_loaded_table": round(small / more_seconds),
            **checks,
        },
        peer={
            "name": "PostgreSQL COPY of the same CSV into a bare text table",
            "rows_per_s": round(copy_rate),
            "seconds": round(copy_seconds, 2),
            "seconds_each_run": [round(x, 2) for x in copy_runs],
        },
        ratio={
            "rows_per_s": round(ours_rate / copy_rate, 3),
            "rows_per_s_each_pair": [round(x, 3) for x in pairs],
            "rss_full_over_quarter": round(rss / small_rss, 2) if small_rss else None,
            "rss_with_workers_full_over_quarter": round(tree / small_tree, 2)
            if small_tree
            else None,
        },
        targets={
            "rows_per_s_ratio": ">= 0.5",
            "memory": "flat with file size",
            "met": {
                "ratio": ours_rate / copy_rate >= 0.5,
                "memory_flat": rss <= small_rss * 1.3 and tree <= small_tree * 1.3,
                **checks,
            },
        },
    )


if __name__ == "__main__":
    main()
