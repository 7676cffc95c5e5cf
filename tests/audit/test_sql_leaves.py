"""PostgreSQL renders events canonically (for verify) and plans proof nodes (for inclusion
proofs) exactly as the Python definitions do."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

import asyncpg
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from audit import merkle
from audit import repository as repo
from audit.events import EventData, encode_detail, encode_fields, leaf_bytes

pytestmark = pytest.mark.postgresql_only

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
    fields=st.lists(st.from_regex(r"[a-z][a-z0-9_]{0,8}(\.[a-z][a-z0-9_]{0,8}){0,2}",
                                  fullmatch=True), max_size=4).map(encode_fields),
    purpose=maybe,
    outcome=hostile,
    request_id=maybe,
    detail=st.none()
    | st.dictionaries(st.from_regex(r"[a-z][a-z0-9_]{0,10}", fullmatch=True), detail_values,
                      max_size=4).map(encode_detail),
)  # fmt: skip

_RENDER = f"""
SELECT convert_to(({repo.CANONICAL_EVENT_SQL}), 'UTF8')
  FROM (SELECT $1::text AS event_uid, $2::timestamptz AS occurred_at, $5::text AS actor_type,
               $6::text AS actor_id, $7::text AS on_behalf_of, $8::text AS subject,
               $9::text AS action, $10::text AS fields, $11::text AS purpose,
               $12::text AS outcome, $13::text AS request_id, $14::text AS detail) AS e,
       (SELECT $15::bigint AS leaf_index) AS l
"""  # noqa: S608 - constant text


@pytest.fixture
async def pg(database_url: str) -> Any:
    conn = await asyncpg.connect(database_url.replace("postgresql+asyncpg", "postgresql"))
    yield conn
    await conn.close()


async def render(conn: Any, event: EventData, index: int, fields: str | None = None) -> Any:
    return await conn.fetchval(
        _RENDER, event.event_uid, event.occurred_at, repo.FIELDS_SHAPE, repo.DETAIL_SHAPE,
        event.actor_type, event.actor_id, event.on_behalf_of, event.subject, event.action,
        event.fields if fields is None else fields, event.purpose, event.outcome,
        event.request_id, event.detail, index,
    )  # fmt: skip


async def test_the_database_renders_every_event_as_leaf_bytes(pg: Any) -> None:
    loop = asyncio.get_running_loop()

    @settings(max_examples=300, deadline=None, suppress_health_check=list(HealthCheck))
    @given(event=events, index=st.integers(0, 2**62))
    def check(event: EventData, index: int) -> None:
        rendered = asyncio.run_coroutine_threadsafe(render(pg, event, index), loop).result()
        assert rendered == leaf_bytes(event, index)

    await asyncio.to_thread(check)


@pytest.mark.parametrize(
    ("fields", "detail"),
    [
        ('["a"],"x":1', None),  # not one JSON value: could shift bytes between columns
        ('["a" ]', None),  # JSON, but not as encode_fields writes it
        ("[]", '{"a":1'),
        ("[]", '{"a":1},"event_uid":"x"'),
        ("[]", '{"a":"\n"}'),  # a raw control character inside a string
        ("[]", '{"a":1.5}'),
    ],
)
async def test_columns_of_unexpected_shape_are_left_to_python(
    pg: Any, fields: str, detail: str | None
) -> None:
    event = EventData("u", datetime(2025, 1, 1, tzinfo=UTC), "agency", "a", None, None,
                      "x.read", fields, None, "granted", None, detail)  # fmt: skip
    assert await render(pg, event, 0) is None


async def test_years_outside_four_digits_are_left_to_python(pg: Any) -> None:
    event = EventData("u", datetime(999, 12, 31, tzinfo=UTC), "agency", "a", None, None,
                      "x.read", "[]", None, "granted", None, None)  # fmt: skip
    assert await render(pg, event, 0) is None


async def test_the_database_plans_the_proof_nodes_as_merkle_does(pg: Any) -> None:
    pairs = [(i, n) for n in range(1, 130) for i in range(n)]
    pairs += [(i, n) for n in (2**31 - 1, 2**31, 2**40 + 12345) for i in (0, 1, n // 3, n - 1)]
    rows = await pg.fetch(
        "WITH t AS (SELECT * FROM unnest($1::bigint[], $2::bigint[]) AS t(leaf_index, tree_size))"
        + repo.PROOF_NODE_IDS_SQL,
        [i for i, _ in pairs], [n for _, n in pairs],
    )  # fmt: skip
    got: dict[tuple[int, int], set[tuple[int, int]]] = {p: set() for p in pairs}
    for r in rows:
        got[(r["leaf_index"], r["tree_size"])].add((r["level"], r["idx"]))
    for (i, n), ids in got.items():
        assert ids == set(merkle.inclusion_nodes(i, n).ids), (i, n)


def test_json_escapes_are_the_rfc8785_ones() -> None:
    # The premise of the SQL renderer: to_json(text) escapes like json.dumps(ensure_ascii=False).
    assert json.dumps('\x01\x1f"\\\b\f\n\r\t\u2028', ensure_ascii=False) == (
        '"\\u0001\\u001f\\"\\\\\\b\\f\\n\\r\\t\u2028"'
    )
