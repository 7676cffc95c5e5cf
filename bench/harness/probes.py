"""What a run cost: CPU of process trees (/proc), the statements PostgreSQL ran
(pg_stat_statements), the host's CPU steal, memory, and py-spy samples."""

from __future__ import annotations

import collections
import os
import resource
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

import asyncpg

from bench.harness.report import run_async

_TICK = os.sysconf("SC_CLK_TCK")


def proc_table() -> dict[int, tuple[int, float]]:
    """pid -> (ppid, CPU seconds of the process and of its reaped children)."""
    out: dict[int, tuple[int, float]] = {}
    for name in os.listdir("/proc"):
        if not name.isdigit():
            continue
        try:
            with open(f"/proc/{name}/stat", encoding="ascii", errors="replace") as handle:
                data = handle.read()
        except OSError:
            continue
        rest = data.rsplit(")", 1)[1].split()
        # Fields 4 (ppid) and 14-17 (utime, stime, cutime, cstime) of proc(5).
        ticks = sum(int(x) for x in rest[11:15])
        out[int(name)] = (int(rest[1]), ticks / _TICK)
    return out


def tree_cpu(table: dict[int, tuple[int, float]], root: int) -> float:
    """CPU seconds of ``root`` and every live descendant (exited ones are in cutime/cstime)."""
    children: dict[int, list[int]] = collections.defaultdict(list)
    for pid, (ppid, _) in table.items():
        children[ppid].append(pid)
    total, stack = 0.0, [root]
    while stack:
        pid = stack.pop()
        if pid in table:
            total += table[pid][1]
        stack.extend(children.get(pid, ()))
    return total


def tree_rss_kb(root: int) -> int:
    """Resident memory of ``root`` and all its descendants, in KB."""
    parent: dict[int, int] = {}
    rss: dict[int, int] = {}
    page_kb = os.sysconf("SC_PAGE_SIZE") // 1024
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat", encoding="ascii", errors="replace") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parent[int(entry)] = int(fields[1])
        rss[int(entry)] = int(fields[21]) * page_kb
    tree, frontier = {root}, [root]
    while frontier:
        pid = frontier.pop()
        for child, ppid in parent.items():
            if ppid == pid and child not in tree:
                tree.add(child)
                frontier.append(child)
    return sum(rss.get(pid, 0) for pid in tree)


def children_cpu() -> float:
    """CPU seconds of this process's reaped children so far (a load tool run in between)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def steal_seconds() -> float:
    """CPU time the hypervisor gave to others while this machine's CPUs wanted to run, so far,
    summed over its CPUs (/proc/stat, the "steal" field of the "cpu" line; 0 on bare metal).
    Read around a measured window, it says whether the host took CPU from a run: the rates of
    such a run understate the code."""
    with open("/proc/stat", encoding="ascii") as handle:
        fields = handle.readline().split()
    # cpu user nice system idle iowait irq softirq steal ...
    return int(fields[8]) / os.sysconf("SC_CLK_TCK") if len(fields) > 8 else 0.0


def steal_share(steal: float, seconds: float) -> float:
    """CPU steal seconds as a share of the machine's CPU time over ``seconds``."""
    span = seconds * (os.cpu_count() or 1)
    return steal / span if span > 0 else 0.0


Statements = dict[str, tuple[int, float]]  # normalised query -> (calls, total exec ms)

STATEMENTS_SQL = """
SELECT query, sum(calls)::bigint AS calls, sum(total_exec_time) AS ms FROM pg_stat_statements
 WHERE dbid = (SELECT oid FROM pg_database WHERE datname = current_database())
   AND query NOT LIKE '%pg_stat_statements%'
 GROUP BY query
"""


async def _statements(dsn: str) -> Statements:
    conn = await asyncpg.connect(dsn)
    try:
        rows = await conn.fetch(STATEMENTS_SQL)
    finally:
        await conn.close()
    return {str(r["query"]): (int(r["calls"]), float(r["ms"])) for r in rows}


@dataclass(frozen=True)
class Sample:
    """CPU seconds so far of the app (uvicorn and its workers) and of PostgreSQL, the
    statements PostgreSQL ran so far (pg_stat_statements), and the machine's CPU steal."""

    at: float
    app: float
    db: float
    statements: Statements
    steal: float


@dataclass(frozen=True)
class Probe:
    """Where to read CPU and statements from."""

    app_pid: int
    db_pid: int
    dsn: str

    def take(self) -> Sample:
        """Read /proc and pg_stat_statements now."""
        procs = proc_table()
        at = time.monotonic()
        app, db = tree_cpu(procs, self.app_pid), tree_cpu(procs, self.db_pid)
        return Sample(at, app, db, run_async(_statements(self.dsn)), steal_seconds())


def statement_delta(before: Sample, after: Sample) -> list[tuple[str, int, float]]:
    """(query, calls, exec ms) run between two samples, most called first."""
    out = []
    for query, (calls, ms) in after.statements.items():
        calls0, ms0 = before.statements.get(query, (0, 0.0))
        if calls > calls0:
            out.append((query, calls - calls0, ms - ms0))
    return sorted(out, key=lambda x: -x[1])


def record_pyspy(
    flow: str, out_dir: Path, app_pid: int, seconds: int, drive: Callable[[], object]
) -> Path:
    """Sample a server and its worker processes with py-spy (100 Hz, raw stacks) while
    ``drive`` loads it; the raw file."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    path = out_dir / f"{flow}.raw"
    command = [spy, "record", "--pid", str(app_pid), "--subprocesses", "--rate", "100"]
    command += ["--duration", str(seconds), "--format", "raw", "--nolineno", "--nonblocking"]
    command += ["--output", str(path)]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    time.sleep(1.0)  # py-spy attaches
    drive()
    _, err = proc.communicate(timeout=seconds + 60)
    if proc.returncode != 0 or not path.exists():
        raise RuntimeError(
            f"py-spy failed (pip install py-spy): {err.decode(errors='replace')[-500:]}"
        )
    return path


def raw_stacks(path: Path) -> Iterator[tuple[list[str], int]]:
    """(frames, samples) of each stack of py-spy's raw file, without process and thread
    frames."""
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        stack, _, count = line.rpartition(" ")
        if not stack or not count.isdigit():
            continue
        # With --subprocesses each stack starts with 'process PID:"COMMAND LINE"' frames, and
        # the command line of a spawned worker holds a ';'.
        while stack.startswith("process "):
            end = stack.find('";')
            stack = stack[end + 2 :] if end >= 0 else ""
        yield [f for f in stack.split(";") if f and not f.startswith("thread ")], int(count)
