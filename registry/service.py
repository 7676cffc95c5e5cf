"""Rules of the officials' API: births, life events, corrections, reads, history and search.

No HTTP and no SQL here. Every operation runs in the caller's unit of work and records its audit
events there (one per citizen touched), so a change and its record commit together or not at all.
A change is checked in full before the first write; a write that still fails (a concurrent
change, the audit store) raises, and the unit of work rolls every write back.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import Principal
from identity import accounts as identity_accounts
from registry import idnumber
from registry import repository as repo
from registry.changes import (
    Plan,
    bad_body,
    bad_field,
    changed_values,
    checked_legal_basis,
    create_record,
    invalid,
    linked_spouse,
    load_current,
    not_in_future,
    outside_form,
    parse_checked,
    record_fields,
    refuse_deceased,
    refuse_replaced,
    vietnam_today,
    write_plans,
)
from registry.codes import GENDERS
from registry.door import (
    CIVIL_REGISTRATION,
    RESIDENCE_MANAGEMENT,
    Door,
    load_record,
    open_door,
)
from registry.record import (
    FieldProblem,
    RecordInvalid,
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

_CARD_FIELDS = ("card_number", "card_issue_date", "card_issue_place", "card_expiry_date")


# ------------------------------------------------------------------------------ births


async def register_birth(
    session: AsyncSession, *, official: Principal, birth: BirthRegistration
) -> CitizenRecord:
    """Register a birth: validate the child's record, copy the parents, issue the ID number."""
    door = open_door(session, official, "birth", CIVIL_REGISTRATION)
    legal_basis = checked_legal_basis(birth.legal_basis)
    today = vietnam_today()
    raw = given_fields(birth)
    try:
        parse_record(raw, today=today)
    except RecordInvalid as exc:
        # The number is ours to issue: every other problem is the caller's.
        problems = [p for p in exc.problems if p.field != "id_number"]
        if problems:
            raise invalid(problems) from None
    born, precision = parse_partial_date(raw["birth_date"])
    if precision != "day":
        raise bad_field("birth_date", "must be a full date (YYYY-MM-DD) for a new birth")
    try:
        prefix = idnumber.prefix_for(
            province_code=raw["birth_province"].strip(),
            birth_year=born.year,
            gender=raw["gender"].strip(),
        )
    except idnumber.InvalidIdNumber as exc:
        raise bad_field("birth_date", str(exc)) from None
    values = parse_checked({**raw, "id_number": idnumber.compose(prefix, 0)}, today)
    if values["father_id_number"] is not None and (
        values["father_id_number"] == values["mother_id_number"]
    ):
        raise bad_field("mother_id_number", "is the same person as the father")

    parents: list[tuple[str, str]] = []
    for relation in ("father", "mother"):
        number = values[f"{relation}_id_number"]
        if number is None:
            continue
        parent = await repo.get_citizen(session, number)
        if parent is None:
            raise await door.not_found(
                number, bad_field(f"{relation}_id_number", "no record has this ID number")
            )
        values[f"{relation}_name"] = parent["full_name"]
        values[f"{relation}_nationality"] = parent["nationality"]
        parents.append((relation, number))

    row = await create_record(door, prefix, values, kind="birth", legal_basis=legal_basis)
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
    legal_basis = checked_legal_basis(report.legal_basis)
    today = vietnam_today()
    row = await load_current(door, id_number)
    await refuse_deceased(door, row)
    not_in_future(report.death_date, "death_date", today)
    values = changed_values(
        row,
        {"status": "deceased", "death_date": report.death_date.isoformat()},
        ("status", "death_date"),
        today,
    )
    plans = [Plan(row, values)]
    spouse = await linked_spouse(door, row)
    if spouse is not None:
        plans.append(Plan(spouse, {"marital_status": "widowed"}, read=("spouse_id_number",)))
    done = await write_plans(door, plans, kind="death", legal_basis=legal_basis)
    # The deceased's electronic identity closes in the same transaction.
    await identity_accounts.close_for_death(session, id_number)
    return done[id_number]


async def record_missing(
    session: AsyncSession, *, official: Principal, id_number: str, report: MissingReport
) -> CitizenChange:
    """Record a person as missing."""
    door = open_door(session, official, "missing", CIVIL_REGISTRATION)
    legal_basis = checked_legal_basis(report.legal_basis)
    today = vietnam_today()
    row = await load_current(door, id_number)
    await refuse_deceased(door, row)
    if row["status"] == "missing":
        raise await door.conflict(id_number, "missing", "The citizen is already recorded missing.")
    not_in_future(report.missing_date, "missing_date", today)
    if report.missing_date < row["birth_date"]:
        raise bad_field("missing_date", "is before the birth date")
    values = changed_values(
        row,
        {"status": "missing", "missing_date": report.missing_date.isoformat()},
        ("status", "missing_date"),
        today,
    )
    done = await write_plans(door, [Plan(row, values)], kind="missing", legal_basis=legal_basis)
    return done[id_number]


async def change_residence(
    session: AsyncSession, *, official: Principal, id_number: str, change: ResidenceChange
) -> CitizenChange:
    """Change addresses and household: only the fields given; null clears one."""
    door = open_door(session, official, "residence", RESIDENCE_MANAGEMENT)
    legal_basis = checked_legal_basis(change.legal_basis)
    given = given_fields(change)
    if not given:
        raise bad_body("give at least one residence field")
    row = await load_current(door, id_number)
    await refuse_deceased(door, row)
    values = changed_values(row, given, given, vietnam_today())
    if not values:
        raise bad_body("the request changes nothing")
    done = await write_plans(door, [Plan(row, values)], kind="residence", legal_basis=legal_basis)
    return done[id_number]


_FOREIGN = ("spouse_name", "spouse_nationality", "spouse_passport_number")
_EITHER = "give the spouse's ID number, or the foreign spouse's name, nationality and passport"
_PASSPORT = re.compile(r"^[A-Z0-9]{5,20}$")


def _foreign_spouse(marriage: MarriageRegistration) -> dict[str, str] | None:
    """A foreign spouse's name, nationality and passport; None for a spouse on the register."""
    given = {
        name: value.strip()
        for name in _FOREIGN
        if (value := getattr(marriage, name)) is not None and value.strip()
    }
    if marriage.spouse_id_number is not None:
        if given:
            raise bad_body(_EITHER)
        return None
    if not given:
        raise bad_field("spouse_id_number", _EITHER)
    missing = [name for name in _FOREIGN if name not in given]
    if missing:
        raise invalid(FieldProblem(name, "is required") for name in missing)
    if given["spouse_nationality"] == "VN":
        raise bad_field("spouse_nationality", "a foreign spouse's nationality is not VN")
    passport = "".join(given["spouse_passport_number"].split()).upper()
    if not _PASSPORT.fullmatch(passport):
        raise bad_field("spouse_passport_number", "must be 5-20 letters or digits")
    return {**given, "spouse_passport_number": passport}


async def _refuse_unmarriageable(door: Door, row: Mapping[str, Any]) -> None:
    """A spouse must be the current record of a living, unmarried person."""
    await refuse_replaced(door, row)
    if row["status"] != "alive":
        raise await door.conflict(
            row["id_number"], row["status"], f"A spouse is recorded as {row['status']}."
        )
    if row["marital_status"] == "married":
        raise await door.conflict(row["id_number"], "married", "A spouse is already married.")


def _passport(row: Mapping[str, Any], passport: str | None) -> dict[str, Any]:
    """The passport change of a marriage or divorce (nothing when it stays the same)."""
    return {} if row["spouse_passport_number"] == passport else {"spouse_passport_number": passport}


async def register_marriage(
    session: AsyncSession, *, official: Principal, id_number: str, marriage: MarriageRegistration
) -> CitizenChange:
    """Marry two living, unmarried people: both records link to each other, in one change; or
    marry a citizen to a foreigner without a Vietnamese number (name, nationality, passport)."""
    door = open_door(session, official, "marriage", CIVIL_REGISTRATION)
    legal_basis = checked_legal_basis(marriage.legal_basis)
    today = vietnam_today()
    foreign = _foreign_spouse(marriage)
    if foreign is not None:
        not_in_future(marriage.date, "date", today)
        one = await load_current(door, id_number)
        await _refuse_unmarriageable(door, one)
        if marriage.date < one["birth_date"]:
            raise bad_field("date", "is before a spouse's birth date")
        changes = {
            "marital_status": "married",
            "spouse_id_number": None,
            "spouse_name": foreign["spouse_name"],
            "spouse_nationality": foreign["spouse_nationality"],
        }
        values = changed_values(one, changes, changes, today)
        values.update(_passport(one, foreign["spouse_passport_number"]))
        done = await write_plans(
            door,
            [Plan(one, values)],
            kind="marriage",
            legal_basis=legal_basis,
            event_date=marriage.date,
        )
        return done[id_number]
    try:
        spouse_number = idnumber.parse(marriage.spouse_id_number or "").value
    except idnumber.InvalidIdNumber as exc:
        raise bad_field("spouse_id_number", str(exc)) from None
    not_in_future(marriage.date, "date", today)
    if spouse_number == id_number:
        raise bad_field("spouse_id_number", "is the citizen's own ID number")
    one = await load_current(door, id_number)
    other = await repo.get_citizen(session, spouse_number)
    if other is None:
        raise await door.not_found(
            spouse_number, bad_field("spouse_id_number", "no record has this ID number")
        )
    for row in (one, other):
        await _refuse_unmarriageable(door, row)
    if marriage.date < max(one["birth_date"], other["birth_date"]):
        raise bad_field("date", "is before a spouse's birth date")

    def link(row: Mapping[str, Any], to: Mapping[str, Any]) -> Plan:
        changes = {
            "marital_status": "married",
            "spouse_id_number": to["id_number"],
            "spouse_name": to["full_name"],
            "spouse_nationality": to["nationality"],
        }
        values = {**changed_values(row, changes, changes, today), **_passport(row, None)}
        # The spouse's name and nationality are read to be copied here.
        return Plan(row, values, read=("full_name", "nationality"))

    done = await write_plans(
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
    legal_basis = checked_legal_basis(divorce.legal_basis)
    today = vietnam_today()
    not_in_future(divorce.date, "date", today)
    one = await load_current(door, id_number)
    await refuse_deceased(door, one)
    if one["marital_status"] != "married":
        raise await door.conflict(id_number, "not_married", "The citizen is not married.")
    rows = [one]
    if one["spouse_id_number"] is not None:
        other = await linked_spouse(door, one)
        if other is None:
            raise await door.conflict(
                id_number,
                "spouse_link",
                "The spouse's record does not link back to this one; correct it first.",
            )
        await refuse_replaced(door, other)
        rows.append(other)
    unlink = {
        "marital_status": "divorced",
        "spouse_id_number": None,
        "spouse_name": None,
        "spouse_nationality": None,
    }
    plans = [
        Plan(row, {**changed_values(row, unlink, unlink, today), **_passport(row, None)})
        for row in rows
    ]
    done = await write_plans(
        door, plans, kind="divorce", legal_basis=legal_basis, event_date=divorce.date
    )
    return done[id_number]


async def change_name(
    session: AsyncSession, *, official: Principal, id_number: str, change: NameChange
) -> CitizenChange:
    """A change of name (relatives' records keep the name they copied, like a certificate)."""
    door = open_door(session, official, "name_change", CIVIL_REGISTRATION)
    legal_basis = checked_legal_basis(change.legal_basis)
    row = await load_current(door, id_number)
    await refuse_deceased(door, row)
    values = changed_values(row, {"full_name": change.full_name}, ("full_name",), vietnam_today())
    if not values:
        raise bad_field("full_name", "is already the recorded name")
    done = await write_plans(door, [Plan(row, values)], kind="name_change", legal_basis=legal_basis)
    return done[id_number]


async def change_gender(
    session: AsyncSession, *, official: Principal, id_number: str, change: GenderChange
) -> CitizenChange:
    """A legal change of gender: a new number (same province and birth year) with a copy of
    the record; the old record points at it, and a linked spouse's record follows."""
    door = open_door(session, official, "gender_change", CIVIL_REGISTRATION)
    legal_basis = checked_legal_basis(change.legal_basis)
    today = vietnam_today()
    gender = change.gender.strip()
    if gender not in GENDERS:
        raise bad_field("gender", "must be male or female")
    old = await load_current(door, id_number)
    await refuse_deceased(door, old)
    if gender == old["gender"]:
        raise bad_field("gender", "is already the recorded gender")
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
    values = {
        **parse_checked(copy, today),
        "spouse_passport_number": old["spouse_passport_number"],
    }
    new = await create_record(door, prefix, values, kind="gender_change", legal_basis=legal_basis)
    plans = [Plan(old, {"replaced_by": new["id_number"]}, read=RECORD_FIELDS)]
    spouse = await linked_spouse(door, old)
    if spouse is not None:
        plans.append(Plan(spouse, {"spouse_id_number": new["id_number"]}))
    await write_plans(door, plans, kind="gender_change", legal_basis=legal_basis)
    created = record_fields(new)
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
    legal_basis = checked_legal_basis(correction.legal_basis)
    given = given_fields(correction)
    if not given:
        raise bad_body("give at least one field to correct")
    row = await load_record(door, id_number)
    if "marital_status" in given and row["spouse_id_number"] is not None:
        raise bad_field("marital_status", _NOT_CORRECTED_HERE["marital_status"])
    values = changed_values(row, given, given, vietnam_today())
    if not values:
        raise bad_body("the request changes nothing")
    done = await write_plans(
        door, [Plan(row, values)], kind="correction", legal_basis=legal_basis, is_correction=True
    )
    return done[id_number]
