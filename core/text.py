"""Shapes of text shared by every layer: the 12-digit ID number, and a spreadsheet-safe cell."""

from __future__ import annotations

import re

# For pydantic and FastAPI ``pattern=``; [0-9], not \d, which takes other scripts' digits.
ID_NUMBER_PATTERN = r"^[0-9]{12}$"
# Use with ``fullmatch`` (``$`` alone would also match before a trailing newline).
ID_NUMBER_RE = re.compile(ID_NUMBER_PATTERN)

_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def csv_cell(value: object) -> str:
    """``value`` as a CSV cell that a spreadsheet shows as text, never runs as a formula."""
    text = "" if value is None else str(value)
    # OWASP CSV injection: a leading = + - @ (or tab, CR) would be a formula in a spreadsheet.
    return "'" + text if text[:1] in _FORMULA_STARTS else text
