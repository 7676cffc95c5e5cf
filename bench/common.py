"""Shared benchmark plumbing: servers in subprocesses, HTTP load, tables and the JSON line."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
from rich.console import Console
from rich.table import Table

from tests.pgcluster import free_port

T = TypeVar("T")

console = Console()
# As `registry serve` runs uvicorn: httptools, each response written in one system call.
HTTP_PROTOCOL = "core.serving:HttpToolsProtocol"


@contextmanager
def serve(app: str, *, env: dict[str, str] | None = None, factory: bool = False) -> Iterator[int]:
    """Run ``uvicorn APP`` in a subprocess on a free port; yield the port once it answers."""
    port = free_port()
    args = [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--no-access-log",
            "--log-level", "warning", "--loop", "uvloop", "--http", HTTP_PROTOCOL]  # fmt: skip
    if factory:
        args.append("--factory")
    proc = subprocess.Popen(args, env={**os.environ, **(env or {})})
    try:
        wait_http(port, proc)
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=30)


def wait_http(port: int, proc: subprocess.Popen[bytes], path: str = "/healthz") -> None:
    """Poll until the server answers on ``path`` (any status) or fail after 60 s."""
    import httpx

    deadline = time.monotonic() + 60
    while True:
        try:
            httpx.get(f"http://127.0.0.1:{port}{path}", timeout=1)
            return
        except httpx.TransportError:
            if proc.poll() is not None:
                raise RuntimeError("server exited before answering") from None
            if time.monotonic() > deadline:
                raise RuntimeError("server did not answer within 60 s") from None
            time.sleep(0.1)


@dataclass
class LoadResult:
    """What one load run measured."""

    tool: str
    requests: int
    seconds: float
    rps: float
    p50_ms: float
    p99_ms: float
    errors: int


def load(url: str, *, seconds: int = 10, connections: int = 32) -> LoadResult:
    """Drive GET ``url`` with wrk when installed, else with the built-in asyncio client."""
    if shutil.which("wrk"):
        return _wrk(url, seconds, connections)
    return asyncio.run(_asyncio_load(url, seconds, connections))


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def _wrk(url: str, seconds: int, connections: int) -> LoadResult:
    out = subprocess.run(
        ["wrk", "-t1", f"-c{connections}", f"-d{seconds}s", "--latency", url],
        capture_output=True, text=True, check=True,
    ).stdout  # fmt: skip

    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")

    total = re.search(r"(\d+) requests in ([\d.]+)(s|m)", out)
    if total is None:
        raise RuntimeError("could not parse wrk output:\n" + out)
    requests = int(total.group(1))
    secs = float(total.group(2)) * (60 if total.group(3) == "m" else 1)
    errors_match = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    socket_errors = re.search(
        r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out
    )
    errors = int(errors_match.group(1)) if errors_match else 0
    if socket_errors:
        errors += sum(int(g) for g in socket_errors.groups())
    return LoadResult("wrk", requests, secs, requests / secs, latency("50"), latency("99"), errors)


async def _asyncio_load(url: str, seconds: int, connections: int) -> LoadResult:
    match = re.match(r"http://([^:/]+):(\d+)(/.*)", url)
    if match is None:
        raise ValueError(url)
    host, port, path = match.group(1), int(match.group(2)), match.group(3)
    request = f"GET {path} HTTP/1.1\r\nHost: {host}\r\n\r\n".encode()
    latencies: list[float] = []
    errors = 0
    stop_at = time.perf_counter() + seconds

    async def worker() -> None:
        nonlocal errors
        reader, writer = await asyncio.open_connection(host, port)
        while time.perf_counter() < stop_at:
            started = time.perf_counter()
            writer.write(request)
            head = await reader.readuntil(b"\r\n\r\n")
            length = int(re.search(rb"(?i)content-length: (\d+)", head).group(1))  # type: ignore[union-attr]
            await reader.readexactly(length)
            latencies.append((time.perf_counter() - started) * 1000)
            if not head.startswith(b"HTTP/1.1 2"):
                errors += 1
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    n = len(latencies)
    return LoadResult("asyncio", n, elapsed, n / elapsed, latencies[n // 2],
                      latencies[min(n - 1, int(n * 0.99))], errors)  # fmt: skip


def table(
    title: str,
    columns: Sequence[str],
    rows: Sequence[Sequence[Any]],
    *,
    out: Console | None = None,
) -> None:
    """Print a readable table (numbers right-aligned, floats with one decimal)."""
    t = Table(title=title)
    for column in columns:
        t.add_column(column, justify="right" if column != columns[0] else "left")
    for row in rows:
        t.add_row(*(f"{v:,.1f}" if isinstance(v, float) else str(v) for v in row))
    (out or console).print(t)


def emit(
    bench: str,
    figures: dict[str, Any],
    peer: dict[str, Any],
    ratio: dict[str, Any],
    targets: dict[str, Any],
) -> None:
    """The one machine-readable line every benchmark ends with."""
    line = {"bench": bench, "figures": figures, "peer": peer, "ratio": ratio, "targets": targets}
    sys.stdout.write(json.dumps(line, ensure_ascii=False) + "\n")
    sys.stdout.flush()


def run_async(coro: Coroutine[Any, Any, T]) -> T:
    """Run a coroutine on uvloop (as the app runs under uvicorn) when it is installed."""
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency (uvicorn[standard])
        return asyncio.run(coro)
    with asyncio.Runner(loop_factory=uvloop.new_event_loop) as runner:
        return runner.run(coro)


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


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, int(round(pct / 100 * len(sorted_values))) - 1))
    return sorted_values[rank]


async def admin(dsn: str, *statements: str) -> None:
    """Run statements one by one outside a transaction (CREATE DATABASE, VACUUM)."""
    conn = await asyncpg.connect(dsn)
    try:
        for statement in statements:
            await conn.execute(statement)
    finally:
        await conn.close()


def record_pyspy(
    flow: str, out_dir: Path, app_pid: int, seconds: int, drive: Callable[[], object]
) -> Path:
    """Sample a server and its worker processes with py-spy (100 Hz, raw stacks) while
    ``drive`` loads it; the raw file."""
    spy = shutil.which("py-spy") or str(Path(sys.executable).parent / "py-spy")
    path = out_dir / f"{flow}.raw"
    proc = subprocess.Popen(
        [spy, "record", "--pid", str(app_pid), "--subprocesses", "--rate", "100",
         "--duration", str(seconds), "--format", "raw", "--nolineno", "--nonblocking",
         "--output", str(path)],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
    )  # fmt: skip
    time.sleep(1.0)  # py-spy attaches
    drive()
    _, err = proc.communicate(timeout=seconds + 60)
    if proc.returncode != 0 or not path.exists():
        raise RuntimeError(
            f"py-spy failed (pip install py-spy): {err.decode(errors='replace')[-500:]}"
        )
    return path
