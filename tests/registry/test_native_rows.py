"""registry/_native.c, bulk import's row check, against the pure-Python path.

The C code may only say "valid, here is the line" where Python's rules say exactly that; every
other row it hands to Python. So a chunk read with it must give exactly what Python alone gives:
the same COPY bytes, row numbers, IDs and rejects, for generated rows and for rows made hostile
at the edges of each rule the C code checks.
"""

from __future__ import annotations

import importlib.util
import os
import unicodedata
from datetime import date
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from registry import idnumber
from registry.bulk import pipeline
from registry.bulk.pipeline import ChunkResult, Header, validate_chunk
from registry.record import COLUMNS, TEXT_LIMITS
from registry.synthetic import generate

pytestmark = pytest.mark.skipif(
    importlib.util.find_spec("registry._native") is None
    and not (os.environ.get("CI") or os.environ.get("REGISTRY_REQUIRE_NATIVE")),
    reason="registry._native was not built (no C compiler)",
)

TODAY = date(2025, 6, 1)
HEADER = Header(COLUMNS)
PEOPLE = [[person[c] for c in COLUMNS] for person in generate(400, seed=11)]


def csv_line(values: list[str]) -> str:
    quoted = []
    for value in values:
        if any(ch in value for ch in ',"\r\n') or value[:1] == " ":
            value = '"' + value.replace('"', '""') + '"'
        quoted.append(value)
    return ",".join(quoted)


def both(data: bytes, at: int = 0) -> tuple[ChunkResult, ChunkResult]:
    """The chunk (from byte ``at`` of its file) read with the C row check, and by Python alone."""

    def read(native: bool) -> ChunkResult:
        return validate_chunk(
            data, "csv", HEADER, final=True, skip=0, today=TODAY, run_id=42, native=native, at=at
        )

    return read(True), read(False)


def same(a: ChunkResult, b: ChunkResult) -> None:
    assert a.copy.splitlines() == b.copy.splitlines()
    assert (a.rows, list(a.good), list(a.ends), a.ids) == (
        b.rows,
        list(b.good),
        list(b.ends),
        b.ids,
    )
    assert a.rejects == b.rejects
    assert a.clean_end == b.clean_end


def test_the_module_is_used_for_this_record() -> None:
    # Fails when the module was not built, or when the record's columns or codes changed and
    # registry/_native.c was not brought in line (its ASSUMES).
    assert pipeline.native_tables() is not None


def test_generated_rows_are_all_checked_in_c(monkeypatch: pytest.MonkeyPatch) -> None:
    judged: list[Any] = []
    original = pipeline._judged

    def counting(*args: Any) -> str | None:
        judged.append(args[0])
        return original(*args)

    data = ("\r\n".join(csv_line(p) for p in PEOPLE) + "\r\n").encode()
    monkeypatch.setattr(pipeline, "_judged", counting)
    native = pipeline._native_chunk(data, TODAY, "\t1\t42\n")
    assert native is not None and native.rows == len(PEOPLE) == len(native.good)
    assert judged == []  # no row of a generated population needed Python
    monkeypatch.setattr(pipeline, "_judged", original)
    same(*both(data))


@pytest.mark.parametrize(
    "line",
    ["a\rb", '"multi\nline"', 'un"quoted', '"closed"then', '"never closed'],
)
def test_a_chunk_it_cannot_cut_by_lines_is_left_to_python(
    line: str,
) -> None:
    data = (csv_line(PEOPLE[0]) + "\n" + line + "\n" + csv_line(PEOPLE[1]) + "\n").encode()
    assert pipeline._native_chunk(data, TODAY, "\t1\t42\n") is None
    same(*both(data))


# fmt: off
NAMES = [
    "Nguyễn Văn An", "nguyễn văn an", "NGUYỄN VĂN AN", "Nguyễn  Văn An", "Nguyễn-Văn", "Nguyễn-",
    "-Nguyễn", "H'Hen Niê", "Bru-Vân Kiều", unicodedata.normalize("NFD", "Nguyễn Thị Ánh"),
    "A" + "a" * 99, "A" + "a" * 100, "Đặng Thị Ánh", "ĐẶNG", "đặng", "O'", "Ǆemal", "İlker",
    "Straße", "Nguyen2", "Nguyễn\u00a0Văn", "\u3000Nguyễn", "Nguyễn\tVăn", " Nguyễn Văn ",
    "Nguyễn’s", "Anh\u0301", "Ỹ", "Ỳ Ỵ Ỷ", "Ơ Ư Ă Â Ê Ô", "X\\N", "",
]
# fmt: on
# fmt: off
TEXTS = [
    "Số 1, Phố Huế, Hà Nội", "a  b", "x\\N", "\\", "tab\there", "Số\u2028Một", "emoji \U0001f600",
    unicodedata.normalize("NFD", "Phố Huế"), "é" * 40, "é" * 41, "a" * 60, "a" * 61, "b" * 200,
    "b" * 201, "c" * 300, "c" * 301, "\u00a0x", "x\u00a0", "Ấp Đông", "~!@#$%^&*()_+{}|:<>?",
    "\x7f", " lead", "trail ", 'Số "2", Phố Huế', '"', '""quoted""', "",
]
# fmt: on
# fmt: off
DATES = [
    "2000-02-29", "1900-02-29", "2001-02-29", "2000-13-01", "2000-00-10", "2000-01-00",
    "2000-04-31", "0000-01-01", "0001-01-01", "2000", "2000-05", "2000-5-1", "２０００-01-01",
    "2000-01-01T00:00", "20000101", "2999-01-01", TODAY.isoformat(), "2025-06-02", "1999-12-31",
    " 2000-01-01 ", "2000-1", "200", "",
]
# fmt: on
# fmt: off
CODES = [
    "male", "female", "Male", "female ", "x", "01", "99", "1", "001", "VN", "vn", "US", "V", "AB-",
    "ab", "O", "married", "single", "divorced", "widowed", "deceased", "missing", "alive",
    "HH-1", "a" * 20, "a" * 21, "hh_1", "123456789", "12345678", "1234567890", "",
]
# fmt: on


def ids_of(person: list[str]) -> list[str]:
    number = person[0]
    return [
        number,
        "999" + number[3:],
        number[:11],
        number + "0",
        "０" + number[1:],
        f" {number}",
        number[:3] + "9" + number[4:],
        number[:4] + "99" + number[6:],
        "",
    ]


def values_for(column: str, person: list[str]) -> st.SearchStrategy[str]:
    if column.endswith("id_number") or column == "card_number":
        plain = st.sampled_from(ids_of(person) + [p[0] for p in PEOPLE[:3]])
    elif column.endswith("name") or column == "other_names":
        plain = st.sampled_from(NAMES)
    elif column.endswith("date"):
        plain = st.sampled_from(DATES)
    elif column in TEXT_LIMITS:
        plain = st.sampled_from(TEXTS)
    else:
        plain = st.sampled_from(CODES)
    return plain | st.text(max_size=8)


def edge_values(column: str, person: list[str]) -> list[str]:
    if column.endswith("id_number") or column == "card_number":
        return ids_of(person) + [p[0] for p in PEOPLE[:3]]
    if column.endswith("name") or column == "other_names":
        return NAMES
    if column.endswith("date"):
        return DATES
    if column in TEXT_LIMITS:
        return TEXTS
    return CODES


def with_(person: list[str], **values: str) -> list[str]:
    changed = list(person)
    for column, value in values.items():
        changed[COLUMNS.index(column)] = value
    return changed


def cross_cases() -> list[list[str]]:
    """Rows at the edges of the rules between fields."""
    cases = []
    for person in PEOPLE[:40]:
        row = dict(zip(COLUMNS, person, strict=True))
        birth = row["birth_date"]
        cases += [
            with_(person, card_issue_date="2020-01-01", card_expiry_date="2020-01-01"),
            with_(person, card_issue_date="2020-01-02", card_expiry_date="2020-01-01"),
            with_(person, card_issue_date="2020-01-01", card_expiry_date="2020-01-02"),
            with_(person, status="deceased", death_date=birth if len(birth) == 10 else ""),
            with_(person, status="deceased", death_date=""),
            with_(person, status="alive", death_date="2020-01-01"),
            with_(person, status="", death_date="2020-01-01"),
            with_(person, status="missing", missing_date=""),
            with_(person, status="missing", missing_date="2020-01-01"),
            with_(person, status="alive", missing_date="2020-01-01"),
            with_(person, marital_status="married", spouse_id_number="", spouse_name=""),
            with_(person, marital_status="married", spouse_id_number="", spouse_name="Lê Văn Bé"),
            with_(person, marital_status="married", spouse_id_number=PEOPLE[1][0], spouse_name=""),
            with_(person, marital_status="", spouse_name=""),
            with_(person, card_number=""),
            with_(person, nationality="", marital_status="", status=""),
            with_(person, birth_date=birth[:4]),
            with_(person, birth_date=birth[:7]),
            with_(person, death_date="1800-01-01", status="deceased"),
        ]
    # Born this year: the ID number's year digits match, so only "not in the future" decides.
    for gender, serial in (("male", 1), ("female", 2)):
        number = idnumber.compose(
            idnumber.prefix_for(province_code="001", birth_year=TODAY.year, gender=gender), serial
        )
        base = with_(
            PEOPLE[0],
            id_number=number,
            card_number="",
            birth_province="001",
            gender=gender,
            marital_status="single",
            status="alive",
            death_date="",
            card_issue_date="",
            card_expiry_date="",
        )
        cases += [
            with_(base, birth_date=day)
            for day in (
                TODAY.isoformat(),
                "2025-06-02",
                "2025-05-31",
                "2025",
                "2025-06",
                "2025-07",
            )
        ]
    return cases


def test_each_edge_value_in_each_column_reads_as_python_reads_it() -> None:
    rows = []
    for i, column in enumerate(COLUMNS):
        for j, value in enumerate(edge_values(column, PEOPLE[i])):
            rows.append(with_(PEOPLE[(i * 7 + j) % len(PEOPLE)], **{column: value}))
    rows += cross_cases()
    data = ("\n".join(csv_line(r) for r in rows) + "\n").encode()
    native, python = both(data)
    same(native, python)
    assert 0 < len(native.good) < len(rows)  # both verdicts are exercised


@st.composite
def hostile_rows(draw: st.DrawFn) -> str:
    person = list(draw(st.sampled_from(PEOPLE)))
    for _ in range(draw(st.integers(0, 3))):
        column = draw(st.sampled_from(COLUMNS))
        person[COLUMNS.index(column)] = draw(values_for(column, person))
    if draw(st.integers(0, 9)) == 0:  # a row with a column too many or too few
        person = person[:-1] if draw(st.booleans()) else [*person, "x"]
    return csv_line(person)


@settings(
    max_examples=400,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)
@given(
    rows=st.lists(
        hostile_rows() | st.sampled_from(["", "a,b", "\ufeffx"]), min_size=1, max_size=12
    ),
    ending=st.sampled_from(["\n", "\r\n"]),
    last=st.booleans(),
    broken_utf8=st.booleans(),
    at=st.integers(0, 1 << 40),
)
def test_hostile_rows_read_as_python_reads_them(
    rows: list[str], ending: str, last: bool, broken_utf8: bool, at: int
) -> None:
    data = ending.join(rows).encode("utf-8", errors="surrogateescape") + (
        ending.encode() if last else b""
    )
    if broken_utf8:
        data = data.replace("ễ".encode(), b"\xe1\xbb", 1)
    same(*both(data, at))


def test_values_repeated_from_the_row_before_are_judged_like_any_other() -> None:
    """The C check passes a free text or a relative's name without checking it again when the
    row before held the very same bytes in that column and they passed (the members of a
    household share addresses and parents). Values that are close to the one before, the one
    before in another column, a value that failed, and quoted values (read through a scratch
    buffer) are all still judged as Python judges them."""
    address = 'Số 7, Ngõ "Ba", Phường Phúc Xá'  # doubled quotes in the CSV
    plain = "Số 7, Ngõ 3, Phường Phúc Xá"
    name = "Nguyễn Thị Ánh"
    cases = {
        "permanent_address": (plain, [plain + "  x", plain + "\\", plain[:-1], plain + "\t"]),
        "current_address": (address, [address.replace("Ba", "Bà"), address + " "]),
        "hometown": (plain, [plain.lower(), "x" * 201]),
        "father_name": (name, [name.lower(), name + " ", name[:-1] + "a", name + "1"]),
        "mother_name": (name, [name.upper(), "Thị", name + "  Ánh"]),
    }
    rows = []
    for i, (column, (good, bads)) in enumerate(cases.items()):
        people = PEOPLE[10 * i : 10 * i + 10]
        rows.append(with_(people[0], **{column: good}))
        rows.append(with_(people[1], **{column: good}))  # the same bytes again
        for j, bad in enumerate(bads):
            rows.append(with_(people[2 + j], **{column: bad}))
            rows.append(with_(people[2 + j], **{column: bad}))  # a failed value, again
            rows.append(with_(people[2 + j], **{column: good}))
        # The good value of this column in the next column that holds the same kind of text.
        other = {"permanent_address": "hometown", "father_name": "mother_name"}.get(column)
        if other:
            rows.append(with_(people[8], **{column: good, other: good}))
    data = ("\n".join(csv_line(r) for r in rows) + "\n").encode()
    native, python = both(data)
    same(native, python)
    assert 0 < len(native.good) < len(rows)  # both verdicts are exercised
