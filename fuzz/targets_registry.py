"""Fuzz targets for the registry's parsers: ID numbers, personal names, and CSV import chunks.

Each takes raw bytes; only the parser's own error (``InvalidIdNumber`` / ``InvalidName``) may be
raised by the code under test, and whatever it accepts must satisfy the invariants asserted here.
"""

from __future__ import annotations

import csv
import io
import re
import unicodedata
from collections.abc import Callable
from datetime import date

from registry.bulk.pipeline import Header, validate_chunk
from registry.idnumber import (
    InvalidIdNumber,
    check_against,
    compose,
    old_card_number,
    parse,
    prefix_for,
)
from registry.names import MAX_LENGTH, InvalidName, fold, normalize, split
from registry.record import COLUMNS

_BASES = "aăâbcdđeêfghijklmnoôơpqrstuưvwxyz"
_TONES = ("", "\u0300", "\u0301", "\u0309", "\u0303", "\u0323")
# Every Vietnamese letter with every tone mark, in both cases (NFC); fold must make these ASCII.
VIETNAMESE = frozenset(
    unicodedata.normalize("NFC", case(base) + tone)
    for base in _BASES
    for tone in _TONES
    for case in (str.lower, str.upper)
) | frozenset(" -'")
_FOLDED = re.compile(r"[a-z'\- ]+")


def idnumber(data: bytes) -> None:
    """An ID number as typed by a clerk or sent by an agency (registry/idnumber.py)."""
    text = data.decode("utf-8", errors="surrogateescape")
    try:
        number = parse(text)
    except InvalidIdNumber:
        pass
    else:
        assert parse(number.value) == number
        assert number.value == text.strip()
        prefix = prefix_for(
            province_code=number.province_code,
            birth_year=number.birth_year,
            gender=number.gender,
        )
        assert compose(prefix, number.serial) == number.value
        assert not check_against(
            number,
            birth_year=number.birth_year,
            gender=number.gender,
            province_code=number.province_code,
        )
    try:
        old = old_card_number(text)
    except InvalidIdNumber:
        return
    assert len(old) == 9
    assert old.isascii()
    assert old.isdigit()


def person_name(data: bytes) -> None:
    """A personal name from a form or an import (registry/names.py)."""
    text = data.decode("utf-8", errors="surrogateescape")
    try:
        name = normalize(text)
    except InvalidName:
        return
    assert normalize(name) == name
    assert unicodedata.is_normalized("NFC", name)
    assert name == name.strip()
    assert "  " not in name
    assert 0 < len(name) <= MAX_LENGTH
    folded = fold(text)
    assert fold(name) == folded
    assert fold(folded) == folded
    if set(name) <= VIETNAMESE:
        assert _FOLDED.fullmatch(folded)
    assert " ".join(part for part in split(name) if part) == name


def import_csv_chunk(data: bytes) -> None:
    """Rows of a CSV import file (registry/_native.c, and the Python reader it defers to): the
    C check must give exactly what the Python path alone gives."""
    header = Header(COLUMNS)
    today = date(2025, 6, 1)
    fast = validate_chunk(data, "csv", header, final=True, skip=0, today=today, run_id=7)
    plain = validate_chunk(
        data, "csv", header, final=True, skip=0, today=today, run_id=7, native=False
    )
    assert fast.copy == plain.copy
    assert (fast.rows, list(fast.good), list(fast.ends)) == (plain.rows, list(plain.good),
                                                             list(plain.ends))  # fmt: skip
    assert (fast.ids, fast.rejects, fast.clean_end) == (plain.ids, plain.rejects, plain.clean_end)


def _csv_rows(count: int, seed: int) -> bytes:
    from registry.synthetic import generate

    out = io.StringIO()
    csv.writer(out).writerows([person[c] for c in COLUMNS] for person in generate(count, seed=seed))
    return out.getvalue().encode()


TARGETS: dict[str, Callable[[bytes], None]] = {
    "idnumber": idnumber,
    "person_name": person_name,
    "import_csv_chunk": import_csv_chunk,
}

SEEDS: dict[str, list[bytes]] = {
    "idnumber": [
        b"001203004512",
        b" 079301000001\n",
        b"096999999999",
        b"999203004512",
        b"0012 03004512",
        b"001-203-004512",
        "\uff10\uff10\uff11\uff12\uff10\uff13\uff10\uff10\uff14\uff15\uff11\uff12".encode(),
        "\u0660\u0660\u0661\u0662\u0660\u0663\u0660\u0660\u0664\u0665\u0661\u0662".encode(),
        b"123456789",
        b"",
        b"\xff\xfe",
    ],
    "person_name": [
        "Nguyễn Thị Minh Anh".encode(),
        "NGUYỄN thị  minh   ANH".encode(),
        "Nguye\u0302\u0303n Va\u0306n A".encode(),
        "đặng\tvăn\u3000hùng".encode(),
        "h'hen niê".encode(),
        "Bru-Vân Kiều".encode(),
        "Ksor H\u2019Bia".encode(),
        b"Nguyen Van 2",
        b"\x00",
        b"-",
        b"\xff\xfe",
    ],
    "import_csv_chunk": [
        _csv_rows(3, 1),
        _csv_rows(2, 2).replace(b"\r\n", b"\n"),
        _csv_rows(2, 3).replace(b"-0", b"-1", 3),
        _csv_rows(1, 4) + b"a,b\r\n\r\n" + _csv_rows(1, 5)[:-2],
        b'"x""y",' + b"," * 36 + b"\n",
    ],
}
