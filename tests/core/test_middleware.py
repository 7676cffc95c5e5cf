"""The request-context middleware: a client that hangs up is not a server error."""

from __future__ import annotations

import logging

import pytest
from starlette.requests import ClientDisconnect, Request
from starlette.types import Message, Receive, Scope, Send

from core.metrics import HttpMetrics
from core.middleware import CLIENT_CLOSED, RequestContextMiddleware


async def reads_a_body_that_never_comes(scope: Scope, receive: Receive, send: Send) -> None:
    await Request(scope, receive).body()  # the client disconnects instead


async def test_a_client_hang_up_is_logged_as_such_and_nothing_is_sent(
    caplog: pytest.LogCaptureFixture,
) -> None:
    metrics = HttpMetrics()
    app = RequestContextMiddleware(
        reads_a_body_that_never_comes, metrics=metrics, base_url="http://testserver"
    )
    sent: list[Message] = []

    async def receive() -> Message:
        return {"type": "http.disconnect"}

    async def send(message: Message) -> None:
        sent.append(message)

    scope: Scope = {"type": "http", "method": "POST", "path": "/x", "headers": []}
    with caplog.at_level(logging.INFO):
        await app(scope, receive, send)
    assert sent == []
    events = [r.msg for r in caplog.records]
    assert "http.client_disconnected" in events
    assert "http.unhandled_error" not in events
    request = next(r for r in caplog.records if r.msg == "http.request")
    assert request.fields["status"] == CLIENT_CLOSED  # type: ignore[attr-defined]
    labels = {"method": "POST", "route": "<unmatched>", "status": str(CLIENT_CLOSED)}
    assert metrics.registry.get_sample_value("http_requests_total", labels) == 1
    # The premise: Starlette raises ClientDisconnect when the body never comes.
    with pytest.raises(ClientDisconnect):
        await reads_a_body_that_never_comes(scope, receive, send)
