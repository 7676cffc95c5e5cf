"""The console's events in words: actors by name (agencies, staff with their office), actions,
purposes, outcomes and reasons of refusals as people read them, times on one line."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import UTC
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from audit import views
from audit.schemas import EventView
from core.clock import time_text
from core.i18n import N_
from identity import accounts
from identity.oidc import clients
from registry.portal import labels

STAFF_ACTORS = ("official", "auditor", "administrator")
WITH_OFFICE = N_("{name}, {office}")


def staff_label(card: accounts.StaffCard, locale: str) -> str:
    """A staff member as citizens and auditors read them: name, and office when known."""
    name = card.display_name or card.username
    if card.office:
        return labels.translate(locale, WITH_OFFICE).format(name=name, office=card.office)
    return name


@dataclass(frozen=True)
class Names:
    """Agencies' names by client id, staff members' name and office by sign-in name."""

    agencies: Mapping[str, str]
    staff: Mapping[str, accounts.StaffCard]

    def actor(self, kind: str, actor_id: str, on_behalf_of: str | None, locale: str) -> str:
        """An actor as a person reads it: a name, its role, and the official inside an agency."""
        role = labels.coded_name(labels.ACTORS, kind, locale) or kind
        if kind == "agency":
            name = self.agencies.get(actor_id, actor_id)
        elif kind in STAFF_ACTORS and actor_id in self.staff:
            name = f"{staff_label(self.staff[actor_id], locale)} ({role.lower()})"
        elif kind == "system":
            name = role
        else:
            name = f"{role} {actor_id}"
        if on_behalf_of:
            name += f" · {on_behalf_of}"
        return name


async def names_of(session: AsyncSession, actors: Iterable[tuple[str, str]]) -> Names:
    """The names of these (actor type, actor id) pairs."""
    pairs = list(actors)
    found = await clients.client_summaries(session, [a for t, a in pairs if t == "agency"])
    staff = await accounts.staff_cards(session, [a for t, a in pairs if t in STAFF_ACTORS])
    return Names({k: v.name for k, v in found.items()}, staff)


async def actor_choices(session: AsyncSession, locale: str) -> list[tuple[str, str]]:
    """The picker of actors: every agency (and relying party) by name, value its client id;
    then the staff by name and office, value their sign-in name."""
    agencies = [(c.client_id, c.name) for c in await clients.list_clients(session)]
    staff = await accounts.staff_directory(session)
    return agencies + [(card.username, staff_label(card, locale)) for card in staff]


async def reasons(
    session: AsyncSession, items: Iterable[EventView]
) -> dict[str, Mapping[str, Any]]:
    """The detail of each refused event among ``items`` (why it was refused), by event id."""
    out: dict[str, Mapping[str, Any]] = {}
    for item in items:
        if item.outcome == "granted":
            continue
        row = await views.event_with_leaf(session, item.event_uid)
        if row is not None and row.detail:
            loaded = json.loads(row.detail)
            if isinstance(loaded, dict):
                out[item.event_uid] = loaded
    return out


def event_row(
    view: EventView, names: Names, locale: str, detail: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """One event as the console's tables show it, in words."""
    return {
        "uid": view.event_uid,
        "when": time_text(view.occurred_at, seconds=True),
        "actor": names.actor(view.actor.type, view.actor.id, view.actor.on_behalf_of, locale),
        "actor_id": view.actor.id,
        "subject": view.subject or "",
        "action": labels.action_text(view.action, locale),
        "fields": ", ".join(
            labels.translate(locale, labels.FIELDS[f]) if f in labels.FIELDS else f
            for f in view.fields
        ),
        "purpose": labels.purpose_text(view.purpose, locale),
        "outcome_code": view.outcome,
        "outcome": labels.coded_name(labels.OUTCOMES, view.outcome, locale) or view.outcome,
        "reason": labels.reason_text(detail or {}, locale),
        "request_id": view.request_id,
        "leaf_index": view.leaf_index,
        "utc": view.occurred_at.astimezone(UTC).isoformat(),
    }


def dispute_row(item: Mapping[str, Any], names: Names, locale: str) -> dict[str, Any]:
    """A citizen's question as the console's disputes view shows it."""
    return {
        **item,
        "accessor": names.actor(item["actor_type"], item["actor_id"], None, locale),
        "asked": time_text(item["created_at"]),
        "accessed": time_text(item["accessed_at"]) if item["accessed_at"] else "",
        "action_text": labels.action_text(item["action"], locale) if item["action"] else "",
        "purpose_text": labels.purpose_text(item["purpose"], locale),
        "status_text": labels.coded_name(labels.DISPUTE_STATUSES, item["status"], locale),
        "updated": time_text(item["updated_at"]),
    }
