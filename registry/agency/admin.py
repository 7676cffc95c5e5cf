"""What citizens and officials manage of the agency API: aliases, agency policies, suspensions.
Each change records its audit event in the caller's unit of work."""

from __future__ import annotations

import secrets
from collections.abc import Mapping
from datetime import timedelta
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from audit import recording as audit
from core.auth import Principal
from core.clock import utcnow
from core.errors import FieldError, NotFound, ValidationFailed
from identity import agency_clients as clients
from registry.agency import repository as repo
from registry.agency.models import Alias
from registry.agency.policy import Policy, parse_policy
from registry.agency.rules import alias_state, luhn_ok

ALIAS_DEFAULT_DAYS = 365
ALIAS_MAX_DAYS = 3650


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
        alias=value,
        citizen_id=citizen_id,
        label=(label or None) and label.strip()[:64],
        created_by="citizen" if actor.actor_type == "citizen" else actor.actor_id,
        expires_at=utcnow() + timedelta(days=days),
    )
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
            session,
            actor=actor,
            action="alias.revoke",
            outcome="granted",
            subject=row.citizen_id,
        )
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
        "active": alias_state(row.revoked_at, row.expires_at, now) == "ok",
    }


async def set_policy(
    session: AsyncSession, *, official: Principal, client_id: str, raw: Mapping[str, Any]
) -> Policy:
    """An official sets an agency's policy (validated here)."""
    client = await clients.client_status(session, client_id)
    if client is None or client.type != "agency":
        raise NotFound("No agency client has this id.")
    policy = parse_policy(raw)
    await repo.set_policy(session, client_id, policy.to_json())
    await audit.record(
        session,
        actor=official,
        action="agency.policy",
        outcome="granted",
        detail={"client": client_id[:64]},
    )
    return policy


async def set_active(
    session: AsyncSession, *, official: Principal, client_id: str, active: bool
) -> None:
    """Suspend or reinstate an agency."""
    client = await clients.client_status(session, client_id)
    if client is None or client.type != "agency":
        raise NotFound("No agency client has this id.")
    await clients.set_active(session, client_id, active=active)
    await audit.record(
        session,
        actor=official,
        action="agency.activate" if active else "agency.suspend",
        outcome="granted",
        detail={"client": client_id[:64]},
    )
