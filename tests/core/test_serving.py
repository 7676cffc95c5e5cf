"""core.serving: uvicorn's httptools protocol writing each response to the socket once."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
import uvicorn
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, Response, StreamingResponse
from starlette.routing import Route

from core.serving import CoalescingTransport, HttpToolsProtocol


class Recording:
    """A transport that records its writes."""

    def __init__(self) -> None:
        self.writes: list[bytes] = []
        self.closed = False
        self.aborted = False

    def write(self, data: bytes) -> None:
        assert not self.closed
        self.writes.append(data)

    def is_closing(self) -> bool:
        return self.closed

    def close(self) -> None:
        self.closed = True

    def abort(self) -> None:
        self.aborted = self.closed = True

    def get_write_buffer_size(self) -> int:
        return 0

    def get_extra_info(self, name: str) -> str:
        return f"info:{name}"


def coalescing() -> tuple[CoalescingTransport, Recording]:
    recording = Recording()
    transport: Any = recording
    return CoalescingTransport(transport, asyncio.get_running_loop()), recording


async def test_writes_of_one_turn_go_out_as_one_in_order() -> None:
    wrapped, raw = coalescing()
    wrapped.write(b"HTTP/1.1 200 OK\r\n\r\n")
    wrapped.write(b"")
    wrapped.write(bytearray(b"body"))
    assert raw.writes == []
    assert wrapped.get_write_buffer_size() == 23
    await asyncio.sleep(0)
    assert raw.writes == [b"HTTP/1.1 200 OK\r\n\r\nbody"]
    wrapped.write(b"next")
    await asyncio.sleep(0)
    assert raw.writes[1:] == [b"next"]
    assert wrapped.get_extra_info("peername") == "info:peername"


async def test_close_writes_first_and_abort_drops() -> None:
    wrapped, raw = coalescing()
    wrapped.write(b"last words")
    wrapped.close()
    assert (raw.writes, raw.closed) == ([b"last words"], True)
    await asyncio.sleep(0)  # the scheduled flush finds nothing left
    assert raw.writes == [b"last words"]
    wrapped, raw = coalescing()
    wrapped.write(b"never sent")
    wrapped.abort()
    await asyncio.sleep(0)
    assert (raw.writes, raw.aborted) == ([], True)


async def test_nothing_is_written_to_a_closing_transport() -> None:
    wrapped, raw = coalescing()
    wrapped.write(b"late")
    raw.closed = True
    await asyncio.sleep(0)
    assert raw.writes == []


# ------------------------------------------------------------------------------ real server


async def json_answer(request: Request) -> Response:
    return JSONResponse({"n": int(request.path_params["n"]), "text": "tiếng Việt"})


async def streamed(_request: Request) -> Response:
    async def parts() -> AsyncIterator[bytes]:
        for k in range(3):
            yield f"part {k}\n".encode()
            await asyncio.sleep(0.01)

    return StreamingResponse(parts(), media_type="text/plain")


async def echo(request: Request) -> Response:
    return Response(await request.body(), media_type="application/octet-stream")


APP = Starlette(
    routes=[
        Route("/n/{n:int}", json_answer),
        Route("/stream", streamed),
        Route("/echo", echo, methods=["POST"]),
    ]
)


@pytest.fixture
async def server() -> AsyncIterator[str]:
    """uvicorn with core.serving's protocol, on a free port of this host."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    config = uvicorn.Config(
        APP,
        host="127.0.0.1",
        port=port,
        http=HttpToolsProtocol,
        log_level="warning",
        lifespan="off",
    )
    served = uvicorn.Server(config)
    task = asyncio.create_task(served.serve())
    while not served.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        served.should_exit = True
        await task


async def test_a_real_server_answers_keep_alive_streamed_and_bad_requests(server: str) -> None:
    async with httpx.AsyncClient(base_url=server) as client:
        for n in range(5):  # one keep-alive connection
            response = await client.get(f"/n/{n}")
            assert response.json() == {"n": n, "text": "tiếng Việt"}
            assert response.headers["content-length"] == str(len(response.content))
        streamed = await client.get("/stream")
        assert streamed.text == "part 0\npart 1\npart 2\n"
        big = bytes(range(256)) * 4096  # 1 MiB each way
        assert (await client.post("/echo", content=big)).content == big
    reader, writer = await asyncio.open_connection(*server.removeprefix("http://").split(":"))
    writer.write(b"NOT HTTP AT ALL\r\n\r\n")
    await writer.drain()
    answer = await asyncio.wait_for(reader.read(), timeout=5)
    writer.close()
    assert answer.startswith(b"HTTP/1.1 400 ")
