"""Reads of the officials' API: a record now or at an instant, its history, and search.

No HTTP and no SQL here. Each read records its audit event (one per record released) in the
caller's unit of work, through the same door as the changes (``registry.service``).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from audit.events import DetailValue, format_instant
from audit.recording import record
from core import paging
from core.auth import Principal
from core.errors import FieldError, NotFound, ValidationFailed
from core.text import ID_NUMBER_RE
from registry import idnumber, names
from registry import repository as repo
from registry.door import (
    CIVIL_REGISTRATION,
    bad_parameter,
    from_json,
    load_record,
    open_door,
)
from registry.record import parse_partial_date
from registry.schemas import (
    RECORD_FIELDS,
    SUMMARY_FIELDS,
    CitizenHistory,
    CitizenRecord,
    CitizenSummary,
    CitizenVersionView,
    SearchPage,
    SearchParams,
    VersionActor,
)

_CURSOR_PREFIX = "c1:"


def state_at(
    row: Mapping[str, Any], versions: Sequence[Mapping[str, Any]], instant: datetime
) -> dict[str, Any] | None:
    """The record as it was at ``instant``: undo, newest first, the versions valid from after
    it (``versions`` newest first). None when the record did not exist yet."""
    state = dict(row)
    for version in versions:
        if version["valid_from"] <= instant:
            state["version"] = version["version"]
            state["updated_at"] = version["valid_from"]
            return state
        if version["previous"] is None:
            return None
        for name, value in json.loads(version["previous"]).items():
            state[name] = from_json(name, value)
    # Every recorded version was undone: what is left predates the recorded history.
    if instant < row["created_at"]:
        return None
    if versions:
        state["version"] = int(versions[-1]["version"]) - 1
        state["updated_at"] = row["created_at"]
    return state


async def read_record(
    session: AsyncSession, *, official: Principal, id_number: str, as_of: datetime | None = None
) -> CitizenRecord:
    """The record now, or as it was at ``as_of``."""
    door = open_door(session, official, "read", CIVIL_REGISTRATION)
    row = await load_record(door, id_number)
    detail: dict[str, DetailValue] | None = None
    if as_of is not None:
        if as_of.tzinfo is None:
            raise bad_parameter("as_of", "must carry a time zone offset")
        detail = {"as_of": format_instant(as_of.astimezone(UTC))}
        past = state_at(row, await repo.versions(session, id_number), as_of)
        if past is None:
            raise await door.not_found(
                id_number, NotFound("The record did not exist at that instant.")
            )
        row = past
    await door.granted(id_number, RECORD_FIELDS, detail)
    return CitizenRecord.from_row(row)


async def read_history(
    session: AsyncSession, *, official: Principal, id_number: str
) -> CitizenHistory:
    """Every version of a record, newest first, with the values each one replaced."""
    door = open_door(session, official, "history", CIVIL_REGISTRATION)
    await load_record(door, id_number)
    rows = await repo.versions(session, id_number)
    views = [
        CitizenVersionView(
            version=row["version"],
            valid_from=row["valid_from"],
            kind=row["kind"],
            is_correction=row["is_correction"],
            legal_basis=row["legal_basis"],
            actor=VersionActor(type=row["actor_type"], id=row["actor_id"]),
            changed_fields=json.loads(row["changed_fields"]),
            previous=None if row["previous"] is None else json.loads(row["previous"]),
            event_date=row.get("event_date"),  # none for an import run's version 1
        )
        for row in rows
    ]
    # What leaves is the earlier values of every changed field.
    released = sorted({name for view in views for name in (view.previous or {})})
    await door.granted(id_number, released, {"versions": len(views)})
    return CitizenHistory(id_number=id_number, versions=views)


# ------------------------------------------------------------------------------ search


def encode_cursor(id_number: str) -> str:
    """The opaque cursor meaning "records after this ID number"."""
    return paging.encode_cursor(_CURSOR_PREFIX + id_number)


def decode_cursor(cursor: str) -> str:
    """The ID number inside a cursor made by :func:`encode_cursor`; 422 for anything else."""
    key = paging.decode_cursor(cursor)
    id_number = key.removeprefix(_CURSOR_PREFIX)
    if not key.startswith(_CURSOR_PREFIX) or not ID_NUMBER_RE.fullmatch(id_number):
        raise paging.invalid_cursor()
    return id_number


def _span(value: date, precision: str) -> tuple[date, date]:
    if precision == "year":
        return value, value.replace(month=12, day=31)
    if precision == "month":
        following = value.replace(day=28) + timedelta(days=4)
        return value, following - timedelta(days=following.day)
    return value, value


async def search(session: AsyncSession, *, official: Principal, params: SearchParams) -> SearchPage:
    """Records by old card number, or by folded name and a birth date as precise as known.

    One audit event per record returned (or one "not_found" event when nothing matched).
    """
    door = open_door(session, official, "search", CIVIL_REGISTRATION)
    after = None if params.cursor is None else decode_cursor(params.cursor)
    fetch = params.limit + 1  # one more than asked tells whether another page follows
    if params.old_id_number is not None:
        if params.name is not None or params.birth_date is not None:
            raise bad_parameter(
                "old_id_number", "search by old_id_number alone, or by name and birth_date"
            )
        try:
            old = idnumber.old_card_number(params.old_id_number)
        except idnumber.InvalidIdNumber as exc:
            raise bad_parameter("old_id_number", str(exc)) from None
        by = "old_id_number"
        rows = await repo.search_by_old_number(session, old, after=after, limit=fetch)
    else:
        name, birth_date = params.name, params.birth_date
        if name is None or birth_date is None:
            missing = [p for p in ("name", "birth_date") if getattr(params, p) is None]
            raise ValidationFailed(
                "The request has invalid fields.",
                errors=tuple(
                    FieldError("is required (or search by old_id_number)", parameter=p)
                    for p in missing
                ),
            )
        try:
            folded = names.fold(name)
        except names.InvalidName as exc:
            raise bad_parameter("name", str(exc)) from None
        try:
            earliest, latest = _span(*parse_partial_date(birth_date))
        except ValueError as exc:
            raise bad_parameter("birth_date", str(exc)) from None
        by = "name_birth_date"
        rows = await repo.search_by_name(
            session, folded, earliest=earliest, latest=latest, after=after, limit=fetch
        )
    shown = rows[: params.limit]
    for row in shown:
        await door.granted(row["id_number"], SUMMARY_FIELDS, {"by": by})
    if not shown:
        await record(
            session,
            actor=official,
            action=door.action,
            outcome="not_found",
            purpose=door.purpose,
            detail={"by": by},
        )
    return SearchPage(
        items=[CitizenSummary.from_row(row) for row in shown],
        next_cursor=encode_cursor(shown[-1]["id_number"]) if len(rows) > params.limit else None,
    )
