"""Load drivers: wrk, a small asyncio client when wrk is missing, and a lean HTTP/1.1
connection for scripted flows (a full-featured client would spend as much CPU per request as
the server does)."""

from __future__ import annotations

import asyncio
import base64
import re
import shutil
import subprocess
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import quote_plus

from bench.harness.report import percentile


def basic_auth(client_id: str, secret: str) -> str:
    """RFC 6749 2.3.1: form-urlencode id and secret, then HTTP Basic."""
    raw = f"{quote_plus(client_id)}:{quote_plus(secret)}".encode()
    return "Basic " + base64.b64encode(raw).decode()


@dataclass(frozen=True)
class LoadResult:
    """What one closed-loop run measured."""

    tool: str
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    non_2xx: int = 0
    sockets: dict[str, int] = field(default_factory=dict)  # socket errors by kind

    @property
    def rps(self) -> float:
        """Requests per second."""
        return self.requests / self.seconds if self.seconds else 0.0

    @property
    def errors(self) -> int:
        """Non-2xx answers and socket errors."""
        return self.non_2xx + sum(self.sockets.values())


def load(url: str, *, seconds: float, connections: int) -> LoadResult:
    """Drive GET ``url`` with wrk when installed, else with the built-in asyncio client."""
    if shutil.which("wrk"):
        return wrk(url, seconds=seconds, connections=connections)
    return asyncio.run(_asyncio_load(url, seconds, connections))


_UNITS = {"us": 0.001, "ms": 1.0, "s": 1000.0}


def wrk(url: str, *, seconds: float, connections: int, script: str = "") -> LoadResult:
    """wrk -t1 (keep-alive connections), with a Lua ``script`` when given."""
    with tempfile.TemporaryDirectory() as tmp:
        options = []
        if script:
            path = Path(tmp) / "script.lua"
            path.write_text(script, encoding="utf-8")
            options = ["-s", str(path)]
        command = ["wrk", "-t1", f"-c{connections}", f"-d{max(1, int(seconds))}s", "--latency"]
        done = subprocess.run([*command, *options, url], capture_output=True, text=True)
    out = done.stdout
    if done.returncode != 0:
        raise RuntimeError(f"wrk failed ({done.returncode}):\n{out}\n{done.stderr}")

    def latency(pct: str) -> float:
        match = re.search(rf"^\s+{pct}%\s+([\d.]+)(us|ms|s)\s*$", out, re.M)
        return float(match.group(1)) * _UNITS[match.group(2)] if match else float("nan")

    total = re.search(r"(\d+) requests in ([\d.]+)(s|m)", out)
    if total is None:
        raise RuntimeError("could not parse wrk output:\n" + out)
    secs = float(total.group(2)) * (60 if total.group(3) == "m" else 1)
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    found = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    # Each kind apart: a timeout (no answer in 2 s) is not a refused connection.
    names = ("connect", "read", "write", "timeout")
    sockets = dict(zip(names, map(int, found.groups()), strict=True)) if found else {}
    return LoadResult(
        tool="wrk",
        requests=int(total.group(1)),
        seconds=secs,
        p50_ms=latency("50"),
        p99_ms=latency("99"),
        non_2xx=int(non_2xx.group(1)) if non_2xx else 0,
        sockets={k: v for k, v in sockets.items() if v},
    )


async def _asyncio_load(url: str, seconds: float, connections: int) -> LoadResult:
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
            length = re.search(rb"(?i)content-length: (\d+)", head)
            await reader.readexactly(int(length.group(1)) if length else 0)
            latencies.append((time.perf_counter() - started) * 1000)
            if not head.startswith(b"HTTP/1.1 2"):
                errors += 1
        writer.close()

    began = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(connections)))
    elapsed = time.perf_counter() - began
    latencies.sort()
    return LoadResult(
        "asyncio",
        len(latencies),
        elapsed,
        percentile(latencies, 50),
        percentile(latencies, 99),
        non_2xx=errors,
    )


class HttpError(Exception):
    """A step of a flow answered something else than expected."""

    def __init__(self, step: str, status: int, body: bytes = b"") -> None:
        super().__init__(f"{step}: HTTP {status}")
        self.step, self.status, self.body = step, status, body


@dataclass
class Response:
    """Status, headers (lower-case names) and body of one response."""

    status: int
    headers: list[tuple[str, str]]
    body: bytes

    def header(self, name: str) -> str:
        """The first value of a header, or ''."""
        return next((v for k, v in self.headers if k == name), "")


class Conn:
    """One keep-alive HTTP/1.1 connection: just enough of a client for scripted flows."""

    def __init__(self, port: int) -> None:
        self.port = port
        self.host = f"127.0.0.1:{port}"
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def close(self) -> None:
        """Close the connection (a new one is opened by the next request)."""
        if self.writer is not None:
            self.writer.close()
        self.reader = self.writer = None

    async def request(
        self,
        method: str,
        target: str,
        *,
        cookies: dict[str, str] | None = None,
        headers: Sequence[tuple[str, str]] = (),
        body: bytes | None = None,
    ) -> Response:
        """Send one request and read its response; remember Set-Cookie in ``cookies``."""
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection("127.0.0.1", self.port)
        if self.reader is None or self.writer is None:
            raise OSError("not connected")
        lines = [f"{method} {target} HTTP/1.1", f"Host: {self.host}"]
        lines += [f"{k}: {v}" for k, v in headers]
        if cookies:
            lines.append("Cookie: " + "; ".join(f"{k}={v}" for k, v in cookies.items()))
        if body is not None:
            lines.append(f"Content-Length: {len(body)}")
        self.writer.write(("\r\n".join(lines) + "\r\n\r\n").encode() + (body or b""))
        try:
            response = await self._read(self.reader)
        except (OSError, asyncio.IncompleteReadError, ValueError):
            await self.close()
            raise
        if response.header("connection").lower() == "close":
            await self.close()
        if cookies is not None:
            for name, value in response.headers:
                if name == "set-cookie":
                    key, _, rest = value.partition("=")
                    cookies[key.strip()] = rest.split(";", 1)[0]
        return response

    @staticmethod
    async def _read(reader: asyncio.StreamReader) -> Response:
        head = await reader.readuntil(b"\r\n\r\n")
        status_line, *header_lines = head[:-4].decode("latin-1").split("\r\n")
        parsed = []
        for line in header_lines:
            name, _, value = line.partition(":")
            parsed.append((name.strip().lower(), value.strip()))
        response = Response(int(status_line.split(" ", 2)[1]), parsed, b"")
        if response.header("transfer-encoding").lower() == "chunked":
            chunks = []
            while True:
                size = int((await reader.readuntil(b"\r\n")).strip().split(b";")[0], 16)
                chunks.append(await reader.readexactly(size + 2))
                if size == 0:
                    break
            response.body = b"".join(c[:-2] for c in chunks)
        else:
            response.body = await reader.readexactly(int(response.header("content-length") or 0))
        return response
