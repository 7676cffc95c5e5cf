"""Recording: every access inserts its event in the caller's unit of work, the one insert
into the log that the audit package owns. No HTTP here."""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from audit import repository as repo
from audit.events import DetailValue, Outcome, check_labels, encode_detail, encode_fields
from core.errors import AuditUnavailable, RegistryError
from core.logging import request_id_var
from core.principal import Principal


async def record(
    session: AsyncSession,
    *,
    actor: Principal,
    action: str,
    outcome: Outcome,
    subject: str | None = None,
    fields: Iterable[str] = (),
    purpose: str | None = None,
    detail: Mapping[str, DetailValue] | None = None,
    last: bool = False,
) -> str:
    """Record one access in the caller's unit of work and return the event's public id.

    If this INSERT fails the caller's transaction fails with it: no access without its record.

    ``last``: the access was a read, and this event is the last statement of its unit of work
    before the data is answered (the agency API). When the unit of work has begun no
    transaction yet, the INSERT then commits by itself on PostgreSQL, without BEGIN and COMMIT
    round trips: the event is committed before anything is released (docs/architecture.md,
    invariant 1), and if it fails nothing is.
    """
    values = new_event(
        actor=actor,
        action=action,
        outcome=outcome,
        subject=subject,
        fields=fields,
        purpose=purpose,
        detail=detail,
    )
    try:
        await repo.insert_event(session, values, begin=not last)
    except (SQLAlchemyError, repo.EventNotRecorded) as exc:
        # Whatever the database said, the caller's transaction is now doomed: no data leaves.
        raise AuditUnavailable("The access could not be recorded, so it was not made.") from exc
    return str(values["event_uid"])


def new_event_uid() -> str:
    """A random UUID (RFC 9562 version 4) in its text form: what ``str(uuid.uuid4())`` gives,
    made without building the UUID object on the hot path."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40  # version 4
    raw[8] = (raw[8] & 0x3F) | 0x80  # the RFC variant
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_event(
    *,
    actor: Principal,
    action: str,
    outcome: Outcome,
    subject: str | None = None,
    fields: Iterable[str] = (),
    purpose: str | None = None,
    detail: Mapping[str, DetailValue] | None = None,
) -> dict[str, Any]:
    """The inserted columns of one event (``EVENT_COLUMNS_INSERTED``), checked and encoded,
    with a new public id; for ``record``, and for a statement that inserts it with the access
    (the agency API's one-statement path)."""
    check_labels(action=action, purpose=purpose, subject=subject)
    return {
        "event_uid": new_event_uid(),
        "actor_type": actor.actor_type,
        "actor_id": actor.actor_id,
        "on_behalf_of": actor.on_behalf_of,
        "subject": subject,
        "action": action,
        "fields": encode_fields(fields),
        "purpose": purpose,
        "outcome": outcome,
        "request_id": request_id_var.get(),
        "detail": encode_detail(detail),
    }


@dataclass(frozen=True)
class EventSpec:
    """One event of a batch recorded with ``record_many``."""

    action: str
    outcome: Outcome
    subject: str | None = None
    fields: tuple[str, ...] = ()
    purpose: str | None = None
    detail: Mapping[str, DetailValue] | None = None


async def record_many(
    session: AsyncSession, *, actor: Principal, events: Iterable[EventSpec]
) -> list[str]:
    """Record several accesses of one actor in one INSERT (a batch call: one event per item)."""
    rows = [
        new_event(
            actor=actor,
            action=e.action,
            outcome=e.outcome,
            subject=e.subject,
            fields=e.fields,
            purpose=e.purpose,
            detail=e.detail,
        )
        for e in events
    ]
    if not rows:
        return []
    try:
        await repo.insert_events(session, rows)
    except SQLAlchemyError as exc:
        raise AuditUnavailable("The accesses could not be recorded, so none was made.") from exc
    return [row["event_uid"] for row in rows]


async def refuse(
    session: AsyncSession,
    error: RegistryError,
    *,
    actor: Principal,
    action: str,
    outcome: Outcome,
    subject: str | None = None,
    fields: Iterable[str] = (),
    purpose: str | None = None,
    detail: Mapping[str, DetailValue] | None = None,
) -> RegistryError:
    """Record a refused access (denied, not found) and return ``error`` marked so that the
    unit of work commits that record before the error is answered. Raise what it returns."""
    await record(
        session,
        actor=actor,
        action=action,
        outcome=outcome,
        subject=subject,
        fields=fields,
        purpose=purpose,
        detail=detail,
    )
    error.commit_unit_of_work = True
    return error


# For a statement that inserts its events with the access they record (the agency API's grouped
# statement): the columns it gives, and its INSERT, owned here like every insert into the log.
EVENT_COLUMNS = repo.EVENT_COLUMNS_INSERTED


def insert_event_select(values: Mapping[str, str], source: str) -> str:
    """``INSERT INTO`` the log ``SELECT values FROM source RETURNING event_uid``: one event per
    row of ``source``; ``values`` gives each of EVENT_COLUMNS, in order, as an SQL expression."""
    return repo.insert_event_select(values, source)
