"""Parallel validation for bulk import: the file cut into chunks at row boundaries, each chunk
read and validated (in worker processes) into COPY-ready text, the results taken back in order.

A chunk is read exactly as ``reader.read_rows`` reads the whole file: the same decoding, the
same CSV dialect and errors, the same row numbers (counted in order by the parent). A cut is made
after a newline; whether the CSV reader was really between rows there is checked by the worker
(it parses one sentinel line after the chunk and sees whether that line began a row of its own).
When it was not (a quoted field holding a newline), the chunk is read again joined with the next.
"""

from __future__ import annotations

import csv
import functools
import io
import itertools
import operator
import os
import sys
from array import array
from bisect import bisect_left, bisect_right
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any, BinaryIO

from registry import names
from registry.bulk.reader import (
    MAX_LINE,
    Format,
    Reject,
    RowError,
    Where,
    decode,
    first_undecodable,
    json_row,
    shown,
    undecodable,
)
from registry.codes import BLOOD_TYPES, GENDERS, MARITAL, STATUSES
from registry.idnumber import FIRST_YEAR
from registry.record import (
    COLUMNS,
    STORED_KEYS,
    TEXT_LIMITS,
    FieldProblem,
    RecordInvalid,
    parse_record,
    parse_strings,
)
from registry.refdata import ethnic_groups, province_table

try:
    from registry import _native
except ImportError:  # pragma: no cover - built without a C compiler
    _native = None  # type: ignore[assignment]

CHUNK_BYTES = 1 << 20  # about 2,500 generated rows; a worker's unit of work
_SENTINEL = "sentinel\n"
LAST_BYTES = 64  # bytes at a span's end that a worker compares with what the importer read
_VALUES = len(STORED_KEYS)  # a valid record's values, before the version and the run
_DATES = tuple(
    i for i, name in enumerate(STORED_KEYS) if name == "birth_date" or name.endswith("_date")
)
_NATIVE_TABLE = 0x2000  # code points its letter tables cover
_ID_NUMBER = operator.itemgetter(slice(0, 12))  # a COPY line's first 12 bytes
_NULL = {None: "\\N"}.get  # None -> \N, any other value -> itself
_UNREAD: dict[str, Any] = {}  # a row only counted (count_chunk): a placeholder, never changed
_ESCAPES = str.maketrans({"\\": "\\\\", "\t": "\\t", "\n": "\\n", "\r": "\\r"})


@dataclass
class Chunk:
    """Bytes of the file that start at a row boundary and end after a newline (or at EOF)."""

    data: bytes
    final: bool
    at: int = -1  # where ``data`` starts in the file (-1: not one span of it)
    size: int = 0  # its length, when ``data`` was let go (a worker reads the span itself)
    last: bytes = b""  # then, its last bytes as this process read them (up to LAST_BYTES)


@dataclass
class ChunkResult:
    """The rows of one chunk: valid ones as COPY text, the others as reject lines.

    Row numbers are local: 1 is the chunk's first row (after any skipped on resume).
    """

    rows: int = 0
    good: array[int] = field(default_factory=lambda: array("l"))  # local numbers of valid rows
    ends: array[int] = field(default_factory=lambda: array("l"))  # end offset of each in copy
    copy: bytes = b""  # COPY text format, columns COPY_COLUMNS, one line per valid row
    ids: str = ""  # the ID numbers of the valid rows, 12 characters each
    rejects: list[Reject] = field(default_factory=list)
    clean_end: bool = True  # the chunk ended between two rows
    shared: int = -1  # >= 0: ``copy`` (this many bytes) is in the task's shared slot instead
    at: int = 0  # where the chunk's rows begin and end in the file (set by Validator.results)
    end: int = 0


@dataclass(frozen=True)
class Header:
    """The CSV header of the file (None for NDJSON)."""

    names: tuple[str, ...]

    @property
    def in_column_order(self) -> bool:
        """The header is exactly COLUMNS, so a row's values need no dict."""
        return self.names == COLUMNS


def read_header(path: Path) -> tuple[Header, int] | None:
    """The CSV header and the byte offset of the first row; None when the header is not one
    plain line (then the caller reads the file the simple way)."""
    with path.open("rb") as handle:
        first = handle.readline(MAX_LINE + 1)
    if not first.endswith(b"\n"):
        return None
    text = first.decode("utf-8-sig", errors="surrogateescape")
    lines = list(io.StringIO(text, newline=""))
    if len(lines) != 1:
        return None
    csv.field_size_limit(MAX_LINE)
    reader = csv.reader([lines[0], _SENTINEL])
    try:
        header = next(reader)
        if reader.line_num != 1:
            return None
    except csv.Error:
        return None
    return Header(tuple(header)), len(first)


def chunks(
    path: Path, offset: int, size: int = CHUNK_BYTES, *, peek: Callable[[], bool] | None = None
) -> Iterator[Chunk]:
    """The file from ``offset``, cut after a newline roughly every ``size`` bytes.

    While ``peek()`` says so, a cut is made from the bytes around it alone (after the first
    newline at or past ``size`` bytes) and the chunk holds no data: for workers that read their
    spans themselves, which saves this process reading the whole file (docs/performance.md,
    "Chunks read by workers"). Such a cut may fall inside a quoted field that holds a newline; the
    worker notices and the two chunks are read again as one (``Validator.results``). Otherwise
    (and once ``peek()`` says no) every byte is read here, and a cut is made where the quotes
    pair up, which for well-formed CSV is exactly where a row ends.
    """
    with path.open("rb") as handle:
        end = os.fstat(handle.fileno()).st_size
        at = offset  # where the next chunk starts in the file
        while peek is not None and peek():
            found = _peek_cut(handle, at, at + size)
            if found is None:  # no newline from there on: the rest is the last chunk
                rest = max(end - at, 0)
                last = os.pread(
                    handle.fileno(), min(LAST_BYTES, rest), at + rest - min(LAST_BYTES, rest)
                )
                yield Chunk(b"", final=True, at=at, size=rest, last=last)
                return
            cut, last = found
            yield Chunk(b"", final=False, at=at, size=cut - at, last=last)
            at = cut
        handle.seek(at)
        pending: list[bytes] = []  # the start of the next chunk
        quotes = 0  # how many quote characters it holds
        while True:
            block = handle.read(size)
            if not block:
                yield Chunk(b"".join(pending), final=True, at=at)
                return
            cut = _cut(block, quotes)
            if cut <= 0:  # no newline in this block: a very long line, read on
                pending.append(block)
                quotes += block.count(b'"')
                continue
            pending.append(block[:cut])
            chunk = Chunk(b"".join(pending), final=False, at=at)
            yield chunk
            at += len(chunk.data)
            pending = [block[cut:]]
            quotes = pending[0].count(b'"')


def _peek_cut(handle: BinaryIO, at: int, target: int) -> tuple[int, bytes] | None:
    """Where the chunk starting at ``at`` ends: after the first newline at ``target - 1`` or
    later, with the chunk's last bytes (up to LAST_BYTES); None when no newline follows."""
    start = max(at, target - 1 - LAST_BYTES)
    handle.seek(start)
    window = bytearray()
    search = target - 1 - start
    while True:
        block = handle.read(1 << 16)
        if not block:
            return None
        window += block
        found = window.find(b"\n", search)
        if found >= 0:
            return start + found + 1, bytes(window[max(0, found + 1 - LAST_BYTES) : found + 1])
        search = len(window)  # a long line: read on


def _cut(block: bytes, quotes: int) -> int:
    """Where to cut ``block`` (after ``quotes`` quote characters since the chunk began): after
    the last newline at which the quotes pair up (for well-formed CSV, exactly where a row
    ends), else after the last newline; 0 when it holds no newline."""
    last = block.rfind(b"\n") + 1
    cut = last
    for _ in range(4):
        if cut <= 0 or (quotes + block.count(b'"', 0, cut)) % 2 == 0:
            return cut
        cut = block.rfind(b"\n", 0, cut - 1) + 1
    return last


def validate_chunk(
    data: bytes,
    fmt: Format,
    header: Header | None,
    *,
    final: bool,
    skip: int,
    today: date,
    run_id: int,
    native: bool = True,
    at: int = 0,
) -> ChunkResult:
    """Read and validate the rows of one chunk, which begins at byte ``at`` of the file (this
    runs in a worker process); each COPY line names import run ``run_id`` as its record's
    creator. ``native=False`` keeps to the Python path (the C check's result must always be
    the same)."""
    tail = f"\t1\t{run_id}\n"  # version 1, created by the run
    if native and fmt == "csv" and skip == 0 and header is not None and header.in_column_order:
        fast = _native_chunk(data, today, tail, at)
        if fast is not None:
            return fast
    result = ChunkResult()
    parts: list[bytes] = []
    ids: list[str] = []
    offset = 0
    for number, row in _rows(data, fmt, header, final, skip, result, at=at):
        line = _judged(number, row, result, today, tail)
        if line is None:
            continue
        encoded = line.encode()
        parts.append(encoded)
        offset += len(encoded)
        result.good.append(number)
        result.ends.append(offset)
        ids.append(line[:12])
    result.copy = b"".join(parts)
    result.ids = "".join(ids)
    return result


def validate_span(
    path: str,
    at: int,
    length: int,
    last: bytes,
    fmt: Format,
    header: Header | None,
    *,
    final: bool,
    skip: int,
    today: date,
    run_id: int,
) -> ChunkResult:
    """``validate_chunk`` of the file's ``length`` bytes from ``at``, read here (in a worker)
    rather than sent through a pipe; ``last`` is how the importer read the span's end."""
    data = read_span(path, at, length)
    if not data.endswith(last):
        raise RuntimeError("the file changed while it was being imported")
    return validate_chunk(
        data, fmt, header, final=final, skip=skip, today=today, run_id=run_id, at=at
    )


def read_span(path: str | Path, at: int, length: int) -> bytes:
    """The file's ``length`` bytes from ``at``; RuntimeError when it no longer has them."""
    with open(path, "rb") as handle:
        data = os.pread(handle.fileno(), length, at)
    if len(data) != length:
        raise RuntimeError("the file changed while it was being imported")
    return data


def _judged(
    number: int,
    row: list[str] | dict[str, Any] | RowError,
    result: ChunkResult,
    today: date,
    tail: str,
) -> str | None:
    """The COPY line of one row as read, or None with its problems added to ``result``."""
    if isinstance(row, RowError):
        result.rejects.append(row.reject(number))
        return None
    try:
        stored = (
            parse_strings(row, today=today)
            if isinstance(row, list)
            else parse_record(row, today=today)
        )
    except RecordInvalid as exc:
        result.rejects.extend(record_rejects(number, row, exc.problems))
        return None
    if len(stored) != _VALUES:  # not a valid record's keys: parse_record changed
        raise AssertionError("parse_record returned other keys than STORED_KEYS")
    return _copy_line(stored, tail)


def record_rejects(
    number: int, row: Sequence[str] | Mapping[str, Any], problems: Iterable[FieldProblem]
) -> list[Reject]:
    """The reject lines of row ``number`` (its values in COLUMNS order, or a record) for the
    rules it breaks: each with the row's ID number and the value that breaks the rule."""
    record = row if isinstance(row, Mapping) else dict(zip(COLUMNS, row, strict=True))
    id_number = shown(record.get("id_number"))
    return [(number, p.field, p.reason, id_number, shown(record.get(p.field))) for p in problems]


@functools.cache
def native_tables() -> bytes | None:
    """The tables registry/_native.c checks rows with, or None when it cannot be used: not
    built, or written for other columns or codes than the record's now."""
    if _native is None or _native.ASSUMES != _native_assumes_now():
        return None
    kind, fold = bytearray(_NATIVE_TABLE), bytearray(_NATIVE_TABLE)
    upper, lower, folded = names.stored_form_letters()
    for letters, letter_kind in ((upper, 1), (lower, 2)):
        for letter in letters:
            point = ord(letter)
            if point >= _NATIVE_TABLE:
                return None
            kind[point] = letter_kind
            fold[point] = ord(folded[point])
    province, ethnic = bytearray(1000), bytearray(100)
    for code in province_table().names:
        if len(code) == 3 and code.isascii() and code.isdigit():
            province[int(code)] = 1
    for code in ethnic_groups():
        if len(code) == 2 and code.isascii() and code.isdigit():
            ethnic[int(code)] = 1
    return bytes(kind + fold + province + ethnic)


def _native_chunk(data: bytes, today: date, tail: str, at: int = 0) -> ChunkResult | None:
    """``validate_chunk`` by registry/_native.c, which hands every row it is not certain of to
    ``_judged``; None when the module cannot be used or the chunk needs Python's reader."""
    tables = native_tables()
    if tables is None or _native is None:
        return None
    csv.field_size_limit(MAX_LINE)
    result = ChunkResult()
    width = len(COLUMNS)
    lines = _LineStarts(data)

    def judge(number: int, line: bytes) -> bytes | None:
        # The row as _csv_rows reads it: the line is one whole row (the C reader made sure).
        row: list[str] | RowError
        text, clean = decode(line)
        bad = None if clean else at + lines.start(number) + (first_undecodable(text) or 0)
        try:
            row = next(csv.reader([text]))
        except csv.Error as exc:
            row = RowError(f"unreadable CSV row: {type(exc).__name__}")
            if bad is not None:
                row = undecodable(bad, None)
        else:
            if bad is not None:
                row = undecodable(bad, dict(zip(COLUMNS, row, strict=False)))
            elif len(row) != width:
                row = RowError(f"has {len(row)} columns, the header has {width}")
        judged = _judged(number, row, result, today, tail)
        return None if judged is None else judged.encode()

    day = today.year * 10000 + today.month * 100 + today.day
    found = _native.copy_rows(data, tables, day, FIRST_YEAR, tail.encode(), judge, MAX_LINE)
    if found is None:
        return None
    result.copy, ids, good, ends, result.rows = found
    result.ids = ids.decode("ascii")
    result.good.frombytes(good)
    result.ends.frombytes(ends)
    return result


class _LineStarts:
    """Where the lines of a chunk start, found on demand in increasing line order."""

    def __init__(self, data: bytes) -> None:
        self.data, self.line, self.at = data, 1, 0

    def start(self, line: int) -> int:
        """The offset of line ``line`` (from 1) in the chunk; asked in increasing order."""
        while self.line < line:
            self.at = self.data.index(b"\n", self.at) + 1
            self.line += 1
        return self.at


def count_chunk(data: bytes, fmt: Format, header: Header | None, *, final: bool) -> ChunkResult:
    """Only count the rows of a chunk (skipping what a resumed import already did)."""
    result = ChunkResult()
    for _ in _rows(data, fmt, header, final, 0, result, parse=False):
        pass
    return result


def _rows(
    data: bytes,
    fmt: Format,
    header: Header | None,
    final: bool,
    skip: int,
    result: ChunkResult,
    *,
    parse: bool = True,
    at: int = 0,
) -> Iterator[tuple[int, list[str] | dict[str, Any] | RowError]]:
    """(local row number, values | record | RowError), as reader.read_rows yields them; ``at``
    is where ``data`` begins in the file."""
    rows: Iterator[tuple[int, list[str] | dict[str, Any] | RowError]]
    if fmt == "csv":
        assert header is not None  # noqa: S101 - a CSV chunk always comes with its header
        rows = _csv_rows(data, header, final, result, parse, at)
    else:
        rows = _ndjson_rows(data, parse, at)
    for number, row in rows:
        result.rows = number - skip
        if number > skip:
            yield number - skip, row


def _csv_rows(
    data: bytes, header: Header, final: bool, result: ChunkResult, parse: bool, at: int
) -> Iterator[tuple[int, list[str] | dict[str, Any] | RowError]]:
    # As reader._csv_rows: surrogateescape, newline="" (a row may end at \n, \r or \r\n).
    csv.field_size_limit(MAX_LINE)
    text, clean = decode(data)
    # Where the bytes that are not UTF-8 are: followed only in a chunk that has some.
    where = None if clean or not parse else Where()
    lines: Iterable[str] = (
        io.StringIO(text, newline="") if where is None else where.lines(text, at, clean)
    )
    count = sys.maxsize  # the last chunk has no sentinel: every line is the file's
    if not final:
        # A chunk that is not the last ends with "\n": its lines are its line ends.
        count = text.count("\n") + text.count("\r") - text.count("\r\n")
        lines = itertools.chain(lines, (_SENTINEL,))
    reader = csv.reader(lines)
    names = header.names
    width = len(names)
    as_list = header.in_column_order
    number = 0
    while True:
        before = reader.line_num
        try:
            values = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            if reader.line_num > count:  # the sentinel was read into a row: not a clean end
                result.clean_end = before == count
                return
            number += 1
            bad = None if where is None else where.take()
            if bad is not None:
                yield number, undecodable(bad, None)
            else:
                yield number, RowError(f"unreadable CSV row: {type(exc).__name__}")
            continue
        if reader.line_num > count:
            result.clean_end = before == count
            return
        number += 1
        if not parse:
            yield number, values
        elif where is not None and (bad := where.take()) is not None:
            yield number, undecodable(bad, dict(zip(names, values, strict=False)))
        elif len(values) != width:
            yield number, RowError(f"has {len(values)} columns, the header has {width}")
        elif as_list:
            yield number, values
        else:
            yield number, dict(zip(names, values, strict=True))


def _ndjson_rows(
    data: bytes, parse: bool, at: int
) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    # As reader._ndjson_rows: lines split at b"\n" only, blank lines are not rows.
    number = 0
    for line in io.BytesIO(data):
        start, at = at, at + len(line)
        if not line.strip():
            continue
        number += 1
        yield number, json_row(line, start) if parse else _UNREAD


def _native_assumes_now() -> dict[str, object]:
    """What registry/_native.c must have been written against (its ASSUMES): the record's
    columns and rules as they are now."""
    return {
        "columns": COLUMNS,
        "stored": STORED_KEYS,
        "text_limits": tuple(TEXT_LIMITS.items()),
        "genders": GENDERS,
        "marital": MARITAL,
        "blood": BLOOD_TYPES,
        "statuses": STATUSES,
        "max_name": names.MAX_LENGTH,
    }


def _copy_line(stored: dict[str, Any], tail: str) -> str:
    """One row in COPY text format (columns COPY_COLUMNS): \\N for NULL, dates in ISO form,
    ending with ``tail`` (the version and the run, tab-separated, and the newline)."""
    # A valid record has every key of STORED_KEYS, in that order: its values are the row.
    values = list(stored.values())
    for i in _DATES:
        if values[i] is not None:
            values[i] = values[i].isoformat()
    line = "\t".join(map(_NULL, values, values))
    # Validated text holds no control characters, so normally nothing needs escaping: the
    # only backslashes are those of the NULL markers, and the only tabs the separators.
    if (
        line.count("\\") != values.count(None)
        or line.count("\t") != _VALUES - 1
        or "\n" in line
        or "\r" in line
    ):
        line = "\t".join(["\\N" if v is None else v.translate(_ESCAPES) for v in values])
    return line + tail


def rows_between(result: ChunkResult, first: int, last: int) -> tuple[int, int]:
    """Indexes [i, j) of the valid rows of ``result`` whose local numbers are in first..last."""
    return bisect_left(result.good, first), bisect_right(result.good, last)


def copy_slice(result: ChunkResult, i: int, j: int) -> tuple[bytes, str]:
    """The COPY text and ID numbers of valid rows i..j-1 of ``result``."""
    if i >= j:
        return b"", ""
    start = result.ends[i - 1] if i else 0
    return result.copy[start : result.ends[j - 1]], result.ids[12 * i : 12 * j]


def by_number(parts: Sequence[bytes]) -> bytes:
    """One batch's COPY lines (``parts``, each empty or ending with a newline) in the order of
    their ID numbers (a line's first 12 bytes); lines of the same number keep their order, so
    the one earlier in the file is still the one loaded.

    The primary key's B-tree takes a batch in key order much faster than in file order: each
    insert lands on or next to the leaf page the one before it used, which is still in cache
    (docs/performance.md, "Sorted batches").
    """
    if _native is not None and hasattr(_native, "sort_lines"):  # built, and not before it was
        return _native.sort_lines(parts)
    if any(part and not part.endswith(b"\n") for part in parts):
        raise ValueError("sort_lines: a part does not end with a newline")
    lines = b"".join(parts).split(b"\n")
    lines.pop()  # what follows the last newline: nothing
    lines.sort(key=_ID_NUMBER)
    return b"".join(line + b"\n" for line in lines)


def sorted_binary(parts: Sequence[bytes], kinds: bytes) -> bytes | None:
    """``by_number(parts)`` as COPY binary-format tuples, ``kinds`` giving each column's type
    (registry/_native.c's sorted_binary, which sorts and converts in one pass); None without
    the C module, whose rows then go as text."""
    if _native is not None and hasattr(_native, "sorted_binary"):  # built, and not before it was
        return _native.sorted_binary(parts, kinds)
    return None


def rejects_between(result: ChunkResult, first: int, last: int, base: int) -> Sequence[Reject]:
    """The reject lines of local rows first..last, numbered in the file (``base`` + local)."""
    return [
        (base + reject[0], *reject[1:]) for reject in result.rejects if first <= reject[0] <= last
    ]


def position_after(result: ChunkResult, last: int) -> int:
    """How far into the file local row ``last`` of ``result`` reaches, to within its chunk:
    the chunk's bytes shared evenly among its rows."""
    if result.rows <= 0 or last >= result.rows:
        return result.end
    return result.at + (result.end - result.at) * last // result.rows
