"""The 12-digit personal identification number (Circular 07/2016/TT-BCA Art. 7).

Decree 137/2015/ND-CP Art. 13 / Circular 07/2016/TT-BCA Art. 7: digits 1-3 are the province code
of birth registration, digit 4 encodes century and gender, digits 5-6 are the last two digits of
the birth year, digits 7-12 are random. There is no check digit, so a mistyped number can only be
caught by the province table and by comparing the encoded fields with the record.

Pure: no I/O besides the packaged reference tables. Errors never repeat the input (it is personal
data); they carry a stable ``reason`` and a fixed English message.
"""

from __future__ import annotations

import random
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal, get_args

from registry.refdata import ProvinceTable, province_table

__all__ = [
    "FIRST_YEAR",
    "LAST_YEAR",
    "GENDERS",
    "Gender",
    "IdNumber",
    "InvalidIdNumber",
    "LENGTH",
    "Mismatch",
    "OLD_CARD_LENGTH",
    "PREFIX_LENGTH",
    "Reason",
    "SERIALS",
    "check_against",
    "compose",
    "issue_candidate",
    "old_card_number",
    "parse",
    "prefix_for",
]

Gender = Literal["male", "female"]
GENDERS: tuple[Gender, ...] = get_args(Gender)
_GENDER_BIT: dict[str, int] = {"male": 0, "female": 1}  # digit 4 is even for men, odd for women

Reason = Literal[
    "length",  # not exactly the expected number of digits
    "not_digits",  # something other than ASCII 0-9 (inner spaces, dashes, Unicode digits, ...)
    "unknown_province",  # digits 1-3 are not in the province table
    "birth_year_out_of_range",  # the century digit can only encode 1900..2399
    "unknown_gender",
    "serial_out_of_range",  # digits 7-12 hold 0..999999
]

# Digit 4 is 2 * (year // 100 - 19) + (0 for male, 1 for female): 1900s 0/1 ... 2300s 8/9.
FIRST_YEAR = 1900
LAST_YEAR = 2399
LENGTH = 12
PREFIX_LENGTH = 6
OLD_CARD_LENGTH = 9
SERIALS = 1_000_000

_MESSAGES: dict[Reason, str] = {
    "length": "the number does not have the required number of digits",
    "not_digits": "the number must contain only the ASCII digits 0-9",
    "unknown_province": "the first three digits are not a known province code",
    "birth_year_out_of_range": f"the birth year must be within {FIRST_YEAR}..{LAST_YEAR}",
    "unknown_gender": "the gender must be 'male' or 'female'",
    "serial_out_of_range": f"the serial must be within 0..{SERIALS - 1}",
}


class InvalidIdNumber(ValueError):
    """An ID number (or a part of one) that the rules refuse; ``reason`` is a stable code."""

    def __init__(self, reason: Reason, message: str | None = None) -> None:
        self.reason: Reason = reason
        super().__init__(message or _MESSAGES[reason])

    def __reduce__(self) -> tuple[type[InvalidIdNumber], tuple[Reason, str]]:
        return type(self), (self.reason, str(self))


@dataclass(frozen=True)
class IdNumber:
    """A parsed 12-digit ID number and the fields it encodes.

    ``value`` and ``serial`` are left out of ``repr`` so that a logged object does not carry the
    number itself.
    """

    value: str = field(repr=False)
    province_code: str
    province_name: str
    gender: Gender
    century: int  # 1900, 2000, ..., 2300
    birth_year_2: int  # digits 5-6 as a number, 0..99
    birth_year: int  # century + birth_year_2
    serial: int = field(repr=False)  # digits 7-12 as a number, 0..999999

    @property
    def prefix(self) -> str:
        """The first six digits: province, century/gender, year (what the person determines)."""
        return self.value[:PREFIX_LENGTH]


@dataclass(frozen=True)
class Mismatch:
    """One field where the number disagrees with what was given."""

    field: Literal["birth_year", "gender", "province_code"]
    expected: int | str  # what the number encodes
    given: int | str


def parse(text: str, *, provinces: ProvinceTable | None = None) -> IdNumber:
    """Parse a 12-digit ID number; only surrounding whitespace is tolerated."""
    value = _digits(text, LENGTH)
    table = provinces if provinces is not None else province_table()
    province_code = value[:3]
    province_name = table.name(province_code)
    if province_name is None:
        raise InvalidIdNumber("unknown_province")
    code = int(value[3])
    century = FIRST_YEAR + (code // 2) * 100
    birth_year_2 = int(value[4:6])
    return IdNumber(
        value=value,
        province_code=province_code,
        province_name=province_name,
        gender=GENDERS[code % 2],
        century=century,
        birth_year_2=birth_year_2,
        birth_year=century + birth_year_2,
        serial=int(value[6:]),
    )


def value_of(text: str, provinces: Mapping[str, str] | None = None) -> str:
    """``parse(text).value``, without building the parsed number for the usual well-formed one.
    ``provinces``: the default table's names, when the caller holds them already."""
    names = province_table().names if provinces is None else provinces
    if len(text) == LENGTH and text.isascii() and text.isdigit() and text[:3] in names:
        return text
    return parse(text).value


def check_against(
    number: IdNumber | str,
    *,
    birth_year: int | None,
    gender: str | None,
    province_code: str | None,
) -> list[Mismatch]:
    """Every field where ``number`` disagrees with the given data (None: unknown, not checked).

    A given gender other than "male"/"female" raises ``InvalidIdNumber("unknown_gender")``.
    """
    parsed = number if isinstance(number, IdNumber) else parse(number)
    mismatches: list[Mismatch] = []
    if birth_year is not None and birth_year != parsed.birth_year:
        mismatches.append(Mismatch("birth_year", parsed.birth_year, birth_year))
    if gender is not None:
        if gender not in GENDERS:
            raise InvalidIdNumber("unknown_gender")
        if gender != parsed.gender:
            mismatches.append(Mismatch("gender", parsed.gender, gender))
    if province_code is not None and province_code != parsed.province_code:
        mismatches.append(Mismatch("province_code", parsed.province_code, province_code))
    return mismatches


def prefix_for(
    *,
    province_code: str,
    birth_year: int,
    gender: str,
    provinces: ProvinceTable | None = None,
) -> str:
    """The first six digits of the number for a person born in ``birth_year`` (Art. 7)."""
    table = provinces if provinces is not None else province_table()
    if province_code not in table:
        raise InvalidIdNumber("unknown_province")
    if isinstance(birth_year, bool) or not FIRST_YEAR <= birth_year <= LAST_YEAR:
        raise InvalidIdNumber("birth_year_out_of_range")
    if gender not in _GENDER_BIT:
        raise InvalidIdNumber("unknown_gender")
    century_digit = 2 * ((birth_year - FIRST_YEAR) // 100) + _GENDER_BIT[gender]
    return f"{province_code}{century_digit}{birth_year % 100:02d}"


def compose(prefix: str, serial: int, *, provinces: ProvinceTable | None = None) -> str:
    """The full number from a six-digit prefix and a serial in 0..999999."""
    digits = _digits(prefix, PREFIX_LENGTH, strip=False)
    table = provinces if provinces is not None else province_table()
    if digits[:3] not in table:
        raise InvalidIdNumber("unknown_province")
    if isinstance(serial, bool) or not 0 <= serial < SERIALS:
        raise InvalidIdNumber("serial_out_of_range")
    return f"{digits}{serial:06d}"


def issue_candidate(
    prefix: str, rng: random.Random | None = None, *, provinces: ProvinceTable | None = None
) -> str:
    """A candidate new number: ``prefix`` plus a random six-digit serial.

    The serial comes from ``secrets.randbelow`` unless an ``rng`` is given (tests, the data
    generator). Nothing here makes the number unique: the caller inserts it under the database's
    unique constraint on the ID number and, on a unique violation (another birth registration
    drew the same serial, possibly concurrently), draws again a bounded number of times. Each
    prefix (province, century/gender, year) has 1,000,000 serials.
    """
    serial = secrets.randbelow(SERIALS) if rng is None else rng.randrange(SERIALS)
    return compose(prefix, serial, provinces=provinces)


def old_card_number(text: str) -> str:
    """Validate a 9-digit identity card number (the card before the 12-digit number)."""
    return _digits(text, OLD_CARD_LENGTH)


def _digits(text: str, length: int, *, strip: bool = True) -> str:
    """``text`` (stripped of surrounding whitespace) if it is exactly ``length`` ASCII digits."""
    value = text.strip() if strip else text
    if not value:
        raise InvalidIdNumber("length", "the number is empty")
    if not (value.isascii() and value.isdigit()):
        raise InvalidIdNumber("not_digits", _not_digits_message(value))
    if len(value) != length:
        raise InvalidIdNumber("length", f"the number must be exactly {length} digits")
    return value


def _not_digits_message(value: str) -> str:
    """Say explicitly what was refused, without repeating any of it."""
    if any(ch.isspace() for ch in value):
        return "the number must not contain spaces or other separators inside it"
    if any(ch.isdigit() and not ch.isascii() for ch in value):
        return (
            "the number must use the ASCII digits 0-9; full-width digits and digits of other "
            "scripts (such as Arabic-Indic) are refused"
        )
    return "the number must contain only the digits 0-9 (no dashes, dots, letters or symbols)"
