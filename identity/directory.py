"""What identity needs to know about citizens, as a Protocol that the registry implements.

Identity never imports the registry (layers point down); the composition root hands it an
implementation of ``CitizenDirectory``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Any, Literal, Protocol

from sqlalchemy.ext.asyncio import AsyncSession

CitizenStatus = Literal["alive", "deceased", "missing"]


@dataclass(frozen=True, slots=True)
class CitizenFacts:
    """The facts enrolment matches declared data against, and the record's life status."""

    citizen_id: str
    full_name: str
    birth_date: date
    birth_date_precision: Literal["day", "month", "year"]
    gender: Literal["male", "female"]
    card_issue_date: date | None
    status: CitizenStatus
    # A legal change of gender gives a new number; the old record names its successor.
    replaced_by: str | None = None


class CitizenDirectory(Protocol):
    """The registry as identity sees it."""

    async def facts(self, session: AsyncSession, citizen_id: str) -> CitizenFacts | None:
        """The citizen's facts, or None when no record has this ID number."""
        ...

    async def claims(
        self, session: AsyncSession, citizen_id: str, names: Iterable[str]
    ) -> Mapping[str, Any]:
        """OIDC standard claims (OIDC Core 5.1) among ``names`` that the record can answer.

        Known names: name, given_name, family_name, middle_name, birthdate, gender, address,
        national_id. Claims the record has no value for are left out.
        """
        ...
