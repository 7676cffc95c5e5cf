"""Pydantic I/O of the officials' API: life-event requests, records, versions, search pages.

Requests carry the record's outside form (strings, as in an import row); the rules of a record
live in ``registry.record.parse_record``, so request models only bound sizes and shapes.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date
from typing import Annotated, Any

from pydantic import AwareDatetime, BaseModel, BeforeValidator, ConfigDict, Field

from registry.record import COLUMNS, format_partial_date

PAGE_DEFAULT = 20
PAGE_MAX = 100

_ISO_DATE = re.compile(r"^[0-9]{4}-[0-9]{2}-[0-9]{2}$")


def _iso_date_text(value: object) -> object:
    # Pydantic's lax date also takes timestamps and other spellings; a register takes one.
    if isinstance(value, date):
        return value
    if not isinstance(value, str) or not _ISO_DATE.fullmatch(value):
        raise ValueError("must be a date in the format YYYY-MM-DD")
    return value


IsoDate = Annotated[date, BeforeValidator(_iso_date_text)]
LegalBasis = Annotated[
    str,
    Field(
        min_length=1,
        max_length=300,
        description="The decision or document this change rests on (e.g. a certificate number).",
    ),
]
# Sizes here only bound the payload; registry.record enforces each field's real rule.
Text = Annotated[str, Field(max_length=400)]
IdText = Annotated[str, Field(max_length=20)]

# The personal-data fields of a record as released to officials (for the audit event).
RECORD_FIELDS: tuple[str, ...] = (*COLUMNS, "spouse_passport_number", "replaced_by")
SUMMARY_FIELDS: tuple[str, ...] = (
    "id_number",
    "full_name",
    "birth_date",
    "gender",
    "birth_province",
    "status",
    "replaced_by",
)


class _Request(BaseModel):
    model_config = ConfigDict(extra="forbid")


class _Event(_Request):
    legal_basis: LegalBasis


# ----------------------------------------------------------------------------- requests


class BirthRegistration(_Event):
    """A birth: the child's record without an ID number (the registry issues it)."""

    full_name: Text
    other_names: Text | None = None
    birth_date: IdText = Field(description="The full date of birth, YYYY-MM-DD.")
    gender: IdText
    birth_province: IdText = Field(description="Province code of the birth registration.")
    birth_place: Text | None = None
    hometown: Text | None = None
    ethnicity: IdText
    religion: Text | None = None
    nationality: IdText | None = Field(None, description="ISO 3166 alpha-2; VN when omitted.")
    blood_type: IdText | None = None
    permanent_address: Text | None = None
    temporary_address: Text | None = None
    current_address: Text | None = None
    household_id: IdText | None = None
    household_relationship: Text | None = None
    father_id_number: IdText | None = Field(
        None, description="Must be on the register; the father's name and nationality are copied."
    )
    father_name: Text | None = Field(None, description="A father with no ID number: his name.")
    father_nationality: IdText | None = Field(
        None, description="A father with no ID number: ISO 3166 alpha-2."
    )
    mother_id_number: IdText | None = Field(
        None, description="Must be on the register; the mother's name and nationality are copied."
    )
    mother_name: Text | None = Field(None, description="A mother with no ID number: her name.")
    mother_nationality: IdText | None = Field(
        None, description="A mother with no ID number: ISO 3166 alpha-2."
    )


class DeathReport(_Event):
    """A death."""

    death_date: IsoDate


class MissingReport(_Event):
    """A person declared missing."""

    missing_date: IsoDate


class ResidenceChange(_Event):
    """A change of residence: only the fields given change; null clears a field."""

    permanent_address: Text | None = None
    temporary_address: Text | None = None
    current_address: Text | None = None
    household_id: IdText | None = None
    household_relationship: Text | None = None


class MarriageRegistration(_Event):
    """A marriage between the citizen in the path and ``spouse_id_number``, or a foreign
    spouse without a Vietnamese number (``spouse_name``, ``spouse_nationality`` and
    ``spouse_passport_number``, all three)."""

    spouse_id_number: IdText | None = Field(
        None, description="A spouse on the register: both records link to each other."
    )
    spouse_name: Text | None = Field(None, description="A foreign spouse: the full name.")
    spouse_nationality: IdText | None = Field(
        None, description="A foreign spouse: ISO 3166 alpha-2, not VN."
    )
    spouse_passport_number: IdText | None = Field(
        None, description="A foreign spouse: the passport number (5-20 letters or digits)."
    )
    date: IsoDate


class DivorceRegistration(_Event):
    """A divorce of the citizen in the path from the linked spouse."""

    date: IsoDate


class NameChange(_Event):
    """A change of name."""

    full_name: Text


class GenderChange(_Event):
    """A legal change of gender (a new ID number is issued)."""

    gender: IdText


class Correction(_Event):
    """Fields recorded in error and their right values; null clears a field.

    The ID number, the spouse link and the card are not corrected here: those change through
    the gender change, marriage/divorce and card issuance.
    """

    full_name: Text | None = None
    other_names: Text | None = None
    birth_date: IdText | None = Field(None, description="YYYY-MM-DD, YYYY-MM or YYYY.")
    gender: IdText | None = None
    birth_province: IdText | None = None
    birth_place: Text | None = None
    hometown: Text | None = None
    ethnicity: IdText | None = None
    religion: Text | None = None
    nationality: IdText | None = None
    marital_status: IdText | None = None
    blood_type: IdText | None = None
    permanent_address: Text | None = None
    temporary_address: Text | None = None
    current_address: Text | None = None
    household_id: IdText | None = None
    household_relationship: Text | None = None
    father_id_number: IdText | None = None
    father_name: Text | None = None
    father_nationality: IdText | None = None
    mother_id_number: IdText | None = None
    mother_name: Text | None = None
    mother_nationality: IdText | None = None
    spouse_name: Text | None = None
    spouse_nationality: IdText | None = None
    representative_id_number: IdText | None = None
    representative_name: Text | None = None
    representative_nationality: IdText | None = None
    status: IdText | None = None
    death_date: IdText | None = None
    missing_date: IdText | None = None
    old_id_number: IdText | None = None


def given_fields(body: BaseModel, *, exclude: tuple[str, ...] = ("legal_basis",)) -> dict[str, Any]:
    """The fields the caller sent (an explicit null included), without ``exclude``."""
    return {
        name: getattr(body, name) for name in sorted(body.model_fields_set) if name not in exclude
    }


class SearchParams(_Request):
    """Search by old identity-card number, or by name and (possibly partial) birth date."""

    old_id_number: str | None = Field(
        None, max_length=20, description="The 9-digit identity card number."
    )
    name: str | None = Field(
        None, max_length=200, description="Full name; compared without case or diacritics."
    )
    birth_date: str | None = Field(
        None, max_length=10, description="YYYY-MM-DD, YYYY-MM or YYYY (required with name)."
    )
    cursor: str | None = Field(
        None, max_length=64, description="The next_cursor of the previous page (opaque)."
    )
    limit: int = Field(PAGE_DEFAULT, ge=1, le=PAGE_MAX, description="Records per page.")


# ---------------------------------------------------------------------------- responses


class CitizenRecord(BaseModel):
    """A citizen's record as officials see it (dates ISO; birth date as precise as known)."""

    id_number: str
    version: int
    full_name: str
    other_names: str | None
    birth_date: str = Field(description="YYYY-MM-DD, or YYYY-MM / YYYY when only that is known.")
    gender: str
    birth_province: str
    birth_place: str | None
    hometown: str | None
    ethnicity: str
    religion: str | None
    nationality: str
    marital_status: str
    blood_type: str | None
    permanent_address: str | None
    temporary_address: str | None
    current_address: str | None
    household_id: str | None
    household_relationship: str | None
    father_id_number: str | None
    father_name: str | None
    father_nationality: str | None
    mother_id_number: str | None
    mother_name: str | None
    mother_nationality: str | None
    spouse_id_number: str | None
    spouse_name: str | None
    spouse_nationality: str | None
    spouse_passport_number: str | None = Field(
        None, description="A foreign spouse without a Vietnamese number: the passport number."
    )
    representative_id_number: str | None
    representative_name: str | None
    representative_nationality: str | None
    status: str
    death_date: date | None
    missing_date: date | None
    card_number: str | None
    card_issue_date: date | None
    card_issue_place: str | None
    card_expiry_date: date | None
    old_id_number: str | None
    replaced_by: str | None = Field(
        description="After a legal change of gender: the number that replaces this one."
    )
    created_at: AwareDatetime
    updated_at: AwareDatetime

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CitizenRecord:
        """Build the view from the stored columns of a ``citizen`` row."""
        values = {name: row[name] for name in cls.model_fields if name != "birth_date"}
        birth = format_partial_date(row["birth_date"], row["birth_date_precision"])
        return cls(birth_date=birth, **values)


class CitizenSummary(BaseModel):
    """A search hit: enough to tell people apart, nothing more (fetch the record to see it)."""

    id_number: str
    full_name: str
    birth_date: str
    gender: str
    birth_province: str
    status: str
    replaced_by: str | None

    @classmethod
    def from_row(cls, row: Mapping[str, Any]) -> CitizenSummary:
        """Build the summary from stored columns."""
        values = {name: row[name] for name in cls.model_fields if name != "birth_date"}
        birth = format_partial_date(row["birth_date"], row["birth_date_precision"])
        return cls(birth_date=birth, **values)


class SearchPage(BaseModel):
    """One page of search hits in ID-number order; pass ``next_cursor`` back for the next."""

    items: list[CitizenSummary]
    next_cursor: str | None = Field(description="Null on the last page.")


class CitizenChange(BaseModel):
    """What a life event or correction changed (read the record to see the values)."""

    id_number: str
    version: int
    kind: str
    valid_from: AwareDatetime
    changed_fields: list[str]
    replaces: str | None = Field(
        None, description="Gender change: the number this new record replaces."
    )


class VersionActor(BaseModel):
    """Who recorded a version."""

    type: str
    id: str


class CitizenVersionView(BaseModel):
    """One version of a record: what changed, when, why, by whom, and the values before."""

    version: int
    valid_from: AwareDatetime
    kind: str
    is_correction: bool
    legal_basis: str | None
    actor: VersionActor
    changed_fields: list[str]
    previous: dict[str, str | None] | None = Field(
        description="The changed fields' stored values before this version (null: it created "
        "the record). Dates are ISO; birth_date goes with birth_date_precision."
    )
    event_date: date | None = Field(
        None,
        description="The day the life event happened, for events whose date is no field of "
        "the record (marriage, divorce); null otherwise.",
    )


class CitizenHistory(BaseModel):
    """Every version of a record, newest first."""

    id_number: str
    versions: list[CitizenVersionView]
