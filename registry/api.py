"""The officials' API: births, life events, corrections, records, history and search.

Every endpoint requires the official role and runs in the request's unit of work, which also
holds the audit events the service records.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Response
from pydantic import AwareDatetime

from core.auth import Principal, require
from core.deps import SessionDep
from core.inputs import OutsideTextRoute
from core.openapi import problems as _problems
from core.text import ID_NUMBER_PATTERN
from registry import reads, service
from registry.schemas import (
    BirthRegistration,
    CitizenChange,
    CitizenHistory,
    CitizenRecord,
    Correction,
    DeathReport,
    DivorceRegistration,
    GenderChange,
    MarriageRegistration,
    MissingReport,
    NameChange,
    ResidenceChange,
    SearchPage,
    SearchParams,
)

PREFIX = "/api/v1/officials"
router = APIRouter(route_class=OutsideTextRoute, prefix=PREFIX, tags=["officials"])

OfficialDep = Annotated[Principal, Depends(require("official"))]
IdNumber = Annotated[
    str, Path(pattern=ID_NUMBER_PATTERN, description="The 12-digit personal ID number.")
]
AsOf = Annotated[
    AwareDatetime | None,
    Query(description="An RFC 3339 instant with an offset: the record as it was then."),
]


def _location(id_number: str) -> str:
    return f"{PREFIX}/citizens/{id_number}"


@router.post(
    "/births",
    status_code=201,
    summary="Register a birth (issues the ID number)",
    responses=_problems(401, 403, 422, 503),
)
async def register_birth(
    session: SessionDep, official: OfficialDep, body: BirthRegistration, response: Response
) -> CitizenRecord:
    """Create the child's record under a newly issued ID number."""
    created = await service.register_birth(session, official=official, birth=body)
    response.headers["Location"] = _location(created.id_number)
    return created


@router.get(
    "/citizens",
    summary="Search by old card number, or by name and birth date",
    responses=_problems(401, 403, 422),
)
async def search_citizens(
    session: SessionDep, official: OfficialDep, params: Annotated[SearchParams, Query()]
) -> SearchPage:
    """Matching records in ID-number order, one page at a time."""
    return await reads.search(session, official=official, params=params)


@router.get(
    "/citizens/{id_number}",
    summary="One record, now or as it was at an instant",
    responses=_problems(401, 403, 404, 422),
)
async def read_citizen(
    session: SessionDep, official: OfficialDep, id_number: IdNumber, as_of: AsOf = None
) -> CitizenRecord:
    """The record (``as_of``: rebuilt from its versions)."""
    return await reads.read_record(session, official=official, id_number=id_number, as_of=as_of)


@router.get(
    "/citizens/{id_number}/history",
    summary="Every version of a record, newest first",
    responses=_problems(401, 403, 404, 422),
)
async def citizen_history(
    session: SessionDep, official: OfficialDep, id_number: IdNumber
) -> CitizenHistory:
    """Who changed what, when, on what legal basis, and the values before."""
    return await reads.read_history(session, official=official, id_number=id_number)


_CHANGE = _problems(401, 403, 404, 409, 422)


@router.post("/citizens/{id_number}/death", summary="Record a death", responses=_CHANGE)
async def record_death(
    session: SessionDep, official: OfficialDep, id_number: IdNumber, body: DeathReport
) -> CitizenChange:
    """Status deceased; a spouse still married to the deceased becomes widowed."""
    return await service.record_death(session, official=official, id_number=id_number, report=body)


@router.post("/citizens/{id_number}/missing", summary="Record a missing person", responses=_CHANGE)
async def record_missing(
    session: SessionDep, official: OfficialDep, id_number: IdNumber, body: MissingReport
) -> CitizenChange:
    """Status missing."""
    return await service.record_missing(
        session, official=official, id_number=id_number, report=body
    )


@router.post("/citizens/{id_number}/residence", summary="Change residence", responses=_CHANGE)
async def change_residence(
    session: SessionDep, official: OfficialDep, id_number: IdNumber, body: ResidenceChange
) -> CitizenChange:
    """Addresses and household: the fields given change, null clears one."""
    return await service.change_residence(
        session, official=official, id_number=id_number, change=body
    )


@router.post("/citizens/{id_number}/marriage", summary="Register a marriage", responses=_CHANGE)
async def register_marriage(
    session: SessionDep, official: OfficialDep, id_number: IdNumber, body: MarriageRegistration
) -> CitizenChange:
    """Both spouses' records link to each other, in one transaction."""
    return await service.register_marriage(
        session, official=official, id_number=id_number, marriage=body
    )


@router.post("/citizens/{id_number}/divorce", summary="Register a divorce", responses=_CHANGE)
async def register_divorce(
    session: SessionDep, official: OfficialDep, id_number: IdNumber, body: DivorceRegistration
) -> CitizenChange:
    """Both records become divorced and lose the spouse fields, in one transaction."""
    return await service.register_divorce(
        session, official=official, id_number=id_number, divorce=body
    )


@router.post("/citizens/{id_number}/name", summary="Change of name", responses=_CHANGE)
async def change_name(
    session: SessionDep, official: OfficialDep, id_number: IdNumber, body: NameChange
) -> CitizenChange:
    """A new full name."""
    return await service.change_name(session, official=official, id_number=id_number, change=body)


@router.post(
    "/citizens/{id_number}/gender",
    status_code=201,
    summary="Legal change of gender (issues a new ID number)",
    responses={**_CHANGE, **_problems(503)},
)
async def change_gender(
    session: SessionDep,
    official: OfficialDep,
    id_number: IdNumber,
    body: GenderChange,
    response: Response,
) -> CitizenChange:
    """A copy of the record under a new number; the old record points at it."""
    created = await service.change_gender(
        session, official=official, id_number=id_number, change=body
    )
    response.headers["Location"] = _location(created.id_number)
    return created


@router.post("/citizens/{id_number}/corrections", summary="Correct a record", responses=_CHANGE)
async def correct_citizen(
    session: SessionDep, official: OfficialDep, id_number: IdNumber, body: Correction
) -> CitizenChange:
    """Fix fields recorded in error; the whole record must still satisfy its rules."""
    return await service.correct(session, official=official, id_number=id_number, correction=body)
