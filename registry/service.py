"""Rules of the officials' API: births, life events, corrections, reads, history and search.

No HTTP and no SQL here. Every operation runs in the caller's unit of work and records its audit
events there (one per citizen touched), so a change and its record commit together or not at all.
A change is checked in full before the first write; a write that still fails (a concurrent
change, the audit store) raises, and the unit of work rolls every write back.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import Principal
from core.clock import VIETNAM_TIME, utcnow
from core.errors import (
    Conflict,
    FieldError,
    ServiceUnavailable,
    ValidationFailed,
)
from identity import accounts as identity_accounts
from registry import idnumber
from registry import repository as repo
from registry.codes import GENDERS
from registry.door import (
    CIVIL_REGISTRATION,
    RESIDENCE_MANAGEMENT,
    Door,
    load_record,
    open_door,
)
from registry.record import (
    COLUMNS,
    FieldProblem,
    RecordInvalid,
    clean_text,
    format_partial_date,
    parse_partial_date,
    parse_record,
)
from registry.schemas import (
    RECORD_FIELDS,
    BirthRegistration,
    CitizenChange,
    CitizenRecord,
    Correction,
    DeathReport,
    DivorceRegistration,
    GenderChange,
    MarriageRegistration,
    MissingReport,
    NameChange,
    ResidenceChange,
    given_fields,
)

# A prefix has 1,000,000 serials; 20 collisions in a row mean the prefix is nearly full.
MAX_ISSUE_ATTEMPTS = 20
_TICK = timedelta(microseconds=1)
_CARD_FIELDS = ("card_number", "card_issue_date", "card_issue_place", "card_expiry_date")
# Stored columns that parse_record derives from another field.
_DERIVED = {"full_name": "name_folded", "birth_date": "birth_date_precision"}


# ------------------------------------------------------------------------------- helpers


def _invalid(problems: Iterable[FieldProblem]) -> ValidationFailed:
    return ValidationFailed(
        "The request has invalid fields.",
        errors=tuple(FieldError(p.reason, pointer=f"#/{p.field}") for p in problems),
    )


def _bad_field(field: str, reason: str) -> ValidationFailed:
    return _invalid([FieldProblem(field, reason)])


def _bad_body(reason: str) -> ValidationFailed:
    return ValidationFailed(
        "The request has invalid fields.", errors=(FieldError(reason, pointer="#"),)
    )


def _today() -> date:
    return utcnow().astimezone(VIETNAM_TIME).date()


def _legal_basis(text: str) -> str:
    try:
        cleaned = clean_text(text, 300)
    except ValueError as exc:
        raise _bad_field("legal_basis", str(exc)) from None
    if not cleaned:
        raise _bad_field("legal_basis", "is required")
    return cleaned


def _not_in_future(value: date, field: str, today: date) -> None:
    if value > today:
        raise _bad_field(field, "is in the future")


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


def _parse(raw: Mapping[str, Any], today: date) -> dict[str, Any]:
    try:
        return parse_record(raw, today=today)
    except RecordInvalid as exc:
        raise _invalid(exc.problems) from None


def _changes(
    row: Mapping[str, Any], changes: Mapping[str, Any], allowed: Iterable[str], today: date
) -> dict[str, Any]:
    """Re-run the record's rules on the record with ``changes`` applied; return the stored
    values of the ``allowed`` fields (and what they derive) that differ from ``row``."""
    parsed = _parse({**outside_form(row), **changes}, today)
    wanted = set(allowed)
    wanted |= {_DERIVED[name] for name in wanted if name in _DERIVED}
    return {name: parsed[name] for name in sorted(wanted) if parsed[name] != row[name]}


def _to_json(value: Any) -> str | None:
    return value.isoformat() if isinstance(value, date) else value


def _record_fields(values: Mapping[str, Any]) -> list[str]:
    """The stored record fields that hold a value (what a creating version sets)."""
    skip = {"version", "created_at", "updated_at"}
    return sorted(name for name, value in values.items() if value is not None and name not in skip)


@dataclass(frozen=True)
class _Plan:
    """One record's part of a change: the current row, the new values, what else was read."""

    row: Mapping[str, Any]
    values: Mapping[str, Any]
    read: tuple[str, ...] = ()

    @property
    def id_number(self) -> str:
        return str(self.row["id_number"])


async def _load_current(door: Door, id_number: str) -> dict[str, Any]:
    """A record that life events may change: it exists and has not been replaced."""
    row = await load_record(door, id_number)
    await _refuse_replaced(door, row)
    return row


async def _refuse_replaced(door: Door, row: Mapping[str, Any]) -> None:
    if row["replaced_by"] is not None:
        raise await door.conflict(
            row["id_number"],
            "replaced",
            "This record was replaced by a new ID number; change the current record.",
        )


async def _refuse_deceased(door: Door, row: Mapping[str, Any]) -> None:
    if row["status"] == "deceased":
        raise await door.conflict(
            row["id_number"], "deceased", "The citizen is recorded as deceased."
        )


async def _linked_spouse(door: Door, row: Mapping[str, Any]) -> dict[str, Any] | None:
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


async def _write(
    door: Door,
    plans: Sequence[_Plan],
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


async def _create(
    door: Door, prefix: str, values: Mapping[str, Any], *, kind: str, legal_basis: str
) -> dict[str, Any]:
    """Issue a number under ``prefix``, insert the record and its creating version."""
    now = utcnow()
    row = {
        **values,
        "version": 1,
        "replaced_by": None,
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
            "changed_fields": json.dumps(_record_fields(row)),
            "previous": None,
        },
    )
    return row


# ------------------------------------------------------------------------------ births


async def register_birth(
    session: AsyncSession, *, official: Principal, birth: BirthRegistration
) -> CitizenRecord:
    """Register a birth: validate the child's record, copy the parents, issue the ID number."""
    door = open_door(session, official, "birth", CIVIL_REGISTRATION)
    legal_basis = _legal_basis(birth.legal_basis)
    today = _today()
    raw = given_fields(birth)
    try:
        parse_record(raw, today=today)
    except RecordInvalid as exc:
        # The number is ours to issue: every other problem is the caller's.
        problems = [p for p in exc.problems if p.field != "id_number"]
        if problems:
            raise _invalid(problems) from None
    born, precision = parse_partial_date(raw["birth_date"])
    if precision != "day":
        raise _bad_field("birth_date", "must be a full date (YYYY-MM-DD) for a new birth")
    try:
        prefix = idnumber.prefix_for(
            province_code=raw["birth_province"].strip(),
            birth_year=born.year,
            gender=raw["gender"].strip(),
        )
    except idnumber.InvalidIdNumber as exc:
        raise _bad_field("birth_date", str(exc)) from None
    values = _parse({**raw, "id_number": idnumber.compose(prefix, 0)}, today)
    if values["father_id_number"] is not None and (
        values["father_id_number"] == values["mother_id_number"]
    ):
        raise _bad_field("mother_id_number", "is the same person as the father")

    parents: list[tuple[str, str]] = []
    for relation in ("father", "mother"):
        number = values[f"{relation}_id_number"]
        if number is None:
            continue
        parent = await repo.get_citizen(session, number)
        if parent is None:
            raise await door.not_found(
                number, _bad_field(f"{relation}_id_number", "no record has this ID number")
            )
        values[f"{relation}_name"] = parent["full_name"]
        values[f"{relation}_nationality"] = parent["nationality"]
        parents.append((relation, number))

    row = await _create(door, prefix, values, kind="birth", legal_basis=legal_basis)
    await door.granted(row["id_number"], RECORD_FIELDS, {"version": 1})
    for relation, number in parents:
        await door.granted(number, ("full_name", "nationality"), {"relation": relation})
    return CitizenRecord.from_row(row)


# ------------------------------------------------------------------------- life events


async def record_death(
    session: AsyncSession, *, official: Principal, id_number: str, report: DeathReport
) -> CitizenChange:
    """Record a death; a spouse still married to the deceased becomes widowed."""
    door = open_door(session, official, "death", CIVIL_REGISTRATION)
    legal_basis = _legal_basis(report.legal_basis)
    today = _today()
    row = await _load_current(door, id_number)
    await _refuse_deceased(door, row)
    _not_in_future(report.death_date, "death_date", today)
    values = _changes(
        row,
        {"status": "deceased", "death_date": report.death_date.isoformat()},
        ("status", "death_date"),
        today,
    )
    plans = [_Plan(row, values)]
    spouse = await _linked_spouse(door, row)
    if spouse is not None:
        plans.append(_Plan(spouse, {"marital_status": "widowed"}, read=("spouse_id_number",)))
    done = await _write(door, plans, kind="death", legal_basis=legal_basis)
    # The deceased's electronic identity closes in the same transaction.
    await identity_accounts.close_for_death(session, id_number)
    return done[id_number]


async def record_missing(
    session: AsyncSession, *, official: Principal, id_number: str, report: MissingReport
) -> CitizenChange:
    """Record a person as missing."""
    door = open_door(session, official, "missing", CIVIL_REGISTRATION)
    legal_basis = _legal_basis(report.legal_basis)
    today = _today()
    row = await _load_current(door, id_number)
    await _refuse_deceased(door, row)
    if row["status"] == "missing":
        raise await door.conflict(id_number, "missing", "The citizen is already recorded missing.")
    _not_in_future(report.missing_date, "missing_date", today)
    if report.missing_date < row["birth_date"]:
        raise _bad_field("missing_date", "is before the birth date")
    values = _changes(
        row,
        {"status": "missing", "missing_date": report.missing_date.isoformat()},
        ("status", "missing_date"),
        today,
    )
    done = await _write(door, [_Plan(row, values)], kind="missing", legal_basis=legal_basis)
    return done[id_number]


async def change_residence(
    session: AsyncSession, *, official: Principal, id_number: str, change: ResidenceChange
) -> CitizenChange:
    """Change addresses and household: only the fields given; null clears one."""
    door = open_door(session, official, "residence", RESIDENCE_MANAGEMENT)
    legal_basis = _legal_basis(change.legal_basis)
    given = given_fields(change)
    if not given:
        raise _bad_body("give at least one residence field")
    row = await _load_current(door, id_number)
    await _refuse_deceased(door, row)
    values = _changes(row, given, given, _today())
    if not values:
        raise _bad_body("the request changes nothing")
    done = await _write(door, [_Plan(row, values)], kind="residence", legal_basis=legal_basis)
    return done[id_number]


async def register_marriage(
    session: AsyncSession, *, official: Principal, id_number: str, marriage: MarriageRegistration
) -> CitizenChange:
    """Marry two living, unmarried people: both records link to each other, in one change."""
    door = open_door(session, official, "marriage", CIVIL_REGISTRATION)
    legal_basis = _legal_basis(marriage.legal_basis)
    today = _today()
    try:
        spouse_number = idnumber.parse(marriage.spouse_id_number).value
    except idnumber.InvalidIdNumber as exc:
        raise _bad_field("spouse_id_number", str(exc)) from None
    _not_in_future(marriage.date, "date", today)
    if spouse_number == id_number:
        raise _bad_field("spouse_id_number", "is the citizen's own ID number")
    one = await _load_current(door, id_number)
    other = await repo.get_citizen(session, spouse_number)
    if other is None:
        raise await door.not_found(
            spouse_number, _bad_field("spouse_id_number", "no record has this ID number")
        )
    for row in (one, other):
        await _refuse_replaced(door, row)
        if row["status"] != "alive":
            raise await door.conflict(
                row["id_number"], row["status"], f"A spouse is recorded as {row['status']}."
            )
        if row["marital_status"] == "married":
            raise await door.conflict(row["id_number"], "married", "A spouse is already married.")
    if marriage.date < max(one["birth_date"], other["birth_date"]):
        raise _bad_field("date", "is before a spouse's birth date")

    def link(row: Mapping[str, Any], to: Mapping[str, Any]) -> _Plan:
        changes = {
            "marital_status": "married",
            "spouse_id_number": to["id_number"],
            "spouse_name": to["full_name"],
            "spouse_nationality": to["nationality"],
        }
        # The spouse's name and nationality are read to be copied here.
        return _Plan(row, _changes(row, changes, changes, today), read=("full_name", "nationality"))

    done = await _write(
        door,
        [link(one, other), link(other, one)],
        kind="marriage",
        legal_basis=legal_basis,
        event_date=marriage.date,
    )
    return done[id_number]


async def register_divorce(
    session: AsyncSession, *, official: Principal, id_number: str, divorce: DivorceRegistration
) -> CitizenChange:
    """Divorce: both records become divorced and lose their spouse fields, in one change."""
    door = open_door(session, official, "divorce", CIVIL_REGISTRATION)
    legal_basis = _legal_basis(divorce.legal_basis)
    today = _today()
    _not_in_future(divorce.date, "date", today)
    one = await _load_current(door, id_number)
    await _refuse_deceased(door, one)
    if one["marital_status"] != "married":
        raise await door.conflict(id_number, "not_married", "The citizen is not married.")
    rows = [one]
    if one["spouse_id_number"] is not None:
        other = await _linked_spouse(door, one)
        if other is None:
            raise await door.conflict(
                id_number,
                "spouse_link",
                "The spouse's record does not link back to this one; correct it first.",
            )
        await _refuse_replaced(door, other)
        rows.append(other)
    unlink = {
        "marital_status": "divorced",
        "spouse_id_number": None,
        "spouse_name": None,
        "spouse_nationality": None,
    }
    plans = [_Plan(row, _changes(row, unlink, unlink, today)) for row in rows]
    done = await _write(
        door, plans, kind="divorce", legal_basis=legal_basis, event_date=divorce.date
    )
    return done[id_number]


async def change_name(
    session: AsyncSession, *, official: Principal, id_number: str, change: NameChange
) -> CitizenChange:
    """A change of name (relatives' records keep the name they copied, like a certificate)."""
    door = open_door(session, official, "name_change", CIVIL_REGISTRATION)
    legal_basis = _legal_basis(change.legal_basis)
    row = await _load_current(door, id_number)
    await _refuse_deceased(door, row)
    values = _changes(row, {"full_name": change.full_name}, ("full_name",), _today())
    if not values:
        raise _bad_field("full_name", "is already the recorded name")
    done = await _write(door, [_Plan(row, values)], kind="name_change", legal_basis=legal_basis)
    return done[id_number]


async def change_gender(
    session: AsyncSession, *, official: Principal, id_number: str, change: GenderChange
) -> CitizenChange:
    """A legal change of gender: a new number (same province and birth year) with a copy of
    the record; the old record points at it, and a linked spouse's record follows."""
    door = open_door(session, official, "gender_change", CIVIL_REGISTRATION)
    legal_basis = _legal_basis(change.legal_basis)
    today = _today()
    gender = change.gender.strip()
    if gender not in GENDERS:
        raise _bad_field("gender", "must be male or female")
    old = await _load_current(door, id_number)
    await _refuse_deceased(door, old)
    if gender == old["gender"]:
        raise _bad_field("gender", "is already the recorded gender")
    number = idnumber.parse(id_number)
    prefix = idnumber.prefix_for(
        province_code=number.province_code, birth_year=number.birth_year, gender=gender
    )
    # The card belongs to the old number; the new number gets its own card.
    copy = {
        **outside_form(old),
        "id_number": idnumber.compose(prefix, 0),
        "gender": gender,
        **dict.fromkeys(_CARD_FIELDS),
    }
    new = await _create(
        door, prefix, _parse(copy, today), kind="gender_change", legal_basis=legal_basis
    )
    plans = [_Plan(old, {"replaced_by": new["id_number"]}, read=RECORD_FIELDS)]
    spouse = await _linked_spouse(door, old)
    if spouse is not None:
        plans.append(_Plan(spouse, {"spouse_id_number": new["id_number"]}))
    await _write(door, plans, kind="gender_change", legal_basis=legal_basis)
    created = _record_fields(new)
    await door.granted(new["id_number"], created, {"version": 1})
    return CitizenChange(
        id_number=new["id_number"],
        version=1,
        kind="gender_change",
        valid_from=new["created_at"],
        changed_fields=created,
        replaces=id_number,
    )


_NOT_CORRECTED_HERE = {
    "marital_status": "is changed by marriage and divorce while a spouse is linked",
}


async def correct(
    session: AsyncSession, *, official: Principal, id_number: str, correction: Correction
) -> CitizenChange:
    """Correct fields recorded in error; the whole record must still satisfy its rules."""
    door = open_door(session, official, "correction", CIVIL_REGISTRATION)
    legal_basis = _legal_basis(correction.legal_basis)
    given = given_fields(correction)
    if not given:
        raise _bad_body("give at least one field to correct")
    row = await load_record(door, id_number)
    if "marital_status" in given and row["spouse_id_number"] is not None:
        raise _bad_field("marital_status", _NOT_CORRECTED_HERE["marital_status"])
    values = _changes(row, given, given, _today())
    if not values:
        raise _bad_body("the request changes nothing")
    done = await _write(
        door, [_Plan(row, values)], kind="correction", legal_basis=legal_basis, is_correction=True
    )
    return done[id_number]
