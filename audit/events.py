"""The canonical form of an audit event: the exact bytes whose hash becomes its Merkle leaf."""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from dataclasses import fields as dataclass_fields
from datetime import UTC, datetime
from typing import Literal, get_args

from core.text import ID_NUMBER_RE

# Every outcome and kind of actor an event may carry (the table's CHECK constraints too).
Outcome = Literal["granted", "denied", "not_found", "error"]
ActorType = Literal["agency", "citizen", "official", "auditor", "administrator", "system"]
OUTCOMES: tuple[Outcome, ...] = get_args(Outcome)
ACTOR_TYPES: tuple[ActorType, ...] = get_args(ActorType)
DetailValue = str | int | bool | None

# The staff lifecycle (identity.staff records each, naming the administrator or operator who
# made the change as the actor and the staff account in the detail).
STAFF_CREATE = "identity.staff.create"
STAFF_DISABLE = "identity.staff.disable"
STAFF_ENABLE = "identity.staff.enable"
STAFF_SET_ROLES = "identity.staff.roles"
STAFF_RESET = "identity.staff.reset"
STAFF_ENROL = "identity.staff.enrol"  # an enrolment code redeemed (or refused)
STAFF_VIEW = "identity.staff.view"

CANONICAL_VERSION = 1
MAX_SAFE_INT = 2**53 - 1
ACTION_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,5}$")
FIELD_RE = re.compile(r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,3}$")
PURPOSE_RE = re.compile(r"^[a-z0-9][a-z0-9_.\-]{0,63}$")
DETAIL_KEY_RE = re.compile(r"^[a-z][a-z0-9_]{0,63}$")


class InvalidEvent(ValueError):
    """An audit event that breaks the recording rules (a programming error in a door)."""


@dataclass(frozen=True, slots=True)
class EventData:
    """Everything that is hashed into a leaf (all of it stored in ``audit_event``)."""

    event_uid: str
    occurred_at: datetime
    actor_type: str
    actor_id: str
    on_behalf_of: str | None
    subject: str | None
    action: str
    fields: str  # canonical JSON array, as stored
    purpose: str | None
    outcome: str
    request_id: str | None
    detail: str | None  # canonical JSON object or None, as stored


# The names of an event's hashed parts, in leaf order; audit_event's columns of the same names.
EVENT_FIELDS = tuple(f.name for f in dataclass_fields(EventData))


def format_instant(value: datetime) -> str:
    """RFC 3339 UTC with microseconds, the one spelling used in canonical events."""
    if value.tzinfo is None:
        value = value.replace(tzinfo=UTC)
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_json(value: object) -> bytes:
    """RFC 8785 canonical JSON for values made of str, int, bool, None, lists and ASCII keys.

    For that subset ``json.dumps`` with sorted keys and no spaces is byte-identical to JCS
    (tests/audit/test_events.py checks it against the rfc8785 package), and faster than that
    package (docs/performance.md, "Verify").
    """
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def leaf_bytes(event: EventData, leaf_index: int) -> bytes:
    """The leaf data: the canonical event, bound to its position in the log."""
    return canonical_json(
        {
            "v": CANONICAL_VERSION,
            "leaf_index": leaf_index,
            "event_uid": event.event_uid,
            "occurred_at": format_instant(event.occurred_at),
            "actor": {
                "type": event.actor_type,
                "id": event.actor_id,
                "on_behalf_of": event.on_behalf_of,
            },
            "subject": event.subject,
            "action": event.action,
            "fields": json.loads(event.fields),
            "purpose": event.purpose,
            "outcome": event.outcome,
            "request_id": event.request_id,
            "detail": json.loads(event.detail) if event.detail is not None else None,
        }
    )


def encode_fields(fields: Iterable[str]) -> str:
    """Validate field names and store them as a sorted, de-duplicated canonical JSON array."""
    return _encoded_fields(tuple(fields))


# An agency asks for the same few field lists on every call: each is encoded once.
@functools.lru_cache(maxsize=4096)
def _encoded_fields(fields: tuple[str, ...]) -> str:
    names = sorted(set(fields))
    for name in names:
        if not FIELD_RE.fullmatch(name):
            raise InvalidEvent(f"invalid field name {name!r}")
    return canonical_json(names).decode()


def encode_detail(detail: Mapping[str, DetailValue] | None) -> str | None:
    """Validate non-personal detail and store it as a canonical JSON object."""
    if detail is None:
        return None
    for key, value in detail.items():
        if not DETAIL_KEY_RE.fullmatch(key):
            raise InvalidEvent(f"invalid detail key {key!r}")
        if not isinstance(value, str | int | bool | type(None)):
            raise InvalidEvent(f"detail {key!r} must be a string, integer, boolean or null")
        if isinstance(value, str) and len(value) > 512:
            raise InvalidEvent(f"detail {key!r} is longer than 512 characters")
        # RFC 8785 section 3.2.2.3: numbers are IEEE-754 doubles; only exact integers allowed.
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > MAX_SAFE_INT:
            raise InvalidEvent(f"detail {key!r} is outside the exact JSON integer range")
    return canonical_json(dict(detail)).decode()


def check_labels(*, action: str, purpose: str | None, subject: str | None) -> None:
    """Refuse malformed action, purpose and subject values before they reach the log."""
    if not ACTION_RE.fullmatch(action) or len(action) > 64:
        raise InvalidEvent(f"invalid action {action!r}")
    if purpose is not None and not PURPOSE_RE.fullmatch(purpose):
        raise InvalidEvent(f"invalid purpose {purpose!r}")
    if subject is not None and not ID_NUMBER_RE.fullmatch(subject):
        raise InvalidEvent("subject must be a 12-digit personal ID number")


# A citizen questions an access to their data; an auditor moves the question on (open,
# answered, closed). Both are recorded with the citizen as subject (registry/portal/disputes.py).
DISPUTE_OPENED = "access.dispute"
DISPUTE_STATUS = "access.dispute_status"
