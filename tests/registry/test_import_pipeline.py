"""The chunked, parallel reading of an import file sees exactly the rows the plain reader sees.

Whatever the file holds (quoted newlines across a cut, stray quotes, lone CRs, broken UTF-8,
over-long fields, blank lines, a missing last newline) and wherever it is cut, the chunks give
the same rows, numbers, rejects and stored values as ``read_rows`` + ``parse_record``.
"""

from __future__ import annotations

import asyncio
import csv
import io
import json
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import text

from core.auth import Principal
from core.db import Database
from registry.bulk import pipeline, reader, service, workers
from registry.bulk.pipeline import (
    ChunkResult,
    Header,
    chunks,
    copy_slice,
    read_header,
    record_rejects,
    rejects_between,
)
from registry.bulk.reader import MAX_LINE, Format, RowError, file_digest, read_rows
from registry.bulk.repository import COPY_COLUMNS, STORED
from registry.bulk.service import import_file
from registry.bulk.workers import Validator
from registry.record import COLUMNS, STORED_KEYS, RecordInvalid, parse_record
from registry.synthetic import generate

TODAY = date(2025, 6, 1)
RUN = 7  # the import run the validated rows name
RUN_TAIL = f"\t1\t{RUN}\n"
PEOPLE = list(generate(60, seed=3))
ACTOR = Principal("official", "clerk-7")


def csv_line(values: list[str]) -> str:
    with_quotes: list[str] = []
    for value in values:
        if any(ch in value for ch in ',"\r\n'):
            value = '"' + value.replace('"', '""') + '"'
        with_quotes.append(value)
    return ",".join(with_quotes)


def sequential(path: Path, fmt: Format, skip: int = 0) -> tuple[list[Any], list[str], int]:
    """Rejects, COPY lines of valid rows, and rows read: the plain way."""
    rejects: list[Any] = []
    lines: list[str] = []
    last = skip
    for number, row in read_rows(path, fmt, skip=skip):
        last = number
        if isinstance(row, RowError):
            rejects.append(row.reject(number))
            continue
        try:
            stored = parse_record(row, today=TODAY)
        except RecordInvalid as exc:
            rejects.extend(record_rejects(number, row, exc.problems))
            continue
        lines.append(pipeline._copy_line(stored, RUN_TAIL))
    return rejects, lines, last


def chunked(
    path: Path, fmt: Format, size: int, skip: int = 0, workers: int = 1, peek: bool = False
) -> tuple[list[Any], list[str], int] | None:
    """The same through chunks of ``size`` bytes (None: the file takes the plain path); with
    ``peek``, cut as for workers that read their spans (here even without workers, so that
    hypothesis can try many files), until a cut has had to be mended."""
    header = None
    offset = 0
    if fmt == "csv":
        found = read_header(path)
        if found is None:
            return None
        header, offset = found
    # With workers, they read their chunks from the file, as an import has them do.
    validator = Validator(fmt, header, today=TODAY, run_id=RUN, workers=workers, depth=3, path=path)
    rejects: list[Any] = []
    lines: list[str] = []
    seen = skip

    async def run() -> None:
        nonlocal seen
        peeking = (lambda: not validator.mended) if peek else None
        source = chunks(path, offset, size, peek=peeking)
        async for result in validator.results(source, skip=skip):
            rejects.extend(rejects_between(result, 1, result.rows, seen))
            data, ids = copy_slice(result, 0, len(result.good))
            text_lines = data.decode().splitlines(keepends=True)
            numbers = [ids[i : i + 12] for i in range(0, len(ids), 12)]
            assert [line[:12] for line in text_lines] == numbers
            lines.extend(text_lines)
            seen += result.rows

    try:
        asyncio.run(run())
    finally:
        validator.close()
    return rejects, lines, seen


def good_rows(n: int) -> list[list[str]]:
    return [[person[c] for c in COLUMNS] for person in PEOPLE[:n]]


HOSTILE_LINES = [
    "",
    "only,three,columns",
    '"unterminated,quote',
    'stray"quote,in,field',
    '"a""b",c',
    "\r",
    "x\ry",
    "\ufeff" + ",".join(COLUMNS),
    '"' + "x" * (MAX_LINE + 10) + '"',
    '"multi\nline\n"' + "," * (len(COLUMNS) - 1),
    "\u00e9\udcff",
]


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    rows = good_rows(draw(st.integers(0, 25)))
    lines = [csv_line(r) for r in rows]
    for _ in range(draw(st.integers(0, 6))):
        where = draw(st.integers(0, len(lines)))
        kind = draw(st.integers(0, 3))
        if kind == 0:
            extra = draw(st.sampled_from(HOSTILE_LINES))
        elif kind == 1 and rows:
            # A row whose text field holds a quoted newline, so a cut can fall inside it.
            row = list(draw(st.sampled_from(rows)))
            row[COLUMNS.index("permanent_address")] = draw(
                st.sampled_from(["Số 1\nPhố Huế", "a\r\nb", 'Số "2"\n', "x\\N", "\\N"])
            )
            extra = csv_line(row)
        elif kind == 2 and rows:
            row = list(draw(st.sampled_from(rows)))
            column = draw(st.sampled_from(COLUMNS))
            row[COLUMNS.index(column)] = draw(st.text(max_size=12))
            extra = csv_line(row)
        else:
            extra = draw(st.text(alphabet=',"\r\nab\\', max_size=20))
        lines.insert(where, extra)
    ending = draw(st.sampled_from(["\n", "\r\n"]))
    body = csv_line(list(COLUMNS)) + ending + ending.join(lines)
    if draw(st.booleans()) and lines:
        body += ending
    data = body.encode("utf-8", errors="surrogateescape")
    if draw(st.booleans()):
        data = data.replace(b"\xc3\xa9", b"\xc3", 1)  # broken UTF-8
    return data


SETTINGS = settings(
    max_examples=150,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture],
)


@pytest.mark.parametrize("size", [0, 1, 6, 7, 8, 100])
def test_the_file_digest_is_the_sha256_of_its_bytes_whatever_the_block(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, size: int
) -> None:
    import hashlib

    data = bytes(range(256))[:size] * 3
    path = tmp_path / "f.csv"
    path.write_bytes(data)
    assert file_digest(path) == hashlib.sha256(data).hexdigest()
    monkeypatch.setattr(reader, "DIGEST_BLOCK", 7)  # blocks that end inside and at the end
    assert file_digest(path) == hashlib.sha256(data).hexdigest()


@SETTINGS
@given(
    data=csv_files(),
    size=st.sampled_from([1, 7, 64, 333, 1 << 16]),
    skip=st.integers(0, 8),
    peek=st.booleans(),
)
def test_csv_chunks_read_like_the_plain_reader(
    tmp_path: Path, data: bytes, size: int, skip: int, peek: bool
) -> None:
    path = tmp_path / "pop.csv"
    path.write_bytes(data)
    got = chunked(path, "csv", size, skip, peek=peek)
    if got is None:
        return
    assert got == sequential(path, "csv", skip)


@SETTINGS
@given(
    rows=st.lists(
        st.one_of(
            st.sampled_from(PEOPLE).map(lambda p: json.dumps(p, ensure_ascii=False)),
            st.sampled_from(["", "  ", "{not json", "[1, 2]", '{"id_number": 5}', "\udcff{}"]),
            st.sampled_from(PEOPLE).map(lambda p: json.dumps({**p, "gender": "x"})),
        ),
        max_size=20,
    ),
    size=st.sampled_from([1, 50, 700, 1 << 16]),
    skip=st.integers(0, 5),
    peek=st.booleans(),
)
def test_ndjson_chunks_read_like_the_plain_reader(
    tmp_path: Path, rows: list[str], size: int, skip: int, peek: bool
) -> None:
    path = tmp_path / "pop.ndjson"
    path.write_bytes("\n".join(rows).encode("utf-8", errors="surrogateescape"))
    assert chunked(path, "ndjson", size, skip, peek=peek) == sequential(path, "ndjson", skip)


def test_worker_processes_give_the_same_rows(tmp_path: Path) -> None:
    rows = good_rows(60)
    rows[5][COLUMNS.index("gender")] = "x"
    rows[9][COLUMNS.index("permanent_address")] = "Số 1\nPhố Huế"
    path = tmp_path / "pop.csv"
    path.write_text("\n".join(csv_line(r) for r in [list(COLUMNS), *rows]) + "\n")
    expected = sequential(path, "csv")
    for peek in (False, True):
        assert chunked(path, "csv", 2048, workers=2, peek=peek) == expected
        resumed = chunked(path, "csv", 2048, skip=30, workers=2, peek=peek)
        assert resumed == sequential(path, "csv", skip=30)


def test_workers_put_copy_text_in_shared_memory_or_the_pipe_when_it_does_not_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = good_rows(60)
    rows[7][COLUMNS.index("birth_date")] = "1990-02-30"
    path = tmp_path / "pop.csv"
    path.write_text("\n".join(csv_line(r) for r in [list(COLUMNS), *rows]) + "\n")
    expected = sequential(path, "csv")
    received: list[int] = []
    names: set[str] = set()
    original = workers._Slots.receive

    def receive(self: Any, result: ChunkResult, slot: Any) -> ChunkResult:
        received.append(result.shared)
        names.add(slot[0])
        return original(self, result, slot)

    monkeypatch.setattr(workers._Slots, "receive", receive)
    assert chunked(path, "csv", 2048, workers=2) == expected
    assert received and all(n >= 0 for n in received)  # every chunk's text was in its slot
    # Slots smaller than a chunk's text: each comes through the pipe, with the same rows.
    received.clear()
    monkeypatch.setattr(workers, "SLOT_BYTES", 64)
    assert chunked(path, "csv", 2048, workers=2) == expected
    assert -1 in received and all(n <= 0 for n in received)  # (0: a chunk with no valid row)
    for name in names:  # each import's shared memory is removed when it ends
        assert not Path("/dev/shm", name.lstrip("/")).exists()  # noqa: S108


def test_workers_that_read_the_file_join_a_chunk_cut_inside_a_row(tmp_path: Path) -> None:
    """A stray quote makes the cutter miscount, so a cut falls inside a quoted field and the
    chunk is read again joined with the next: from the file, as the worker had the bytes."""
    rows = good_rows(60)
    for i in range(1, 60, 2):  # a stray quote, then a quoted newline, in the same row
        rows[i][COLUMNS.index("religion")] = "STRAY"
        rows[i][COLUMNS.index("permanent_address")] = "Số 1\nPhố Huế, Hà Nội"
    text = "\n".join(csv_line(r) for r in [list(COLUMNS), *rows]) + "\n"
    path = tmp_path / "pop.csv"
    path.write_text(text.replace("STRAY", 'Ph"t'))  # a quote inside an unquoted field
    joined: list[int] = []
    original = Validator._bytes

    def spy(self: Validator, chunk: pipeline.Chunk) -> bytes:
        if not chunk.data:
            joined.append(chunk.size)
        return original(self, chunk)

    Validator._bytes = spy  # type: ignore[method-assign]
    try:
        for size in (700, 1500, 3000):
            assert chunked(path, "csv", size, workers=2) == sequential(path, "csv")
    finally:
        Validator._bytes = original  # type: ignore[method-assign]
    assert joined  # some chunk was read again from the file


@pytest.mark.parametrize("size", [1, 5, 64, 1000, 1 << 16])
def test_cuts_from_a_window_tile_the_file_after_newlines(tmp_path: Path, size: int) -> None:
    path = tmp_path / "pop.csv"
    # Short lines, a line longer than the window read at a cut, and no newline at the end.
    data = b"header\n" + b"ab\r\ncd\n" * 40 + b"x" * 200_000 + b"\n" + b"ef\ngh"
    path.write_bytes(data)
    spans = list(chunks(path, 7, size, peek=lambda: True))
    assert [chunk.data for chunk in spans] == [b""] * len(spans)
    assert [chunk.final for chunk in spans] == [False] * (len(spans) - 1) + [True]
    at = 7
    for chunk in spans:
        assert chunk.at == at
        span = data[at : at + chunk.size]
        assert chunk.last == span[-64:]
        if not chunk.final:
            assert span.endswith(b"\n") and chunk.size >= size
            assert b"\n" not in span[size - 1 : -1]  # the first newline from the target on
        at += chunk.size
    assert at == len(data)


def test_cuts_from_a_window_are_mended_then_made_the_careful_way(tmp_path: Path) -> None:
    """Every row holds a quoted newline, so some cut made from a window alone falls inside a
    row: that chunk is read again joined with the next, and from then on the file is read
    here and cut where the quotes pair up."""
    rows = good_rows(60)
    for row in rows:
        row[COLUMNS.index("permanent_address")] = "Số 1\nPhố Huế, Hà Nội"
    path = tmp_path / "pop.csv"
    path.write_text("\n".join(csv_line(r) for r in [list(COLUMNS), *rows]) + "\n")
    header, offset = read_header(path) or (None, 0)
    validator = Validator("csv", header, today=TODAY, run_id=RUN, workers=2, depth=3, path=path)
    seen: list[pipeline.Chunk] = []
    lines: list[str] = []

    def source() -> Any:
        for chunk in chunks(path, offset, 700, peek=validator.peeking):
            seen.append(chunk)
            yield chunk

    async def run() -> None:
        async for result in validator.results(source()):
            data, _ids = copy_slice(result, 0, len(result.good))
            lines.extend(data.decode().splitlines(keepends=True))

    try:
        asyncio.run(run())
    finally:
        validator.close()
    assert lines == sequential(path, "csv")[1]
    assert validator.mended and not validator.peeking()
    peeked = [chunk for chunk in seen if not chunk.data]
    assert peeked and any(chunk.data for chunk in seen[len(peeked) :])


def test_a_header_in_another_order_and_unknown_columns(tmp_path: Path) -> None:
    names = [*reversed(COLUMNS), "note"]
    lines = [csv_line(names)]
    lines += [csv_line([*(p[c] for c in reversed(COLUMNS)), ""]) for p in PEOPLE[:5]]
    path = tmp_path / "pop.csv"
    path.write_text("\n".join(lines) + "\n")
    got = chunked(path, "csv", 500)
    assert got == sequential(path, "csv")
    assert got is not None and {r[1] for r in got[0]} == {"note"}


@pytest.mark.parametrize("native", [True, False])
def test_a_chunk_names_the_file_offset_of_a_byte_that_is_not_utf8(native: bool) -> None:
    rows = good_rows(5)
    data = "".join(csv_line(r) + "\n" for r in rows).encode()
    where = data.index(rows[2][COLUMNS.index("full_name")].encode()) + 1
    data = data[:where] + b"\xff" + data[where + 1 :]
    result = pipeline.validate_chunk(
        data,
        "csv",
        Header(COLUMNS),
        final=True,
        skip=0,
        today=TODAY,
        run_id=RUN,
        at=1000,
        native=native,
    )
    [(row, field, reason, id_number, value)] = result.rejects
    assert (row, field, id_number) == (3, "full_name", rows[2][0])
    assert reason == f"invalid UTF-8 at byte offset {1000 + where} of the file"
    assert value.startswith(rows[2][COLUMNS.index("full_name")][0] + "\\xff")


def test_copy_columns_are_the_stored_columns() -> None:
    assert sorted(COPY_COLUMNS) == sorted(STORED)
    for person in PEOPLE:
        assert tuple(parse_record(person, today=TODAY)) == STORED_KEYS


def test_copy_text_escapes_what_needs_it() -> None:
    stored = parse_record({**PEOPLE[0], "permanent_address": "a\\N\\b"}, today=TODAY)
    line = pipeline._copy_line(stored, RUN_TAIL)
    fields = line.rstrip("\n").split("\t")
    assert fields[STORED_KEYS.index("permanent_address")] == "a\\\\N\\\\b"
    assert fields[STORED_KEYS.index("blood_type")] in ("\\N", stored["blood_type"])


async def count(database: Database, sql: str) -> int:
    async with database.unit_of_work() as session:
        return int((await session.execute(text(sql))).scalar_one())


def write(path: Path, people: list[dict[str, str]]) -> Path:
    with path.open("w", newline="", encoding="utf-8") as handle:
        writer = csv.DictWriter(handle, fieldnames=COLUMNS)
        writer.writeheader()
        writer.writerows(people)
    return path


@pytest.mark.parametrize("workers", [1, 2])
async def test_overlapping_files_and_repeated_rows(
    database: Database, tmp_path: Path, workers: int
) -> None:
    first = await import_file(
        database, write(tmp_path / "a.csv", PEOPLE[:20]), actor=ACTOR, batch_size=8, workers=workers
    )
    assert first.loaded == 20
    # Half already registered, and one person twice in the same batch.
    mixed = [*PEOPLE[10:30], PEOPLE[25]]
    second = await import_file(
        database, write(tmp_path / "b.csv", mixed), actor=ACTOR, batch_size=8, workers=workers
    )
    assert (second.loaded, second.skipped, second.rejected) == (10, 11, 0)
    assert await count(database, "SELECT count(*) FROM citizen") == 30
    # Each record names the run that created it (its version 1) and has no version row.
    assert await count(database, "SELECT count(*) FROM citizen_version") == 0
    runs = "SELECT count(DISTINCT import_run_id) FROM citizen WHERE import_run_id IS NOT NULL"
    assert await count(database, runs) == 2
    # New records after the overlap go in again.
    third = await import_file(
        database,
        write(tmp_path / "c.csv", PEOPLE[30:50]),
        actor=ACTOR,
        batch_size=8,
        workers=workers,
    )
    assert third.loaded == 20
    assert await count(database, "SELECT count(*) FROM citizen_version") == 0
    async with database.unit_of_work() as session:
        rows = await session.execute(
            text(
                "SELECT c.id_number, c.version, r.id, r.actor_id, r.legal_basis "
                "FROM citizen c JOIN import_run r ON r.id = c.import_run_id"
            )
        )
        run_of = {r.id_number: r.id for r in rows if (r.version, r.actor_id) == (1, "clerk-7")}
    runs_in_order = sorted(set(run_of.values()))
    assert len(run_of) == 50 and len(runs_in_order) == 3
    for people, run in zip((PEOPLE[:20], PEOPLE[20:30], PEOPLE[30:50]), runs_in_order, strict=True):
        assert {run_of[p["id_number"]] for p in people} == {run}


@pytest.mark.postgresql_only
async def test_batches_in_flight_that_share_a_number_never_wait_on_each_other(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The same person at the end of one batch and the start of the next: the later batch may
    take the number first while the earlier one waits for it. It gives way (rolls back, loads
    again after the earlier one) instead of both waiting until the statement timeout."""
    monkeypatch.setattr(service, "AFTER_WAIT", 0.2)
    people = list(generate(600, seed=5))
    rows = [*people[:300], people[299], *people[300:]]
    report = await import_file(
        database, write(tmp_path / "a.csv", rows), actor=ACTOR, batch_size=300, workers=1
    )
    unique = len({p["id_number"] for p in people})
    assert (report.rows, report.loaded, report.rejected) == (601, unique, 0)
    assert report.skipped == 601 - unique
    assert await count(database, "SELECT count(*) FROM citizen") == unique
    assert await count(database, "SELECT rows_done FROM import_job") == 601
    details = await count(
        database,
        "SELECT count(*) FROM audit_event WHERE action = 'registry.import_batch'",
    )
    assert details == 3


line_part = st.binary(max_size=30).map(lambda b: b.replace(b"\n", b"") + b"\n")
digits = st.text("0123", min_size=0, max_size=13).map(str.encode)
batch_line = st.tuples(digits, line_part).map(lambda pair: pair[0] + pair[1])


@given(st.lists(st.lists(batch_line, max_size=6), max_size=5))
def test_batch_lines_go_in_number_order_and_keep_file_order_within_one_number(
    parts: list[list[bytes]],
) -> None:
    joined = [b"".join(lines) for lines in parts]
    every = [line for lines in parts for line in lines]

    def key(line: bytes) -> bytes:  # its first 12 bytes, the newline not counted
        return line[:-1][:12]

    in_order: list[bytes] = sorted(every, key=key)  # sorted() is stable
    expected = b"".join(in_order)
    assert pipeline.by_number(joined) == expected
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(pipeline, "_native", None)
        assert pipeline.by_number(joined) == expected


@pytest.mark.parametrize("native", [True, False])
def test_batch_parts_must_end_after_a_line(native: bool, monkeypatch: pytest.MonkeyPatch) -> None:
    if not native:
        monkeypatch.setattr(pipeline, "_native", None)
    assert pipeline.by_number([]) == b""
    with pytest.raises(ValueError, match="newline"):
        pipeline.by_number([b"123456789012\tok\n", b"123456789012\tcut"])


@pytest.mark.parametrize("workers", [1, 2])
async def test_of_two_rows_with_one_number_the_first_in_the_file_is_loaded(
    database: Database, tmp_path: Path, workers: int
) -> None:
    # A batch goes to the database in number order (pipeline.by_number); the later row's line
    # sorts before the earlier one's as a whole line, yet the earlier one is kept.
    person = next(p for p in PEOPLE if not p["full_name"].startswith("A"))
    later = {**person, "full_name": "An Văn Sau"}
    others = [p for p in PEOPLE[:21] if p["id_number"] != person["id_number"]]
    rows = [*others[:10], person, *others[10:], later]
    report = await import_file(
        database, write(tmp_path / "a.csv", rows), actor=ACTOR, batch_size=100, workers=workers
    )
    assert (report.loaded, report.skipped, report.rejected) == (len(rows) - 1, 1, 0)
    async with database.unit_of_work() as session:
        name = await session.execute(
            text("SELECT full_name FROM citizen WHERE id_number = :n"),
            {"n": person["id_number"]},
        )
        assert name.scalar_one() == person["full_name"]


def test_a_worker_reads_its_span_of_the_file_and_notices_a_change(tmp_path: Path) -> None:
    path = write(tmp_path / "a.csv", PEOPLE[:30])
    header, offset = read_header(path) or (None, 0)
    chunk = next(chunks(path, offset))
    args: tuple[Format, Header | None] = ("csv", header)
    kwargs: dict[str, Any] = {"final": chunk.final, "skip": 0, "today": TODAY, "run_id": RUN}
    assert chunk.at == offset
    span = pipeline.validate_span(
        str(path), chunk.at, len(chunk.data), chunk.data[-64:], *args, **kwargs
    )
    assert span == pipeline.validate_chunk(chunk.data, *args, **kwargs)
    assert len(span.good) == 30
    with path.open("r+b") as handle:  # the file is edited after the importer read it
        handle.seek(len(chunk.data) + offset - 3)
        handle.write(b"X")
    with pytest.raises(RuntimeError, match="changed"):
        pipeline.validate_span(
            str(path), chunk.at, len(chunk.data), chunk.data[-64:], *args, **kwargs
        )


def test_malloc_is_tuned_for_import_buffers_where_the_c_library_is_glibc(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import ctypes
    import platform

    from registry import bulk

    if platform.libc_ver()[0] == "glibc":
        assert bulk.keep_freed_memory() is True  # glibc took both values

    def no_c_library(_name: object) -> object:
        raise OSError("no such library")

    monkeypatch.setattr(ctypes, "CDLL", no_c_library)
    assert bulk.keep_freed_memory() is False  # elsewhere the C library's defaults stay


@pytest.mark.postgresql_only
async def test_binary_copy_stores_exactly_what_the_text_form_does(database: Database) -> None:
    """The C module turns COPY text lines into COPY binary tuples: PostgreSQL stores the same
    values from either (NULLs, escapes, dates, numbers), and refuses neither."""
    from core.db import driver_connection
    from registry import _native
    from registry.bulk import repository as bulk_repo
    from registry.bulk.pipeline import _copy_line

    if not hasattr(_native, "binary_copy"):
        pytest.skip("registry/_native.c not built")
    odd = {**PEOPLE[1], "permanent_address": "a\\N\tb\nc\rd\\e", "hometown": "\\\\x41"}
    lines = [_copy_line(parse_record(p, today=TODAY), RUN_TAIL) for p in [*PEOPLE[:30], odd]]
    # Escapes PostgreSQL reads that our own lines never hold, and dates at the edges.
    crafted = lines[0].split("\t")
    crafted[STORED_KEYS.index("permanent_address")] = "\\b\\f\\v\\101\\x42\\q"
    crafted[STORED_KEYS.index("death_date")] = "2024-02-29"
    crafted[STORED_KEYS.index("card_issue_date")] = "1900-01-01"
    crafted[0] = "079099000001"
    lines.append("\t".join(crafted))
    text_form = "".join(lines).encode()
    binary_form = _native.binary_copy(text_form, bulk_repo.COPY_KINDS)
    columns = ", ".join(COPY_COLUMNS)
    async with database.unit_of_work() as session:
        driver: Any = await driver_connection(session)
        await driver.execute("CREATE TEMP TABLE t AS SELECT * FROM citizen LIMIT 0")
        await driver.execute("CREATE TEMP TABLE b AS SELECT * FROM citizen LIMIT 0")
        await driver.copy_to_table("t", source=io.BytesIO(text_form), columns=COPY_COLUMNS)
        payload = bulk_repo._BINARY_HEADER + binary_form + bulk_repo._BINARY_TRAILER
        await driver.copy_to_table(
            "b", source=io.BytesIO(payload), columns=COPY_COLUMNS, format="binary"
        )
        assert await driver.fetchval("SELECT count(*) FROM b") == len(lines)
        differ = await driver.fetchval(
            f"SELECT count(*) FROM ((SELECT {columns} FROM t EXCEPT SELECT {columns} FROM b) "  # noqa: S608
            f"UNION ALL (SELECT {columns} FROM b EXCEPT SELECT {columns} FROM t)) d"
        )
        assert differ == 0
        stored = await driver.fetchrow(
            "SELECT permanent_address, death_date, hometown FROM b WHERE id_number = $1",
            "079099000001",
        )
        assert stored["permanent_address"] == "\b\f\vABq"
        assert stored["death_date"] == date(2024, 2, 29)
        await session.rollback()


@pytest.mark.parametrize(
    ("line", "problem"),
    [
        (b"1\t2\n", "has not 3 columns"),
        (b"x\t2023-01-01\t1\t4\n", "has not 3 columns"),
        (b"x\t2023-02-29\t1\n", "column 2 is not a d"),
        (b"x\t2023-13-01\t1\n", "column 2 is not a d"),
        (b"x\t2023-1-01\t1\n", "column 2 is not a d"),
        (b"x\t2023-01-01\t99999999999\n", "column 3 is not a i"),
        (b"x\t2023-01-01\t1a\n", "column 3 is not a i"),
        (b"x\t2023-01-01\t1", "does not end with a newline"),
    ],
)
@pytest.mark.parametrize("sort", [False, True])
def test_binary_copy_refuses_what_postgresql_would(line: bytes, problem: str, sort: bool) -> None:
    from registry import _native

    if not hasattr(_native, "sorted_binary"):
        pytest.skip("registry/_native.c not built")

    def convert() -> bytes:
        return _native.sorted_binary([line], b"tdi") if sort else _native.binary_copy(line, b"tdi")

    with pytest.raises(ValueError, match=problem):
        convert()


_FIELD = st.one_of(
    st.just("\\N"),
    st.text(st.sampled_from("ab\\N\x00é0"), max_size=6).filter(lambda t: not t.endswith("\\")),
)
_NUMBER = st.one_of(st.just("\\N"), st.integers(-(10**17), 10**17).map(str))
_LINE = st.tuples(
    st.sampled_from(["001234567890", "001234567891", "079099000001", "0012"]),
    _FIELD,
    _NUMBER,
    st.dates().map(date.isoformat) | st.just("\\N"),
    _NUMBER,
).map(lambda fields: ("\t".join(fields) + "\n").encode())


def _tuples(data: bytes) -> list[list[bytes | None]]:
    """COPY binary tuples (no header) back into their fields; None for NULL."""
    rows, at = [], 0
    while at < len(data):
        count = int.from_bytes(data[at : at + 2], "big")
        at += 2
        fields: list[bytes | None] = []
        for _ in range(count):
            size = int.from_bytes(data[at : at + 4], "big", signed=True)
            at += 4
            fields.append(None if size < 0 else data[at : at + size])
            at += max(size, 0)
        rows.append(fields)
    return rows


_TOKENS = {"a": b"a", "é": "é".encode(), "\\\\": b"\\", "\\t": b"\t", "\\n": b"\n"}


@SETTINGS
@given(
    fields=st.lists(
        st.one_of(st.just(None), st.lists(st.sampled_from(sorted(_TOKENS)), max_size=40)),
        min_size=1,
        max_size=12,
    )
)
def test_binary_copy_reads_fields_as_postgresql_does_wherever_they_fall(
    fields: list[list[str] | None],
) -> None:
    """Fields of every length, so that tabs and backslashes fall at every place of the 16-byte
    blocks the C module scans: each comes back unescaped, and NULLs as NULL."""
    from registry import _native

    if not hasattr(_native, "sorted_binary"):
        pytest.skip("registry/_native.c not built")
    text_fields = ["\\N" if f is None else "".join(f) for f in fields]
    line = ("\t".join(text_fields) + "\n").encode()
    expected = [None if f is None else b"".join(_TOKENS[t] for t in f) for f in fields]
    kinds = b"t" * len(fields)
    assert _tuples(_native.binary_copy(line, kinds)) == [expected]
    assert _tuples(_native.sorted_binary([line, line], kinds)) == [expected, expected]
    for wrong in (kinds + b"t", kinds[:-1]):
        if wrong:
            with pytest.raises(ValueError, match="columns"):
                _native.binary_copy(line, wrong)


@SETTINGS
@given(parts=st.lists(st.lists(_LINE, max_size=8), max_size=4))
def test_sorted_binary_is_binary_copy_of_the_sorted_lines(parts: list[list[bytes]]) -> None:
    """One pass of sorted_binary gives what sort_lines then binary_copy give, written into a
    result sized for the worst growth (one-digit int8s, NULLs): numbers, NULLs, escapes,
    repeated keys and short lines."""
    from registry import _native

    if not hasattr(_native, "sorted_binary"):
        pytest.skip("registry/_native.c not built")
    joined = [b"".join(lines) for lines in parts]
    kinds = b"ttldl"
    expected = _native.binary_copy(_native.sort_lines(joined), kinds)
    assert _native.sorted_binary(joined, kinds) == expected
    ints = [b"1\t\\N\t2\n" * 50]  # 5 bytes in, 2 + 12 + 4 + 12 out: the most a row grows
    assert _native.sorted_binary(ints, b"lll") == _native.binary_copy(ints[0], b"lll")


@pytest.mark.postgresql_only
async def test_without_the_c_module_rows_go_in_copy_text(
    database: Database, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(pipeline, "_native", None)
    report = await import_file(
        database, write(tmp_path / "a.csv", PEOPLE[:12]), actor=ACTOR, batch_size=5, workers=1
    )
    assert report.loaded == 12
    assert await count(database, "SELECT count(*) FROM citizen") == 12


def test_the_validating_workers_code_does_not_import_the_database_layer() -> None:
    """What the workers' fork server imports (WORKER_MODULES) stays light: no database layer or
    web framework in every worker (registry.codes says why)."""
    import subprocess
    import sys

    from registry.bulk import WORKER_MODULES

    code = (
        "import sys\n"
        + "".join(f"import {module}\n" for module in WORKER_MODULES)
        + "print(sorted(m for m in ('sqlalchemy', 'fastapi', 'asyncpg') if m in sys.modules))"
    )
    found = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert found.stdout.strip() == "[]"
