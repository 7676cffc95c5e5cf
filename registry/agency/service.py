"""The agency API's calls on the full path: the caller and its policy, the rate limit, the facts
read in the request's unit of work, the decision of registry/agency/rules.py, and the audit event
of every call (refusals included, committed before the error is answered): invariants 1 and 3
(door 1) of docs/architecture.md.
"""

from __future__ import annotations

import contextlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from audit import recording as audit
from audit.recording import EventSpec
from core.auth import Principal
from core.clock import utcnow
from core.db import Database
from core.errors import FieldError, Forbidden, RateLimited, RegistryError, ValidationFailed
from core.text import ID_NUMBER_RE
from identity import agency_clients as clients
from registry.agency import repository as repo
from registry.agency.memory import AgencyMemory, lease_size
from registry.agency.policy import Policy, purposes, stored_policy
from registry.agency.rules import (
    Admitted,
    Call,
    Facts,
    Granted,
    Refusal,
    alias_state,
    decide,
    verdict,
)
from registry.record import format_partial_date


class AgencySuspended(Forbidden):
    """The agency's access is suspended."""

    code = "agency-suspended"
    title = "Agency suspended"


# ------------------------------------------------------------------------------ the caller


@dataclass(frozen=True)
class Caller:
    """An authenticated agency with its policy."""

    principal: Principal
    policy: Policy


async def caller(
    session: AsyncSession,
    principal: Principal,
    *,
    memory: AgencyMemory,
    client: object = None,
) -> Caller:
    """The agency behind a token, with its policy; suspended agencies are refused. ``client``
    is the row the authenticator already read for this request, when it did. The policy of an
    active agency is remembered in ``memory`` for the grouped statement."""
    status = clients.status_of(client)
    if status is None or status.client_id != principal.actor_id:
        status = await clients.client_status(session, principal.actor_id)
    if status is None or status.type != "agency":
        raise Forbidden("Only agency clients may call the agency API.")
    if not status.active:
        raise AgencySuspended("This agency's access is suspended.")
    stored = await repo.policy(session, status.client_id)
    policy = stored_policy(stored)
    if stored is not None:
        memory.saw_policy(status.client_id, stored, policy)
    return Caller(principal=principal, policy=policy)


async def rate_limit(
    database: Database, session: AsyncSession | None, agency: Caller, memory: AgencyMemory
) -> None:
    """Take a token from the agency's bucket (shared by every process); 429 when empty.

    On PostgreSQL the bucket is updated in its own short transaction, so concurrent requests
    of one agency hold its row lock for one statement, not for their whole unit of work. The
    embedded SQLite store has one writer at a time anyway: there it joins the unit of work.
    A worker takes several tokens at once from a fast agency's bucket (``lease_size``) and hands
    them out from ``memory``: one bucket UPDATE per lease, not per request. The limit still holds
    across processes (no token is handed out twice); tokens a worker could not use in time are
    lost, so a worker only ever refuses early, never late.
    """
    policy = agency.policy
    client_id = agency.principal.actor_id
    key = (database.settings.database_url, client_id)
    if memory.from_lease(key):
        return
    want = lease_size(policy)
    # Concurrent requests of one agency in this process wait for one lease, not one each.
    async with memory.lock(key) if want > 1 else contextlib.nullcontext():
        if want > 1 and memory.from_lease(key):
            return
        kwargs = {
            "client_id": client_id,
            "rate": policy.rate_per_second,
            "burst": policy.burst,
            "now": utcnow(),
            "want": want,
        }
        if database.dialect == "sqlite":
            if session is None:
                raise TypeError("on SQLite the bucket is taken in the unit of work")
            taken, wait = await repo.take_tokens(await session.connection(), **kwargs)  # type: ignore[arg-type]
        else:
            # From a pool of its own: this request's unit of work already holds a main-pool
            # connection, and waiting for a second one from that pool can deadlock it.
            async with database.side_engine.connect() as conn:
                taken, wait = await repo.take_tokens(conn, **kwargs)  # type: ignore[arg-type]
        if taken > 1:
            memory.lease(key, taken - 1)
    if taken < 1:
        raise RateLimited(
            f"The agency's rate limit ({policy.rate_per_second:g}/s, burst {policy.burst}) "
            "is exhausted.",
            headers={"Retry-After": str(max(1, int(wait + 0.999)))},
        )


def audit_purpose(code: str) -> str | None:
    """The purpose as recorded: a known code, else none."""
    return code if code in purposes() else None


# ------------------------------------------------------------------------------ one call


async def _facts(session: AsyncSession, identifier: str) -> Facts:
    if len(identifier) == 12:
        record = (await repo.records_with_status(session, [identifier])).get(identifier)
        return Facts(None, identifier, record)
    row = await repo.alias(session, identifier)
    if row is None:
        return Facts("unknown", None, None)
    state = alias_state(row.revoked_at, row.expires_at, utcnow())
    if state != "ok":
        return Facts(state, row.citizen_id, None)
    record = (await repo.records_with_status(session, [row.citizen_id])).get(row.citizen_id)
    return Facts(state, row.citizen_id, record)


async def _decided(session: AsyncSession, agency: Caller, call: Call) -> Granted:
    """The call decided with its facts; a refusal is recorded (when a rule about the subject
    made it) and raised."""
    scopes, policy = agency.principal.scopes, agency.policy
    admitted = decide(call, scopes=scopes, policy=policy)
    if isinstance(admitted, Admitted):
        facts = await _facts(session, call.identifier)
        decision = decide(call, scopes=scopes, policy=policy, facts=facts)
    else:
        decision = admitted
    if isinstance(decision, Refusal):
        if decision.outcome is None:
            raise decision.error  # the agency door records it (record_refusal)
        raise await audit.refuse(
            session,
            decision.error,
            actor=agency.principal,
            action=f"agency.{call.action}",
            outcome=decision.outcome,
            subject=decision.subject,
            purpose=audit_purpose(call.purpose),
            # Why, as a stable code, so that auditors read the reason of each refusal.
            detail={"refusal": decision.error.code}
            | ({"alias": decision.alias} if decision.alias else {}),
        )
    return decision


async def verify(
    session: AsyncSession,
    *,
    agency: Caller,
    identifier: str,
    purpose: str,
    claims: Mapping[str, Any],
) -> dict[str, Any]:
    """Does this ID number (or alias) belong to a person with these attributes? Yes or no."""
    call = Call("verify", purpose, identifier, claims=claims, pointer="#")
    granted = await _decided(session, agency, call)
    answer = verdict(granted.claims, granted.record, agency.policy)
    # The last statement of this read: committed before the answer leaves (record's ``last``).
    event = await audit.record(
        session,
        actor=agency.principal,
        action="agency.verify",
        outcome="granted",
        subject=granted.subject,
        fields=tuple(granted.claims),
        purpose=purpose,
        detail={"alias": granted.alias} if granted.alias else None,
        last=True,
    )
    return {**answer, "event_id": event}


def _field_value(name: str, row: Mapping[str, Any]) -> Any:
    value = row[name]
    if name == "birth_date":
        return format_partial_date(value, row["birth_date_precision"])
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def granted_lookup(
    wanted: Sequence[str], row: Mapping[str, Any], purpose: str, event_id: str
) -> dict[str, Any]:
    """A granted lookup's answer."""
    return {
        "citizen": {name: _field_value(name, row) for name in wanted},
        "purpose": purpose,
        "event_id": event_id,
    }


async def lookup(
    session: AsyncSession,
    *,
    agency: Caller,
    identifier: str,
    purpose: str,
    fields: Sequence[str],
) -> dict[str, Any]:
    """Exactly the requested fields that the policy allows; a field outside it is a 403."""
    call = Call("lookup", purpose, identifier, fields=fields)
    granted = await _decided(session, agency, call)
    # The last statement of this read: committed before the answer leaves (record's ``last``).
    event = await audit.record(
        session,
        actor=agency.principal,
        action="agency.lookup",
        outcome="granted",
        subject=granted.subject,
        fields=granted.fields,
        purpose=purpose,
        detail={"alias": granted.alias} if granted.alias else None,
        last=True,
    )
    return granted_lookup(granted.fields, granted.record, purpose, event)


# ------------------------------------------------------------------------------ batch


async def verify_batch(
    session: AsyncSession,
    *,
    agency: Caller,
    purpose: str,
    items: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Up to the policy's batch size of verifications; per-item results, one event per item."""
    scopes, policy = agency.principal.scopes, agency.policy
    calls = [
        Call(
            "verify_batch",
            purpose,
            str(item.get("id_number") or ""),
            claims=item.get("claims") or {},
            pointer=f"#/items/{index}",
        )
        for index, item in enumerate(items)
    ]
    # The batch's action and purpose: a call with no identifier passes them or is refused by
    # them (an item's own refusals are its own).
    whole = decide(Call("verify_batch", purpose, "", pointer="#"), scopes=scopes, policy=policy)
    if isinstance(whole, Refusal) and not isinstance(whole.error, ValidationFailed):
        raise whole.error
    if len(items) > policy.batch_max:
        raise ValidationFailed(
            f"At most {policy.batch_max} items per batch.",
            errors=[FieldError("too many items", pointer="#/items")],
        )
    admitted = [decide(call, scopes=scopes, policy=policy) for call in calls]
    identifiers = [
        c.identifier for c, a in zip(calls, admitted, strict=True) if not isinstance(a, Refusal)
    ]
    facts = await _batch_facts(session, identifiers)
    results: list[dict[str, Any]] = []
    events: list[EventSpec] = []
    recorded_purpose = audit_purpose(purpose)
    for index, (call, first) in enumerate(zip(calls, admitted, strict=True)):
        detail: dict[str, str | int | bool | None] = {"item": index}
        if isinstance(first, Refusal):
            error = first.error
            results.append({"index": index, "error": _batch_error(error)})
            events.append(
                EventSpec(
                    action="agency.verify", outcome="error", purpose=recorded_purpose, detail=detail
                )
            )
            continue
        if len(call.identifier) == 16:
            detail["alias"] = call.identifier
        decision = decide(call, scopes=scopes, policy=policy, facts=facts[call.identifier])
        if isinstance(decision, Refusal):
            results.append(
                {
                    "index": index,
                    "error": {"code": decision.error.code, "detail": decision.error.detail},
                }
            )
            events.append(
                EventSpec(
                    action="agency.verify",
                    outcome=decision.outcome or "error",
                    subject=decision.subject,
                    purpose=recorded_purpose,
                    detail=detail,
                )
            )
            continue
        results.append({"index": index, **verdict(decision.claims, decision.record, policy)})
        events.append(
            EventSpec(
                action="agency.verify",
                outcome="granted",
                subject=decision.subject,
                fields=tuple(decision.claims),
                purpose=recorded_purpose,
                detail=detail,
            )
        )
    await audit.record_many(session, actor=agency.principal, events=events)
    return {"purpose": purpose, "results": results}


def _batch_error(error: RegistryError) -> dict[str, Any]:
    if isinstance(error, ValidationFailed):
        return {
            "code": error.code,
            "detail": error.detail,
            "errors": [e.as_dict() for e in error.errors],
        }
    return {"code": error.code, "detail": error.detail}


async def _batch_facts(session: AsyncSession, identifiers: Sequence[str]) -> dict[str, Facts]:
    """Each identifier's facts, in two reads (aliases, then records)."""
    now = utcnow()
    alias_rows = await repo.aliases(session, [i for i in identifiers if len(i) == 16])
    named: dict[str, tuple[str | None, str | None]] = {}
    for identifier in identifiers:
        if len(identifier) != 16:
            named[identifier] = (None, identifier)
            continue
        row = alias_rows.get(identifier)
        if row is None:
            named[identifier] = ("unknown", None)
        else:
            named[identifier] = (alias_state(row.revoked_at, row.expires_at, now), row.citizen_id)
    records = await repo.records_with_status(
        session, [citizen for state, citizen in named.values() if citizen and state != "invalid"]
    )
    return {
        identifier: Facts(
            state, citizen, records.get(citizen or "") if state != "invalid" else None
        )
        for identifier, (state, citizen) in named.items()
    }


# ------------------------------------------------------------------------------ refusals


async def record_refusal(
    session: AsyncSession,
    error: RegistryError,
    *,
    principal: Principal,
    action: str,
    identifier: str | None,
    purpose: str | None,
) -> None:
    """Record a refused call that no rule recorded yet (bad input, purpose, policy, rate), so
    that every answered call has its event; the unit of work then commits it."""
    if error.commit_unit_of_work or error.status >= 500:
        return
    outcome = "not_found" if error.status == 404 else "error" if error.status == 422 else "denied"
    subject = identifier if identifier and ID_NUMBER_RE.fullmatch(identifier) else None
    await audit.record(
        session,
        actor=principal,
        action=action,
        outcome=outcome,  # type: ignore[arg-type]
        subject=subject,
        purpose=audit_purpose(purpose or ""),
        detail={"refusal": error.code},
    )
    error.commit_unit_of_work = True
