"""The straightforward ``parse_record`` as it was before it was tuned for bulk import.

Kept verbatim (bar the imports) as the reference the fast version is checked against in
``test_record_fast.py``: same stored form, or the same problems in the same order.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from registry import idnumber, names
from registry.codes import BLOOD_TYPES, GENDERS, MARITAL, STATUSES
from registry.record import (
    _COUNTRY,
    _HOUSEHOLD,
    COLUMNS,
    RELATIVES,
    REQUIRED,
    TEXT_LIMITS,
    FieldProblem,
    RecordInvalid,
    clean_text,
    parse_partial_date,
)
from registry.refdata import ethnic_groups, province_table


def parse_record(raw: Mapping[str, Any], *, today: date | None = None) -> dict[str, Any]:
    """Validate an outside record; return the stored columns (without version/timestamps)."""
    problems: list[FieldProblem] = []
    out: dict[str, Any] = {}

    # Each outside value once: stripped, with "" meaning absent.
    cleaned: dict[str, str | None] = {}
    for name in COLUMNS:
        value = raw.get(name)
        if value is not None:
            value = (value if isinstance(value, str) else str(value)).strip() or None
        cleaned[name] = value
    get = cleaned.__getitem__

    def attempt(name: str, fn: Any, *args: Any) -> Any:
        try:
            return fn(*args)
        except (ValueError, idnumber.InvalidIdNumber, names.InvalidName) as exc:
            problems.append(FieldProblem(name, str(exc)))
            return None

    unknown = sorted(set(raw) - set(COLUMNS))
    for name in unknown[:5]:
        problems.append(FieldProblem(name, "is not a column of the record"))
    for name in REQUIRED:
        if get(name) is None:
            problems.append(FieldProblem(name, "is required"))

    number = get("id_number")
    parsed_number = attempt("id_number", idnumber.parse, number) if number else None
    out["id_number"] = parsed_number.value if parsed_number else None

    full_name = get("full_name")
    if full_name:
        out["full_name"] = attempt("full_name", names.normalize, full_name)
        out["name_folded"] = names.fold(out["full_name"]) if out["full_name"] else None
    other = get("other_names")
    out["other_names"] = attempt("other_names", names.normalize, other) if other else None

    birth = get("birth_date")
    if birth:
        parsed_birth = attempt("birth_date", parse_partial_date, birth)
        if parsed_birth is not None:
            out["birth_date"], out["birth_date_precision"] = parsed_birth

    gender = get("gender")
    if gender is not None and gender not in GENDERS:
        problems.append(FieldProblem("gender", "must be male or female"))
    out["gender"] = gender

    province = get("birth_province")
    if province is not None and province not in province_table():
        problems.append(FieldProblem("birth_province", "is not a province code"))
    out["birth_province"] = province

    ethnicity = get("ethnicity")
    if ethnicity is not None and ethnicity not in ethnic_groups():
        problems.append(FieldProblem("ethnicity", "is not an ethnic group code"))
    out["ethnicity"] = ethnicity

    nationality = get("nationality") or "VN"
    if not _COUNTRY.fullmatch(nationality):
        problems.append(FieldProblem("nationality", "must be an ISO 3166 alpha-2 code"))
    out["nationality"] = nationality

    marital = get("marital_status") or "single"
    if marital not in MARITAL:
        problems.append(FieldProblem("marital_status", "must be one of " + ", ".join(MARITAL)))
    out["marital_status"] = marital

    blood = get("blood_type")
    if blood is not None and blood not in BLOOD_TYPES:
        problems.append(FieldProblem("blood_type", "must be one of " + ", ".join(BLOOD_TYPES)))
    out["blood_type"] = blood

    for name, limit in TEXT_LIMITS.items():
        value = get(name)
        out[name] = attempt(name, clean_text, value, limit) if value else None

    household = get("household_id")
    if household is not None and not _HOUSEHOLD.fullmatch(household):
        problems.append(FieldProblem("household_id", "must be 1-20 letters, digits or hyphens"))
    out["household_id"] = household

    for who in RELATIVES:
        rel_number = get(f"{who}_id_number")
        parsed_rel = attempt(f"{who}_id_number", idnumber.parse, rel_number) if rel_number else None
        out[f"{who}_id_number"] = parsed_rel.value if parsed_rel else None
        rel_name = get(f"{who}_name")
        out[f"{who}_name"] = attempt(f"{who}_name", names.normalize, rel_name) if rel_name else None
        rel_country = get(f"{who}_nationality")
        if rel_country is not None and not _COUNTRY.fullmatch(rel_country):
            problems.append(FieldProblem(f"{who}_nationality", "must be an ISO 3166 alpha-2 code"))
        out[f"{who}_nationality"] = rel_country

    status = get("status") or "alive"
    if status not in STATUSES:
        problems.append(FieldProblem("status", "must be one of " + ", ".join(STATUSES)))
    out["status"] = status
    for name in ("death_date", "missing_date", "card_issue_date", "card_expiry_date"):
        value = get(name)
        out[name] = attempt(name, date.fromisoformat, value) if value else None

    card = get("card_number")
    out["card_number"] = attempt("card_number", idnumber.parse, card).value if card else None
    old = get("old_id_number")
    out["old_id_number"] = attempt("old_id_number", idnumber.old_card_number, old) if old else None

    _cross_checks(out, parsed_number, problems, today or date.today())
    if problems:
        raise RecordInvalid(problems)
    return out


def _cross_checks(
    out: dict[str, Any],
    number: idnumber.IdNumber | None,
    problems: list[FieldProblem],
    today: date,
) -> None:
    birth: date | None = out.get("birth_date")
    if number is not None:
        for mismatch in idnumber.check_against(
            number,
            birth_year=birth.year if birth else None,
            gender=out.get("gender") if out.get("gender") in GENDERS else None,
            province_code=out.get("birth_province"),
        ):
            field = {"birth_year": "birth_date", "province_code": "birth_province"}.get(
                mismatch.field, mismatch.field
            )
            problems.append(FieldProblem(field, "does not match the ID number"))
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
    if number is not None and out.get("card_number") not in (None, number.value):
        problems.append(FieldProblem("card_number", "must equal the ID number on 12-digit cards"))
