"""Agency API rules: policy x action x purpose x fields, aliases, locks and deaths, rate limits.

Every call records its audit event in the request's unit of work (refusals included, committed
before the error is answered): invariants 1 and 3 (door 1) of docs/architecture.md.

Locked identities and deceased citizens (documented in the README):
- a citizen who locked their electronic identity is refused to every purpose except statutory
  ones (``overrides_lock`` in registry/data/purposes.csv: investigation, court order, emergency
  care, electoral roll): 403 ``identity-locked``;
- a deceased citizen never verifies (``match`` is false: a dead person's identity must not open
  an account) and is looked up only for purposes about the deceased (``deceased_allowed``:
  inheritance, pensions, tax, health insurance, investigation, court order); other lookups get
  403 ``citizen-deceased``.
"""

from __future__ import annotations

import asyncio
import contextlib
import re
import secrets
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.ext.asyncio import AsyncSession

from audit import recording as audit
from audit.events import Outcome
from audit.recording import EventSpec
from core.auth import Principal
from core.clock import utcnow
from core.db import DRIVER_ERRORS, Database
from core.errors import (
    FieldError,
    Forbidden,
    NotFound,
    RateLimited,
    RegistryError,
    ValidationFailed,
)
from core.text import ID_NUMBER_RE
from identity.models import Client
from registry import idnumber
from registry.agency import repository as repo
from registry.agency.matching import InvalidClaim, check_claims, compare
from registry.agency.models import Alias
from registry.agency.policy import Action, Policy, Purpose, parse_policy, purposes, stored_policy
from registry.record import format_partial_date

ALIAS_RE = re.compile(r"^[0-9]{16}$")
ALIAS_DEFAULT_DAYS = 365
ALIAS_MAX_DAYS = 3650


class AgencySuspended(Forbidden):
    """The agency's access is suspended."""

    code = "agency-suspended"
    title = "Agency suspended"


class ActionNotAllowed(Forbidden):
    """The agency's policy (or token) does not allow this action."""

    code = "action-not-allowed"
    title = "Action not allowed"


class PurposeNotAllowed(Forbidden):
    """The purpose is unknown, or not among the agency's purposes."""

    code = "purpose-not-allowed"
    title = "Purpose not allowed"


class FieldNotAllowed(Forbidden):
    """A requested field is outside the agency's policy."""

    code = "field-not-allowed"
    title = "Field not allowed"


class IdentityLocked(Forbidden):
    """The citizen locked their electronic identity; only statutory purposes see them."""

    code = "identity-locked"
    title = "Identity locked"


class CitizenDeceased(Forbidden):
    """The citizen is recorded as deceased; this purpose does not concern the deceased."""

    code = "citizen-deceased"
    title = "Citizen deceased"


class AliasInvalid(Forbidden):
    """The alias was revoked or has expired."""

    code = "alias-invalid"
    title = "Alias revoked or expired"


# ------------------------------------------------------------------------------ context


@dataclass(frozen=True)
class Caller:
    """An authenticated agency with its policy."""

    principal: Principal
    policy: Policy


async def caller(
    session: AsyncSession, principal: Principal, *, client: Client | None = None
) -> Caller:
    """The agency behind a token, with its policy; suspended agencies are refused. ``client``
    is the row the authenticator already read for this request, when it did."""
    if client is None or client.client_id != principal.actor_id:
        client = await repo.agency(session, principal.actor_id)
    if client is None or client.type != "agency":
        raise Forbidden("Only agency clients may call the agency API.")
    if not client.active:
        raise AgencySuspended("This agency's access is suspended.")
    policy = stored_policy(client.policy)
    if client.policy is not None:
        if len(_policies_seen) >= 10_000:
            _policies_seen.clear()
        _policies_seen[client.client_id] = (client.policy, policy)
    return Caller(principal=principal, policy=policy)


# The policy each active agency was last seen with, as stored and as parsed: the one-statement
# path (``lane_lookup``, ``lane_verify`` below) judges a request by it, and its statement
# checks that the stored policy is still this one (and the agency still active) before
# recording anything.
_policies_seen: dict[str, tuple[str, Policy]] = {}


def remembered_policy(client_id: str) -> tuple[str, Policy] | None:
    """The stored text and parsed form of the policy this active agency was last seen with."""
    return _policies_seen.get(client_id)


# A worker takes up to this many tokens at once from a fast agency's shared bucket and hands
# them out from memory, for at most LEASE_SECONDS: one bucket UPDATE per lease, not per request.
# The limit still holds across processes (no token is handed out twice); tokens a worker could
# not use in time are lost, so a worker only ever refuses early, never late. Slow agencies
# (rate under 20/s) take one token a time, exactly as without leases.
LEASE_MAX = 64
LEASE_SECONDS = 0.25


@dataclass
class _Lease:
    tokens: int
    until: float


_leases: dict[tuple[str, str], _Lease] = {}
_lease_locks: dict[tuple[str, str], asyncio.Lock] = {}


def lease_size(policy: Policy) -> int:
    """Tokens a worker takes at once: what the agency may use in 1/20 s, within the burst."""
    return max(1, min(LEASE_MAX, policy.burst // 8, int(policy.rate_per_second / 20)))


async def rate_limit(database: Database, session: AsyncSession | None, agency: Caller) -> None:
    """Take a token from the agency's bucket (shared by every process); 429 when empty.

    On PostgreSQL the bucket is updated in its own short transaction, so concurrent requests
    of one agency hold its row lock for one statement, not for their whole unit of work. The
    embedded SQLite store has one writer at a time anyway: there it joins the unit of work.
    """
    policy = agency.policy
    client_id = agency.principal.actor_id
    key = (database.settings.database_url, client_id)
    if _from_lease(key):
        return
    want = lease_size(policy)
    # Concurrent requests of one agency in this process wait for one lease, not one each.
    lock = None
    if want > 1:
        lock = _lease_locks.get(key) or _lease_locks.setdefault(key, asyncio.Lock())
    async with lock or contextlib.nullcontext():
        if want > 1 and _from_lease(key):
            return
        kwargs = {
            "client_id": client_id, "rate": policy.rate_per_second, "burst": policy.burst,
            "now": utcnow(), "want": want,
        }  # fmt: skip
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
            _leases[key] = _Lease(tokens=taken - 1, until=time.monotonic() + LEASE_SECONDS)
    if taken < 1:
        raise RateLimited(
            f"The agency's rate limit ({policy.rate_per_second:g}/s, burst {policy.burst}) "
            "is exhausted.",
            headers={"Retry-After": str(max(1, int(wait + 0.999)))},
        )


def _from_lease(key: tuple[str, str]) -> bool:
    lease = _leases.get(key)
    if lease is not None and lease.tokens > 0 and time.monotonic() < lease.until:
        lease.tokens -= 1
        return True
    return False


def _action(agency: Caller, action: Action) -> None:
    # The token must carry the scope, and the policy must allow it.
    if action not in agency.principal.scopes:
        raise ActionNotAllowed(
            f"The access token lacks the scope {action!r}.",
            headers={
                "WWW-Authenticate": 'Bearer realm="registry", error="insufficient_scope", '
                f'scope="{action}"'
            },
        )
    if action not in agency.policy.actions:
        raise ActionNotAllowed(f"The agency's policy does not allow {action!r}.")


def _purpose(agency: Caller, code: str) -> Purpose:
    found = purposes().get(code)
    if found is None:
        raise PurposeNotAllowed(f"Unknown purpose code {code[:64]!r}.")
    if code not in agency.policy.purposes:
        raise PurposeNotAllowed(f"The agency's policy does not allow the purpose {code!r}.")
    return found


def _audit_purpose(code: str) -> str | None:
    return code if code in purposes() else None


# ------------------------------------------------------------------------------ subjects


@dataclass(frozen=True)
class Subject:
    """Who a request is about: the ID number, and the alias it came through (if any)."""

    citizen_id: str
    alias: str | None = None


def _invalid_identifier(pointer: str, parameter: str | None = None) -> ValidationFailed:
    where = (
        FieldError("must be a 12-digit ID number or a 16-digit alias", parameter=parameter)
        if parameter
        else FieldError("must be a 12-digit ID number or a 16-digit alias", pointer=pointer)
    )
    return ValidationFailed("The citizen identifier is invalid.", errors=[where])


def check_identifier(value: str, *, pointer: str, parameter: str | None = None) -> str:
    """A syntactically valid ID number (province, century) or alias; 422 otherwise."""
    if ID_NUMBER_RE.fullmatch(value):
        try:
            idnumber.parse(value)
        except idnumber.InvalidIdNumber as exc:
            where = (
                FieldError(str(exc), parameter=parameter)
                if parameter
                else FieldError(str(exc), pointer=pointer)
            )
            raise ValidationFailed("The ID number is invalid.", errors=[where]) from None
        return value
    if ALIAS_RE.fullmatch(value) and luhn_ok(value):
        return value
    raise _invalid_identifier(pointer, parameter)


def _alias_state(row: Alias | None, now: datetime) -> str:
    if row is None:
        return "unknown"
    if row.revoked_at is not None or (row.expires_at is not None and row.expires_at <= now):
        return "invalid"
    return "ok"


# ------------------------------------------------------------------------------ refusals


async def _refuse(
    session: AsyncSession,
    error: RegistryError,
    *,
    agency: Caller,
    action: str,
    outcome: str,
    subject: str | None,
    purpose: str,
    alias: str | None = None,
) -> RegistryError:
    return await audit.refuse(
        session, error, actor=agency.principal, action=action,
        outcome=outcome,  # type: ignore[arg-type]
        subject=subject, purpose=_audit_purpose(purpose),
        detail={"alias": alias} if alias else None,
    )  # fmt: skip


def _gate(row: Mapping[str, Any], purpose: Purpose, *, lookup: bool) -> RegistryError | None:
    if row.get("identity_status") == "locked" and not purpose.overrides_lock:
        return IdentityLocked(
            "The citizen has locked their electronic identity; only statutory purposes may see it."
        )
    if lookup and row["status"] == "deceased" and not purpose.deceased_allowed:
        return CitizenDeceased("The citizen is recorded as deceased; this purpose does not apply.")
    return None


# ------------------------------------------------------------------------------ verify


async def _resolve(
    session: AsyncSession,
    agency: Caller,
    identifier: str,
    *,
    action: str,
    purpose: str,
) -> Subject:
    if len(identifier) == 12:
        return Subject(identifier)
    row = await repo.alias(session, identifier)
    state = _alias_state(row, utcnow())
    if state == "unknown" or row is None:
        raise await _refuse(
            session, NotFound("No citizen has this alias."), agency=agency, action=action,
            outcome="not_found", subject=None, purpose=purpose,
        )  # fmt: skip
    if state == "invalid":
        raise await _refuse(
            session, AliasInvalid("The alias was revoked or has expired."), agency=agency,
            action=action, outcome="denied", subject=row.citizen_id, purpose=purpose,
            alias=identifier,
        )  # fmt: skip
    return Subject(row.citizen_id, alias=identifier)


def _claims(claims: Mapping[str, Any], pointer: str) -> dict[str, Any]:
    try:
        return check_claims(claims)
    except InvalidClaim as exc:
        where = f"{pointer}/{exc.attribute}" if exc.attribute else pointer
        raise ValidationFailed(
            "A claimed attribute is invalid.", errors=[FieldError(exc.reason, pointer=where)]
        ) from None


def _verdict(checked: Mapping[str, Any], row: Mapping[str, Any], policy: Policy) -> dict[str, Any]:
    results = compare(checked, row, name_match=policy.name_match)
    # A deceased citizen never verifies (the purpose gate let the call through).
    match = all(results.values()) and row["status"] != "deceased"
    out: dict[str, Any] = {"match": match}
    if policy.attribute_results:
        out["attributes"] = results
    return out


async def verify(
    session: AsyncSession,
    *,
    agency: Caller,
    identifier: str,
    purpose: str,
    claims: Mapping[str, Any],
) -> dict[str, Any]:
    """Does this ID number (or alias) belong to a person with these attributes? Yes or no."""
    _action(agency, "verify")
    found_purpose = _purpose(agency, purpose)
    check_identifier(identifier, pointer="#/id_number")
    checked = _claims(claims, "#/claims")
    subject = await _resolve(session, agency, identifier, action="agency.verify", purpose=purpose)
    rows = await repo.records_with_status(session, [subject.citizen_id])
    row = rows.get(subject.citizen_id)
    compared = tuple(checked)
    if row is None:
        raise await _refuse(
            session, NotFound("No citizen has this ID number."), agency=agency,
            action="agency.verify", outcome="not_found", subject=subject.citizen_id,
            purpose=purpose, alias=subject.alias,
        )  # fmt: skip
    refusal = _gate(row, found_purpose, lookup=False)
    if refusal is not None:
        raise await _refuse(
            session, refusal, agency=agency, action="agency.verify", outcome="denied",
            subject=subject.citizen_id, purpose=purpose, alias=subject.alias,
        )  # fmt: skip
    verdict = _verdict(checked, row, agency.policy)
    # The last statement of this read: committed before the answer leaves (record's ``last``).
    event = await audit.record(
        session, actor=agency.principal, action="agency.verify", outcome="granted",
        subject=subject.citizen_id, fields=compared, purpose=purpose,
        detail={"alias": subject.alias} if subject.alias else None, last=True,
    )  # fmt: skip
    return {**verdict, "event_id": event}


@dataclass
class _Prepared:
    index: int
    identifier: str | None
    checked: dict[str, Any]
    error: dict[str, Any] | None
    citizen_id: str | None = None
    alias: str | None = None
    alias_state: str = "ok"


def _batch_item(
    p: _Prepared,
    records: Mapping[str, Mapping[str, Any]],
    purpose: Purpose,
    policy: Policy,
    audit_purpose: str | None,
) -> tuple[dict[str, Any], EventSpec]:
    detail: dict[str, str | int | bool | None] = {"item": p.index}
    if p.alias:
        detail["alias"] = p.alias

    def refused(
        code: str, text: str, outcome: Outcome, subject: str | None
    ) -> tuple[dict[str, Any], EventSpec]:
        return (
            {"index": p.index, "error": {"code": code, "detail": text}},
            EventSpec(action="agency.verify", outcome=outcome, subject=subject,
                      purpose=audit_purpose, detail=detail),
        )  # fmt: skip

    if p.error is not None:
        return {"index": p.index, "error": p.error}, EventSpec(
            action="agency.verify", outcome="error", purpose=audit_purpose, detail=detail
        )
    if p.alias and p.alias_state == "unknown":
        return refused("not-found", "No citizen has this alias.", "not_found", None)
    if p.alias and p.alias_state == "invalid":
        return refused("alias-invalid", "The alias was revoked or has expired.", "denied",
                       p.citizen_id)  # fmt: skip
    row = records.get(p.citizen_id or "")
    if row is None:
        return refused("not-found", "No citizen has this ID number.", "not_found", p.citizen_id)
    refusal = _gate(row, purpose, lookup=False)
    if refusal is not None:
        return refused(refusal.code, refusal.detail, "denied", p.citizen_id)
    return {"index": p.index, **_verdict(p.checked, row, policy)}, EventSpec(
        action="agency.verify", outcome="granted", subject=p.citizen_id,
        fields=tuple(p.checked), purpose=audit_purpose, detail=detail,
    )  # fmt: skip


async def verify_batch(
    session: AsyncSession,
    *,
    agency: Caller,
    purpose: str,
    items: Sequence[Mapping[str, Any]],
) -> dict[str, Any]:
    """Up to the policy's batch size of verifications; per-item results, one event per item."""
    _action(agency, "verify_batch")
    found_purpose = _purpose(agency, purpose)
    if len(items) > agency.policy.batch_max:
        raise ValidationFailed(
            f"At most {agency.policy.batch_max} items per batch.",
            errors=[FieldError("too many items", pointer="#/items")],
        )
    now = utcnow()
    prepared: list[_Prepared] = []
    for index, item in enumerate(items):
        identifier = str(item.get("id_number") or "")
        try:
            check_identifier(identifier, pointer=f"#/items/{index}/id_number")
            checked = _claims(item.get("claims") or {}, f"#/items/{index}/claims")
        except ValidationFailed as exc:
            error = {"code": exc.code, "detail": exc.detail,
                     "errors": [e.as_dict() for e in exc.errors]}  # fmt: skip
            prepared.append(_Prepared(index, None, {}, error))
            continue
        prepared.append(_Prepared(index, identifier, checked, None))
    alias_rows = await repo.aliases(
        session, [p.identifier for p in prepared if p.identifier and len(p.identifier) == 16]
    )
    for p in prepared:
        if p.identifier and len(p.identifier) == 16:
            found = alias_rows.get(p.identifier)
            p.alias = p.identifier
            p.alias_state = _alias_state(found, now)
            p.citizen_id = found.citizen_id if found is not None else None
        else:
            p.citizen_id = p.identifier
    records = await repo.records_with_status(
        session, [p.citizen_id for p in prepared if p.citizen_id]
    )
    results: list[dict[str, Any]] = []
    events: list[EventSpec] = []
    audit_purpose = _audit_purpose(purpose)
    for p in prepared:
        result, event = _batch_item(p, records, found_purpose, agency.policy, audit_purpose)
        results.append(result)
        events.append(event)
    await audit.record_many(session, actor=agency.principal, events=events)
    return {"purpose": purpose, "results": results}


# ------------------------------------------------------------------------------ lookup


def _field_value(name: str, row: Mapping[str, Any]) -> Any:
    value = row[name]
    if name == "birth_date":
        return format_partial_date(value, row["birth_date_precision"])
    if hasattr(value, "isoformat"):
        return value.isoformat()
    return value


def wanted_fields(fields: Sequence[str]) -> list[str]:
    """The requested field names, stripped, each once, in the order asked."""
    return list(dict.fromkeys(f.strip() for f in fields if f.strip()))


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
    _action(agency, "lookup")
    found_purpose = _purpose(agency, purpose)
    check_identifier(identifier, pointer="", parameter="id")
    wanted = wanted_fields(fields)
    if not wanted:
        raise ValidationFailed(
            "Name the fields you need.", errors=[FieldError("required", parameter="fields")]
        )
    outside = [f for f in wanted if f not in agency.policy.fields]
    if outside:
        raise await _refuse(
            session,
            FieldNotAllowed(
                "The agency's policy does not allow the fields: " + ", ".join(outside) + ".",
                extensions={"fields": outside},
            ),
            agency=agency, action="agency.lookup", outcome="denied",
            subject=identifier if len(identifier) == 12 else None, purpose=purpose,
        )  # fmt: skip
    subject = await _resolve(session, agency, identifier, action="agency.lookup", purpose=purpose)
    row = (await repo.records_with_status(session, [subject.citizen_id])).get(subject.citizen_id)
    if row is None:
        raise await _refuse(
            session, NotFound("No citizen has this ID number."), agency=agency,
            action="agency.lookup", outcome="not_found", subject=subject.citizen_id,
            purpose=purpose, alias=subject.alias,
        )  # fmt: skip
    refusal = _gate(row, found_purpose, lookup=True)
    if refusal is not None:
        raise await _refuse(
            session, refusal, agency=agency, action="agency.lookup", outcome="denied",
            subject=subject.citizen_id, purpose=purpose, alias=subject.alias,
        )  # fmt: skip
    # The last statement of this read: committed before the answer leaves (record's ``last``).
    event = await audit.record(
        session, actor=agency.principal, action="agency.lookup", outcome="granted",
        subject=subject.citizen_id, fields=wanted, purpose=purpose,
        detail={"alias": subject.alias} if subject.alias else None, last=True,
    )  # fmt: skip
    return granted_lookup(wanted, row, purpose, event)


# ------------------------------------------------------------------------------ aliases


def luhn_ok(digits: str) -> bool:
    """The Luhn check digit (the last of the 16) is right: one mistyped digit is caught."""
    total = 0
    for position, char in enumerate(reversed(digits)):
        value = int(char)
        if position % 2 == 1:
            value = value * 2 - 9 if value > 4 else value * 2
        total += value
    return total % 10 == 0


def _new_alias() -> str:
    body = "9" + "".join(secrets.choice("0123456789") for _ in range(14))
    for check in "0123456789":
        if luhn_ok(body + check):
            return body + check
    raise AssertionError("unreachable: one check digit always fits")  # pragma: no cover


async def create_alias(
    session: AsyncSession,
    *,
    actor: Principal,
    citizen_id: str,
    label: str | None,
    valid_days: int | None,
) -> Alias:
    """A new alias of a citizen, created by the citizen or an official."""
    days = ALIAS_DEFAULT_DAYS if valid_days is None else valid_days
    if not 1 <= days <= ALIAS_MAX_DAYS:
        raise ValidationFailed(
            f"An alias is valid for 1 to {ALIAS_MAX_DAYS} days.",
            errors=[FieldError("out of range", pointer="#/valid_days")],
        )
    if (await repo.records_with_status(session, [citizen_id])).get(citizen_id) is None:
        raise NotFound("No citizen has this ID number.")
    for _ in range(5):
        value = _new_alias()
        if await repo.alias(session, value) is None:
            break
    row = Alias(
        alias=value, citizen_id=citizen_id, label=(label or None) and label.strip()[:64],
        created_by="citizen" if actor.actor_type == "citizen" else actor.actor_id,
        expires_at=utcnow() + timedelta(days=days),
    )  # fmt: skip
    await repo.add(session, row)
    await audit.record(
        session, actor=actor, action="alias.create", outcome="granted", subject=citizen_id
    )
    return row


async def revoke_alias(
    session: AsyncSession, *, actor: Principal, alias: str, citizen_id: str | None
) -> Alias:
    """Revoke an alias (the citizen: only their own; an official: any)."""
    row = await repo.alias(session, alias)
    if row is None or (citizen_id is not None and row.citizen_id != citizen_id):
        raise NotFound("No such alias.")
    if row.revoked_at is None:
        row.revoked_at = utcnow()
        await session.flush()
        await audit.record(
            session, actor=actor, action="alias.revoke", outcome="granted",
            subject=row.citizen_id,
        )  # fmt: skip
    return row


def describe_alias(row: Alias) -> dict[str, Any]:
    """An alias as its owner sees it."""
    now = utcnow()
    return {
        "alias": row.alias,
        "label": row.label,
        "created_at": row.created_at.isoformat() if row.created_at else None,
        "expires_at": row.expires_at.isoformat() if row.expires_at else None,
        "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
        "active": _alias_state(row, now) == "ok",
    }


async def set_policy(
    session: AsyncSession, *, official: Principal, client_id: str, raw: Mapping[str, Any]
) -> Policy:
    """An official sets an agency's policy (validated here)."""
    client = await repo.agency(session, client_id)
    if client is None or client.type != "agency":
        raise NotFound("No agency client has this id.")
    policy = parse_policy(raw)
    await repo.set_policy(session, client_id, policy.to_json())
    await audit.record(
        session, actor=official, action="agency.policy", outcome="granted",
        detail={"client": client_id[:64]},
    )  # fmt: skip
    return policy


async def set_active(
    session: AsyncSession, *, official: Principal, client_id: str, active: bool
) -> None:
    """Suspend or reinstate an agency."""
    client = await repo.agency(session, client_id)
    if client is None or client.type != "agency":
        raise NotFound("No agency client has this id.")
    client.active = active
    await session.flush()
    await audit.record(
        session, actor=official, action="agency.activate" if active else "agency.suspend",
        outcome="granted", detail={"client": client_id[:64]},
    )  # fmt: skip


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
        session, actor=principal, action=action, outcome=outcome,  # type: ignore[arg-type]
        subject=subject, purpose=_audit_purpose(purpose or ""),
        detail={"refusal": error.code},
    )  # fmt: skip
    error.commit_unit_of_work = True


# ------------------------------------------------------------------------------ one statement
#
# The ordinary lookup and verify of an agency whose token and policy this process has seen:
# judged here by the very rules above, then served by ONE autocommit statement that reads the
# record and inserts the granted event only if the agency is still active with this policy,
# its token is not revoked and the record passes the lock and death rules (repository
# ``record_and_event``). No unit of work, no BEGIN or COMMIT. Every other case (a refusal of
# any kind, an alias, a record that is missing, locked or deceased, a changed policy or
# client, a revoked token, an empty rate bucket, a database error) gives no answer before
# anything was written, and the request then takes the full path above, which answers and
# records it; a call whose rate-limit token the statement path took is not charged again.

_LANE_VERIFY_COLUMNS = (
    "id_number", "full_name", "name_folded", "birth_date", "birth_date_precision", "gender",
    "nationality", "card_number", "status",
)  # fmt: skip


def _lane_caller(
    principal: Principal, action: Action, identifier: str, purpose: str
) -> tuple[Caller, str, Purpose] | None:
    remembered = remembered_policy(principal.actor_id)
    if remembered is None or len(identifier) != 12:
        return None
    agency = Caller(principal=principal, policy=remembered[1])
    try:
        _action(agency, action)
        found = _purpose(agency, purpose)
        check_identifier(identifier, pointer="", parameter="id")
    except RegistryError:
        return None
    return agency, remembered[0], found


@dataclass(frozen=True)
class LaneOutcome:
    """What the one-statement path did: the answer, or None when the full path must serve
    the call; and whether the call's rate-limit token was taken (the full path then does not
    take another: every call is charged exactly once)."""

    answer: dict[str, Any] | None
    charged: bool = False


async def _lane_statement(
    database: Database,
    agency: Caller,
    policy_text: str,
    *,
    jti: str,
    columns: tuple[str, ...],
    purpose: Purpose,
    lookup: bool,
    event: dict[str, Any],
) -> tuple[dict[str, Any] | None, bool]:
    pool = database.lane_pool()
    if pool is None:
        return None, False
    try:
        await rate_limit(database, None, agency)
    except (RateLimited, SQLAlchemyError, OSError):
        return None, False  # not charged: the full path refuses (and records) or fails alike
    try:
        row = await repo.record_and_event(
            pool, columns, citizen_id=str(event["subject"]),
            overrides_lock=purpose.overrides_lock,
            deceased_allowed=purpose.deceased_allowed or not lookup,
            client_id=agency.principal.actor_id, policy_text=policy_text, jti=jti, event=event,
        )  # fmt: skip
    except DRIVER_ERRORS:
        row = None  # the full path meets the same error and answers it
    if row is None or not row["recorded"]:
        return None, True
    return row, True


async def lane_lookup(
    database: Database,
    *,
    principal: Principal,
    jti: str,
    identifier: str,
    purpose: str,
    fields: Sequence[str],
) -> LaneOutcome:
    """``lookup`` in one statement, or no answer: the full path must serve the request."""
    judged = _lane_caller(principal, "lookup", identifier, purpose)
    wanted = wanted_fields(fields)
    if judged is None or not wanted:
        return LaneOutcome(None)
    agency, policy_text, found = judged
    if any(f not in agency.policy.fields for f in wanted):
        return LaneOutcome(None)
    event = audit.new_event(
        actor=principal, action="agency.lookup", outcome="granted", subject=identifier,
        fields=wanted, purpose=purpose,
    )  # fmt: skip
    columns = tuple(sorted({*wanted, "birth_date_precision", "status"}))
    row, charged = await _lane_statement(
        database, agency, policy_text, jti=jti, columns=columns, purpose=found, lookup=True,
        event=event,
    )  # fmt: skip
    if row is None:
        return LaneOutcome(None, charged)
    return LaneOutcome(granted_lookup(wanted, row, purpose, event["event_uid"]), charged)


async def lane_verify(
    database: Database,
    *,
    principal: Principal,
    jti: str,
    identifier: str,
    purpose: str,
    claims: Mapping[str, Any],
) -> LaneOutcome:
    """``verify`` in one statement, or no answer: the full path must serve the request."""
    judged = _lane_caller(principal, "verify", identifier, purpose)
    if judged is None:
        return LaneOutcome(None)
    agency, policy_text, found = judged
    try:
        checked = _claims(claims, "#/claims")
    except ValidationFailed:
        return LaneOutcome(None)
    event = audit.new_event(
        actor=principal, action="agency.verify", outcome="granted", subject=identifier,
        fields=tuple(checked), purpose=purpose,
    )  # fmt: skip
    row, charged = await _lane_statement(
        database, agency, policy_text, jti=jti, columns=_LANE_VERIFY_COLUMNS, purpose=found,
        lookup=False, event=event,
    )  # fmt: skip
    if row is None:
        return LaneOutcome(None, charged)
    verdict = _verdict(checked, row, agency.policy)
    return LaneOutcome({**verdict, "event_id": event["event_uid"]}, charged)
