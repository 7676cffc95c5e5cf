"""A throwaway PostgreSQL cluster: initdb into a temporary directory, start on a free port.

Used by the test suite and the benchmarks. PostgreSQL refuses to run as root, so when we are
root, initdb/postgres run as the ``postgres`` system user.
"""

from __future__ import annotations

import contextlib
import glob
import os
import pwd
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path


def find_pg_bindir() -> Path:
    """Directory holding initdb/pg_ctl: from PATH, else Debian's /usr/lib/postgresql/N/bin."""
    initdb = shutil.which("initdb")
    if initdb:
        return Path(os.path.realpath(initdb)).parent
    candidates = sorted(
        glob.glob("/usr/lib/postgresql/*/bin/initdb"),
        key=lambda p: (
            int(Path(p).parent.parent.name) if Path(p).parent.parent.name.isdigit() else 0
        ),
    )
    if candidates:
        return Path(candidates[-1]).parent
    raise RuntimeError(
        "PostgreSQL server binaries (initdb) not found; install them (apt-get install postgresql) "
        "or set TEST_DATABASE_URL to an existing server"
    )


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class PostgresCluster:
    """One temporary cluster; ``start()`` then ``stop()``; superuser ``postgres``, trust auth."""

    port: int = field(default_factory=free_port)
    bindir: Path = field(default_factory=find_pg_bindir)
    base: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="registry-pg-")))
    extra_settings: dict[str, str] = field(default_factory=dict)

    @property
    def datadir(self) -> Path:
        """The cluster's data directory."""
        return self.base / "data"

    @property
    def sockdir(self) -> Path:
        """The directory of the Unix socket."""
        return self.base / "sock"

    @property
    def logfile(self) -> Path:
        """The server log."""
        return self.base / "postgres.log"

    def url(self, database: str = "postgres", user: str = "postgres") -> str:
        """SQLAlchemy asyncpg URL for ``database`` on this cluster."""
        return f"postgresql+asyncpg://{user}@127.0.0.1:{self.port}/{database}"

    def dsn(self, database: str = "postgres", user: str = "postgres") -> str:
        """libpq/asyncpg DSN for ``database``."""
        return f"postgresql://{user}@127.0.0.1:{self.port}/{database}"

    def _as_owner(self, args: list[str]) -> list[str]:
        if os.geteuid() != 0:
            return args
        runuser = shutil.which("runuser")
        if runuser:
            return [runuser, "-u", "postgres", "--", *args]
        return ["su", "postgres", "-s", "/bin/sh", "-c", " ".join(args)]

    def _run(self, args: list[str]) -> None:
        subprocess.run(  # noqa: S603 - fixed binaries, no shell
            self._as_owner(args), check=True, capture_output=True, cwd=self.base
        )

    def start(self) -> PostgresCluster:
        """initdb and start the server; returns when it accepts connections."""
        self.sockdir.mkdir(parents=True, exist_ok=True)
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            for path in (self.base, self.sockdir):
                os.chown(path, owner.pw_uid, owner.pw_gid)
        self._run(
            [
                str(self.bindir / "initdb"),
                "-D",
                str(self.datadir),
                "-U",
                "postgres",
                "--auth=trust",
                "--encoding=UTF8",
                "--locale=C.UTF-8",
                "--no-sync",
                "--no-instructions",
            ]
        )
        settings = {
            "listen_addresses": "127.0.0.1",
            "port": str(self.port),
            "unix_socket_directories": str(self.sockdir),
            # A throwaway cluster: durability traded for speed.
            "fsync": "off",
            "synchronous_commit": "off",
            "full_page_writes": "off",
            "max_connections": "300",
            "shared_buffers": "256MB",
            **self.extra_settings,
        }
        # Written into postgresql.conf so a stopped cluster restarts with the same settings.
        with (self.datadir / "postgresql.conf").open("a", encoding="utf-8") as conf:
            conf.write("\n# registry test cluster\n")
            for key, value in settings.items():
                conf.write(f"{key} = '{value}'\n")
        self.start_server()
        return self

    def start_server(self) -> None:
        """Start the (initialised, stopped) server and wait until it accepts connections."""
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.logfile),
                "-w",
                "-t",
                "60",
                "start",
            ]
        )

    def stop(self, mode: str = "fast") -> None:
        """Stop the server (the data directory stays until ``cleanup``)."""
        if (self.datadir / "postmaster.pid").exists():
            self._run([str(self.bindir / "pg_ctl"), "-D", str(self.datadir), "-m", mode, "stop"])

    def _ping(self) -> int:
        """pg_isready's status: 0 accepting, 1 rejecting (starting up), 2 no answer."""
        done = subprocess.run(  # noqa: S603 - a fixed binary, no shell
            [str(self.bindir / "pg_isready"), "-h", "127.0.0.1", "-p", str(self.port), "-t", "2"],
            capture_output=True,
            check=False,
        )
        return done.returncode

    def _wait_for(self, status: int) -> None:
        deadline = time.monotonic() + 60
        while self._ping() != status:
            if time.monotonic() > deadline:
                raise RuntimeError(f"the server did not reach pg_isready status {status}")
            time.sleep(0.05)

    @contextmanager
    def recovering(self) -> Iterator[None]:
        """Crash the server (an immediate stop, as at a power cut) and restart it held in its
        crash recovery: inside the block it refuses every connection with "the database system
        is starting up" (SQLSTATE 57P03), as a large database does for minutes. Recovery waits
        for its restore_command, which waits for the block to end; then the server finishes
        recovery and accepts connections again (on a new timeline)."""
        self.stop(mode="immediate")
        release = self.base / "release-recovery"
        release.unlink(missing_ok=True)
        hold = self.base / "hold-recovery.sh"
        hold.write_text(f"#!/bin/sh\nwhile [ ! -e {release} ]; do sleep 0.05; done\nexit 1\n")
        hold.chmod(0o755)
        signal = self.datadir / "recovery.signal"
        signal.touch()
        if os.geteuid() == 0:
            owner = pwd.getpwnam("postgres")
            os.chown(signal, owner.pw_uid, owner.pw_gid)
        self._run(
            [
                str(self.bindir / "pg_ctl"),
                "-D",
                str(self.datadir),
                "-l",
                str(self.logfile),
                "-o",
                f"-c restore_command={hold}",
                "-W",
                "start",
            ]
        )
        try:
            self._wait_for(1)
            yield
        finally:
            release.touch()
            self._wait_for(0)

    @contextmanager
    def paused(self) -> Iterator[None]:
        """Stop every server process inside the block (``paused``)."""
        postmaster = int((self.datadir / "postmaster.pid").read_text().split()[0])
        with paused(postmaster):
            yield

    def cleanup(self) -> None:
        """Stop the server and delete every file of the cluster."""
        try:
            self.stop(mode="immediate")
        finally:
            shutil.rmtree(self.base, ignore_errors=True)


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue  # the process ended meanwhile
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def parent_of(pid: int) -> int | None:
    """A local process's parent, or None when no such process runs on this host."""
    try:
        return int(Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[1])
    except OSError:
        return None


@contextmanager
def paused(postmaster: int) -> Iterator[None]:
    """Stop a local PostgreSQL server's processes (SIGSTOP) inside the block, as a stalled host
    or storage would: connections stay open, statements get no answer until the block ends."""
    stopped: list[int] = []
    try:
        for pid in [postmaster, *_children(postmaster)]:
            try:
                os.kill(pid, signal.SIGSTOP)
            except ProcessLookupError:
                continue  # a backend that ended since it was listed
            stopped.append(pid)
        yield
    finally:
        # Every process stopped is continued, whatever happened: a server left stopped stalls
        # every later test that shares it.
        for pid in stopped:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGCONT)
