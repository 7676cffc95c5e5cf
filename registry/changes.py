"""How the officials' API writes a change (registry.service): the checks every change shares,
a record's plan, and its writing as a new version, a version row and an audit event per record.

No HTTP and no SQL here (registry.repository holds it). A change is checked in full before the
first write; a write that still fails (a concurrent change, the audit store) raises, and the
unit of work rolls every write back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from core.clock import VIETNAM_TIME, utcnow
from core.errors import (
    Conflict,
    FieldError,
    ServiceUnavailable,
    ValidationFailed,
)
from registry import idnumber
from registry import repository as repo
from registry.door import Door, load_record
from registry.record import (
    COLUMNS,
    FieldProblem,
    RecordInvalid,
    clean_text,
    format_partial_date,
    parse_record,
)
from registry.schemas import CitizenChange

# A prefix has 1,000,000 serials; 20 collisions in a row mean the prefix is nearly full.
MAX_ISSUE_ATTEMPTS = 20
_TICK = timedelta(microseconds=1)
# Stored columns that parse_record derives from another field.
_DERIVED = {"full_name": "name_folded", "birth_date": "birth_date_precision"}


# ------------------------------------------------------------------------------- helpers


def invalid(problems: Iterable[FieldProblem]) -> ValidationFailed:
    return ValidationFailed(
        "The request has invalid fields.",
        errors=tuple(FieldError(p.reason, pointer=f"#/{p.field}") for p in problems),
    )


def bad_field(field: str, reason: str) -> ValidationFailed:
    return invalid([FieldProblem(field, reason)])


def bad_body(reason: str) -> ValidationFailed:
    return ValidationFailed(
        "The request has invalid fields.", errors=(FieldError(reason, pointer="#"),)
    )


def vietnam_today() -> date:
    return utcnow().astimezone(VIETNAM_TIME).date()


def checked_legal_basis(text: str) -> str:
    try:
        cleaned = clean_text(text, 300)
    except ValueError as exc:
        raise bad_field("legal_basis", str(exc)) from None
    if not cleaned:
        raise bad_field("legal_basis", "is required")
    return cleaned


def not_in_future(value: date, field: str, today: date) -> None:
    if value > today:
        raise bad_field(field, "is in the future")


def outside_form(row: Mapping[str, Any]) -> dict[str, Any]:
    """A stored record in the outside form that ``parse_record`` reads."""
    out: dict[str, Any] = {}
    for name in COLUMNS:
        value = row[name]
        if name == "birth_date":
            out[name] = format_partial_date(value, row["birth_date_precision"])
        elif isinstance(value, date):
            out[name] = value.isoformat()
        else:
            out[name] = value
    return out


def parse_checked(raw: Mapping[str, Any], today: date) -> dict[str, Any]:
    try:
        return parse_record(raw, today=today)
    except RecordInvalid as exc:
        raise invalid(exc.problems) from None


def changed_values(
    row: Mapping[str, Any], changes: Mapping[str, Any], allowed: Iterable[str], today: date
) -> dict[str, Any]:
    """Re-run the record's rules on the record with ``changes`` applied; return the stored
    values of the ``allowed`` fields (and what they derive) that differ from ``row``."""
    parsed = parse_checked({**outside_form(row), **changes}, today)
    wanted = set(allowed)
    wanted |= {_DERIVED[name] for name in wanted if name in _DERIVED}
    return {name: parsed[name] for name in sorted(wanted) if parsed[name] != row[name]}


def _to_json(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, date) else value


def record_fields(values: Mapping[str, Any]) -> list[str]:
    """The stored record fields that hold a value (what a creating version sets)."""
    skip = {"version", "created_at", "updated_at"}
    return sorted(name for name, value in values.items() if value is not None and name not in skip)


@dataclass(frozen=True)
class Plan:
    """One record's part of a change: the current row, the new values, what else was read."""

    row: Mapping[str, Any]
    values: Mapping[str, Any]
    read: tuple[str, ...] = ()

    @property
    def id_number(self) -> str:
        return str(self.row["id_number"])


async def load_current(door: Door, id_number: str) -> dict[str, Any]:
    """A record that life events may change: it exists and has not been replaced."""
    row = await load_record(door, id_number)
    await refuse_replaced(door, row)
    return row


async def refuse_replaced(door: Door, row: Mapping[str, Any]) -> None:
    if row["replaced_by"] is not None:
        raise await door.conflict(
            row["id_number"],
            "replaced",
            "This record was replaced by a new ID number; change the current record.",
        )


async def refuse_deceased(door: Door, row: Mapping[str, Any]) -> None:
    if row["status"] == "deceased":
        raise await door.conflict(
            row["id_number"], "deceased", "The citizen is recorded as deceased."
        )


async def linked_spouse(door: Door, row: Mapping[str, Any]) -> dict[str, Any] | None:
    """The spouse whose record links back to ``row`` as a married couple, if any."""
    if row["marital_status"] != "married" or row["spouse_id_number"] is None:
        return None
    spouse = await repo.get_citizen(door.session, row["spouse_id_number"])
    if (
        spouse is None
        or spouse["spouse_id_number"] != row["id_number"]
        or spouse["marital_status"] != "married"
    ):
        return None
    return spouse


async def write_plans(
    door: Door,
    plans: Sequence[Plan],
    *,
    kind: str,
    legal_basis: str,
    is_correction: bool = False,
    event_date: date | None = None,
) -> dict[str, CitizenChange]:
    """Apply each plan (new version, version row, audit event) in ID-number order;
    ``event_date``: the day the event happened, kept in each version row when the record has
    no field for it (marriage, divorce)."""
    now = utcnow()
    done: dict[str, CitizenChange] = {}
    # A fixed lock order: two changes that touch the same two records cannot deadlock.
    for plan in sorted(plans, key=lambda p: p.id_number):
        id_number = plan.id_number
        changed = sorted(plan.values)
        # Versions of one record get strictly increasing instants, so "as of" is unambiguous.
        last = await repo.last_valid_from(door.session, id_number)
        valid_from = now if last is None or now > last else last + _TICK
        expected = int(plan.row["version"])
        if not await repo.update_citizen(
            door.session,
            id_number,
            expected_version=expected,
            values={**plan.values, "updated_at": valid_from},
        ):
            # Not a recorded refusal: earlier writes of this change must roll back.
            raise Conflict(
                "The record was changed by another request; read it again and retry.",
                extensions={"reason": "concurrent_change"},
            )
        await repo.insert_version(
            door.session,
            {
                "id_number": id_number,
                "version": expected + 1,
                "valid_from": valid_from,
                "kind": kind,
                "is_correction": is_correction,
                "legal_basis": legal_basis,
                "actor_type": door.official.actor_type,
                "actor_id": door.official.actor_id,
                "changed_fields": json.dumps(changed),
                "previous": json.dumps({name: _to_json(plan.row[name]) for name in changed}),
                "event_date": event_date,
            },
        )
        await door.granted(id_number, [*changed, *plan.read], {"version": expected + 1})
        done[id_number] = CitizenChange(
            id_number=id_number,
            version=expected + 1,
            kind=kind,
            valid_from=valid_from,
            changed_fields=changed,
        )
    return done


async def create_record(
    door: Door, prefix: str, values: Mapping[str, Any], *, kind: str, legal_basis: str
) -> dict[str, Any]:
    """Issue a number under ``prefix``, insert the record and its creating version."""
    now = utcnow()
    row = {
        **values,
        "version": 1,
        "replaced_by": None,
        # Not a column of the outside form (COLUMNS): a gender change carries it over.
        "spouse_passport_number": values.get("spouse_passport_number"),
        "created_at": now,
        "updated_at": now,
    }
    for _ in range(MAX_ISSUE_ATTEMPTS):
        # Decree 137/2015 Art. 13: the serial is random; the primary key makes it unique.
        row["id_number"] = idnumber.issue_candidate(prefix)
        if await repo.insert_citizen_if_free(door.session, row):
            break
    else:
        raise ServiceUnavailable(
            "No free ID number could be drawn; try again.", headers={"Retry-After": "1"}
        )
    await repo.insert_version(
        door.session,
        {
            "id_number": row["id_number"],
            "version": 1,
            "valid_from": now,
            "kind": kind,
            "is_correction": False,
            "legal_basis": legal_basis,
            "actor_type": door.official.actor_type,
            "actor_id": door.official.actor_id,
            "changed_fields": json.dumps(record_fields(row)),
            "previous": None,
        },
    )
    return row
