"""The generated population's calendar: its fixed "today", and ages and birthdays as ordinals."""

from __future__ import annotations

from datetime import date

# The fixed "today" of the generated population: output must not depend on the run date.
TODAY = date(2025, 1, 1)
FIRST_BIRTH_YEAR = 1920

TODAY_ORDINAL = TODAY.toordinal()
FIRST_ORDINAL = date(FIRST_BIRTH_YEAR, 1, 1).toordinal()
YEAR = 365.2425  # days


def anniversary(birth: date, ordinal: int, years: int) -> int:
    """The ordinal of the day someone born on ``birth`` (``ordinal``) turns ``years``.

    Integer arithmetic instead of ``date.replace`` (this runs several times per row); someone
    born on 29 February has the birthday on 28 February in common years.
    """
    year = birth.year
    if birth.month == 2 and birth.day == 29:
        return date(year + years, 2, 29 if _is_leap(year + years) else 28).toordinal()
    # The 29 Februaries crossed: those of the years after the birth when born after February.
    first, last = (year, year + years) if birth.month > 2 else (year - 1, year + years - 1)
    return ordinal + 365 * years + _leap_days(last) - _leap_days(first)


def age_on(birth: date, day: date) -> int:
    """Age in whole years on ``day`` (agrees with :func:`anniversary` on 29 February)."""
    month, dom = birth.month, birth.day
    if month == 2 and dom == 29 and not _is_leap(day.year):
        dom = 28
    return day.year - birth.year - ((day.month, day.day) < (month, dom))


def _is_leap(year: int) -> bool:
    return year % 4 == 0 and (year % 100 != 0 or year % 400 == 0)


def _leap_days(year: int) -> int:
    """The number of leap years in 1..``year``."""
    return year // 4 - year // 100 + year // 400
