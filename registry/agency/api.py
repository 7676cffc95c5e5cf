"""The agency API (client_credentials tokens): verify, batch verify, lookup; and the aliases
and agency policies that citizens and officials manage. Routers are thin: the rules are in
registry/agency/service.py."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import replace
from types import MappingProxyType
from typing import Annotated, Any, TypeVar
from urllib.parse import parse_qsl

from fastapi import APIRouter, Depends, FastAPI, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field, ValidationError
from sqlalchemy.ext.asyncio import AsyncSession
from starlette.types import Message, Receive, Scope, Send

from core.auth import Principal, require, requirement_of
from core.db import Database
from core.deps import SessionDep
from core.errors import FieldError, RegistryError, ValidationFailed
from core.inputs import OutsideTextRoute, refused_character, refused_in_json_text
from core.openapi import problems
from core.text import ID_NUMBER_PATTERN
from registry.agency import admin, service
from registry.agency.grouped import Outcome, grouped_lookup, grouped_verify
from registry.agency.memory import AgencyMemory
from registry.agency.policy import ACTIONS, LOOKUP_FIELDS, VERIFY_ATTRIBUTES, purposes
from registry.agency.schemas import (
    AliasView,
    BatchAnswer,
    LookupAnswer,
    PolicyView,
    PurposeView,
    VerifyAnswer,
)

router = APIRouter(route_class=OutsideTextRoute, prefix="/api/v1", tags=["agencies"])
T = TypeVar("T")
ON_BEHALF_OF = re.compile(r"^[A-Za-z0-9._@\-]{1,128}$")

AgencyDep = Annotated[Principal, Depends(require("agency"))]
CitizenDep = Annotated[Principal, Depends(require("citizen"))]
OfficialDep = Annotated[Principal, Depends(require("official"))]


class Verification(BaseModel):
    """One verification: an ID number (or alias), a purpose, and the claimed attributes."""

    model_config = ConfigDict(extra="forbid")
    id_number: str = Field(max_length=16, description="12-digit ID number or 16-digit alias.")
    purpose: str = Field(max_length=64, description="A purpose code (GET /api/v1/purposes).")
    claims: dict[str, Any] = Field(
        description="Claimed attributes: " + ", ".join(VERIFY_ATTRIBUTES) + "."
    )


class BatchItem(BaseModel):
    """One item of a batch."""

    model_config = ConfigDict(extra="forbid")
    id_number: str = Field(max_length=16)
    claims: dict[str, Any]


class BatchVerification(BaseModel):
    """Up to 1,000 verifications for one purpose."""

    model_config = ConfigDict(extra="forbid")
    purpose: str = Field(max_length=64)
    items: list[BatchItem] = Field(min_length=1, max_length=1000)


def _on_behalf_of(request: Request, principal: Principal) -> Principal:
    # The official acting inside the agency, when the agency says (kept in the audit trail).
    on_behalf = request.headers.get("x-on-behalf-of")
    if on_behalf is None:
        return principal
    if not ON_BEHALF_OF.fullmatch(on_behalf):
        raise ValidationFailed(
            "X-On-Behalf-Of must be 1-128 letters, digits or . _ @ -.",
            errors=[FieldError("invalid", header="X-On-Behalf-Of")],
        )
    return replace(principal, on_behalf_of=on_behalf)


async def _call(
    session: AsyncSession,
    request: Request,
    principal: Principal,
    *,
    action: str,
    identifier: str | None,
    purpose: str | None,
    work: Callable[[service.Caller], Awaitable[T]],
    charged: bool = False,
) -> T:
    """The agency door: caller and policy, rate limit (unless ``charged``: the call's token
    was taken already), the work, and the record of any refusal."""
    memory: AgencyMemory = request.app.state.agency_memory
    try:
        # Inside the try: a bad X-On-Behalf-Of is a refusal like any other, so it is recorded.
        principal = _on_behalf_of(request, principal)
        client = getattr(request.state, "oauth_client", None)
        agency = await service.caller(session, principal, memory=memory, client=client)
        if not charged:
            await service.rate_limit(request.app.state.database, session, agency, memory)
        return await work(agency)
    except RegistryError as exc:
        await service.record_refusal(
            session,
            exc,
            principal=principal,
            action=action,
            identifier=identifier,
            purpose=purpose,
        )
        raise


_AGENCY = require("agency")
E = TypeVar("E", bound=Callable[..., Any])


# What an endpoint of a LeanRoute names ``lean``: the call's answer, or None for FastAPI's handling.
LeanHandler = Callable[[Request], Awaitable[Response | None]]


class LeanRoute(OutsideTextRoute):
    """A route whose ordinary requests skip FastAPI's dependency solving, parameter checks and
    request wrapping: its endpoint's ``lean`` handler reads them itself and does what the
    endpoint does. A request it cannot read the plain way (a parameter missing, repeated or too
    long, a body that is not plain JSON of the model, refused outside text) gets the
    outside-text check and FastAPI's own handling of the same endpoint, which answer it (422 and
    the like) as for any route. What the lean handler raises, the app's exception handlers
    answer, as they answer what a route's handler raises."""

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        """The lean handler's answer, else the route's standard handling of the request."""
        if self.methods is not None and scope["method"] in self.methods:
            request = Request(scope, receive, send)
            lean: LeanHandler = self.endpoint.lean  # type: ignore[attr-defined]
            answer = await lean(request)
            if answer is not None:
                await answer(scope, receive, send)
                return
            if self.body_field is not None:
                receive = _replay(await request.body(), receive)
        await super().handle(scope, receive, send)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` that gives the body already read, then what the client sends next."""
    given: list[Message] = [{"type": "http.request", "body": body, "more_body": False}]

    async def replay() -> Message:
        return given.pop() if given else await receive()

    return replay


def _authenticates(endpoint: E) -> E:
    """Mark an endpoint that checks ``_AGENCY`` itself (core.openapi documents it as gated)."""
    endpoint.requirement = requirement_of(_AGENCY)  # type: ignore[attr-defined]
    return endpoint


async def _answer_call(
    request: Request,
    *,
    action: str,
    identifier: str,
    purpose: str,
    grouped: Callable[[Database, AgencyMemory, Principal, str], Awaitable[Outcome]],
    work: Callable[[AsyncSession, service.Caller], Awaitable[dict[str, Any]]],
) -> Response:
    """A lookup or a verify: the grouped statement when the token and the policy were seen
    before (registry/agency/grouped.py), else the full path in a unit of work. Its own
    response, rendered once: the answers are plain JSON."""
    state = request.app.state
    database: Database = state.database
    charged = False
    remembered = getattr(state.authenticator, "remembered_agency", None)
    if remembered is not None:
        known = remembered(request.headers.get("authorization") or "")
        on_behalf = request.headers.get("x-on-behalf-of")
        if known is not None and (on_behalf is None or ON_BEHALF_OF.fullmatch(on_behalf)):
            principal, jti = known
            if on_behalf is not None:
                principal = replace(principal, on_behalf_of=on_behalf)
            outcome = await grouped(database, state.agency_memory, principal, jti)
            if outcome.answer is not None:
                return _json(outcome.answer)
            charged = outcome.charged
    async with database.unit_of_work() as session:
        principal = await _AGENCY(request, session)
        answer = await _call(
            session,
            request,
            principal,
            action=action,
            identifier=identifier,
            purpose=purpose,
            work=lambda caller: work(session, caller),
            charged=charged,
        )
    return _json(answer)


# JSONResponse's rendering (starlette.responses), with one encoder made once instead of one per
# answer: the same bytes and headers.
_ENCODE = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, indent=None, separators=(",", ":")
).encode


def _json(answer: dict[str, Any]) -> Response:
    return Response(_ENCODE(answer).encode("utf-8"), media_type="application/json")


_PROBLEMS = problems(401, 403, 404, 422, 429)


def _answer(model: type[BaseModel], status: int = 200) -> dict[int | str, dict[str, Any]]:
    # The service's dictionaries go out as they are; the model only describes them.
    return {status: {"model": model}}


async def verify(body: Verification, request: Request) -> Response:
    """`match` true or false, and nothing else unless the policy allows per-attribute results."""
    return await _verify(request, body)


async def _verify(request: Request, body: Verification) -> Response:
    return await _answer_call(
        request,
        action="agency.verify",
        identifier=body.id_number,
        purpose=body.purpose,
        grouped=lambda database, memory, principal, jti: grouped_verify(
            database,
            memory,
            principal=principal,
            jti=jti,
            identifier=body.id_number,
            purpose=body.purpose,
            claims=body.claims,
        ),
        work=lambda session, caller: service.verify(
            session,
            agency=caller,
            identifier=body.id_number,
            purpose=body.purpose,
            claims=body.claims,
        ),
    )


async def _verify_lean(request: Request) -> Response | None:
    # What FastAPI would read (Starlette's Request.json, then the model), when it is plain.
    content_type = request.headers.get("content-type", "")
    if content_type.split(";", 1)[0].strip().lower() != "application/json":
        return None
    text = await request.body()
    try:
        document = json.loads(text)
        body = Verification.model_validate(document)
    # JSONDecodeError and UnicodeDecodeError are ValueErrors; RecursionError: too deep.
    except (ValueError, ValidationError, RecursionError):
        return None
    if refused_in_json_text(text, document) is not None:
        return None
    return await _verify(request, body)


async def lookup(
    request: Request,
    id: Annotated[str, Path(max_length=16, description="ID number or alias.")],
    fields: Annotated[str, Query(max_length=2000, description="Comma-separated field names.")],
    purpose: Annotated[str, Query(max_length=64, description="A purpose code.")],
) -> Response:
    """Exactly the requested fields; a field outside the policy is a 403 naming it."""
    return await _lookup(request, id, fields, purpose)


async def _lookup(request: Request, identifier: str, fields: str, purpose: str) -> Response:
    names = fields.split(",")
    return await _answer_call(
        request,
        action="agency.lookup",
        identifier=identifier,
        purpose=purpose,
        grouped=lambda database, memory, principal, jti: grouped_lookup(
            database,
            memory,
            principal=principal,
            jti=jti,
            identifier=identifier,
            purpose=purpose,
            fields=names,
        ),
        work=lambda session, caller: service.lookup(
            session, agency=caller, identifier=identifier, purpose=purpose, fields=names
        ),
    )


async def _lookup_lean(request: Request) -> Response | None:
    identifier: str = request.path_params["id"]
    params = _query(request.scope["query_string"])
    if (
        params is None
        or len(identifier) > 16
        or set(params) != {"fields", "purpose"}
        or len(params["fields"]) > 2000
        or len(params["purpose"]) > 64
        or any(map(refused_character, (identifier, params["fields"], params["purpose"])))
    ):
        return None
    return await _lookup(request, identifier, params["fields"], params["purpose"])


def _parse_query(raw: bytes) -> Mapping[str, str] | None:
    """The query's parameters as Starlette reads them, or None when one is repeated (FastAPI's
    own handling decides which counts). Shared between calls, so read-only."""
    pairs = parse_qsl(raw.decode("latin-1"), keep_blank_values=True)
    params = dict(pairs)
    return MappingProxyType(params) if len(params) == len(pairs) else None


# An agency sends the same query (fields and purpose) with every lookup: recent ones are kept
# parsed (a pure function of its argument, at most 1024 of them).
_parsed_query = functools.lru_cache(maxsize=1024)(_parse_query)


def _query(raw: bytes) -> Mapping[str, str] | None:
    return _parsed_query(raw) if len(raw) <= 2048 else _parse_query(raw)


verify.lean = _verify_lean  # type: ignore[attr-defined]
lookup.lean = _lookup_lean  # type: ignore[attr-defined]


def add_calls(app: FastAPI) -> None:
    """Add the agency API's two hottest calls, verify and lookup, first in the app's own routes:
    routes are tried in order, FastAPI matches a route of an included router twice (to pick the
    router, then the route in it), and the documentation's routes come first otherwise."""
    app.router.add_api_route(
        "/api/v1/verify",
        _authenticates(verify),
        methods=["POST"],
        tags=["agencies"],
        summary="Verify a citizen's attributes (yes/no)",
        response_model=None,
        responses={**_answer(VerifyAnswer), **_PROBLEMS},
        openapi_extra={"security": [{"agencyToken": ["verify"]}]},
        route_class_override=LeanRoute,
    )
    app.router.add_api_route(
        "/api/v1/citizens/{id}",
        _authenticates(lookup),
        methods=["GET"],
        tags=["agencies"],
        summary="Look up the fields a policy allows",
        response_model=None,
        responses={**_answer(LookupAnswer), **_PROBLEMS},
        openapi_extra={"security": [{"agencyToken": ["lookup"]}]},
        route_class_override=LeanRoute,
    )
    routes = app.router.routes
    routes[:0] = [routes.pop(-2), routes.pop()]


@router.post(
    "/verify/batch",
    summary="Verify up to 1,000 citizens",
    response_model=None,
    responses={**_answer(BatchAnswer), **_PROBLEMS},
    openapi_extra={"security": [{"agencyToken": ["verify_batch"]}]},
)
async def verify_batch(
    body: BatchVerification, request: Request, agency: AgencyDep, session: SessionDep
) -> dict[str, Any]:
    """Per-item results in request order; one audit event per item."""
    items = [item.model_dump() for item in body.items]
    return await _call(
        session,
        request,
        agency,
        action="agency.verify",
        identifier=None,
        purpose=body.purpose,
        work=lambda caller: service.verify_batch(
            session, agency=caller, purpose=body.purpose, items=items
        ),
    )


@router.get("/purposes", summary="The purpose codes", response_model=list[PurposeView])
async def list_purposes() -> list[dict[str, Any]]:
    """Every purpose code, with whether it sees locked identities and the deceased."""
    return [
        {
            "code": p.code,
            "name_vi": p.name_vi,
            "name_en": p.name_en,
            "overrides_lock": p.overrides_lock,
            "deceased_allowed": p.deceased_allowed,
        }
        for p in purposes().values()
    ]


# ------------------------------------------------------------------------------ aliases


class NewAlias(BaseModel):
    """A new alias: an optional label and validity."""

    model_config = ConfigDict(extra="forbid")
    label: str | None = Field(None, max_length=64)
    valid_days: int | None = Field(None, ge=1, le=admin.ALIAS_MAX_DAYS)


@router.post(
    "/me/aliases",
    status_code=201,
    summary="Create an alias of my ID number",
    response_model=AliasView,
    responses=problems(404),
)
async def my_new_alias(body: NewAlias, citizen: CitizenDep, session: SessionDep) -> dict[str, Any]:
    """A revocable 16-digit number I can give a service instead of my ID number."""
    row = await admin.create_alias(
        session,
        actor=citizen,
        citizen_id=citizen.actor_id,
        label=body.label,
        valid_days=body.valid_days,
    )
    return admin.describe_alias(row)


@router.get("/me/aliases", summary="My aliases", response_model=list[AliasView])
async def my_aliases(citizen: CitizenDep, session: SessionDep) -> list[dict[str, Any]]:
    """Every alias I created, newest first."""
    from registry.agency import repository

    rows = await repository.aliases_of(session, citizen.actor_id)
    return [admin.describe_alias(r) for r in rows]


@router.delete("/me/aliases/{alias}", status_code=204, summary="Revoke one of my aliases")
async def my_alias_revoke(
    alias: Annotated[str, Path(pattern=r"^[0-9]{16}$")], citizen: CitizenDep, session: SessionDep
) -> Response:
    """The alias is refused everywhere from now on."""
    await admin.revoke_alias(session, actor=citizen, alias=alias, citizen_id=citizen.actor_id)
    return Response(status_code=204)


@router.post(
    "/officials/citizens/{id_number}/aliases",
    status_code=201,
    tags=["officials"],
    summary="Create an alias for a citizen",
    response_model=AliasView,
)
async def official_new_alias(
    id_number: Annotated[str, Path(pattern=ID_NUMBER_PATTERN)],
    body: NewAlias,
    official: OfficialDep,
    session: SessionDep,
) -> dict[str, Any]:
    """An official creates an alias (e.g. for a citizen without the portal)."""
    row = await admin.create_alias(
        session,
        actor=official,
        citizen_id=id_number,
        label=body.label,
        valid_days=body.valid_days,
    )
    return admin.describe_alias(row)


@router.delete(
    "/officials/aliases/{alias}", status_code=204, tags=["officials"], summary="Revoke an alias"
)
async def official_alias_revoke(
    alias: Annotated[str, Path(pattern=r"^[0-9]{16}$")], official: OfficialDep, session: SessionDep
) -> Response:
    """Revoke any alias."""
    await admin.revoke_alias(session, actor=official, alias=alias, citizen_id=None)
    return Response(status_code=204)


# ------------------------------------------------------------------------------ policies


class PolicyBody(BaseModel):
    """An agency policy (see the README for each member)."""

    # Strict: "yes" is not true and "20" is not 20 in a policy.
    model_config = ConfigDict(extra="allow", strict=True)
    actions: list[str] = Field(default_factory=list, description=", ".join(ACTIONS))
    fields: list[str] = Field(default_factory=list, description=", ".join(LOOKUP_FIELDS))
    purposes: list[str] = Field(default_factory=list)
    attribute_results: bool = False
    name_match: str = "exact"
    rate_per_second: float = 10.0
    burst: int = 20
    batch_max: int = 1000


@router.put(
    "/officials/agencies/{client_id}/policy",
    tags=["officials"],
    summary="Set an agency policy",
    response_model=PolicyView,
)
async def put_policy(
    client_id: Annotated[str, Path(max_length=64)],
    body: PolicyBody,
    official: OfficialDep,
    session: SessionDep,
) -> dict[str, Any]:
    """Replace the policy of an agency client."""
    policy = await admin.set_policy(
        session, official=official, client_id=client_id, raw=body.model_dump()
    )
    import json

    loaded: dict[str, Any] = json.loads(policy.to_json())
    return loaded


@router.post(
    "/officials/agencies/{client_id}/suspend",
    status_code=204,
    tags=["officials"],
    summary="Suspend an agency",
)
async def suspend(
    client_id: Annotated[str, Path(max_length=64)], official: OfficialDep, session: SessionDep
) -> Response:
    """Its tokens stop working at once."""
    await admin.set_active(session, official=official, client_id=client_id, active=False)
    return Response(status_code=204)


@router.post(
    "/officials/agencies/{client_id}/reinstate",
    status_code=204,
    tags=["officials"],
    summary="Reinstate an agency",
)
async def reinstate(
    client_id: Annotated[str, Path(max_length=64)], official: OfficialDep, session: SessionDep
) -> Response:
    """Lift a suspension."""
    await admin.set_active(session, official=official, client_id=client_id, active=True)
    return Response(status_code=204)
