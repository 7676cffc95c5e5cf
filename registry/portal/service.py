"""What the portal shows, read through the registry and audit rules (no HTTP here).

Every page that shows personal data records its view as an audit event whose subject is the
citizen (the citizen viewing their own record too): the third door of invariant 3.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from audit import service as audit
from core.auth import Principal
from core.errors import NotFound
from registry import repository as registry_repo
from registry.record import format_partial_date
from registry.schemas import RECORD_FIELDS

# The record's fields as the citizen sees them, in the order of the national database.
SHOWN_FIELDS = tuple(f for f in RECORD_FIELDS if f not in ("replaced_by",))


async def record_view(
    session: AsyncSession,
    principal: Principal,
    *,
    page: str,
    subject: str | None,
    fields: Iterable[str] = (),
) -> None:
    """The audit event of a page view that shows personal data."""
    await audit.record(
        session, actor=principal, action="portal.view", outcome="granted", subject=subject,
        fields=fields, detail={"page": page},
    )  # fmt: skip


async def my_record(session: AsyncSession, principal: Principal) -> list[dict[str, Any]]:
    """Each field of the citizen's record with its value and the date it last changed."""
    citizen_id = principal.actor_id
    row = await registry_repo.get_citizen(session, citizen_id)
    if row is None:
        raise NotFound("Your record was not found.")
    versions = await registry_repo.versions(session, citizen_id)
    changed: dict[str, str] = {}
    for version in versions:  # newest first: the first mention is the last change
        for name in json.loads(version["changed_fields"] or "[]"):
            changed.setdefault(name, version["valid_from"].date().isoformat())
    created = row["created_at"].date().isoformat() if row.get("created_at") else ""
    out: list[dict[str, Any]] = []
    for name in SHOWN_FIELDS:
        if name == "version":
            continue
        value: Any = row.get(name)
        if name == "birth_date":
            value = format_partial_date(row["birth_date"], row["birth_date_precision"])
        elif value is not None and hasattr(value, "isoformat"):
            value = value.isoformat()
        out.append({"name": name, "value": value, "changed": changed.get(name, created)})
    await record_view(
        session, principal, page="record", subject=citizen_id,
        fields=[str(f["name"]) for f in out if f["value"] is not None],
    )  # fmt: skip
    return out
