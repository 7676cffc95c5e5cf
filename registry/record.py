"""The rules of one citizen record, shared by the officials' API and bulk import (pure).

``parse_record`` takes the outside form (strings, as in a CSV row or a JSON body) and returns the
stored form, or raises ``RecordInvalid`` listing every field that breaks a rule.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from registry import idnumber, names
from registry.codes import BLOOD_TYPES, GENDERS, MARITAL, STATUSES
from registry.idnumber import FIRST_YEAR
from registry.refdata import ethnic_groups, province_table

# The columns of a record as imported and exported (README: "Import columns").
COLUMNS = (
    "id_number",
    "full_name",
    "other_names",
    "birth_date",
    "gender",
    "birth_province",
    "birth_place",
    "hometown",
    "ethnicity",
    "religion",
    "nationality",
    "marital_status",
    "blood_type",
    "permanent_address",
    "temporary_address",
    "current_address",
    "household_id",
    "household_relationship",
    "father_id_number",
    "father_name",
    "father_nationality",
    "mother_id_number",
    "mother_name",
    "mother_nationality",
    "spouse_id_number",
    "spouse_name",
    "spouse_nationality",
    "representative_id_number",
    "representative_name",
    "representative_nationality",
    "status",
    "death_date",
    "missing_date",
    "card_number",
    "card_issue_date",
    "card_issue_place",
    "card_expiry_date",
    "old_id_number",
)
REQUIRED = ("id_number", "full_name", "birth_date", "gender", "birth_province", "ethnicity")
RELATIVES = ("father", "mother", "spouse", "representative")
TEXT_LIMITS = {
    "birth_place": 200,
    "hometown": 200,
    "religion": 60,
    "permanent_address": 300,
    "temporary_address": 300,
    "current_address": 300,
    "household_relationship": 40,
    "card_issue_place": 200,
}
# The keys of a valid record as parse_record returns them, in this order (bulk import formats
# COPY rows from the values in this order).
STORED_KEYS = (
    "id_number",
    "full_name",
    "name_folded",
    "other_names",
    "birth_date",
    "birth_date_precision",
    "gender",
    "birth_province",
    "ethnicity",
    "nationality",
    "marital_status",
    "blood_type",
    *TEXT_LIMITS,
    "household_id",
    *(f"{who}_{part}" for who in RELATIVES for part in ("id_number", "name", "nationality")),
    "status",
    "death_date",
    "missing_date",
    "card_issue_date",
    "card_expiry_date",
    "card_number",
    "old_id_number",
)
_COUNTRY = re.compile(r"^[A-Z]{2}$")
_HOUSEHOLD = re.compile(r"^[A-Za-z0-9\-]{1,20}$")
# [0-9], not \d: \d and int() take other scripts' digits too, and dates are written in ASCII.
_PARTIAL_DATE = re.compile(r"^([0-9]{4})(?:-([0-9]{2})(?:-([0-9]{2}))?)?$")


@dataclass(frozen=True)
class FieldProblem:
    """One field that breaks a rule (the reason never quotes the value)."""

    field: str
    reason: str


class RecordInvalid(ValueError):
    """A record that breaks one or more rules."""

    def __init__(self, problems: list[FieldProblem]) -> None:
        self.problems = problems
        super().__init__("; ".join(f"{p.field}: {p.reason}" for p in problems))


def parse_partial_date(text: str) -> tuple[date, str]:
    """``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY`` -> (date with unknown parts as 1, precision)."""
    match = _PARTIAL_DATE.fullmatch(text.strip())
    if match is None:
        raise ValueError("must be YYYY-MM-DD, YYYY-MM or YYYY")
    year, month, day = match.group(1), match.group(2), match.group(3)
    value = date(int(year), int(month or 1), int(day or 1))  # raises ValueError if impossible
    return value, "day" if day else "month" if month else "year"


def format_partial_date(value: date, precision: str) -> str:
    """The outside form of a date of the given precision."""
    if precision == "year":
        return f"{value.year:04d}"
    if precision == "month":
        return f"{value.year:04d}-{value.month:02d}"
    return value.isoformat()


def clean_text(value: str, limit: int) -> str:
    """NFC, whitespace collapsed; refuses control characters and over-long text."""
    text = " ".join(unicodedata.normalize("NFC", value).split())
    # After collapsing whitespace, "printable" means no control, format, surrogate, private-use
    # or unassigned characters (str.isprintable is that test, in C).
    if not text.isprintable():
        raise ValueError("contains control or unassigned characters")
    if len(text) > limit:
        raise ValueError(f"longer than {limit} characters")
    return text


_COLUMN_SET = frozenset(COLUMNS)
_RELATIVE_FIELDS = tuple(
    (f"{who}_id_number", f"{who}_name", f"{who}_nationality") for who in RELATIVES
)
_TEXT_FIELDS = tuple((COLUMNS.index(name), name, limit) for name, limit in TEXT_LIMITS.items())
_LATER_DATES = ("death_date", "missing_date", "card_issue_date", "card_expiry_date")
_GENDER_OF_DIGIT = tuple(GENDERS[d % 2] for d in range(10))
_MARITAL_REASON = "must be one of " + ", ".join(MARITAL)
_BLOOD_REASON = "must be one of " + ", ".join(BLOOD_TYPES)
_STATUS_REASON = "must be one of " + ", ".join(STATUSES)
_COUNTRY_REASON = "must be an ISO 3166 alpha-2 code"
_ID_FIELDS = {"birth_year": "birth_date", "province_code": "birth_province"}


_NONE_IF_EMPTY = {"": None}.get  # "" -> None, any other string -> itself


def _clean(value: Any) -> str | None:
    """The outside value once: stripped, with "" meaning absent."""
    if value is None:
        return None
    return (value if isinstance(value, str) else str(value)).strip() or None


def _checked_id(
    name: str, text: str | None, provinces: Mapping[str, str], problems: list[FieldProblem]
) -> str | None:
    """The ID-number field ``name`` (None when empty), or its problem added to ``problems``."""
    if not text:
        return None
    try:
        return idnumber.value_of(text, provinces)
    except ValueError as exc:
        problems.append(FieldProblem(name, str(exc)))
        return None


def _partial_date(text: str) -> tuple[date, str]:
    """``parse_partial_date``, with slicing instead of the regex for an ASCII YYYY-MM-DD."""
    if len(text) == 10 and text.isascii() and text[4] == "-" and text[7] == "-":
        year, month, day = text[:4], text[5:7], text[8:]
        if year.isdigit() and month.isdigit() and day.isdigit():
            return date(int(year), int(month), int(day)), "day"
    return parse_partial_date(text)


def _text(value: str, limit: int) -> str:
    """``clean_text``, without the work when ``value`` is already clean."""
    # Printable means the only whitespace is " ", so with no double space (and no ends: the
    # value is stripped) collapsing changes nothing; an NFC text stays as it is.
    if (
        len(value) <= limit
        and value.isprintable()
        and "  " not in value
        and (value.isascii() or unicodedata.is_normalized("NFC", value))
    ):
        return value
    return clean_text(value, limit)


def _country(value: str) -> bool:
    return value == "VN" or _COUNTRY.fullmatch(value) is not None


def parse_record(raw: Mapping[str, Any], *, today: date | None = None) -> dict[str, Any]:
    """Validate an outside record; return the stored columns (without version/timestamps)."""
    # Import validates millions of rows with this function, so it is written for speed: each
    # field takes a plain fast check for the usual well-formed value and falls back to the
    # exact rule otherwise, with the problems found (and their order) those of the plain rules.
    # tests/registry/test_record_fast.py checks it against the straightforward version.
    values = [
        (value.strip() or None) if type(value) is str else _clean(value)
        for value in map(raw.get, COLUMNS)
    ]
    unknown = () if _COLUMN_SET.issuperset(raw) else sorted(set(raw) - _COLUMN_SET)
    return _parse_values(values, unknown, today)


def parse_columns(
    values: Sequence[Any], *, unknown: Sequence[str] = (), today: date | None = None
) -> dict[str, Any]:
    """``parse_record`` of a row given as its values in ``COLUMNS`` order (None: absent).

    ``unknown`` names the row's keys that are not columns (sorted), as ``parse_record`` reports
    them. Bulk import uses this to skip building a dict per CSV row.
    """
    if len(values) != len(COLUMNS):
        raise ValueError(f"expected {len(COLUMNS)} values, one per column")
    cleaned = [(value.strip() or None) if type(value) is str else _clean(value) for value in values]
    return _parse_values(cleaned, unknown, today)


def parse_strings(values: list[str], *, today: date | None = None) -> dict[str, Any]:
    """``parse_columns`` of a row of strings (a CSV row whose header is ``COLUMNS``)."""
    if len(values) != len(COLUMNS):
        raise ValueError(f"expected {len(COLUMNS)} values, one per column")
    # The same cleaning as parse_columns ("" after stripping means absent), all in C.
    stripped = list(map(str.strip, values))
    return _parse_values(list(map(_NONE_IF_EMPTY, stripped, stripped)), (), today)


def _parse_values(
    values: list[str | None], unknown: Sequence[str], today: date | None
) -> dict[str, Any]:
    problems: list[FieldProblem] = []
    out: dict[str, Any] = {}
    provinces = province_table().names
    for name in unknown[:5]:
        problems.append(FieldProblem(name, "is not a column of the record"))
    (
        number,
        full_name,
        other,
        birth,
        gender,
        province,
        _birth_place,
        _hometown,
        ethnicity,
        _religion,
        nationality,
        marital,
        blood,
        _permanent,
        _temporary,
        _current,
        household,
        _relationship,
        *relatives,
        status,
        death,
        missing,
        card,
        card_issued,
        _card_place,
        card_expiry,
        old,
    ) = values
    required = (number, full_name, birth, gender, province, ethnicity)
    if None in required:
        for name, value in zip(REQUIRED, required, strict=True):
            if value is None:
                problems.append(FieldProblem(name, "is required"))

    id_value = out["id_number"] = _checked_id("id_number", number, provinces, problems)

    if full_name:
        try:
            out["full_name"], out["name_folded"] = names.normalize_and_fold(full_name)
        except ValueError as exc:
            problems.append(FieldProblem("full_name", str(exc)))
            out["full_name"] = out["name_folded"] = None
    out["other_names"] = _attempt_name("other_names", other, problems)

    if birth:
        try:
            out["birth_date"], out["birth_date_precision"] = _partial_date(birth)
        except ValueError as exc:
            problems.append(FieldProblem("birth_date", str(exc)))

    if gender is not None and gender not in GENDERS:
        problems.append(FieldProblem("gender", "must be male or female"))
    out["gender"] = gender
    if province is not None and province not in provinces:
        problems.append(FieldProblem("birth_province", "is not a province code"))
    out["birth_province"] = province
    if ethnicity is not None and ethnicity not in ethnic_groups():
        problems.append(FieldProblem("ethnicity", "is not an ethnic group code"))
    out["ethnicity"] = ethnicity

    nationality = nationality or "VN"
    if not _country(nationality):
        problems.append(FieldProblem("nationality", _COUNTRY_REASON))
    out["nationality"] = nationality
    marital = marital or "single"
    if marital not in MARITAL:
        problems.append(FieldProblem("marital_status", _MARITAL_REASON))
    out["marital_status"] = marital
    if blood is not None and blood not in BLOOD_TYPES:
        problems.append(FieldProblem("blood_type", _BLOOD_REASON))
    out["blood_type"] = blood

    for index, name, limit in _TEXT_FIELDS:
        value = values[index]
        if value:
            try:
                out[name] = _text(value, limit)
            except ValueError as exc:
                problems.append(FieldProblem(name, str(exc)))
                out[name] = None
        else:
            out[name] = None

    if household is not None and not _HOUSEHOLD.fullmatch(household):
        problems.append(FieldProblem("household_id", "must be 1-20 letters, digits or hyphens"))
    out["household_id"] = household

    for (number_field, name_field, country_field), rel_number, rel_name, rel_country in zip(
        _RELATIVE_FIELDS, relatives[0::3], relatives[1::3], relatives[2::3], strict=True
    ):
        rel_value = None
        if rel_number:
            try:
                rel_value = idnumber.value_of(rel_number, provinces)
            except ValueError as exc:
                problems.append(FieldProblem(number_field, str(exc)))
        out[number_field] = rel_value
        out[name_field] = _attempt_name(name_field, rel_name, problems)
        if rel_country is not None and not _country(rel_country):
            problems.append(FieldProblem(country_field, _COUNTRY_REASON))
        out[country_field] = rel_country

    status = status or "alive"
    if status not in STATUSES:
        problems.append(FieldProblem("status", _STATUS_REASON))
    out["status"] = status
    for name, value in zip(_LATER_DATES, (death, missing, card_issued, card_expiry), strict=True):
        parsed: date | None = None
        if value:
            try:
                parsed = date.fromisoformat(value)
            except ValueError as exc:
                problems.append(FieldProblem(name, str(exc)))
        out[name] = parsed

    out["card_number"] = _checked_id("card_number", card, provinces, problems)
    old_value = None
    if old:
        try:
            old_value = idnumber.old_card_number(old)
        except ValueError as exc:
            problems.append(FieldProblem("old_id_number", str(exc)))
    out["old_id_number"] = old_value

    _cross_checks(out, id_value, problems, today or date.today())
    if problems:
        raise RecordInvalid(problems)
    return out


def _attempt_name(field: str, value: str | None, problems: list[FieldProblem]) -> str | None:
    if not value:
        return None
    try:
        return names.normalize_fast(value)
    except ValueError as exc:
        problems.append(FieldProblem(field, str(exc)))
        return None


def _cross_checks(
    out: dict[str, Any],
    number: str | None,
    problems: list[FieldProblem],
    today: date,
) -> None:
    birth: date | None = out.get("birth_date")
    if number is not None:
        # idnumber.check_against, spelled out: digits 1-3 province, 4 century+gender, 5-6 year.
        code = ord(number[3]) - 48
        encoded_year = FIRST_YEAR + (code // 2) * 100 + int(number[4:6])
        if birth is not None and birth.year != encoded_year:
            problems.append(FieldProblem("birth_date", "does not match the ID number"))
        gender = out.get("gender")
        if gender in GENDERS and gender != _GENDER_OF_DIGIT[code]:
            problems.append(FieldProblem("gender", "does not match the ID number"))
        province = out.get("birth_province")
        if province is not None and province != number[:3]:
            problems.append(FieldProblem("birth_province", "does not match the ID number"))
    if birth is not None and birth > today:
        problems.append(FieldProblem("birth_date", "is in the future"))
    status = out.get("status")
    death = out.get("death_date")
    if status == "deceased" and death is None:
        problems.append(FieldProblem("death_date", "is required when status is deceased"))
    if status != "deceased" and death is not None:
        problems.append(FieldProblem("death_date", "is only allowed when status is deceased"))
    if status == "missing" and out.get("missing_date") is None:
        problems.append(FieldProblem("missing_date", "is required when status is missing"))
    if death is not None and birth is not None and death < birth:
        problems.append(FieldProblem("death_date", "is before the birth date"))
    issued, expiry = out.get("card_issue_date"), out.get("card_expiry_date")
    if issued is not None and expiry is not None and expiry <= issued:
        problems.append(FieldProblem("card_expiry_date", "is not after the issue date"))
    if (
        out.get("marital_status") == "married"
        and out.get("spouse_id_number") is None
        and (out.get("spouse_name") is None)
    ):
        problems.append(FieldProblem("spouse_name", "is required when married"))
    if number is not None and out.get("card_number") not in (None, number):
        problems.append(FieldProblem("card_number", "must equal the ID number on 12-digit cards"))
