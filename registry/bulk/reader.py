"""Streaming readers of import files (CSV with a header, or NDJSON), with bounded memory."""

from __future__ import annotations

import csv
import hashlib
import io
import json
from collections.abc import Collection, Iterator, Mapping
from pathlib import Path
from typing import Any, BinaryIO, Literal

Format = Literal["csv", "ndjson"]
MAX_LINE = 64 * 1024  # a record is far smaller; longer lines are rejected, not buffered
BLOCK = 1 << 20  # bytes the plain CSV reader decodes at once (then on to the next newline)
SHOWN = 64  # characters of a value a reject line quotes, at most
_BOM = b"\xef\xbb\xbf"
# A line of the reject report (README "Import columns"): the row, the field and why, then the
# row's ID number as written and the offending value (quoted short, unprintables escaped).
REJECT_HEADER = ("row", "field", "reason", "id_number", "value")
Reject = tuple[int, str, str, str, str]
# Delimiters a spreadsheet writes instead of the comma (Excel: the list separator of the
# regional settings, ';' wherever the comma is the decimal mark, Vietnam's included).
_OTHER_DELIMITERS = {";": "';'", "\t": "tab", "|": "'|'"}


class RowError(ValueError):
    """A row that cannot even be read as a record (wrong column count, not JSON, not UTF-8)."""

    def __init__(
        self, reason: str, *, field: str = "", value: str = "", id_number: str = ""
    ) -> None:
        super().__init__(reason)
        self.field, self.value, self.id_number = field, value, id_number

    def reject(self, number: int) -> Reject:
        """Its line of the reject report, as row ``number`` of the file."""
        return number, self.field, str(self), self.id_number, self.value


class FileRefused(ValueError):
    """A file refused whole, before any of its rows is read (its header, delimiter or format)."""


def detect_format(path: Path) -> Format:
    """The format from the file name: .csv, or .ndjson/.jsonl/.json."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        return "csv"
    if suffix in (".ndjson", ".jsonl", ".json"):
        return "ndjson"
    raise FileRefused(f"cannot tell the format of {path.name}; use --format csv or ndjson")


def check_file(
    path: Path, fmt: Format, *, columns: Collection[str], required: Collection[str]
) -> None:
    """Refuse (FileRefused) a file that does not begin as an import file of ``columns`` does.

    CSV: the header must name each column at most once, the ``required`` ones included, and be
    separated by commas. NDJSON: the first line must be an object whose keys are columns (a
    file that is CSV or one JSON array is not read line by line as records).
    """
    with path.open("rb") as handle:
        if fmt == "csv":
            header = next(csv.reader(_file_lines(handle, Where())), None)
            if header is None:
                raise FileRefused(f"{path.name} is empty: a CSV import begins with its header")
            _check_header(path.name, header, columns, required)
            return
        for line in handle:
            if line.strip():
                break
        else:
            raise FileRefused(f"{path.name} is empty")
    try:
        first = json.loads(line)
    except UnicodeDecodeError:
        return  # the row's own encoding reject
    except (ValueError, RecursionError):
        first = None
    if not isinstance(first, dict):
        raise FileRefused(
            f"{path.name}: its first line is not a JSON object; NDJSON holds one record "
            "(an object) per line"
        )
    unknown = [key for key in first if key not in columns]
    if unknown:
        raise FileRefused(
            f"{path.name}: unknown keys: {_names(unknown)} in its first record; the "
            f"keys are the import columns: {','.join(columns)}"
        )


def _check_header(
    name: str, header: list[str], columns: Collection[str], required: Collection[str]
) -> None:
    expected = f"expected header: {','.join(columns)}"
    if len(header) == 1:
        for delimiter, said in _OTHER_DELIMITERS.items():
            if delimiter in header[0] and set(header[0].split(delimiter)) & set(required):
                raise FileRefused(
                    f"{name} is separated by {said}, not by commas, as a spreadsheet writes "
                    "CSV under some regional settings; save it as comma-separated UTF-8 "
                    f"(Excel: CSV UTF-8). {expected}"
                )
    unknown = [column for column in header if column not in columns]
    repeated = sorted({column for column in header if header.count(column) > 1})
    missing = [column for column in required if column not in header]
    problems = [
        f"{problem} columns: {_names(names)}"
        for problem, names in (("unknown", unknown), ("repeated", repeated), ("missing", missing))
        if names
    ]
    if problems:
        raise FileRefused(f"{name}: {'; '.join(problems)}. {expected}")


def _names(names: list[str]) -> str:
    """The first few of ``names`` for a message, each readable ("" for an empty one)."""
    return ", ".join(shown(name) or '""' for name in names[:5])


# The digest is read in a thread while the main one imports the rest of the import's code,
# and the digest is what the load waits for. Each block costs the thread the GIL twice (after
# the read, after the hash), and taking it back from a busy thread can take a switch interval:
# large blocks take it back less often (docs/performance.md, "Digest block").
DIGEST_BLOCK = 16 << 20


def file_digest(path: Path) -> str:
    """SHA-256 of the file's bytes (hex): the identity of an import for resuming and auditing."""
    digest = hashlib.sha256()
    block = bytearray(DIGEST_BLOCK)
    view = memoryview(block)
    with path.open("rb", buffering=0) as handle:
        while read := handle.readinto(block):
            digest.update(view[:read])
    return digest.hexdigest()


def decode(data: bytes) -> tuple[str, bool]:
    """``data`` as the import reads text (bytes that are not UTF-8 kept as lone surrogates, which
    ``undecodable`` finds again), and whether all of it was UTF-8."""
    try:
        return data.decode("utf-8"), True
    except UnicodeDecodeError:
        return data.decode("utf-8", errors="surrogateescape"), False


class Where:
    """Where a reader is in its file: how far it has read, and where the first byte that is not
    UTF-8 is in the lines read since ``take`` was last called (those of one CSV row: the csv
    module reads no line beyond the row it returns)."""

    def __init__(self) -> None:
        self.position = 0
        self.bad: int | None = None

    def take(self) -> int | None:
        """The file offset of the first undecodable byte since the last call, if any."""
        bad, self.bad = self.bad, None
        return bad

    def lines(self, text: str, at: int, clean: bool) -> Iterator[str]:
        """The lines of ``text`` (``decode`` of the file's bytes from ``at``) as a file opened
        with newline="" gives them; counted byte by byte only when some bytes were not UTF-8."""
        if clean:
            return iter(io.StringIO(text, newline=""))
        return self._marked(text, at)

    def _marked(self, text: str, at: int) -> Iterator[str]:
        for line in io.StringIO(text, newline=""):
            if self.bad is None and (bad := first_undecodable(line)) is not None:
                self.bad = at + bad
            at += len(line.encode("utf-8", "surrogateescape"))
            yield line


def first_undecodable(text: str) -> int | None:
    """Where the first byte that was not UTF-8 is in the bytes ``text`` was decoded from
    (``decode``), or None."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:  # a lone surrogate
        return len(text[: exc.start].encode("utf-8", "surrogateescape"))
    return None


def _file_lines(handle: BinaryIO, where: Where) -> Iterator[str]:
    """The text lines of a binary file as open(newline="", encoding="utf-8-sig",
    errors="surrogateescape") reads them, noting where it is in ``where``."""
    at = 0
    while block := handle.read(BLOCK):
        if not block.endswith(b"\n"):
            block += handle.readline()  # a cut after a newline is never inside a character
        if at == 0 and block.startswith(_BOM):
            block, at = block[len(_BOM) :], len(_BOM)
        where.position = at + len(block)
        text, clean = decode(block)
        yield from where.lines(text, at, clean)
        at += len(block)


def undecodable(offset: int, row: Mapping[str, Any] | None) -> RowError:
    """The reject of a row holding bytes that are not UTF-8, the first of them at ``offset`` in
    the file: it names the field they are in, which shows them escaped."""
    field, value = "", ""
    for name, text in (row or {}).items():
        if isinstance(text, str) and first_undecodable(text) is not None:
            field, value = name, text
            break
    return RowError(
        f"invalid UTF-8 at byte offset {offset} of the file",
        field=field,
        value=shown(value),
        id_number=shown((row or {}).get("id_number")),
    )


def shown(value: Any) -> str:
    """A value as a reject line quotes it: at most SHOWN characters, and every character that
    is not printable escaped (an undecodable byte as \\xNN), so the report is plain UTF-8."""
    if value is None:
        return ""
    text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
    if len(text) > SHOWN:
        text = text[:SHOWN] + "…"
    if text.isprintable():
        return text
    return "".join(map(_visible, text))


def _visible(char: str) -> str:
    if char.isprintable():
        return char
    if "\udc80" <= char <= "\udcff":  # a byte that was not UTF-8 (surrogateescape)
        return f"\\x{ord(char) - 0xDC00:02x}"
    return char.encode("unicode_escape").decode("ascii")


def json_row(line: bytes, at: int) -> dict[str, Any] | RowError:
    """One NDJSON line (starting at ``at`` in the file) as a record, or why it is not one."""
    if len(line) > MAX_LINE:
        return RowError("line is too long")
    try:
        value = json.loads(line)
    except UnicodeDecodeError as exc:
        try:
            readable = json.loads(line.decode("utf-8", errors="surrogateescape"))
        except (ValueError, RecursionError):
            readable = None
        return undecodable(at + exc.start, readable if isinstance(readable, dict) else None)
    except (ValueError, RecursionError):
        return RowError("not a JSON object")
    if not isinstance(value, dict):
        return RowError("not a JSON object")
    return value


class Rows:
    """The rows of an import file: (row number from 1, record or RowError), the first ``skip``
    skipped cheaply; ``position`` says how far into the file the rows read so far reach (to
    within a block)."""

    def __init__(self, path: Path, fmt: Format, *, skip: int = 0) -> None:
        self._where = Where()
        read = _csv_rows if fmt == "csv" else _ndjson_rows
        self._rows = read(path, skip, self._where)

    def __iter__(self) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
        return self._rows

    @property
    def position(self) -> int:
        """Bytes of the file read so far."""
        return self._where.position


def read_rows(
    path: Path, fmt: Format, *, skip: int = 0
) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    """Yield (row number from 1, record or RowError), skipping the first ``skip`` rows cheaply."""
    return iter(Rows(path, fmt, skip=skip))


def _csv_rows(
    path: Path, skip: int, where: Where
) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    csv.field_size_limit(MAX_LINE)
    with path.open("rb") as handle:
        reader = csv.reader(_file_lines(handle, where))
        try:
            header = next(reader)
        except StopIteration:
            return
        where.take()
        width = len(header)
        number = 0
        while True:
            try:
                values = next(reader)
            except StopIteration:
                return
            except csv.Error as exc:
                number += 1
                bad = where.take()
                if number > skip:
                    if bad is not None:
                        yield number, undecodable(bad, None)
                    else:
                        yield number, RowError(f"unreadable CSV row: {type(exc).__name__}")
                continue
            number += 1
            bad = where.take()
            if number <= skip:
                continue
            if bad is not None:
                yield number, undecodable(bad, dict(zip(header, values, strict=False)))
            elif len(values) != width:
                yield number, RowError(f"has {len(values)} columns, the header has {width}")
            else:
                yield number, dict(zip(header, values, strict=True))


def _ndjson_rows(
    path: Path, skip: int, where: Where
) -> Iterator[tuple[int, dict[str, Any] | RowError]]:
    with path.open("rb") as handle:
        number = 0
        for line in handle:
            at = where.position
            where.position += len(line)
            if not line.strip():
                continue
            number += 1
            if number <= skip:
                continue
            yield number, json_row(line, at)
