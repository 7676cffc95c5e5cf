"""Verification rules (pure): does a claimed attribute match the record?

- ``full_name``: "exact" compares after normalisation (NFC, collapsed whitespace, Vietnamese title
  case: so case and spacing never matter, diacritics do); "folded" (when the agency's policy says
  so) compares case- and diacritic-folded forms, đ as d.
- ``birth_date``: the claim is ``YYYY-MM-DD``, ``YYYY-MM`` or ``YYYY``. It matches when it is at
  least as precise as the record and agrees on every part the record knows: a record that knows
  only 1950 matches a claim of 1950-03-02; a claim of 2003 does not match a record of 2003-05-14.
- ``gender``, ``nationality`` (ISO 3166 alpha-2, any case), ``card_number``: equal.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date
from typing import Any

from registry import names
from registry.agency.policy import VERIFY_ATTRIBUTES, NameMatch
from registry.record import parse_partial_date

_RANK = {"year": 0, "month": 1, "day": 2}


class InvalidClaim(ValueError):
    """A claimed value that cannot be compared (the caller answers 422 with its pointer)."""

    def __init__(self, attribute: str, reason: str) -> None:
        super().__init__(reason)
        self.attribute = attribute
        self.reason = reason


def check_claims(claims: Mapping[str, Any]) -> dict[str, Any]:
    """Validate claimed attributes (names, formats) before anything is read."""
    if not claims:
        raise InvalidClaim("", "claim at least one attribute")
    out: dict[str, Any] = {}
    for attribute, value in claims.items():
        if attribute not in VERIFY_ATTRIBUTES:
            raise InvalidClaim(attribute, "is not an attribute that can be verified")
        if not isinstance(value, str) or not value.strip() or len(value) > 200:
            raise InvalidClaim(attribute, "must be a non-empty string of at most 200 characters")
        if attribute == "birth_date":
            try:
                out[attribute] = parse_partial_date(value)
            except ValueError as exc:
                raise InvalidClaim(attribute, str(exc)) from None
        elif attribute == "full_name":
            try:
                out[attribute] = names.normalize(value)
            except names.InvalidName as exc:
                raise InvalidClaim(attribute, str(exc)) from None
        elif attribute == "gender":
            if value not in ("male", "female"):
                raise InvalidClaim(attribute, "must be male or female")
            out[attribute] = value
        else:
            out[attribute] = value.strip().upper()
    return out


def _birth_matches(claim: tuple[date, str], record: date, precision: str) -> bool:
    claimed, claimed_precision = claim
    if _RANK[claimed_precision] < _RANK[precision]:
        return False
    if claimed.year != record.year:
        return False
    if precision in ("month", "day") and claimed.month != record.month:
        return False
    return not (precision == "day" and claimed.day != record.day)


def compare(
    checked: Mapping[str, Any], row: Mapping[str, Any], *, name_match: NameMatch
) -> dict[str, bool]:
    """Per-attribute results of checked claims (from ``check_claims``) against a record row."""
    results: dict[str, bool] = {}
    for attribute, claim in checked.items():
        if attribute == "full_name":
            if name_match == "folded":
                results[attribute] = names.fold(claim) == row["name_folded"]
            else:
                results[attribute] = claim == row["full_name"]
        elif attribute == "birth_date":
            birth = row["birth_date"]
            if not isinstance(birth, date):
                birth = date.fromisoformat(str(birth))
            results[attribute] = _birth_matches(claim, birth, row["birth_date_precision"])
        elif attribute == "gender":
            results[attribute] = claim == row["gender"]
        else:
            stored = row.get(attribute)
            results[attribute] = stored is not None and claim == str(stored).upper()
    return results
