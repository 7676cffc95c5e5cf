"""SQL of the agency API: records with their identity status, the grouped statement, aliases,
rate buckets."""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

import asyncpg
from sqlalchemy import TextClause, bindparam, select, text
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncSession

from audit import recording as audit
from core.db import StatementPool, driver_connection, driver_errors
from core.models import UTCDateTime
from identity import agency_clients as clients
from registry.agency.models import AgencyPolicy, Alias
from registry.agency.rules import GATES
from registry.models import Citizen

# The record columns and the identity's status, for ``records_with_status`` on PostgreSQL
# (sent to the driver as is: this is the agency API's one read per request).
RECORDS_SQL = (
    "SELECT "  # noqa: S608 - built from the table's own column names
    + ", ".join(f"citizen.{column.name}" for column in Citizen.__table__.columns)
    + f", {clients.IDENTITY_STATUS_SQL} AS identity_status FROM citizen "
    + clients.identity_status_join_sql("citizen.id_number")
    + " WHERE citizen.id_number = ANY($1::varchar[])"
)


# The agency API's whole ordinary call in one autocommit statement (registry/agency/grouped.py):
# the record with its identity's status, and the granted event inserted only when the caller
# and the record still allow it. The caller's agency client must still be active, an agency,
# and hold the very policy the call was judged by; its access token must not be revoked; the
# record must pass the gates (registry/agency/rules.py ``GATES``, from which the condition is
# generated: the call's ``{gate}_open`` flags say which gates its purpose opens). When any of
# that fails nothing is written, ``recorded`` is false, and the call takes the full path. The
# event and the read are one statement, so the event is committed before anything is released.
#
# Calls that waited for a connection go together (core.db.StatementPool): the same statement
# over arrays, one row of ``req`` per call, each judged and recorded on its own, and each call's
# row found again by its event's id.
_PARAMETERS = {  # $1, $2, ... in this order, and their types in the grouped statement
    "subject": "text",
    **{f"{gate.name}_open": "boolean" for gate in GATES},
    "client_id": "text", "policy": "text", "jti": "text", "event_uid": "text",
    "on_behalf_of": "text", "action": "text", "fields": "text", "purpose": "text",
    "request_id": "text",
}  # fmt: skip
_EVENT_VALUES = {  # each inserted column of the event: a parameter or a constant
    "event_uid": "event_uid", "actor_type": "'agency'", "actor_id": "client_id",
    "on_behalf_of": "on_behalf_of", "subject": "subject", "action": "action", "fields": "fields",
    "purpose": "purpose", "outcome": "'granted'", "request_id": "request_id", "detail": "NULL",
}  # fmt: skip
_RECORD_COLUMNS = frozenset(column.name for column in Citizen.__table__.columns)
GROUP_KEY = "grouped_event_uid"  # the grouped statement's extra column: the row's call
_EVENT_UID_AT = list(_PARAMETERS).index("event_uid")  # in a call's parameters


def _gates_sql(value: Callable[[str], str]) -> str:
    """The gates of rules.GATES as one SQL condition on ``found``."""
    return " AND ".join(
        f"(found.{gate.column} IS DISTINCT FROM '{gate.closed}' OR {value(gate.name + '_open')})"
        for gate in GATES
    )


def _body_sql(
    columns: tuple[str, ...], value: Callable[[str], str], *, carried: str, joined: str, where: str
) -> str:
    """The statement's body from ``found`` to ``event``: ``value(name)`` is how it reads a
    parameter, ``joined`` what ``found`` reads the citizen from, ``carried`` what else it keeps."""
    unknown = set(columns) - _RECORD_COLUMNS
    if unknown:
        raise ValueError(f"not record columns: {sorted(unknown)}")
    selected = ", ".join(f"citizen.{name}" for name in columns)
    event = audit.insert_event_select(
        {
            column: value(given) if given in _PARAMETERS else given
            for column, given in _EVENT_VALUES.items()
        },
        "allowed",
    )
    # Column names are checked against the table above; everything else is constant.
    return (
        f"found AS (SELECT {selected}, {clients.IDENTITY_STATUS_SQL} AS identity_status"  # noqa: S608
        f"{carried} FROM {joined} {clients.identity_status_join_sql('citizen.id_number')}"
        f"{where}), "
        f"allowed AS (SELECT * FROM found WHERE {_gates_sql(value)} "
        f"AND {clients.active_agency_sql(value('client_id'))} "
        "AND EXISTS (SELECT 1 FROM agency_policy "
        f"WHERE agency_policy.client_id = {value('client_id')} "
        f"AND agency_policy.policy = {value('policy')}) "
        f"AND {clients.token_live_sql(value('jti'))}), "
        f"event AS ({event}) "
    )


@functools.lru_cache(maxsize=256)
def record_and_event_sql(columns: tuple[str, ...]) -> str:
    """The statement for these record columns (names of the citizen table only)."""
    numbers = {  # the flags are typed; the text parameters take their columns' types
        name: f"${n}::boolean" if kind == "boolean" else f"${n}"
        for n, (name, kind) in enumerate(_PARAMETERS.items(), start=1)
    }
    body = _body_sql(
        columns,
        numbers.__getitem__,
        carried="",
        joined="citizen",
        where=" WHERE citizen.id_number = $1",
    )
    return f"WITH {body}SELECT found.*, EXISTS (SELECT 1 FROM event) AS recorded FROM found"  # noqa: S608


@functools.lru_cache(maxsize=256)
def record_and_event_many_sql(columns: tuple[str, ...]) -> str:
    """The grouped statement for these record columns: one array parameter per parameter of
    ``record_and_event_sql``, one element per call; each row carries ``GROUP_KEY``."""
    arrays = ", ".join(f"${n}::{kind}[]" for n, kind in enumerate(_PARAMETERS.values(), start=1))
    names = ", ".join(f"req_{name}" for name in _PARAMETERS)
    body = _body_sql(
        columns,
        lambda name: f"req_{name}",
        carried=", req.*",
        joined="req JOIN citizen ON citizen.id_number = req.req_subject",
        where="",
    )
    selected = ", ".join(f"found.{name}" for name in columns)
    return (
        f"WITH req AS (SELECT * FROM unnest({arrays}) AS r({names})), {body}"  # noqa: S608
        f"SELECT {selected}, found.identity_status, found.req_event_uid AS {GROUP_KEY}, "
        "found.req_event_uid IN (SELECT event_uid FROM event) AS recorded FROM found"
    )


async def record_and_event(
    pool: StatementPool,
    columns: tuple[str, ...],
    *,
    citizen_id: str,
    gates_open: tuple[bool, ...],
    client_id: str,
    policy_text: str,
    jti: str,
    event: Mapping[str, Any],
) -> dict[str, Any] | None:
    """The record (these columns, its status and its identity's status) and whether the
    granted event was recorded with it (``recorded``); None when no citizen has the number.
    One autocommit statement on a connection of ``pool``, alone or with the requests for the
    same columns that waited with it; driver errors propagate. ``gates_open``: the call's
    ``{gate}_open`` flags, in the order of rules.GATES."""
    arguments = (
        citizen_id,
        *gates_open,
        client_id,
        policy_text,
        jti,
        event["event_uid"],
        event["on_behalf_of"],
        event["action"],
        event["fields"],
        event["purpose"],
        event["request_id"],
    )
    one, many = _calls(columns)
    row: dict[str, Any] | None = await pool.run(columns, arguments, one, many)
    return row


@functools.lru_cache(maxsize=256)
def _calls(columns: tuple[str, ...]) -> tuple[Any, Any]:
    """The statement pool's ``one`` and ``many`` for these columns, made once."""
    return (
        functools.partial(_record_and_event_one, columns),
        functools.partial(_record_and_event_many, columns),
    )


async def _record_and_event_one(
    columns: tuple[str, ...], connection: asyncpg.Connection, arguments: tuple[Any, ...]
) -> dict[str, Any] | None:
    row = await connection.fetchrow(record_and_event_sql(columns), *arguments)
    return None if row is None else dict(row)


async def _record_and_event_many(
    columns: tuple[str, ...], connection: asyncpg.Connection, items: list[tuple[Any, ...]]
) -> list[dict[str, Any] | None]:
    arrays = [list(values) for values in zip(*items, strict=True)]
    rows = await connection.fetch(record_and_event_many_sql(columns), *arrays)
    by_key = {}
    for row in rows:
        found = dict(row)
        by_key[found.pop(GROUP_KEY)] = found
    return [by_key.get(item[_EVENT_UID_AT]) for item in items]


async def records_with_status(
    session: AsyncSession, id_numbers: Iterable[str]
) -> dict[str, dict[str, Any]]:
    """Records by ID number, each with its electronic identity's status (or None): one query."""
    wanted = list(dict.fromkeys(id_numbers))
    if not wanted:
        return {}
    # A read: it joins the unit of work's transaction if one has begun, else runs alone.
    driver = await driver_connection(session, begin=False)
    if driver is not None:
        async with driver_errors(session):
            found = await driver.fetch(RECORDS_SQL, wanted)
        return {row["id_number"]: dict(row) for row in found}
    joined, identity_status = clients.with_identity_status(Citizen.__table__, Citizen.id_number)
    stmt = (
        select(Citizen.__table__, identity_status.label("identity_status"))
        .select_from(joined)
        .where(Citizen.id_number.in_(wanted))
    )
    rows = (await session.execute(stmt)).mappings().all()
    return {row["id_number"]: dict(row) for row in rows}


async def aliases(session: AsyncSession, values: Iterable[str]) -> dict[str, Alias]:
    """Alias rows by alias."""
    wanted = list(dict.fromkeys(values))
    if not wanted:
        return {}
    rows = (await session.execute(select(Alias).where(Alias.alias.in_(wanted)))).scalars().all()
    return {row.alias: row for row in rows}


async def alias(session: AsyncSession, value: str) -> Alias | None:
    """One alias row."""
    return await session.get(Alias, value)


async def aliases_of(session: AsyncSession, citizen_id: str) -> Sequence[Alias]:
    """A citizen's aliases, newest first."""
    stmt = select(Alias).where(Alias.citizen_id == citizen_id).order_by(Alias.created_at.desc())
    return (await session.execute(stmt)).scalars().all()


async def add(session: AsyncSession, row: object) -> None:
    """Insert a row."""
    session.add(row)
    await session.flush()


POLICY_SQL = "SELECT policy FROM agency_policy WHERE client_id = $1"


async def policy(session: AsyncSession, client_id: str) -> str | None:
    """An agency's stored policy (None: it may ask nothing). A read: it joins the unit of
    work's transaction if one has begun, else runs alone (as ``records_with_status``)."""
    driver = await driver_connection(session, begin=False)
    if driver is not None:
        async with driver_errors(session):
            found: str | None = await driver.fetchval(POLICY_SQL, client_id)
        return found
    stored = await session.scalar(
        select(AgencyPolicy.policy).where(AgencyPolicy.client_id == client_id)
    )
    return stored


async def set_policy(session: AsyncSession, client_id: str, policy_json: str) -> None:
    """Store an agency's policy."""
    row = await session.get(AgencyPolicy, client_id)
    if row is None:
        session.add(AgencyPolicy(client_id=client_id, policy=policy_json))
    else:
        row.policy = policy_json
    await session.flush()


# A request's instant may be earlier than the bucket's last update (it was taken before the
# row lock, or by a worker whose clock lags): count no negative time, and never move the
# bucket's clock back, or tokens within the burst are lost.
_REFILL_PG = (
    "LEAST(CAST(:burst AS double precision), rate_bucket.tokens + GREATEST(0, "
    "EXTRACT(EPOCH FROM (CAST(:now AS timestamptz) - rate_bucket.updated_at))) * :rate)"
)
_LATEST_PG = "GREATEST(rate_bucket.updated_at, CAST(:now AS timestamptz))"
_REFILL_SQLITE = (
    "MIN(:burst, rate_bucket.tokens + "
    "MAX(0, (julianday(:now) - julianday(rate_bucket.updated_at)) * 86400.0) * :rate)"
)
_LATEST_SQLITE = (
    "CASE WHEN julianday(:now) > julianday(rate_bucket.updated_at) "
    "THEN :now ELSE rate_bucket.updated_at END"
)


@functools.cache
def _take_statement(postgres: bool) -> TextClause:
    """The bucket statement of ``take_tokens`` for PostgreSQL or SQLite, made once."""
    refill = _REFILL_PG if postgres else _REFILL_SQLITE
    latest = _LATEST_PG if postgres else _LATEST_SQLITE
    whole = f"FLOOR({refill})" if postgres else f"CAST({refill} AS INTEGER)"
    want_ = "CAST(:want AS integer)"
    take = f"(CASE WHEN {refill} >= {want_} THEN {want_} ELSE {whole} END)"
    # The interpolated SQL is made of the constants above, never input.
    return text(
        "INSERT INTO rate_bucket (client_id, tokens, granted, taken, updated_at) "  # noqa: S608
        f"VALUES (:client_id, :burst - {want_}, true, {want_}, :now) "
        "ON CONFLICT (client_id) DO UPDATE SET "
        f"tokens = {refill} - {take}, "
        f"granted = {take} >= 1, "
        f"taken = {take}, "
        f"updated_at = {latest} "
        "RETURNING tokens, taken"
    ).bindparams(bindparam("now", type_=UTCDateTime()))


async def take_tokens(
    conn: AsyncConnection,
    *,
    client_id: str,
    rate: float,
    burst: int,
    now: datetime,
    want: int = 1,
) -> tuple[int, float]:
    """Take up to ``want`` whole tokens from the agency's bucket in one statement (atomic across
    processes): (tokens taken, seconds until a token is available when none was)."""
    statement = _take_statement(conn.dialect.name == "postgresql")
    want = max(1, min(want, burst))
    tokens, taken = (
        await conn.execute(
            statement,
            {"client_id": client_id, "rate": rate, "burst": burst, "now": now, "want": want},
        )
    ).one()
    wait = max(0.0, (1.0 - float(tokens)) / rate) if rate > 0 else math.inf
    return int(taken), wait
