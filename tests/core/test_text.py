"""The shared text shapes: the 12-digit ID number and the spreadsheet-safe CSV cell."""

from __future__ import annotations

import pytest
from pydantic import BaseModel, Field, ValidationError

from core.text import ID_NUMBER_PATTERN, ID_NUMBER_RE, csv_cell

NOT_ID_NUMBERS = (
    "",
    "00130300451",  # eleven digits
    "0013030045120",  # thirteen
    "001303004512\n",  # a trailing newline, which a bare $ would let through
    " 001303004512",
    "00130300451a",
    "٠٠١٣٠٣٠٠٤٥١٢",  # Arabic-Indic digits, which \d would take
    "００１３０３００４５１２",  # fullwidth digits
    "00130300451²",  # a superscript, which str.isdigit takes
)


class _Form(BaseModel):
    id_number: str = Field(pattern=ID_NUMBER_PATTERN)


def test_the_id_number_is_twelve_ascii_digits() -> None:
    assert ID_NUMBER_RE.fullmatch("001303004512")
    assert _Form(id_number="001303004512").id_number == "001303004512"


@pytest.mark.parametrize("text", NOT_ID_NUMBERS)
def test_the_id_number_regex_refuses_anything_else(text: str) -> None:
    assert ID_NUMBER_RE.fullmatch(text) is None


@pytest.mark.parametrize("text", NOT_ID_NUMBERS)
def test_the_id_number_pattern_refuses_anything_else_in_pydantic(text: str) -> None:
    with pytest.raises(ValidationError):
        _Form(id_number=text)


@pytest.mark.parametrize("text", ["=1+1", "+84", "-2", "@SUM(A1)", "\tx", "\rx"])
def test_a_csv_cell_that_would_start_a_formula_is_quoted(text: str) -> None:
    assert csv_cell(text) == "'" + text


@pytest.mark.parametrize(
    ("value", "cell"),
    [(None, ""), ("", ""), ("Nguyễn Thị Lan", "Nguyễn Thị Lan"), ("a=b", "a=b"), (42, "42")],
)
def test_other_csv_cells_are_the_text_unchanged(value: object, cell: str) -> None:
    assert csv_cell(value) == cell


def test_a_negative_number_in_a_csv_cell_is_quoted_too() -> None:
    assert csv_cell(-1) == "'-1"
