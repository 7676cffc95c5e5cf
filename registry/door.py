"""The door every operation of the officials' API goes through: the official's role, the audit
action and purpose, the events of a record released, not found or refused, and the record
loaded by its ID number. Used by the changes (``registry.service``) and the reads
(``registry.reads``)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any

from sqlalchemy import Date
from sqlalchemy.ext.asyncio import AsyncSession

from audit.events import DetailValue
from audit.recording import record, refuse
from core.auth import Principal
from core.errors import Conflict, FieldError, Forbidden, NotFound, RegistryError, ValidationFailed
from core.text import ID_NUMBER_RE
from registry import repository as repo
from registry.models import Citizen

CIVIL_REGISTRATION = "civil_registration"
RESIDENCE_MANAGEMENT = "residence_management"
_DATE_COLUMNS = frozenset(
    column.name for column in Citizen.__table__.columns if isinstance(column.type, Date)
)
_NOT_FOUND = "No citizen has this ID number."


@dataclass(frozen=True)
class Door:
    """Who acts, under which audit action and purpose."""

    session: AsyncSession
    official: Principal
    action: str
    purpose: str

    async def granted(
        self,
        subject: str,
        fields: Iterable[str],
        detail: Mapping[str, DetailValue] | None = None,
    ) -> None:
        await record(
            self.session,
            actor=self.official,
            action=self.action,
            outcome="granted",
            subject=subject,
            fields=fields,
            purpose=self.purpose,
            detail=detail,
        )

    async def not_found(self, subject: str, error: RegistryError | None = None) -> RegistryError:
        """Record a lookup that found nothing; returns the error to raise (committed first)."""
        return await refuse(
            self.session,
            error or NotFound(_NOT_FOUND),
            actor=self.official,
            action=self.action,
            outcome="not_found",
            subject=subject,
            purpose=self.purpose,
        )

    async def conflict(self, subject: str, reason: str, message: str) -> RegistryError:
        """Record a change refused by the record's state; returns the 409 to raise."""
        return await refuse(
            self.session,
            Conflict(message, extensions={"reason": reason}),
            actor=self.official,
            action=self.action,
            outcome="denied",
            subject=subject,
            purpose=self.purpose,
            detail={"reason": reason},
        )


def open_door(session: AsyncSession, official: Principal, kind: str, purpose: str) -> Door:
    # The router's require("official") is the gate; this keeps the rule true for every caller.
    if "official" not in official.roles:
        raise Forbidden("This resource requires the official role.")
    return Door(session, official, f"registry.{kind}", purpose)


def bad_parameter(parameter: str, reason: str) -> ValidationFailed:
    return ValidationFailed(
        "The request has invalid fields.", errors=(FieldError(reason, parameter=parameter),)
    )


def check_subject(id_number: str) -> None:
    if not ID_NUMBER_RE.fullmatch(id_number):
        raise bad_parameter("id_number", "must be a 12-digit personal ID number")


def from_json(name: str, value: str | None) -> Any:
    return date.fromisoformat(value) if value is not None and name in _DATE_COLUMNS else value


async def load_record(door: Door, id_number: str) -> dict[str, Any]:
    check_subject(id_number)
    row = await repo.get_citizen(door.session, id_number)
    if row is None:
        raise await door.not_found(id_number)
    return row
