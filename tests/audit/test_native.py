"""Verify's leaf loop in C (audit/_native.c) renders every event as leaf_bytes does, or leaves
it to Python; its subtree roots are merkle's; and PostgreSQL plans proof nodes as merkle does."""

from __future__ import annotations

import importlib.util
import os
import struct
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import asyncpg
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from audit import merkle
from audit import repository as repo
from audit import tree_repository as tree_repo
from audit.events import EventData, encode_detail, encode_fields, leaf_bytes

try:
    from audit import _native
except ImportError:  # pragma: no cover - the build had no compiler or OpenSSL headers
    _native = None  # type: ignore[assignment]

needs_native = pytest.mark.skipif(
    importlib.util.find_spec("audit._native") is None
    and not (os.environ.get("CI") or os.environ.get("REGISTRY_REQUIRE_NATIVE")),
    reason="audit._native was not built (no compiler or OpenSSL headers)",
)

SURROGATES: list[Literal["Cs"]] = ["Cs"]
# Hostile text: controls (no NUL, which PostgreSQL text cannot hold), quotes, backslashes,
# U+2028/U+2029, DEL, non-BMP characters, and anything else that is a Unicode scalar value.
hostile = st.text(
    st.sampled_from(['"', "\\", "\u2028", "\u2029", "\x7f", "\U0001f600", "/", "\ud7ff"])
    | st.characters(min_codepoint=1, max_codepoint=0x1F)
    | st.characters(min_codepoint=1, exclude_categories=SURROGATES),
    max_size=24,
)
maybe = st.none() | hostile
detail_values = st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | hostile
plain_detail = st.dictionaries(
    st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True),
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.from_regex(r"[a-z0-9 +:_.-]{0,12}", fullmatch=True),
    max_size=4,
).map(encode_detail)
events = st.builds(
    EventData,
    event_uid=hostile,
    occurred_at=st.integers(0, 10**17).map(
        lambda us: datetime(1000, 1, 1, tzinfo=UTC) + timedelta(microseconds=us)
    ),
    actor_type=hostile,
    actor_id=hostile,
    on_behalf_of=maybe,
    subject=maybe,
    action=hostile,
    fields=st.lists(
        st.from_regex(r"[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9_]{0,8}){0,2}", fullmatch=True),
        max_size=4,
    ).map(encode_fields),
    purpose=maybe,
    outcome=hostile,
    request_id=maybe,
    detail=st.none()
    | st.dictionaries(
        st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True), detail_values, max_size=4
    ).map(encode_detail),
)

PG_EPOCH = datetime(2000, 1, 1, tzinfo=UTC)


def copy_stream(rows: Sequence[tuple[int, bytes | None, EventData | None]]) -> bytes:
    """A binary COPY stream of LEAF_COPY_COLUMNS, as PostgreSQL writes it (section 55.9.2
    of its manual: signature, flags, extension length; per row a count and length-prefixed
    fields; -1 for NULL; a -1 count at the end)."""
    out = [b"PGCOPY\n\xff\r\n\x00", struct.pack(">ii", 0, 0)]

    def field(value: bytes | None) -> bytes:
        return struct.pack(">i", -1) if value is None else struct.pack(">i", len(value)) + value

    def text(value: str | None) -> bytes | None:
        return None if value is None else value.encode()

    for index, stored, e in rows:
        out.append(struct.pack(">h", len(tree_repo.LEAF_COPY_COLUMNS)))
        out.append(field(struct.pack(">q", index)) + field(stored))
        if e is None:
            out.append(field(None) * 12)
            continue
        delta = e.occurred_at - PG_EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        values = [
            text(e.event_uid),
            struct.pack(">q", micros),
            text(e.actor_type),
            text(e.actor_id),
            text(e.on_behalf_of),
            text(e.subject),
            text(e.action),
            text(e.fields),
            text(e.purpose),
            text(e.outcome),
            text(e.request_id),
            text(e.detail),
        ]
        out.append(b"".join(field(v) for v in values))
    out.append(struct.pack(">h", -1))
    return b"".join(out)


def lines_of(events_at: list[tuple[EventData, int]]) -> list[bytes]:
    assert _native is not None
    return _native.leaf_lines(copy_stream([(i, b"", e) for e, i in events_at]))


@needs_native
@settings(max_examples=400, deadline=None)
@given(event=events, index=st.integers(0, 2**62))
def test_every_event_it_renders_is_rendered_as_leaf_bytes(event: EventData, index: int) -> None:
    (line,) = lines_of([(event, index)])
    assert line in (b"", leaf_bytes(event, index))


@needs_native
@settings(max_examples=200, deadline=None)
@given(event=events, detail=st.none() | plain_detail, index=st.integers(0, 2**62))
def test_events_as_the_recorder_writes_them_are_rendered_in_c(
    event: EventData, detail: str | None, index: int
) -> None:
    # Whatever the text holds, fields and detail as encode_fields/encode_detail write them (with
    # strings that need no escape) are never left to Python: the fast path is the usual path.
    plain = EventData(
        event.event_uid,
        event.occurred_at,
        event.actor_type,
        event.actor_id,
        event.on_behalf_of,
        event.subject,
        event.action,
        event.fields,
        event.purpose,
        event.outcome,
        event.request_id,
        detail,
    )
    assert lines_of([(plain, index)]) == [leaf_bytes(plain, index)]


@needs_native
@settings(max_examples=100, deadline=None)
@given(batch=st.lists(st.tuples(events, st.booleans()), min_size=1, max_size=20))
def test_leaf_rows_hashes_and_flags_exactly_the_rows_that_differ(
    batch: list[tuple[EventData, bool]],
) -> None:
    assert _native is not None
    rows: list[tuple[int, bytes | None, EventData | None]] = []
    for k, (event, tampered) in enumerate(batch):
        good = merkle.leaf_hash(leaf_bytes(event, 10 + k))
        rows.append((10 + k, bytes(32) if tampered else good, event))
    count, first, indexes, packed, suspects = _native.leaf_rows(copy_stream(rows))
    assert (count, first, indexes) == (len(batch), 10, None)
    lines = _native.leaf_lines(copy_stream(rows))
    for k, (event, tampered) in enumerate(batch):
        rendered = bool(lines[k])
        assert (k in suspects) == (tampered or not rendered)
        if not tampered and rendered:
            assert packed[32 * k : 32 * k + 32] == merkle.leaf_hash(leaf_bytes(event, 10 + k))


@needs_native
@settings(max_examples=100, deadline=None)
@given(batch=st.lists(events, min_size=1, max_size=20), first=st.integers(0, 2**40))
def test_leaf_hashes_hashes_every_row_it_renders_and_leaves_only_the_rest(
    batch: list[EventData], first: int
) -> None:
    # The sequencer's loop: rows without a stored hash, each hashed as leaf_bytes would be;
    # only a row it cannot render is a suspect (zeros), for Python to render.
    assert _native is not None
    stream = copy_stream([(first + k, None, event) for k, event in enumerate(batch)])
    count, start, indexes, packed, suspects = _native.leaf_hashes(stream)
    assert (count, start, indexes) == (len(batch), first, None)
    lines = _native.leaf_lines(stream)
    assert suspects == [k for k, line in enumerate(lines) if not line]
    for k, event in enumerate(batch):
        expected = merkle.leaf_hash(leaf_bytes(event, first + k)) if lines[k] else bytes(32)
        assert packed[32 * k : 32 * k + 32] == expected


@needs_native
def test_missing_events_gaps_and_odd_hashes_are_suspects() -> None:
    assert _native is not None
    e = EventData(
        "u",
        datetime(2025, 1, 1, tzinfo=UTC),
        "agency",
        "a",
        None,
        None,
        "x.read",
        "[]",
        None,
        "granted",
        None,
        None,
    )
    good = merkle.leaf_hash(leaf_bytes(e, 7))
    count, first, indexes, _, suspects = _native.leaf_rows(
        copy_stream([(5, b"\x00" * 32, None), (7, good, e), (8, good[:31], e)])
    )
    assert (count, first, indexes, suspects) == (3, 5, [5, 7, 8], [0, 2])


def stream_of(columns: int, rows: list[list[bytes | None]]) -> bytes:
    """A binary COPY stream of ``rows`` (each already encoded field by field)."""
    out = [b"PGCOPY\n\xff\r\n\x00", struct.pack(">ii", 0, 0)]
    for row in rows:
        assert len(row) == columns
        out.append(struct.pack(">h", columns))
        for value in row:
            out.append(
                struct.pack(">i", -1) if value is None else struct.pack(">i", len(value)) + value
            )
    out.append(struct.pack(">h", -1))
    return b"".join(out)


def split_streams(
    rows: list[tuple[int, bytes | None, EventData | None]],
    ids: list[int | None],
    extra: list[tuple[int, EventData]],
) -> tuple[bytes, bytes]:
    """The leaves stream (leaf_index, event_id, leaf_hash) and the events stream (id and the
    event columns) that copy_stream's rows come from, plus events no leaf names."""
    leaves = [
        [struct.pack(">q", i), None if ev_id is None else struct.pack(">q", ev_id), stored]
        for (i, stored, _), ev_id in zip(rows, ids, strict=True)
    ]
    joined = copy_stream(
        [(0, b"", e) for _, _, e in rows if e is not None] + [(0, b"", e) for _, e in extra]
    )
    # Reuse copy_stream's encoding of the event columns: drop its leaf_index and leaf_hash.
    event_rows = []
    named = [ev_id for (_, _, e), ev_id in zip(rows, ids, strict=True) if e is not None]
    at = 19
    for ev_id in named + [x for x, _ in extra]:
        at += 2
        fields: list[bytes | None] = []
        for _ in range(14):
            (length,) = struct.unpack(">i", joined[at : at + 4])
            at += 4
            fields.append(None if length < 0 else joined[at : at + length])
            at += max(length, 0)
        event_rows.append([struct.pack(">q", ev_id), *fields[2:]])
    return stream_of(3, leaves), stream_of(13, event_rows)


@needs_native
@settings(max_examples=150, deadline=None)
@given(
    batch=st.lists(
        st.tuples(events, st.sampled_from(["good", "tampered", "missing", "null"])),
        min_size=1,
        max_size=12,
    ),
    extra=st.lists(events, max_size=3),
    twice=st.booleans(),
)
def test_the_join_in_c_gives_what_the_join_in_sql_gives(
    batch: list[tuple[EventData, str]], extra: list[EventData], twice: bool
) -> None:
    assert _native is not None
    rows: list[tuple[int, bytes | None, EventData | None]] = []
    ids: list[int | None] = []
    for k, (event, kind) in enumerate(batch):
        good = merkle.leaf_hash(leaf_bytes(event, 3 + k))
        stored = bytes(32) if kind == "tampered" else good
        # A missing event's leaf names an id that no event row has; a NULL one names none.
        rows.append((3 + k, stored, None if kind in ("missing", "null") else event))
        ids.append(None if kind == "null" else (10_000 + k if kind == "missing" else 500 - k))
    unnamed = [(900 + j, e) for j, e in enumerate(extra)]
    if twice and rows[0][2] is not None:
        unnamed.append((500, extra[0] if extra else rows[0][2]))  # a second row with id 500
    leaves, evs = split_streams(rows, ids, unnamed)
    joined = _native.leaf_rows_joined(leaves, evs)
    count, first, indexes, packed, suspects = _native.leaf_rows(copy_stream(rows))
    if twice and rows[0][2] is not None:
        # An id held by two event rows names neither: that leaf is left to Python.
        suspects = sorted({0, *suspects})
        packed = bytes(32) + packed[32:]
    assert joined == (count, first, indexes, packed, suspects)


@needs_native
@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ('["a"],"x":1', None),  # not one JSON value: could shift bytes between columns
        ('["a" ]', None),  # JSON, but not as encode_fields writes it
        ('["a\\u0062"]', None),  # an escape json.dumps would not write
        ("[]", '{"a":1'),
        ("[]", '{"a":1},"event_uid":"x"'),
        ("[]", '{"a":"\n"}'),  # a raw control character inside a string
        ("[]", '{"a":1.5}'),
        ("[]", '{"a":-0}'),  # loads as 0
        ("[]", '{"a":01}'),
        ("[]", '{"b":1,"a":2}'),  # keys out of order
        ("[]", '{"a":1,"a":2}'),  # a repeated key
        ("[]", '{"a":{"b":1}}'),
        ("[]", '{"a":12345678901234567}'),  # more digits than it checks
    ],
)
def test_columns_of_unexpected_shape_are_left_to_python(fields: str, detail: str | None) -> None:
    event = EventData(
        "u",
        datetime(2025, 1, 1, tzinfo=UTC),
        "agency",
        "a",
        None,
        None,
        "x.read",
        fields,
        None,
        "granted",
        None,
        detail,
    )
    assert lines_of([(event, 0)]) == [b""]


@needs_native
@pytest.mark.parametrize(
    "when", [datetime(999, 12, 31, 23, 59, 59, tzinfo=UTC), datetime(1, 1, 1, tzinfo=UTC)]
)
def test_years_outside_four_digits_are_left_to_python(when: datetime) -> None:
    event = EventData(
        "u", when, "agency", "a", None, None, "x.read", "[]", None, "granted", None, None
    )
    assert lines_of([(event, 0)]) == [b""]


@needs_native
@pytest.mark.parametrize(
    "stream",
    [
        b"",
        b"PGCOPY\n\xff\r\n\x00",
        b"not a copy stream at all",
        copy_stream([])[:-1],
        copy_stream([])[:19] + struct.pack(">h", 3) + copy_stream([])[19:],
        copy_stream([]) + b"x",
    ],
)
def test_malformed_streams_are_refused(stream: bytes) -> None:
    assert _native is not None
    with pytest.raises(ValueError, match="COPY"):
        _native.leaf_rows(stream)


@needs_native
@settings(max_examples=60, deadline=None)
@given(level=st.integers(0, 9), seed=st.binary(min_size=1, max_size=8))
def test_perfect_root_is_rfc9162(level: int, seed: bytes) -> None:
    assert _native is not None
    leaves = [merkle.leaf_hash(seed + i.to_bytes(4, "big")) for i in range(1 << level)]
    assert _native.perfect_root(b"".join(leaves)) == merkle.root(leaves)


@needs_native
@pytest.mark.parametrize("size", [0, 31, 3 * 32, 6 * 32])
def test_perfect_root_needs_a_power_of_two_of_hashes(size: int) -> None:
    assert _native is not None
    with pytest.raises(ValueError, match="power of two"):
        _native.perfect_root(bytes(size))


# ------------------------------------------------------------------ against PostgreSQL

_TABLE = """
CREATE TEMP TABLE native_rows (leaf_index bigint, leaf_hash bytea, event_uid text,
  occurred_at timestamptz, actor_type text, actor_id text, on_behalf_of text, subject text,
  action text, fields text, purpose text, outcome text, request_id text, detail text)
"""


@pytest.fixture
async def pg(database_url: str) -> Any:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    yield conn
    await conn.close()


@needs_native
@pytest.mark.postgresql_only
async def test_postgresql_binary_copy_is_read_as_written(pg: Any) -> None:
    # The real server's binary format (timestamps, text, NULLs), not only our encoder's.
    assert _native is not None
    samples = [
        EventData(
            "e3e70682-c209-4cac-929f-6fbed82c07cd",
            datetime(2025, 3, 4, 5, 6, 7, 891011, tzinfo=UTC),
            "agency",
            "agency:tax",
            "official:4711",
            "001203004512",
            "person.read",
            encode_fields(["name.full"]),
            "tax.assessment",
            "granted",
            "r1",
            encode_detail({"records": 3, "q": "a b"}),
        ),
        EventData(
            "u2",
            datetime(1999, 12, 31, 23, 59, 59, 999999, tzinfo=UTC),
            "citizen",
            "citizen:1",
            None,
            None,
            "audit.read",
            "[]",
            None,
            "not_found",
            None,
            None,
        ),
        EventData(
            'ü"\\\x01\u2028',
            datetime(9999, 12, 31, tzinfo=UTC),
            "system",
            "s",
            None,
            None,
            "x.y",
            "[]",
            None,
            "error",
            None,
            None,
        ),
    ]
    await pg.execute(_TABLE)
    await pg.executemany(
        "INSERT INTO native_rows VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, "
        "$14)",
        [
            (
                i,
                merkle.leaf_hash(leaf_bytes(e, i)),
                e.event_uid,
                e.occurred_at,
                e.actor_type,
                e.actor_id,
                e.on_behalf_of,
                e.subject,
                e.action,
                e.fields,
                e.purpose,
                e.outcome,
                e.request_id,
                e.detail,
            )
            for i, e in enumerate(samples)
        ],
    )
    parts: list[bytes] = []

    async def sink(data: bytes) -> None:
        parts.append(data)

    await pg.copy_from_query(
        "SELECT * FROM native_rows ORDER BY leaf_index", output=sink, format="binary"
    )
    stream = b"".join(parts)
    assert _native.leaf_lines(stream) == [leaf_bytes(e, i) for i, e in enumerate(samples)]
    assert _native.leaf_rows(stream)[4] == []


@pytest.mark.postgresql_only
async def test_the_database_plans_the_proof_nodes_as_merkle_does(pg: Any) -> None:
    pairs = [(i, n) for n in range(1, 130) for i in range(n)]
    pairs += [(i, n) for n in (2**31 - 1, 2**31, 2**40 + 12345) for i in (0, 1, n // 3, n - 1)]
    rows = await pg.fetch(
        "WITH t AS (SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS t(leaf_index, tree_size))"
        + repo.PROOF_NODE_IDS_SQL,
        [i for i, _ in pairs],
        [n for _, n in pairs],
    )
    got: dict[tuple[int, int], set[tuple[int, int]]] = {p: set() for p in pairs}
    for r in rows:
        got[(r["leaf_index"], r["tree_size"])].add((r["level"], r["idx"]))
    for (i, n), ids in got.items():
        assert ids == set(merkle.inclusion_nodes(i, n).ids), (i, n)
