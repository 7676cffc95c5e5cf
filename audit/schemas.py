"""Pydantic I/O of the audit API: event views, pages, proofs, and the search parameters."""

from __future__ import annotations

import json
from typing import Any

from pydantic import AwareDatetime, BaseModel, ConfigDict, Field

from audit.events import ActorType, Outcome
from core.text import ID_NUMBER_PATTERN

PAGE_DEFAULT = 100
PAGE_MAX = 500


class Actor(BaseModel):
    """Who acted: the actor's kind and id, and the official acting inside an agency."""

    type: str
    id: str
    on_behalf_of: str | None


class EventView(BaseModel):
    """One audit event as auditors and citizens see it (field names only, never values)."""

    event_uid: str
    occurred_at: AwareDatetime
    actor: Actor
    subject: str | None
    action: str
    fields: list[str]
    purpose: str | None
    outcome: str
    request_id: str | None
    leaf_index: int | None = Field(
        description="The event's position in the Merkle log; null until it is sequenced."
    )

    @classmethod
    def from_row(cls, row: Any) -> EventView:
        """Build the view from an ``audit_event`` row joined with its leaf index."""
        return cls(
            event_uid=row.event_uid,
            occurred_at=row.occurred_at,
            actor=Actor(type=row.actor_type, id=row.actor_id, on_behalf_of=row.on_behalf_of),
            subject=row.subject,
            action=row.action,
            fields=json.loads(row.fields),
            purpose=row.purpose,
            outcome=row.outcome,
            request_id=row.request_id,
            leaf_index=None if row.leaf_index is None else int(row.leaf_index),
        )


class EventPage(BaseModel):
    """One page of events, newest first; pass ``next_cursor`` back to get the next page."""

    items: list[EventView]
    next_cursor: str | None = Field(description="Null on the last page.")


class PageParams(BaseModel):
    """Keyset pagination parameters."""

    model_config = ConfigDict(extra="forbid")

    cursor: str | None = Field(
        None, max_length=64, description="The next_cursor of the previous page (opaque)."
    )
    limit: int = Field(PAGE_DEFAULT, ge=1, le=PAGE_MAX, description="Events per page.")


class EventFilters(BaseModel):
    """Audit search filters; every filter given must match. Unknown parameters are refused."""

    model_config = ConfigDict(extra="forbid")

    subject: str | None = Field(
        None, pattern=ID_NUMBER_PATTERN, description="The 12-digit personal ID number."
    )
    actor_id: str | None = Field(None, min_length=1, max_length=128)
    actor_type: ActorType | None = None
    action: str | None = Field(None, min_length=1, max_length=64)
    purpose: str | None = Field(None, min_length=1, max_length=64)
    outcome: Outcome | None = None
    since: AwareDatetime | None = Field(None, description="Events at or after this instant.")
    until: AwareDatetime | None = Field(None, description="Events strictly before this instant.")


class EventSearchParams(EventFilters, PageParams):
    """Search filters plus pagination."""


class InclusionProof(BaseModel):
    """RFC 9162 inclusion proof of one event against a signed checkpoint (base64 values)."""

    event_uid: str
    leaf_index: int
    tree_size: int
    leaf_data: str = Field(description="Base64 of the canonical event bytes hashed into the leaf.")
    leaf_hash: str
    proof: list[str]
    checkpoint: str = Field(description="The signed checkpoint note (C2SP tlog-checkpoint).")


class CheckpointRef(BaseModel):
    """A signed checkpoint and its tree size."""

    tree_size: int
    checkpoint: str


class ConsistencyProof(BaseModel):
    """RFC 9162 consistency proof between two signed checkpoints (base64 hashes)."""

    first: CheckpointRef
    second: CheckpointRef
    proof: list[str]
