"""The registry as identity's CitizenDirectory: enrolment facts and OIDC claims."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from identity.directory import CitizenFacts
from registry import names
from registry import repository as repo

_c = repo.c
# Only what each read uses (the record has 45 columns).
FACT_COLUMNS = repo.CitizenColumns(
    _c.id_number,
    _c.full_name,
    _c.birth_date,
    _c.birth_date_precision,
    _c.gender,
    _c.card_issue_date,
    _c.status,
    _c.replaced_by,
)
CLAIM_COLUMNS = repo.CitizenColumns(
    _c.id_number,
    _c.full_name,
    _c.birth_date,
    _c.birth_date_precision,
    _c.gender,
    _c.permanent_address,
)


def _as_date(value: Any) -> date | None:
    if value is None or isinstance(value, date):
        return value
    return date.fromisoformat(str(value))


def _birthdate(value: date, precision: str) -> str:
    # OIDC Core 5.1: YYYY, or YYYY-MM-DD; a year-and-month record is released as its year
    # (the claim has no month-only form, and 0000 placeholders would be misread).
    if precision == "day":
        return value.isoformat()
    return f"{value.year:04d}"


class RegistryDirectory:
    """Reads citizen records for identity (enrolment matching, userinfo and ID token claims)."""

    async def facts(self, session: AsyncSession, citizen_id: str) -> CitizenFacts | None:
        """The facts of one record."""
        row = await repo.citizen_columns(session, citizen_id, FACT_COLUMNS)
        if row is None:
            return None
        birth = _as_date(row["birth_date"])
        if birth is None:  # the column is NOT NULL
            return None
        return CitizenFacts(
            citizen_id=row["id_number"],
            full_name=row["full_name"],
            birth_date=birth,
            birth_date_precision=row["birth_date_precision"],
            gender=row["gender"],
            card_issue_date=_as_date(row["card_issue_date"]),
            status=row["status"],
            replaced_by=row["replaced_by"],
        )

    async def claims(
        self, session: AsyncSession, citizen_id: str, wanted: Iterable[str]
    ) -> Mapping[str, Any]:
        """OIDC standard claims from the record (OIDC Core 5.1), only those asked for."""
        wanted = set(wanted)
        if not wanted:
            return {}
        row = await repo.citizen_columns(session, citizen_id, CLAIM_COLUMNS)
        if row is None:
            return {}
        parts = names.split(row["full_name"])
        birth = _as_date(row["birth_date"])
        if birth is None:
            return {}
        everything: dict[str, Any] = {
            "name": row["full_name"],
            "family_name": parts.surname or None,
            "middle_name": parts.middle or None,
            "given_name": parts.given,
            "birthdate": _birthdate(birth, row["birth_date_precision"]),
            "gender": row["gender"],
            "address": (
                {"formatted": row["permanent_address"], "country": "VN"}
                if row["permanent_address"]
                else None
            ),
            "national_id": row["id_number"],
        }
        return {k: v for k, v in everything.items() if k in wanted and v is not None}
