"""uvicorn's httptools protocol with each response written to the socket once.

uvicorn writes a response's status line and headers when the app sends
``http.response.start``, then the body when it sends ``http.response.body``: two ``send``
system calls per answer, and on the server's side of a TCP connection each one also pays for
delivering its segment. An app sends both messages one after the other without yielding, so
writes made within one turn of the event loop are gathered here and written together at the
end of that turn: the same bytes in the same order, one system call. Nothing waits longer than
the turn of the loop it was written in (a streamed body is written as it is produced).

``registry serve`` and the benchmarks run uvicorn with ``--http core.serving:HttpToolsProtocol``.
"""

from __future__ import annotations

import asyncio
from typing import Any

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol as _HttpToolsProtocol


class CoalescingTransport:
    """A transport whose writes within one turn of the loop go out as one."""

    def __init__(self, transport: asyncio.Transport, loop: asyncio.AbstractEventLoop) -> None:
        self._transport = transport
        self._loop = loop
        self._pending: list[bytes] = []
        self._scheduled = False

    def write(self, data: bytes | bytearray | memoryview) -> None:
        """Gather ``data``; written at the end of this turn of the event loop."""
        if not data:
            return
        self._pending.append(bytes(data))
        if not self._scheduled:
            self._scheduled = True
            self._loop.call_soon(self.flush)

    def flush(self) -> None:
        """Write what was gathered, in order, in one write."""
        self._scheduled = False
        if not self._pending:
            return
        data = self._pending[0] if len(self._pending) == 1 else b"".join(self._pending)
        self._pending.clear()
        if not self._transport.is_closing():
            self._transport.write(data)

    def close(self) -> None:
        """Write what was gathered, then close (as the transport does with its own buffer)."""
        self.flush()
        self._transport.close()

    def abort(self) -> None:
        """Drop what was gathered and close at once."""
        self._pending.clear()
        self._transport.abort()

    def set_protocol(self, protocol: asyncio.BaseProtocol) -> None:
        """Hand the connection over (an upgrade): what was gathered goes first."""
        self.flush()
        self._transport.set_protocol(protocol)

    def get_write_buffer_size(self) -> int:
        """Bytes gathered and bytes the transport still holds."""
        return sum(map(len, self._pending)) + self._transport.get_write_buffer_size()

    def __getattr__(self, name: str) -> Any:
        return getattr(self._transport, name)


class HttpToolsProtocol(_HttpToolsProtocol):
    """uvicorn's httptools protocol over a CoalescingTransport."""

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        """As uvicorn's, with writes gathered per turn of the event loop."""
        wrapped: Any = CoalescingTransport(transport, asyncio.get_running_loop())
        super().connection_made(wrapped)
