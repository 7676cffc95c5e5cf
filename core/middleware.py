"""Request context: request id, access log and metrics, and the last-resort error handler."""

from __future__ import annotations

import logging
import os
import re
import time

from starlette.requests import ClientDisconnect, Request
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.db_errors import is_unavailable
from core.deadlines import RequestDeadlines, answer_started
from core.errors import DatabaseUnavailable, RegistryError
from core.logging import fields, get_logger, request_id_var
from core.metrics import HttpMetrics
from core.problems import error_response, problem_response

REQUEST_ID_HEADER = "x-request-id"
# What logs and metrics say of a request whose client hung up before its answer (nginx's 499):
# not a server error, and nothing is sent.
CLIENT_CLOSED = 499
# A caller's id is kept only when it cannot smuggle anything into logs or headers.
SAFE_REQUEST_ID = re.compile(r"^[A-Za-z0-9._:\-]{8,128}$")

log = get_logger("registry.http")


def route_template(scope: Scope) -> str:
    """The matched route's path template (never the raw path, which may hold an ID number)."""
    route = scope.get("route")
    path = getattr(route, "path", None)
    return path if isinstance(path, str) else "<unmatched>"


class RequestContextMiddleware:
    """Give each request an id, log and measure it, and turn any escaped error into problem+json."""

    def __init__(
        self,
        app: ASGIApp,
        *,
        metrics: HttpMetrics | None,
        base_url: str,
        deadline: float | None = None,
    ) -> None:
        self.app = app
        self.metrics = metrics
        self.base_url = base_url
        self.deadlines = RequestDeadlines(deadline)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        request_id = parse_request_id(scope) or os.urandom(16).hex()
        token = request_id_var.set(request_id)
        scope.setdefault("state", {})["request_id"] = request_id
        started = time.perf_counter()
        status = 500
        response_started = False

        async def send_with_id(message: Message) -> None:
            nonlocal status, response_started
            if message["type"] == "http.response.start":
                answer_started()
                response_started = True
                status = int(message["status"])
                headers = list(message.get("headers", []))
                headers.append((b"x-request-id", request_id.encode("ascii")))
                message = {**message, "headers": headers}
            await send(message)

        try:
            async with self.deadlines():
                await self.app(scope, receive, send_with_id)
        except ClientDisconnect:
            if not response_started:
                status = CLIENT_CLOSED
            log.info("http.client_disconnected")
        except Exception as exc:
            error: RegistryError
            if isinstance(exc, RegistryError):  # the request's deadline
                error = exc
                log.warning("http.unanswered_in_time", exc_info=exc)
            elif is_unavailable(exc):
                error = DatabaseUnavailable("The database is not reachable; try again shortly.")
                log.warning("http.database_unavailable", exc_info=exc)
            else:
                error = RegistryError("An unexpected error occurred; it has been logged.")
                log.error("http.unhandled_error", exc_info=exc)
            if response_started:
                raise  # Nothing sensible can be sent once the body has started.
            if "app" in scope:  # a browser gets the app's error page, in its language
                response = error_response(Request(scope), error, base_url=self.base_url)
            else:
                response = problem_response(error, base_url=self.base_url)
            await response(scope, receive, send_with_id)
        finally:
            elapsed = time.perf_counter() - started
            route = route_template(scope)
            method = str(scope.get("method", ""))
            if self.metrics is not None:
                self.metrics.observe(method, route, status, elapsed)
            if log.isEnabledFor(logging.INFO):  # the access log's fields only when written
                log.info(
                    "http.request",
                    extra=fields(
                        method=method,
                        route=route,
                        status=status,
                        duration_ms=round(elapsed * 1000, 3),
                    ),
                )
            request_id_var.reset(token)


def parse_request_id(scope: Scope) -> str | None:
    """The caller's X-Request-ID when it is safe to reuse, else None."""
    for name, value in scope.get("headers", []):
        if name == b"x-request-id":
            try:
                candidate = value.decode("ascii")
            except UnicodeDecodeError:
                return None
            return candidate if SAFE_REQUEST_ID.fullmatch(candidate) else None
    return None
