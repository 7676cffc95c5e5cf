"""The ``registry`` command: help everywhere, version, migrate, serve."""

import os
import re
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from alembic.script import ScriptDirectory
from typer.testing import CliRunner

from migrations import alembic_config
from registry import __version__
from registry.cli import ImportProgress, app, local_url
from tests.pgcluster import free_port

runner = CliRunner()


# fmt: off
COMMANDS = [
    [], ["serve"], ["migrate"], ["version"], ["import"], ["generate"], ["demo"], ["audit"],
    *[["audit", c] for c in
      ("sequence", "checkpoint", "public-key", "verify", "prove", "check-proof")],
]
# fmt: on


@pytest.mark.parametrize("args", [[*c, "--help"] for c in COMMANDS])
def test_every_command_has_help(args: list[str]) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "Usage" in result.output


def test_version() -> None:
    result = runner.invoke(app, ["version"])
    assert result.exit_code == 0
    assert result.output.strip() == __version__


def test_migrate_builds_the_embedded_database(tmp_path: Path) -> None:
    path = tmp_path / "nested" / "dir" / "registry.db"
    result = runner.invoke(
        app, ["migrate"], env={"REGISTRY_DATABASE_URL": f"sqlite+aiosqlite:///{path}"}
    )
    assert result.exit_code == 0, result.output
    with sqlite3.connect(path) as conn:
        (version,) = conn.execute("SELECT version_num FROM alembic_version").fetchone()
    assert version == ScriptDirectory.from_config(alembic_config("sqlite://")).get_current_head()


def test_bad_settings_exit_2_without_echoing_secrets() -> None:
    secret = "a-production-secret-that-must-never-be-printed"
    result = runner.invoke(
        app,
        ["migrate"],
        env={
            "REGISTRY_ENVIRONMENT": "production",
            "REGISTRY_DATABASE_URL": f"postgresql+asyncpg://u:{secret}@db/registry",
            "REGISTRY_SECRET_KEY": "short",
        },
    )
    assert result.exit_code == 2
    assert "REGISTRY_SECRET_KEY" in result.output
    assert secret not in result.output


@dataclass
class Served:
    """What ``make run`` does (migrate the embedded database, then serve), seen from outside:
    the answers to a few requests and everything the server printed."""

    port: int
    health: httpx.Response
    ready: httpx.Response
    discovery: httpx.Response
    # The first link the banner prints, and its answer.
    first_url: str
    first: httpx.Response
    output: str


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Served:
    tmp_path = tmp_path_factory.mktemp("serve")
    env = {**os.environ, "REGISTRY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/r.db"}
    env.pop("REGISTRY_PUBLIC_URL", None)
    registry = [sys.executable, "-m", "registry.cli"]
    subprocess.run([*registry, "migrate"], env=env, check=True, capture_output=True)
    port = free_port()
    server = subprocess.Popen(
        [*registry, "serve", "--port", str(port)],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        bufsize=0,  # the banner is read line by line, the rest by communicate(): no buffer
    )
    try:
        deadline = time.monotonic() + 60
        while True:
            try:
                health = httpx.get(f"http://127.0.0.1:{port}/healthz", timeout=1)
                break
            except httpx.TransportError:
                assert server.poll() is None, "the server exited"
                assert time.monotonic() < deadline, "the server did not answer within 60 s"
                time.sleep(0.2)
        ready = httpx.get(f"http://127.0.0.1:{port}/readyz", timeout=5)
        discovery = httpx.get(f"http://127.0.0.1:{port}/.well-known/openid-configuration")
        # The banner is printed before the server answers: its lines are in the pipe.
        assert server.stdout is not None
        banner: list[str] = []
        while not (banner and "http" in banner[-1]):
            banner.append(server.stdout.readline().decode())
        first_url = re.findall(r"https?://\S+", banner[-1])[0]
        first = httpx.get(first_url, timeout=5)
    finally:
        server.terminate()
        rest, _ = server.communicate(timeout=30)
    return Served(port, health, ready, discovery, first_url, first, "".join(banner) + rest.decode())


def test_serve_answers_health_and_readiness(served: Served) -> None:
    assert served.health.status_code == 200
    assert served.ready.status_code == 200
    assert served.ready.json()["database"] == "sqlite"
    assert "x-request-id" in served.ready.headers


def test_without_a_public_url_serve_takes_it_from_the_port(served: Served) -> None:
    # Links, issuer and origin follow --port.
    assert served.discovery.json()["issuer"] == f"http://localhost:{served.port}"


def test_serve_prints_where_to_go(served: Served) -> None:
    base = f"http://localhost:{served.port}"
    assert f"{base}/docs" in served.output
    assert f"citizen       : {base}/portal" in served.output
    assert f"agency        : {base}/docs/agency" in served.output
    # One base URL: the public one (the address a browser, cookies and passkeys share).
    banner = "\n".join(line for line in served.output.splitlines() if line.startswith("  "))
    assert set(re.findall(r"https?://[^/\s]+", banner)) == {base}


def test_the_banners_first_link_is_the_start_page(served: Served) -> None:
    assert served.first_url == f"http://localhost:{served.port}/"
    assert served.first.status_code == 200
    assert served.first.headers["content-type"].startswith("text/html")
    assert '<html lang="vi">' in served.first.text
    for place in ("/portal", "/console", "/docs/agency"):
        assert f'href="{place}' in served.first.text


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1", "http://localhost:8000"),
        ("0.0.0.0", "http://localhost:8000"),  # noqa: S104
        ("::1", "http://localhost:8000"),
        ("10.1.2.3", "http://10.1.2.3:8000"),
        ("fd00::5", "http://[fd00::5]:8000"),
        ("registry.example", "http://registry.example:8000"),
    ],
)
def test_the_public_url_follows_the_address_served(host: str, url: str) -> None:
    assert local_url(host, 8000) == url


def test_serve_logs_one_json_line_per_request_with_the_route_template(served: Served) -> None:
    assert '"event":"http.request"' in served.output
    assert '"route":"/readyz"' in served.output


def test_serve_with_a_missing_signing_key_exits_at_once_with_the_reason(tmp_path: Path) -> None:
    missing = tmp_path / "no-such-key.pem"
    env = {
        **os.environ,
        "REGISTRY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/r.db",
        "REGISTRY_AUDIT_SIGNING_KEY_FILE": str(missing),
    }
    serve = [sys.executable, "-m", "registry.cli", "serve", "--port", str(free_port())]
    # Before, uvicorn's supervisor restarted the failing worker forever: the timeout fails it.
    done = subprocess.run(
        [*serve, "--workers", "2"], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode != 0
    assert str(missing) in done.stderr
    assert "Traceback" not in done.stderr


def test_generate_writes_a_deterministic_file(tmp_path: Path) -> None:
    first, second = tmp_path / "a.csv", tmp_path / "b.csv"
    for path in (first, second):
        result = runner.invoke(app, ["generate", "300", "--seed", "7", "-o", str(path)])
        assert result.exit_code == 0, result.output
    assert first.read_bytes() == second.read_bytes()
    assert len(first.read_text(encoding="utf-8").splitlines()) == 301  # header + 300
    bad = runner.invoke(app, ["generate", "3", "-o", str(tmp_path / "x.xml")])
    assert bad.exit_code == 2


def test_demo_loads_once(tmp_path: Path) -> None:
    env = {"REGISTRY_DATABASE_URL": f"sqlite+aiosqlite:///{tmp_path}/demo.db"}
    assert runner.invoke(app, ["migrate"], env=env).exit_code == 0
    loaded = runner.invoke(app, ["demo", "--count", "200"], env=env)
    assert loaded.exit_code == 0, loaded.output
    assert "loaded a demo population of 200 people" in loaded.output
    again = runner.invoke(app, ["demo", "--count", "200"], env=env)
    assert "already present (200 people)" in again.output
    with sqlite3.connect(tmp_path / "demo.db") as conn:
        assert conn.execute("SELECT count(*) FROM citizen").fetchone() == (200,)


def test_the_import_progress_shows_the_share_of_the_file_and_the_time_left() -> None:
    progress = ImportProgress(size=1000, started=100.0)
    assert progress.describe(100.0) == "0%  0 rows"
    progress.advance(5000, 250, now=110.0)  # a quarter of the file in 10 s: 30 s to go
    assert progress.describe(110.0) == "25%  5,000 rows  500 rows/s  0:00:30 left"
    # Then measured from the first batch on (a resumed import's first batch may report a
    # position far into the file): 250 bytes more in 5 s, 500 to go.
    progress.advance(5000, 500, now=115.0)
    assert progress.describe(115.0) == "50%  10,000 rows  667 rows/s  0:00:10 left"
    progress.advance(7000, 1000, now=125.0)
    assert progress.describe(125.0) == "100%  17,000 rows  680 rows/s  0:00:00 left"
