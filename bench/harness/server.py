"""The app under uvicorn as in production (uvloop, httptools, JSON logs at WARNING, no access
log), on a free port, with non-default secrets."""

from __future__ import annotations

import base64
import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from bench.harness.probes import proc_table
from tests.pgcluster import free_port

if TYPE_CHECKING:
    from core.settings import Settings

# As `registry serve` runs uvicorn: httptools, each response written in one system call.
HTTP_PROTOCOL = "core.serving:HttpToolsProtocol"
APP = "registry.app:create_app_from_env"
PUBLIC_URL = "http://localhost:8000"  # issuer and WebAuthn origin (rp_id "localhost")


def b64url(data: bytes) -> str:
    """Unpadded base64url."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class Secrets:
    """Non-default secrets, shared by the seeding process and the served app."""

    secret_key: str
    kek: str
    pairwise_salt: str
    audit_key_pem: str

    @classmethod
    def generate(cls) -> Secrets:
        """Fresh random secrets and an Ed25519 checkpoint key."""
        from audit.checkpoint import Signer

        return cls(
            secret_key=secrets.token_urlsafe(48),
            kek=b64url(secrets.token_bytes(32)),
            pairwise_salt=secrets.token_urlsafe(32),
            audit_key_pem=Signer.generate("localhost:8000/audit").to_pem().decode(),
        )

    def env(self, database_url: str) -> dict[str, str]:
        """The served app's REGISTRY_* environment (development: it is served over HTTP)."""
        return {
            "REGISTRY_DATABASE_URL": database_url,
            "REGISTRY_ENVIRONMENT": "development",
            "REGISTRY_PUBLIC_URL": PUBLIC_URL,
            "REGISTRY_LOG_LEVEL": "WARNING",
            "REGISTRY_SECRET_KEY": self.secret_key,
            "REGISTRY_KEY_ENCRYPTION_KEY": self.kek,
            "REGISTRY_PAIRWISE_SALT": self.pairwise_salt,
            "REGISTRY_AUDIT_SIGNING_KEY": self.audit_key_pem,
            "REGISTRY_AUDIT_SEQUENCER_ENABLED": "true",
        }

    def settings(self, database_url: str) -> Settings:
        """Settings of a seeding process: the served app's, without the in-app sequencer."""
        from core.settings import Settings

        return Settings(
            database_url=database_url,
            environment="development",
            public_url=PUBLIC_URL,
            secret_key=self.secret_key,
            key_encryption_key=self.kek,
            pairwise_salt=self.pairwise_salt,
            audit_sequencer_enabled=False,
            log_level="WARNING",
        )


def uvicorn_command(port: int, *, app: str = APP, workers: int = 1) -> list[str]:
    """uvicorn serving ``app`` (a factory when it is the registry's) on ``port``."""
    command = [sys.executable, "-m", "uvicorn", app, "--port", str(port), "--no-access-log"]
    command += ["--log-level", "warning", "--loop", "uvloop", "--http", HTTP_PROTOCOL]
    command += ["--workers", str(workers)]
    return [*command, "--factory"] if app == APP else command


@contextmanager
def serve(
    env: dict[str, str],
    *,
    app: str = APP,
    workers: int = 1,
    sequencer_process: bool = False,
) -> Iterator[tuple[int, subprocess.Popen[bytes]]]:
    """uvicorn with ``workers`` workers on a free port; yield (port, process) once all answer
    (one worker: uvicorn serves in its own process).

    ``sequencer_process``: the audit sequencer runs as its own process, ``registry audit
    sequence --follow``, a child of uvicorn's pid (so its CPU counts as the app's).
    """
    port = free_port()
    args = uvicorn_command(port, app=app, workers=workers)
    if sequencer_process:
        registry = str(Path(sys.executable).with_name("registry"))
        # The shell starts the sequencer, then becomes uvicorn (exec keeps the pid).
        args = ["sh", "-c", '"$0" audit sequence --follow & exec "$@"', registry, *args]
    proc = subprocess.Popen(args, env={**os.environ, **env}, start_new_session=True)
    try:
        wait_started(proc, port, workers)
        yield port, proc
    finally:
        proc.terminate()
        proc.wait(timeout=30)
        with contextlib.suppress(ProcessLookupError):
            os.killpg(proc.pid, signal.SIGTERM)  # the sequencer, when it is a process


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


def wait_started(proc: subprocess.Popen[bytes], port: int, workers: int) -> None:
    """Return once the app answers on ``port`` and all its worker processes have started."""
    wait_http(port, proc)
    if workers > 1:
        deadline = time.monotonic() + 60
        while sum(1 for ppid, _ in proc_table().values() if ppid == proc.pid) < workers:
            if time.monotonic() > deadline or proc.poll() is not None:
                raise RuntimeError("uvicorn did not start its workers")
            time.sleep(0.2)
        time.sleep(2.0)  # the second worker finishes its lifespan start-up
    if proc.poll() is not None:
        raise RuntimeError("uvicorn exited during start-up (see its log above)")
