"""Values by name on the workspace's pages: codes shown as words, dates as dd/mm/yyyy, instants
in Vietnam time, and the dd/mm/yyyy a form takes turned into the API's ISO text."""

from __future__ import annotations

import re
from collections.abc import Mapping
from datetime import date, datetime
from functools import cache
from typing import Any

from babel import Locale

from core.clock import time_text
from registry.portal import labels
from registry.portal.web import gettext
from registry.refdata import ethnic_groups, province_table

_DAY = re.compile(r"^([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})$")
_MONTH = re.compile(r"^([0-9]{1,2})/([0-9]{4})$")
_YEAR = re.compile(r"^[0-9]{4}$")
# Two-letter territories of the locale data that are no country anyone holds (EU, UN, ...).
_NOT_COUNTRIES = frozenset({"EU", "EZ", "UN", "QO", "ZZ", "XA", "XB"})
# Coded fields and the table that names their values.
CODED: Mapping[str, Mapping[str, str]] = {
    "gender": labels.GENDERS,
    "marital_status": labels.MARITAL,
    "status": labels.STATUSES,
}
NATIONALITY_FIELDS = frozenset(
    {"nationality", "father_nationality", "mother_nationality", "spouse_nationality"}
    | {"representative_nationality"}
)
DATE_FIELDS = frozenset({"death_date", "missing_date", "card_issue_date", "card_expiry_date"})


def iso_date(text: str) -> str:
    """``dd/mm/yyyy`` as ``YYYY-MM-DD``; ValueError when it is no such day."""
    match = _DAY.fullmatch(text.strip())
    if match is None:
        raise ValueError("not dd/mm/yyyy")
    day, month, year = (int(part) for part in match.groups())
    return date(year, month, day).isoformat()


def iso_partial_date(text: str) -> str:
    """``dd/mm/yyyy``, ``mm/yyyy`` or ``yyyy`` as the API's ``YYYY-MM-DD``/``YYYY-MM``/``YYYY``."""
    text = text.strip()
    if _YEAR.fullmatch(text):
        return text
    match = _MONTH.fullmatch(text)
    if match is not None:
        month, year = int(match.group(1)), int(match.group(2))
        date(year, month, 1)
        return f"{year:04d}-{month:02d}"
    return iso_date(text)


def show_date(value: date | str | None) -> str:
    """A date (or the API's partial date text) as dd/mm/yyyy, mm/yyyy or yyyy."""
    if value is None or value == "":
        return ""
    text = value.isoformat() if isinstance(value, date) else value
    parts = text.split("-")
    return "/".join(reversed(parts))


def show_instant(value: datetime | None) -> str:
    """An instant in Vietnam time, dd/mm/yyyy HH:MM."""
    return time_text(value)


@cache
def countries(locale: str) -> tuple[tuple[str, str], ...]:
    """(ISO 3166 alpha-2 code, name in the locale), by name; Viet Nam first."""
    names = Locale.parse(locale).territories
    found = [
        (code, str(name))
        for code, name in names.items()
        if len(code) == 2 and code.isalpha() and code not in _NOT_COUNTRIES
    ]
    found.sort(key=lambda pair: (pair[0] != "VN", pair[1]))
    return tuple(found)


def country(code: str | None, locale: str) -> str:
    """A nationality by name (the code itself when the locale data lacks it)."""
    if not code:
        return ""
    return dict(countries(locale)).get(code, code)


def provinces() -> tuple[tuple[str, str], ...]:
    """(code, name) of the provinces of birth registration, by name."""
    return tuple(sorted(province_table().names.items(), key=lambda pair: pair[1]))


def ethnicities() -> tuple[tuple[str, str], ...]:
    """(code, name) of the ethnic groups in their list's order (Kinh first)."""
    return tuple(ethnic_groups().items())


def choices(table: Mapping[str, str], locale: str) -> tuple[tuple[str, str], ...]:
    """(code, label in the locale) of one of the coded fields' tables."""
    return tuple((code, gettext(locale, label)) for code, label in table.items())


def religions(locale: str) -> tuple[tuple[str, str], ...]:
    """(stored Vietnamese name, name in the locale) of the recognised religions."""
    return tuple((name, gettext(locale, name)) for name in labels.RELIGIONS)


def shown(name: str, value: Any, locale: str) -> str:
    """One stored field's value as a person reads it."""
    if value is None or value == "":
        return ""
    if name in CODED:
        found = CODED[name].get(value)
        return gettext(locale, found) if found else str(value)
    if name in NATIONALITY_FIELDS:
        return country(value, locale)
    if name == "birth_province":
        return province_table().name(value) or str(value)
    if name == "ethnicity":
        return ethnic_groups().get(value, str(value))
    if name == "religion":
        return gettext(locale, value) if value in labels.RELIGIONS else str(value)
    if name == "birth_date" or name in DATE_FIELDS or isinstance(value, date):
        return show_date(value)
    return str(value)


def field_label(name: str, locale: str) -> str:
    """A record field's label in the locale."""
    found = labels.FIELDS.get(name)
    return gettext(locale, found) if found else name.replace("_", " ")
