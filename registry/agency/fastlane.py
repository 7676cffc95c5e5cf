"""The agency API's two hottest calls without the framework's routing and dependency solving.

``GET /api/v1/citizens/{id}`` and ``POST /api/v1/verify`` are what agencies call millions of
times a day. FastAPI spends more CPU finding the route, solving its dependencies and checking
its parameters than the rules and the SQL of the call together (bench/lookup). This ASGI layer
serves the ordinary request of those two routes directly, through the very same pieces the
routes use: the request models of api.py, the authenticator, the unit of work, api._call (the
policy, the rate limit, the audit events of refusals) and the service functions, and renders
errors with the same problem+json renderer.

Anything it would have to answer differently is passed to the app untouched, before any
side effect: a query or body the route's validation would refuse, a missing or failed
authentication, a caller that is not an agency. The routes in api.py therefore stay the
documented, validated and fallback path, and ``REGISTRY_AGENCY_FAST_LANE=false`` turns this
layer off. tests/registry/test_agency_fastlane.py compares both paths answer for answer.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, replace
from types import MappingProxyType
from typing import Any
from urllib.parse import parse_qsl

from pydantic import ValidationError
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from core.auth import Authenticator, Principal
from core.db import Database
from core.errors import Forbidden, RegistryError, Unauthenticated
from core.inputs import refused_character, refused_in_json
from core.problems import problem_response
from registry.agency import api, service

LOOKUP_PREFIX = "/api/v1/citizens/"
VERIFY_PATH = "/api/v1/verify"
MAX_BODY = 64 * 1024  # a verification is a few hundred bytes; larger ones take the long way


@dataclass(frozen=True)
class _Template:
    """What the request-context middleware logs and measures: the route's template."""

    path: str


_LOOKUP_ROUTE = _Template(LOOKUP_PREFIX + "{id}")
_VERIFY_ROUTE = _Template(VERIFY_PATH)


class _Pass(Exception):
    """Hand the request to the app as it came (nothing was done on its behalf)."""


class AgencyFastLane:
    """ASGI middleware in front of the app's router (inside the request-context middleware)."""

    def __init__(self, app: ASGIApp, *, database: Database, base_url: str) -> None:
        self.app = app
        self.database = database
        self.base_url = base_url

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        method, path = scope["method"], scope["path"]
        if method == "GET" and path.startswith(LOOKUP_PREFIX):
            await self._lookup(scope, receive, send)
        elif method == "POST" and path == VERIFY_PATH:
            await self._verify(scope, receive, send)
        else:
            await self.app(scope, receive, send)

    # ------------------------------------------------------------------------------ lookup

    async def _lookup(self, scope: Scope, receive: Receive, send: Send) -> None:
        identifier = scope["path"][len(LOOKUP_PREFIX) :]
        params = _query(scope)
        if (
            params is None
            or not identifier
            or "/" in identifier
            or len(identifier) > 16
            or set(params) != {"fields", "purpose"}
            or len(params["fields"]) > 2000
            or len(params["purpose"]) > 64
            or not _bearer(scope)
            or any(map(refused_character, (identifier, params["fields"], params["purpose"])))
        ):
            await self.app(scope, receive, send)
            return
        fields, purpose = params["fields"], params["purpose"]
        scope["route"] = _LOOKUP_ROUTE
        await self._serve(
            scope, receive, send, body=None, action="agency.lookup", identifier=identifier,
            purpose=purpose,
            work=lambda session, caller: service.lookup(
                session, agency=caller, identifier=identifier, purpose=purpose,
                fields=fields.split(","),
            ),
            one_statement=lambda principal, jti: service.lane_lookup(
                self.database, principal=principal, jti=jti, identifier=identifier,
                purpose=purpose, fields=fields.split(","),
            ),
        )  # fmt: skip

    # ------------------------------------------------------------------------------ verify

    async def _verify(self, scope: Scope, receive: Receive, send: Send) -> None:
        body, complete, pending = await _body(receive)
        if not complete or not _bearer(scope) or not _json_content(scope):
            await self.app(scope, _replay(body, complete, receive, pending), send)
            return
        try:
            # As the route reads it: json.loads (Starlette's Request.json), then the model.
            document = json.loads(body)
            request = api.Verification.model_validate(document)
        # JSONDecodeError and UnicodeDecodeError are ValueErrors; RecursionError: too deep.
        except (ValueError, ValidationError, RecursionError):
            request = None
        if request is None or refused_in_json(document) is not None:
            await self.app(scope, _replay(body, complete, receive), send)
            return
        scope["route"] = _VERIFY_ROUTE
        await self._serve(
            scope, receive, send, body=body, action="agency.verify",
            identifier=request.id_number, purpose=request.purpose,
            work=lambda session, caller: service.verify(
                session, agency=caller, identifier=request.id_number, purpose=request.purpose,
                claims=request.claims,
            ),
            one_statement=lambda principal, jti: service.lane_verify(
                self.database, principal=principal, jti=jti, identifier=request.id_number,
                purpose=request.purpose, claims=request.claims,
            ),
        )  # fmt: skip

    # ------------------------------------------------------------------------------ both

    async def _serve(
        self,
        scope: Scope,
        receive: Receive,
        send: Send,
        *,
        body: bytes | None,
        action: str,
        identifier: str,
        purpose: str,
        work: Callable[[Any, service.Caller], Awaitable[dict[str, Any]]],
        one_statement: Callable[[Principal, str], Awaitable[service.LaneOutcome]],
    ) -> None:
        charged = False
        authenticator: Authenticator = scope["app"].state.authenticator
        # An authenticator that can vouch for a token it validated before, without the
        # database (IdentityAuthenticator.remembered_agency), lets a token and a policy seen
        # before take one statement; that returns None before any write when it cannot serve.
        remembered = getattr(authenticator, "remembered_agency", None)
        if remembered is not None:
            known: tuple[Principal, str] | None = remembered(
                (_header(scope, b"authorization") or b"").decode("latin-1")
            )
            principal = _on_behalf_of(scope, known[0]) if known is not None else None
            if known is not None and principal is not None:
                outcome = await one_statement(principal, known[1])
                if outcome.answer is not None:
                    await _json_answer(send, outcome.answer)
                    return
                charged = outcome.charged
        http = Request(scope, receive)
        try:
            async with self.database.unit_of_work() as session:
                # As require("agency") does; a refusal here changed nothing: the app answers it.
                try:
                    principal = await authenticator.authenticate(http, session)
                except (Unauthenticated, Forbidden):
                    raise _Pass from None
                if principal is None or not principal.has_any_role({"agency"}):
                    raise _Pass
                http.state.principal = principal
                answer = await api._call(  # noqa: SLF001 - the routes' own policy door
                    session, self.database, principal, request=http, action=action,
                    identifier=identifier, purpose=purpose,
                    work=lambda caller: work(session, caller), charged=charged,
                )  # fmt: skip
        except _Pass:
            scope.pop("route", None)
            await self.app(scope, _replay(body or b"", True, receive) if body else receive, send)
            return
        except RegistryError as exc:
            await problem_response(exc, base_url=self.base_url)(scope, receive, send)
            return
        await JSONResponse(answer)(scope, receive, send)


# JSONResponse's rendering (starlette.responses), with one encoder made once instead of one per
# answer: the same bytes and headers (tests/registry/test_agency_fastlane.py compares them).
_ENCODE = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
).encode


async def _json_answer(send: Send, answer: dict[str, Any]) -> None:
    body = _ENCODE(answer).encode("utf-8")
    headers = [(b"content-length", str(len(body)).encode()), (b"content-type", b"application/json")]
    await send({"type": "http.response.start", "status": 200, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def _query(scope: Scope) -> Mapping[str, str] | None:
    """The query's parameters as Starlette reads them, or None when one is repeated (the app
    decides which counts). An agency sends the same query (fields and purpose) with every
    lookup: the recent ones are kept parsed, and shared, so they are read-only."""
    raw: bytes = scope["query_string"]
    return _parsed_query(raw) if len(raw) <= 2048 else _parse_query(raw)


def _parse_query(raw: bytes) -> Mapping[str, str] | None:
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    params = dict(pairs)
    return MappingProxyType(params) if len(params) == len(pairs) else None


_parsed_query = functools.lru_cache(maxsize=1024)(_parse_query)


def _header(scope: Scope, name: bytes) -> bytes | None:
    found = [value for key, value in scope["headers"] if key == name]
    return found[0] if len(found) == 1 else None


def _on_behalf_of(scope: Scope, principal: Principal) -> Principal | None:
    """The principal with the official named by X-On-Behalf-Of, as the routes take it; None
    when the header is repeated or malformed (the routes answer that)."""
    values = [value for key, value in scope["headers"] if key == b"x-on-behalf-of"]
    if not values:
        return principal
    named = values[0].decode("latin-1")
    if len(values) > 1 or not api.ON_BEHALF_OF.fullmatch(named):
        return None
    return replace(principal, on_behalf_of=named)


def _bearer(scope: Scope) -> bool:
    value = _header(scope, b"authorization")
    return value is not None and value[:7].lower() == b"bearer " and len(value) > 7


def _json_content(scope: Scope) -> bool:
    value = _header(scope, b"content-type")
    if value is None:
        return False
    media = value.split(b";", 1)[0].strip().lower()
    return media == b"application/json"


async def _body(receive: Receive) -> tuple[bytes, bool, Message | None]:
    """The body read so far; whether it is whole (not past MAX_BODY, no disconnect); and the
    message that ended the reading early (a disconnect), to be passed on."""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] != "http.request":
            return b"".join(chunks), False, message
        chunk = message.get("body", b"")
        chunks.append(chunk)
        size += len(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks), True, None
        if size > MAX_BODY:
            return b"".join(chunks), False, None


def _replay(
    body: bytes, complete: bool, receive: Receive, pending: Message | None = None
) -> Receive:
    """``receive`` that gives what was read first, then what the client sends next."""
    given: list[Message] = [{"type": "http.request", "body": body, "more_body": not complete}]
    if pending is not None:
        given.append(pending)

    async def replay() -> Message:
        if given:
            return given.pop(0)
        return await receive()

    return replay
