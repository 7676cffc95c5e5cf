"""The report: scale options, timed parts, readable tables and the one JSON line."""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import time
from collections.abc import Callable, Coroutine, Iterable, Sequence
from typing import Any, TypeVar

from rich.console import Console
from rich.table import Table

T = TypeVar("T")
S = TypeVar("S")

# Wide enough for the tables when the output is not a terminal (logs, CI).
console = Console(width=max(170, shutil.get_terminal_size((170, 40)).columns))


def add_scale_options(parser: argparse.ArgumentParser, quick_help: str) -> None:
    """--quick (or BENCH_QUICK=1) and --tiny (or BENCH_TINY=1: seconds, for the test suite)."""
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument(
        "--tiny",
        action="store_true",
        help="a few seconds: proves the bench runs (tests/bench), measures nothing",
    )


def pick_scale(args: argparse.Namespace, *, full: S, quick: S, tiny: S) -> S:
    """The scale the options or the environment ask for (tiny wins over quick)."""
    if args.tiny or os.environ.get("BENCH_TINY") == "1":
        return tiny
    if args.quick or os.environ.get("BENCH_QUICK") == "1":
        return quick
    return full


def timed(
    label: str,
    timings: list[tuple[str, float]],
    fn: Callable[[], T],
    server: subprocess.Popen[bytes] | None = None,
) -> T:
    """Run one part; print its label and remember how long it took. With ``server``: fail
    when the server exited meanwhile."""
    t0 = time.perf_counter()
    console.print(f"[bold]{label}[/bold] ...")
    result = fn()
    timings.append((label, time.perf_counter() - t0))
    if server is not None and server.poll() is not None:
        raise SystemExit(f"the server exited (status {server.returncode}) during: {label}")
    return result


def table(title: str, columns: Sequence[str], rows: Sequence[Sequence[Any]]) -> None:
    """Print a readable table (numbers right-aligned, floats with one decimal)."""
    t = Table(title=title)
    for column in columns:
        t.add_column(column, justify="right" if column != columns[0] else "left")
    for row in rows:
        t.add_row(*(f"{v:,.1f}" if isinstance(v, float) else str(v) for v in row))
    console.print(t)


def columns_table(
    title: str, columns: Sequence[tuple[str, Callable[[T], Any]]], items: Iterable[T]
) -> None:
    """A table of ``items``, one row each, given as (column, value of an item) pairs."""
    table(title, [name for name, _ in columns], [[value(x) for _, value in columns] for x in items])


def timings_table(
    timings: list[tuple[str, float]], total: float, load: tuple[float, float]
) -> None:
    """How long each part took, and how busy the machine was at the start and the end."""
    table(
        f"Time per part (1-minute load average {load[0]:.2f} at start, {load[1]:.2f} at end)",
        ["part", "seconds"],
        [[label, round(sec, 1)] for label, sec in timings] + [["total", round(total, 1)]],
    )


def met(ok: bool) -> str:
    """A target's verdict."""
    return "met" if ok else "NOT MET"


def targets_table(title: str, rows: Sequence[tuple[str, Any, str, bool | str]]) -> None:
    """(what, measured, target, met or a remark) rows."""
    table(
        title,
        ["what", "measured", "target", "verdict"],
        [[what, x, target, met(v) if isinstance(v, bool) else v] for what, x, target, v in rows],
    )


def r3(x: float) -> float:
    """A figure of the JSON line: three decimals."""
    return round(x, 3)


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


def percentile(sorted_values: Sequence[float], pct: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    rank = max(0, min(len(sorted_values) - 1, int(round(pct / 100 * len(sorted_values))) - 1))
    return sorted_values[rank]
