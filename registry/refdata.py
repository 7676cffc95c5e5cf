"""Reference tables shipped as package data (``registry/data/*.csv``): provinces, ethnic groups.

Loaded once with :mod:`importlib.resources`, checked on load, and handed out as read-only mappings.
"""

from __future__ import annotations

import csv
import functools
import io
import re
import unicodedata
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from importlib import resources
from types import MappingProxyType

__all__ = [
    "CIRCULAR_07_2016",
    "ID_NUMBER_PROVINCES",
    "ProvinceTable",
    "ethnic_groups",
    "province_table",
    "province_table_versions",
]

# Circular 07/2016/TT-BCA Appendix 1 (Decree 137/2015/ND-CP Art. 13): the codes of digits 1-3.
CIRCULAR_07_2016 = "Circular 07/2016/TT-BCA Appendix 1"

# The table ID numbers are read against. The 2025 province mergers did not renumber issued IDs,
# so this stays the 2016 table until a new table is published for new numbers.
ID_NUMBER_PROVINCES = CIRCULAR_07_2016

# Each version names one immutable file; a later table is a new entry here, never an edit.
_PROVINCE_FILES: Mapping[str, str] = MappingProxyType({CIRCULAR_07_2016: "vn_province_codes.csv"})
_ETHNIC_GROUPS_FILE = "vn_ethnic_groups.csv"

_PROVINCE_CODE = re.compile(r"[0-9]{3}")
_ETHNIC_CODE = re.compile(r"[0-9]{2}")


@dataclass(frozen=True)
class ProvinceTable:
    """One version of the province code table: 3-digit code -> province/city name."""

    version: str
    # Equal versions hold equal tables, so hashing the version alone is consistent with ==.
    names: Mapping[str, str] = field(hash=False, repr=False)

    def __contains__(self, code: object) -> bool:
        return code in self.names

    def __iter__(self) -> Iterator[str]:
        return iter(self.names)

    def __len__(self) -> int:
        return len(self.names)

    def name(self, code: str) -> str | None:
        """The name of ``code``, or None when this table does not define it."""
        return self.names.get(code)


def province_table_versions() -> tuple[str, ...]:
    """The versions of the province table that this release ships."""
    return tuple(_PROVINCE_FILES)


def province_table(version: str = ID_NUMBER_PROVINCES) -> ProvinceTable:
    """The province table of ``version`` (default: the one ID numbers are read against)."""
    return _province_table(version)


@functools.cache  # keyed on the version alone, however the caller passed it
def _province_table(version: str) -> ProvinceTable:
    try:
        filename = _PROVINCE_FILES[version]
    except KeyError:
        raise LookupError("unknown province table version") from None
    return ProvinceTable(version=version, names=_load(filename, _PROVINCE_CODE))


@functools.cache
def ethnic_groups() -> Mapping[str, str]:
    """The 54 recognised ethnic groups: 2-digit statistics office code -> name.

    The names are certain; the numbering follows the statistics office's list as provided and
    should be checked against the current list before codes are exchanged with other systems.
    """
    return _load(_ETHNIC_GROUPS_FILE, _ETHNIC_CODE)


def _load(filename: str, code_pattern: re.Pattern[str]) -> Mapping[str, str]:
    """Read a ``code,name`` CSV from package data, refusing anything malformed or duplicated."""
    text = resources.files("registry").joinpath("data", filename).read_text(encoding="utf-8")
    rows = csv.reader(io.StringIO(text, newline=""))
    if next(rows, None) != ["code", "name"]:
        raise ValueError(f"{filename}: the header must be 'code,name'")
    table: dict[str, str] = {}
    for line, row in enumerate(rows, start=2):
        if len(row) != 2:
            raise ValueError(f"{filename}:{line}: expected 2 columns")
        code, name = row
        if not code_pattern.fullmatch(code):
            raise ValueError(f"{filename}:{line}: malformed code")
        if code in table:
            raise ValueError(f"{filename}:{line}: duplicate code {code}")
        if not name or name != name.strip() or not unicodedata.is_normalized("NFC", name):
            raise ValueError(f"{filename}:{line}: the name must be non-empty, trimmed NFC text")
        table[code] = name
    return MappingProxyType(table)
