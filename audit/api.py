"""The audit HTTP API: public checkpoints, the auditor's search and proofs, the citizen's log."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request
from fastapi.responses import PlainTextResponse, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from audit import signing, views
from audit.checkpoint import Signer
from audit.schemas import (
    ConsistencyProof,
    EventFilters,
    EventPage,
    EventSearchParams,
    EventView,
    InclusionProof,
    PageParams,
)
from core.auth import Principal, require
from core.deps import DatabaseDep, SessionDep
from core.inputs import OutsideTextRoute
from core.openapi import problems as _problems

NDJSON_MEDIA_TYPE = "application/x-ndjson"

router = APIRouter(route_class=OutsideTextRoute, prefix="/api/v1", tags=["audit"])

AuditorDep = Annotated[Principal, Depends(require("auditor"))]
CitizenDep = Annotated[Principal, Depends(require("citizen"))]
EventUid = Annotated[str, Path(min_length=1, max_length=64, description="The event's public id.")]


# ------------------------------------------------------------------------------ public


@router.get(
    "/audit/checkpoint",
    response_class=PlainTextResponse,
    summary="The newest signed checkpoint (C2SP tlog-checkpoint note)",
    responses=_problems(404),
)
async def checkpoint(session: SessionDep) -> PlainTextResponse:
    """The newest signed tree head; anyone may fetch it to watch the log grow consistently."""
    return PlainTextResponse(await signing.latest_signed(session))


@router.get(
    "/audit/public-key",
    response_class=PlainTextResponse,
    summary="The verifier key (C2SP vkey) of the checkpoints",
)
async def public_key(request: Request, session: SessionDep) -> PlainTextResponse:
    """The Ed25519 verifier key that checks every checkpoint this registry signs."""
    return PlainTextResponse((await log_signer(request, session)).verifier_key())


async def log_signer(request: Request, session: AsyncSession) -> Signer:
    """The app's checkpoint key named after the log's origin: its ``verifier()`` and ``name``
    check the log's checkpoints, whatever URL this process was started with."""
    key: Signer = request.app.state.audit_signer
    default = request.app.state.settings.audit_origin
    return await signing.log_signer(session, key, default_origin=default)


# ------------------------------------------------------------------------------ auditors


@router.get(
    "/audit/events",
    summary="Search the access trail (newest first, keyset pages)",
    responses=_problems(401, 403, 422),
)
async def search_events(
    session: SessionDep, auditor: AuditorDep, params: Annotated[EventSearchParams, Query()]
) -> EventPage:
    """Matching events, newest first; the search itself is recorded in the audit log."""
    return await views.search_events(
        session, auditor=auditor, filters=params, cursor=params.cursor, limit=params.limit
    )


@router.get(
    "/audit/events/export",
    response_class=StreamingResponse,
    summary="Export every matching event as NDJSON (newest first)",
    responses={
        200: {"description": "One event per line.", "content": {NDJSON_MEDIA_TYPE: {}}},
        **_problems(401, 403, 422),
    },
)
async def export_events(
    session: SessionDep,
    database: DatabaseDep,
    auditor: AuditorDep,
    filters: Annotated[EventFilters, Query()],
) -> StreamingResponse:
    """Every matching event; the export is recorded and committed before the first line."""
    body = await views.start_export(session, auditor=auditor, filters=filters, database=database)
    return StreamingResponse(body, media_type=NDJSON_MEDIA_TYPE)


@router.get(
    "/audit/events/{event_uid}",
    summary="One event and its leaf index",
    responses=_problems(401, 403, 404),
)
async def get_event(session: SessionDep, auditor: AuditorDep, event_uid: EventUid) -> EventView:
    """One event (recorded as an event view)."""
    return await views.view_event(session, auditor=auditor, event_uid=event_uid)


@router.get(
    "/audit/events/{event_uid}/proof",
    summary="Inclusion proof of one event against the newest checkpoint",
    responses=_problems(401, 403, 404, 409),
)
async def event_proof(
    session: SessionDep, auditor: AuditorDep, event_uid: EventUid
) -> InclusionProof:
    """An RFC 9162 inclusion proof, checkable offline with the public key."""
    return await views.auditor_inclusion_proof(session, auditor=auditor, event_uid=event_uid)


@router.get(
    "/audit/consistency",
    summary="Consistency proof between two signed checkpoints",
    responses=_problems(401, 403, 404, 422),
)
async def consistency(
    session: SessionDep,
    auditor: AuditorDep,
    first: Annotated[int, Query(ge=0, le=2**63 - 1, description="Smaller tree size.")],
    second: Annotated[int, Query(ge=0, le=2**63 - 1, description="Larger tree size.")],
) -> ConsistencyProof:
    """An RFC 9162 consistency proof: the log at ``second`` extends the log at ``first``."""
    return await views.auditor_consistency_proof(
        session, auditor=auditor, first=first, second=second
    )


# ------------------------------------------------------------------------------ citizens


@router.get(
    "/me/access-log",
    summary="Every access to my record, newest first",
    responses=_problems(401, 403, 422),
)
async def my_access_log(
    session: SessionDep, citizen: CitizenDep, page: Annotated[PageParams, Query()]
) -> EventPage:
    """Every event whose subject is the signed-in citizen, bulk accesses included."""
    return await views.citizen_access_log(
        session, citizen=citizen, cursor=page.cursor, limit=page.limit
    )


@router.get(
    "/me/access-log/{event_uid}/proof",
    summary="Inclusion proof of one access to my record",
    responses=_problems(401, 403, 404, 409),
)
async def my_event_proof(
    session: SessionDep, citizen: CitizenDep, event_uid: EventUid
) -> InclusionProof:
    """An inclusion proof of an event about the citizen; other events are not found."""
    return await views.citizen_inclusion_proof(session, citizen=citizen, event_uid=event_uid)
