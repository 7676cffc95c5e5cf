"""Smoke benchmark: requests/s of GET /healthz through the whole app vs. a bare ASGI app.

Both run under the same uvicorn (one worker) on this machine, loaded by the same client in the
same run, so the ratio is the cost of our middleware, routing and serialisation.
"""

from __future__ import annotations

import tempfile

import migrations
from bench.common import emit, load, serve, table

SECONDS = 8
CONNECTIONS = 32


def main(argv: list[str] | None = None) -> None:
    """Run both servers in turn and print the comparison (no options)."""
    with tempfile.TemporaryDirectory() as tmp:
        url = f"sqlite+aiosqlite:///{tmp}/bench.db"
        migrations.upgrade(url)  # as `registry serve` does: no start-up or audit worker errors
        env = {"REGISTRY_DATABASE_URL": url, "REGISTRY_LOG_LEVEL": "WARNING"}
        with serve("registry.app:create_app_from_env", env=env, factory=True) as port:
            load(f"http://127.0.0.1:{port}/healthz", seconds=2, connections=CONNECTIONS)  # warm-up
            ours = load(
                f"http://127.0.0.1:{port}/healthz", seconds=SECONDS, connections=CONNECTIONS
            )
    with serve("bench.bare_app:app") as port:
        load(f"http://127.0.0.1:{port}/healthz", seconds=2, connections=CONNECTIONS)
        bare = load(f"http://127.0.0.1:{port}/healthz", seconds=SECONDS, connections=CONNECTIONS)

    table(
        f"GET /healthz, 1 uvicorn worker, {CONNECTIONS} connections, {SECONDS} s ({ours.tool})",
        ["server", "req/s", "p50 ms", "p99 ms", "errors"],
        [
            ["registry app", ours.rps, ours.p50_ms, ours.p99_ms, ours.errors],
            ["bare ASGI app", bare.rps, bare.p50_ms, bare.p99_ms, bare.errors],
        ],
    )
    emit(
        "smoke",
        figures={"rps": round(ours.rps, 1), "p50_ms": ours.p50_ms, "p99_ms": ours.p99_ms,
                 "errors": ours.errors, "tool": ours.tool},
        peer={"name": "bare ASGI app under the same uvicorn", "rps": round(bare.rps, 1),
              "p50_ms": bare.p50_ms, "p99_ms": bare.p99_ms},
        ratio={"rps": round(ours.rps / bare.rps, 3) if bare.rps else None},
        targets={"errors": 0},
    )  # fmt: skip


if __name__ == "__main__":
    main()
