"""The agency API (client_credentials tokens): verify, batch verify, lookup; and the aliases
and agency policies that citizens and officials manage. Routers are thin: the rules are in
registry/agency/service.py."""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from typing import Annotated, Any, TypeVar

from fastapi import APIRouter, Depends, Path, Query, Request, Response
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import Principal, require
from core.deps import DatabaseDep, SessionDep
from core.errors import FieldError, RegistryError, ValidationFailed
from core.inputs import OutsideTextRoute
from core.openapi import problems
from core.text import ID_NUMBER_PATTERN
from registry.agency import service
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


def _principal(request: Request, principal: Principal) -> Principal:
    # The official acting inside the agency, when the agency says (kept in the audit trail).
    on_behalf = request.headers.get("x-on-behalf-of")
    if on_behalf is None:
        return principal
    if not ON_BEHALF_OF.fullmatch(on_behalf):
        raise ValidationFailed(
            "X-On-Behalf-Of must be 1-128 letters, digits or . _ @ -.",
            errors=[FieldError("invalid", header="X-On-Behalf-Of")],
        )
    from dataclasses import replace

    return replace(principal, on_behalf_of=on_behalf)


async def _call(
    session: AsyncSession,
    database: Any,
    principal: Principal,
    *,
    request: Request,
    action: str,
    identifier: str | None,
    purpose: str | None,
    work: Callable[[service.Caller], Awaitable[T]],
    charged: bool = False,
) -> T:
    """The agency door: caller and policy, rate limit (unless ``charged``: the call's token
    was taken already), the work, and the record of any refusal."""
    try:
        # Inside the try: a bad X-On-Behalf-Of is a refusal like any other, so it is recorded.
        principal = _principal(request, principal)
        client = getattr(request.state, "oauth_client", None)
        agency = await service.caller(session, principal, client=client)
        if not charged:
            await service.rate_limit(database, session, agency)
        return await work(agency)
    except RegistryError as exc:
        await service.record_refusal(
            session, exc, principal=principal, action=action, identifier=identifier,
            purpose=purpose,
        )  # fmt: skip
        raise


_PROBLEMS = problems(401, 403, 404, 422, 429)


def _answer(model: type[BaseModel], status: int = 200) -> dict[int | str, dict[str, Any]]:
    # The service's dictionaries go out as they are (the fast lane sends the same ones); the
    # model only describes them.
    return {status: {"model": model}}


@router.post(
    "/verify", summary="Verify a citizen's attributes (yes/no)", response_model=None,
    responses={**_answer(VerifyAnswer), **_PROBLEMS},
    openapi_extra={"security": [{"agencyToken": ["verify"]}]},
)  # fmt: skip
async def verify(
    body: Verification,
    request: Request,
    agency: AgencyDep,
    session: SessionDep,
    database: DatabaseDep,
) -> dict[str, Any]:
    """`match` true or false, and nothing else unless the policy allows per-attribute results."""
    return await _call(
        session, database, agency, request=request, action="agency.verify",
        identifier=body.id_number, purpose=body.purpose,
        work=lambda caller: service.verify(
            session, agency=caller, identifier=body.id_number, purpose=body.purpose,
            claims=body.claims,
        ),
    )  # fmt: skip


@router.post(
    "/verify/batch", summary="Verify up to 1,000 citizens", response_model=None,
    responses={**_answer(BatchAnswer), **_PROBLEMS},
    openapi_extra={"security": [{"agencyToken": ["verify_batch"]}]},
)  # fmt: skip
async def verify_batch(
    body: BatchVerification,
    request: Request,
    agency: AgencyDep,
    session: SessionDep,
    database: DatabaseDep,
) -> dict[str, Any]:
    """Per-item results in request order; one audit event per item."""
    items = [item.model_dump() for item in body.items]
    return await _call(
        session, database, agency, request=request, action="agency.verify", identifier=None,
        purpose=body.purpose,
        work=lambda caller: service.verify_batch(
            session, agency=caller, purpose=body.purpose, items=items
        ),
    )  # fmt: skip


@router.get(
    "/citizens/{id}", summary="Look up the fields a policy allows", response_model=None,
    responses={**_answer(LookupAnswer), **_PROBLEMS},
    openapi_extra={"security": [{"agencyToken": ["lookup"]}]},
)  # fmt: skip
async def lookup(
    request: Request,
    agency: AgencyDep,
    session: SessionDep,
    database: DatabaseDep,
    id: Annotated[str, Path(max_length=16, description="ID number or alias.")],
    fields: Annotated[str, Query(max_length=2000, description="Comma-separated field names.")],
    purpose: Annotated[str, Query(max_length=64, description="A purpose code.")],
) -> dict[str, Any]:
    """Exactly the requested fields; a field outside the policy is a 403 naming it."""
    return await _call(
        session, database, agency, request=request, action="agency.lookup", identifier=id,
        purpose=purpose,
        work=lambda caller: service.lookup(
            session, agency=caller, identifier=id, purpose=purpose, fields=fields.split(",")
        ),
    )  # fmt: skip


@router.get("/purposes", summary="The purpose codes", response_model=list[PurposeView])
async def list_purposes() -> list[dict[str, Any]]:
    """Every purpose code, with whether it sees locked identities and the deceased."""
    return [
        {"code": p.code, "name_vi": p.name_vi, "name_en": p.name_en,
         "overrides_lock": p.overrides_lock, "deceased_allowed": p.deceased_allowed}
        for p in purposes().values()
    ]  # fmt: skip


# ------------------------------------------------------------------------------ aliases


class NewAlias(BaseModel):
    """A new alias: an optional label and validity."""

    model_config = ConfigDict(extra="forbid")
    label: str | None = Field(None, max_length=64)
    valid_days: int | None = Field(None, ge=1, le=service.ALIAS_MAX_DAYS)


@router.post(
    "/me/aliases", status_code=201, summary="Create an alias of my ID number",
    response_model=AliasView, responses=problems(404),
)  # fmt: skip
async def my_new_alias(body: NewAlias, citizen: CitizenDep, session: SessionDep) -> dict[str, Any]:
    """A revocable 16-digit number I can give a service instead of my ID number."""
    row = await service.create_alias(
        session, actor=citizen, citizen_id=citizen.actor_id, label=body.label,
        valid_days=body.valid_days,
    )  # fmt: skip
    return service.describe_alias(row)


@router.get("/me/aliases", summary="My aliases", response_model=list[AliasView])
async def my_aliases(citizen: CitizenDep, session: SessionDep) -> list[dict[str, Any]]:
    """Every alias I created, newest first."""
    from registry.agency import repository

    rows = await repository.aliases_of(session, citizen.actor_id)
    return [service.describe_alias(r) for r in rows]


@router.delete("/me/aliases/{alias}", status_code=204, summary="Revoke one of my aliases")
async def my_alias_revoke(
    alias: Annotated[str, Path(pattern=r"^[0-9]{16}$")], citizen: CitizenDep, session: SessionDep
) -> Response:
    """The alias is refused everywhere from now on."""
    await service.revoke_alias(session, actor=citizen, alias=alias, citizen_id=citizen.actor_id)
    return Response(status_code=204)


@router.post(
    "/officials/citizens/{id_number}/aliases", status_code=201, tags=["officials"],
    summary="Create an alias for a citizen", response_model=AliasView,
)  # fmt: skip
async def official_new_alias(
    id_number: Annotated[str, Path(pattern=ID_NUMBER_PATTERN)],
    body: NewAlias,
    official: OfficialDep,
    session: SessionDep,
) -> dict[str, Any]:
    """An official creates an alias (e.g. for a citizen without the portal)."""
    row = await service.create_alias(
        session, actor=official, citizen_id=id_number, label=body.label,
        valid_days=body.valid_days,
    )  # fmt: skip
    return service.describe_alias(row)


@router.delete(
    "/officials/aliases/{alias}", status_code=204, tags=["officials"], summary="Revoke an alias"
)
async def official_alias_revoke(
    alias: Annotated[str, Path(pattern=r"^[0-9]{16}$")], official: OfficialDep, session: SessionDep
) -> Response:
    """Revoke any alias."""
    await service.revoke_alias(session, actor=official, alias=alias, citizen_id=None)
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
    policy = await service.set_policy(
        session, official=official, client_id=client_id, raw=body.model_dump()
    )
    import json

    loaded: dict[str, Any] = json.loads(policy.to_json())
    return loaded


@router.post(
    "/officials/agencies/{client_id}/suspend", status_code=204, tags=["officials"],
    summary="Suspend an agency",
)  # fmt: skip
async def suspend(
    client_id: Annotated[str, Path(max_length=64)], official: OfficialDep, session: SessionDep
) -> Response:
    """Its tokens stop working at once."""
    await service.set_active(session, official=official, client_id=client_id, active=False)
    return Response(status_code=204)


@router.post(
    "/officials/agencies/{client_id}/reinstate", status_code=204, tags=["officials"],
    summary="Reinstate an agency",
)  # fmt: skip
async def reinstate(
    client_id: Annotated[str, Path(max_length=64)], official: OfficialDep, session: SessionDep
) -> Response:
    """Lift a suspension."""
    await service.set_active(session, official=official, client_id=client_id, active=True)
    return Response(status_code=204)
