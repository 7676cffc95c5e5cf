"""Smoke benchmark: requests/s of GET /healthz through the whole app vs. a bare ASGI app.

Both run under the same uvicorn (one worker) on this machine, loaded by the same client in the
same run, so the ratio is the cost of our middleware, routing and serialisation.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from dataclasses import dataclass

import migrations
from bench.harness.load import LoadResult, load
from bench.harness.report import add_scale_options, emit, pick_scale, table
from bench.harness.server import serve


@dataclass(frozen=True)
class Scale:
    """How long."""

    seconds: float
    warmup: float
    connections: int


FULL = Scale(8, 2, 32)
TINY = Scale(1, 0, 4)


def measure(env: dict[str, str], app: str, scale: Scale) -> LoadResult:
    """Serve ``app``, warm it up, then load GET /healthz."""
    with serve(env, app=app) as (port, _):
        url = f"http://127.0.0.1:{port}/healthz"
        if scale.warmup:
            load(url, seconds=scale.warmup, connections=scale.connections)
        return load(url, seconds=scale.seconds, connections=scale.connections)


def main(argv: list[str] | None = None) -> None:
    """Run both servers in turn and print the comparison."""
    parser = argparse.ArgumentParser(prog="bench smoke")
    add_scale_options(parser, "the same as the full run (it takes 20 s)")
    scale = pick_scale(
        parser.parse_args(sys.argv[1:] if argv is None else argv), full=FULL, quick=FULL, tiny=TINY
    )
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        migrations.upgrade(url)  # as `registry serve` does: no start-up or audit worker errors
        env = {"REGISTRY_DATABASE_URL": url, "REGISTRY_LOG_LEVEL": "WARNING"}
        ours = measure(env, "registry.app:create_app_from_env", scale)
    bare = measure({}, "bench.bare_app:app", scale)
    table(
        f"GET /healthz, 1 uvicorn worker, {scale.connections} connections, {scale.seconds:g} s "
        f"({ours.tool})",
        ["server", "req/s", "p50 ms", "p99 ms", "errors"],
        [
            ["registry app", ours.rps, ours.p50_ms, ours.p99_ms, ours.errors],
            ["bare ASGI app", bare.rps, bare.p50_ms, bare.p99_ms, bare.errors],
        ],
    )
    emit(
        "smoke",
        figures={
            "rps": round(ours.rps, 1),
            "p50_ms": ours.p50_ms,
            "p99_ms": ours.p99_ms,
            "errors": ours.errors,
            "tool": ours.tool,
        },
        peer={
            "name": "bare ASGI app under the same uvicorn",
            "rps": round(bare.rps, 1),
            "p50_ms": bare.p50_ms,
            "p99_ms": bare.p99_ms,
        },
        ratio={"rps": round(ours.rps / bare.rps, 3) if bare.rps else None},
        targets={"errors": 0},
    )


if __name__ == "__main__":
    main()
