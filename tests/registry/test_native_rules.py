"""registry/_native.c against registry/record.py, rule by rule.

The C row check re-states the record's rules for the rows it passes. Python is the definition:
for records made valid and then broken one rule at a time (ID numbers with a wrong province,
century, gender or year digit, non-ASCII digits and NUL; dates at the edges of months, leap
years, the first year and today; the rules between status and dates, marriage and spouse, card
dates and card number; codes; names and texts in every Unicode form), a chunk read with the C
check must give exactly what Python alone gives: the same verdict, COPY line and reject reason
for every row.
"""

from __future__ import annotations

import importlib.util
import os
import unicodedata
from collections.abc import Callable
from datetime import date, timedelta
from typing import Literal, Protocol, TypeVar

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry import idnumber
from registry.bulk.pipeline import ChunkResult, Header, validate_chunk
from registry.record import COLUMNS, TEXT_LIMITS
from registry.refdata import province_table
from registry.synthetic import generate

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("registry._native") is None
    and not (os.environ.get("CI") or os.environ.get("REGISTRY_REQUIRE_NATIVE")),
    reason="registry._native was not built (no C compiler)",
)

TODAY = date(2025, 6, 1)
HEADER = Header(COLUMNS)
PEOPLE = [dict(person) for person in generate(200, seed=25)]
PROVINCES = sorted(province_table())
UNKNOWN_PROVINCES = sorted(f"{n:03d}" for n in range(1000) if f"{n:03d}" not in PROVINCES)

T = TypeVar("T")


class Draw(Protocol):
    def __call__(self, strategy: st.SearchStrategy[T], /) -> T: ...


Mutation = Callable[[Draw, dict[str, str]], None]


def csv_line(values: list[str]) -> str:
    quoted = []
    for value in values:
        if any(ch in value for ch in ',"\r\n') or value[:1] == " ":
            value = '"' + value.replace('"', '""') + '"'
        quoted.append(value)
    return ",".join(quoted)


def read(data: bytes, *, native: bool) -> ChunkResult:
    return validate_chunk(
        data, "csv", HEADER, final=True, skip=0, today=TODAY, run_id=42, native=native
    )


def assert_same(data: bytes) -> ChunkResult:
    c, python = read(data, native=True), read(data, native=False)
    assert c.copy.splitlines() == python.copy.splitlines()
    assert (c.rows, list(c.good), c.ids) == (python.rows, list(python.good), python.ids)
    assert c.rejects == python.rejects
    return python


def _set_number(row: dict[str, str], province: str, year: int, gender: str) -> None:
    """Give ``row`` an ID number (and the fields it encodes) for this province, year, gender
    (a known province and gender in place of one a mutation made unknown)."""
    province = province if province in PROVINCES else PROVINCES[0]
    gender = gender if gender in idnumber.GENDERS else "male"
    prefix = idnumber.prefix_for(province_code=province, birth_year=year, gender=gender)
    serial = row["id_number"][6:12]
    row["id_number"] = idnumber.compose(prefix, int(serial) if serial.isdecimal() else 7)
    row["birth_province"], row["gender"] = province, gender
    if row["card_number"]:
        row["card_number"] = row["id_number"]


def _digit(draw: Draw, number: str, at: int, digits: str = "0123456789") -> str:
    return number[:at] + draw(st.sampled_from(digits)) + number[at + 1 :]


# ------------------------------------------------------------------------ ID numbers


def wrong_province(draw: Draw, row: dict[str, str]) -> None:
    code = draw(st.sampled_from(UNKNOWN_PROVINCES + PROVINCES[:5]))
    row["id_number"] = code + row["id_number"][3:]
    if draw(st.booleans()):
        row["birth_province"] = code


def wrong_century_or_gender(draw: Draw, row: dict[str, str]) -> None:
    row["id_number"] = _digit(draw, row["id_number"], 3)


def wrong_year(draw: Draw, row: dict[str, str]) -> None:
    row["id_number"] = _digit(draw, row["id_number"], draw(st.sampled_from([4, 5])))


def not_plain_digits(draw: Draw, row: dict[str, str]) -> None:
    column = draw(st.sampled_from(["id_number", "card_number", "father_id_number"]))
    number = row[column] or row["id_number"]
    at = draw(st.integers(0, len(number)))
    odd = draw(st.sampled_from(["\x00", " ", "-", "٣", "３", "a", "\u00a0", "1", ""]))
    row[column] = (
        number[:at] + odd + number[at + 1 :]
        if draw(st.booleans())
        else (number[:at] + odd + number[at:])
    )


def another_number(draw: Draw, row: dict[str, str]) -> None:
    column = draw(st.sampled_from(["card_number", "spouse_id_number", "mother_id_number"]))
    row[column] = draw(st.sampled_from([p["id_number"] for p in PEOPLE[:5]] + [""]))


# ------------------------------------------------------------------------------ dates

EDGE_DATES = [
    "2000-02-29",
    "1900-02-29",
    "2004-02-29",
    "2001-02-29",
    "2000-02-30",
    "2000-04-31",
    "2000-12-31",
    "2000-13-01",
    "2000-00-10",
    "2000-01-00",
    "0000-01-01",
    "0001-01-01",
    "1899-12-31",
    "1900-01-01",
    "2399-12-31",
    "2400-01-01",
    "9999-12-31",
    "2000",
    "2000-05",
    "2000-5-1",
    "2000-1",
    "200",
    "+2000-01-01",
    "2000/01/01",
    "20000101",
    "2000-01-01 ",
    "2000-01-01\x00",
    "２０００-01-01",
    TODAY.isoformat(),
    (TODAY + timedelta(1)).isoformat(),
    (TODAY - timedelta(1)).isoformat(),
    f"{TODAY.year}",
    f"{TODAY:%Y-%m}",
    f"{TODAY.year}-{TODAY.month + 1:02d}",
    "",
]


def edge_date(draw: Draw) -> str:
    if draw(st.booleans()):
        return draw(st.sampled_from(EDGE_DATES))
    day = draw(st.dates(min_value=date(1, 1, 1), max_value=date(9999, 12, 31)))
    return draw(st.sampled_from([day.isoformat(), day.isoformat()[:7], day.isoformat()[:4]]))


def birth_on_an_edge(draw: Draw, row: dict[str, str]) -> None:
    """A birth date at an edge, with an ID number that encodes its year when it can (so the
    date's own rules decide)."""
    birth = edge_date(draw)
    row["birth_date"] = birth
    year = birth[:4]
    if year.isdigit() and 1900 <= int(year) <= 2399 and draw(st.integers(0, 3)):
        _set_number(row, row["birth_province"], int(year), row["gender"])


def other_date_on_an_edge(draw: Draw, row: dict[str, str]) -> None:
    column = draw(
        st.sampled_from(["death_date", "missing_date", "card_issue_date", "card_expiry_date"])
    )
    row[column] = edge_date(draw)


def _as_date(text: str) -> date:
    """The day a birth date names, or its year's first day, or (when an earlier mutation left
    it unreadable, or at the calendar's very ends, where a day's shift has no date) a fixed
    day, so that the dates set against it are still dates."""
    for candidate in (text, text[:4] + "-01-01"):
        try:
            day = date.fromisoformat(candidate)
        except ValueError:
            continue
        if date.min + timedelta(2) <= day <= date.max - timedelta(2):
            return day
    return date(1990, 1, 1)


def dates_against_each_other(draw: Draw, row: dict[str, str]) -> None:
    base = _as_date(row["birth_date"])
    shift = timedelta(days=draw(st.integers(-2, 2)))
    case = draw(st.sampled_from(["death", "card", "missing"]))
    if case == "death":
        row["status"] = draw(st.sampled_from(["deceased", "alive", "missing", ""]))
        row["death_date"] = draw(st.sampled_from([(base + shift).isoformat(), ""]))
    elif case == "card":
        issued = date(2020, 3, 1)
        row["card_issue_date"] = issued.isoformat()
        row["card_expiry_date"] = (issued + shift).isoformat()
    else:
        row["status"] = draw(st.sampled_from(["missing", "alive", ""]))
        row["missing_date"] = draw(st.sampled_from([(base + shift).isoformat(), ""]))


def born_today_or_tomorrow(draw: Draw, row: dict[str, str]) -> None:
    _set_number(row, row["birth_province"], TODAY.year, row["gender"])
    row["birth_date"] = draw(st.sampled_from(EDGE_DATES[-6:-1]))
    row.update(
        status="alive",
        death_date="",
        missing_date="",
        card_number="",
        card_issue_date="",
        card_expiry_date="",
        marital_status="single",
    )


# --------------------------------------------------------------------- codes and links

CODES = [
    "male",
    "female",
    "Male",
    "FEMALE",
    "female ",
    "",
    "01",
    "1",
    "001",
    "99",
    "00",
    "VN",
    "vn",
    "V",
    "VNM",
    "A",
    "AB-",
    "ab",
    "O+",
    "single",
    "married",
    "divorced",
    "widowed",
    "Married",
    "alive",
    "deceased",
    "missing",
    "dead",
    "x\x00",
]


def a_code(draw: Draw, row: dict[str, str]) -> None:
    column = draw(
        st.sampled_from(
            [
                "gender",
                "birth_province",
                "ethnicity",
                "nationality",
                "marital_status",
                "blood_type",
                "status",
                "father_nationality",
                "spouse_nationality",
            ]
        )
    )
    row[column] = draw(st.sampled_from(CODES + PROVINCES[:3]) | st.text(max_size=4))


def marriage_and_spouse(draw: Draw, row: dict[str, str]) -> None:
    row["marital_status"] = draw(st.sampled_from(["married", "single", "widowed", ""]))
    row["spouse_id_number"] = draw(st.sampled_from(["", PEOPLE[1]["id_number"]]))
    row["spouse_name"] = draw(st.sampled_from(["", "Lê Văn Bé", "lê văn bé"]))


def a_household(draw: Draw, row: dict[str, str]) -> None:
    alphabet = st.sampled_from("AZaz09-_ .\x00Đ")
    row["household_id"] = draw(st.text(alphabet, max_size=22))


# ----------------------------------------------------------------- names and free text

LETTERS = "aAăĂâÂđĐeEêÊoOôÔơƠuUưƯyYìÌỹỸáạảãàéẹẻẽèíịỉĩóọỏõòúụủũùýỵỷ"
ODD = [
    "\x00",
    "\t",
    "\x7f",
    "\u00a0",
    "\u2028",
    "\u3000",
    "\u0301",
    "\u0323",
    "’",
    "'",
    "-",
    "  ",
    "\\",
    "\ufeff",
    "\U0001f600",
    "ß",
    "İ",
    "Ǆ",
    "ﬁ",
    "Ω",
    "Å",
]


def unicode_value(draw: Draw) -> str:
    pieces = st.sampled_from([*LETTERS, " ", *ODD]) | st.characters(codec="utf-8")
    value = "".join(draw(st.lists(pieces, min_size=1, max_size=12)))
    forms: list[Literal["NFC", "NFD", "NFKC"] | None] = ["NFC", "NFD", "NFKC", None]
    form = draw(st.sampled_from(forms))
    return value if form is None else unicodedata.normalize(form, value)


def a_name(draw: Draw, row: dict[str, str]) -> None:
    column = draw(
        st.sampled_from(
            [
                "full_name",
                "other_names",
                "father_name",
                "mother_name",
                "spouse_name",
                "representative_name",
            ]
        )
    )
    base = row[column] or "Nguyễn Văn An"
    choice = draw(st.integers(0, 4))
    if choice == 0:
        row[column] = unicode_value(draw)
    elif choice == 1:
        row[column] = unicodedata.normalize("NFD", base)
    elif choice == 2:
        row[column] = draw(st.sampled_from([base.lower(), base.upper(), base.title()]))
    elif choice == 3:
        at = draw(st.integers(0, len(base)))
        row[column] = base[:at] + draw(st.sampled_from(ODD)) + base[at:]
    else:
        row[column] = "A" + "a" * draw(st.sampled_from([98, 99, 100]))


def a_text(draw: Draw, row: dict[str, str]) -> None:
    column = draw(st.sampled_from(sorted(TEXT_LIMITS)))
    limit = TEXT_LIMITS[column]
    choice = draw(st.integers(0, 2))
    if choice == 0:
        row[column] = unicode_value(draw)
    elif choice == 1:
        row[column] = draw(st.sampled_from(["é", "a", "Đ"])) * draw(
            st.sampled_from([limit - 1, limit, limit + 1])
        )
    else:
        base = row[column] or "Số 1, Phố Huế"
        at = draw(st.integers(0, len(base)))
        row[column] = base[:at] + draw(st.sampled_from(ODD)) + base[at:]


def a_nul_anywhere(draw: Draw, row: dict[str, str]) -> None:
    column = draw(st.sampled_from(COLUMNS))
    value = row[column]
    at = draw(st.integers(0, len(value)))
    row[column] = value[:at] + "\x00" + value[at:]


MUTATIONS: list[Mutation] = [
    wrong_province,
    wrong_century_or_gender,
    wrong_year,
    not_plain_digits,
    another_number,
    birth_on_an_edge,
    other_date_on_an_edge,
    dates_against_each_other,
    born_today_or_tomorrow,
    a_code,
    marriage_and_spouse,
    a_household,
    a_name,
    a_text,
    a_nul_anywhere,
]


@st.composite
def records(draw: Draw) -> list[str]:
    """A generated (valid) record, broken by up to three of the mutations, or left valid."""
    row = dict(draw(st.sampled_from(PEOPLE)))
    for mutate in draw(st.lists(st.sampled_from(MUTATIONS), max_size=3)):
        mutate(draw, row)
    return [row[column] for column in COLUMNS]


@pytest.mark.parametrize("then", MUTATIONS, ids=lambda m: m.__name__)
@pytest.mark.parametrize("first", MUTATIONS, ids=lambda m: m.__name__)
@settings(max_examples=25, deadline=None, database=None)
@given(data=st.data())
def test_every_mutation_applies_after_any_other(
    first: Mutation, then: Mutation, data: st.DataObject
) -> None:
    """The several-ways test draws mutations in any order: each must accept what another left."""
    row = dict(data.draw(st.sampled_from(PEOPLE)))
    first(data.draw, row)
    then(data.draw, row)
    assert set(row) == set(COLUMNS)


def test_the_generated_records_are_valid_for_both() -> None:
    data = ("\n".join(csv_line([p[c] for c in COLUMNS]) for p in PEOPLE) + "\n").encode()
    assert len(assert_same(data).good) == len(PEOPLE)


@pytest.mark.parametrize("mutate", MUTATIONS, ids=lambda m: m.__name__)
@settings(
    max_examples=40,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(data=st.data())
def test_each_broken_rule_gets_the_same_verdict_and_reason(
    mutate: Mutation, data: st.DataObject
) -> None:
    rows = []
    for _ in range(data.draw(st.integers(1, 6))):
        row = dict(data.draw(st.sampled_from(PEOPLE)))
        mutate(data.draw, row)
        rows.append(csv_line([row[column] for column in COLUMNS]))
    assert_same(("\n".join(rows) + "\n").encode())


@settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(rows=st.lists(records(), min_size=1, max_size=10), crlf=st.booleans())
def test_records_broken_several_ways_get_the_same_verdict_and_reason(
    rows: list[list[str]], crlf: bool
) -> None:
    ending = "\r\n" if crlf else "\n"
    assert_same((ending.join(csv_line(r) for r in rows) + ending).encode())
