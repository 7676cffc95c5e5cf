"""The citizens' questions about accesses to their data, and the auditors' answers (no HTTP).

A citizen questions one access from their access log ("question this access"): the question is
an audit event (``DISPUTE_OPENED``) and a row of access_dispute with status ``open``. Auditors
see every question in the console by the accessor's name and move it to ``answered`` or
``closed``; each change is an audit event (``DISPUTE_STATUS``) about the same citizen.
"""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy.ext.asyncio import AsyncSession

from audit import recording, views
from audit.events import DISPUTE_OPENED, DISPUTE_STATUS
from core.auth import Principal
from core.clock import utcnow
from core.errors import Conflict, Forbidden, NotFound, ValidationFailed
from registry.portal import repository as repo
from registry.portal.models import DISPUTE_STATUSES, AccessDispute
from registry.record import clean_text

REASON_LIMIT = 500
ANSWER_LIMIT = 1000
CONSOLE_LIMIT = 200


class NotYours(NotFound):
    """The access is not about this citizen, or was the citizen's own: recorded as refused."""

    commit_unit_of_work = True


@dataclass(frozen=True)
class Questioned:
    """What the access log shows of a question: its status and the auditors' answer."""

    id: str
    status: str
    answer: str | None


def _text(value: str | None, limit: int, field: str) -> str | None:
    if value is None or not value.strip():
        return None
    try:
        return clean_text(value, limit)
    except ValueError:
        raise ValidationFailed(f"The {field} is too long or holds control characters.") from None


async def question_access(
    session: AsyncSession, citizen: Principal, *, event_uid: str, reason: str | None
) -> AccessDispute:
    """Record the citizen's question about one access to their data (status ``open``)."""
    me = citizen.actor_id
    text = _text(reason, REASON_LIMIT, "reason")
    event = await views.event_with_leaf(session, event_uid)
    own = event is not None and event.actor_type == "citizen" and event.actor_id == me
    if event is None or event.subject != me or own:
        await recording.record(
            session,
            actor=citizen,
            action=DISPUTE_OPENED,
            outcome="denied",
            subject=me,
            detail={"event_uid": event_uid[:64], "reason": "not_questionable"},
        )
        raise NotYours("No access by someone else with this id in your access log.")
    if await repo.dispute_of_event(session, event_uid) is not None:
        raise Conflict("This access has already been questioned.")
    dispute = AccessDispute(
        id=str(uuid.uuid4()),
        event_uid=event_uid,
        citizen_id=me,
        actor_type=event.actor_type,
        actor_id=event.actor_id,
        reason=text,
        status="open",
        updated_at=utcnow(),
    )
    await repo.add_dispute(session, dispute)
    await recording.record(
        session,
        actor=citizen,
        action=DISPUTE_OPENED,
        outcome="granted",
        subject=me,
        detail={"event_uid": event_uid, "dispute": dispute.id},
    )
    return dispute


async def questioned(
    session: AsyncSession, citizen_id: str, event_uids: list[str]
) -> dict[str, Questioned]:
    """The citizen's questions about these accesses, by the access's event id."""
    found = await repo.disputes_of_events(session, citizen_id, event_uids)
    return {d.event_uid: Questioned(d.id, d.status, d.answer) for d in found}


async def console_disputes(
    session: AsyncSession, auditor: Principal, *, status: str | None, actor_id: str | None
) -> list[dict[str, Any]]:
    """Questions for the console, newest first, with the questioned access (the list names
    the citizens, so the view is recorded)."""
    rows = await repo.disputes(session, status=status, actor_id=actor_id, limit=CONSOLE_LIMIT)
    out: list[dict[str, Any]] = []
    for d in rows:
        event = await views.event_with_leaf(session, d.event_uid)
        out.append(
            {
                "id": d.id,
                "event_uid": d.event_uid,
                "citizen_id": d.citizen_id,
                "actor_type": d.actor_type,
                "actor_id": d.actor_id,
                "reason": d.reason,
                "status": d.status,
                "answer": d.answer,
                "updated_by": d.updated_by,
                "created_at": d.created_at,
                "updated_at": d.updated_at,
                "accessed_at": event.occurred_at if event is not None else None,
                "action": event.action if event is not None else None,
                "purpose": event.purpose if event is not None else None,
                "outcome": event.outcome if event is not None else None,
            }
        )
    await recording.record(
        session,
        actor=auditor,
        action="portal.view",
        outcome="granted",
        detail={"page": "console_disputes", "shown": len(out)},
    )
    return out


async def set_status(
    session: AsyncSession, auditor: Principal, *, dispute_id: str, status: str, answer: str | None
) -> AccessDispute:
    """Move a question to ``status`` (open, answered, closed), with the auditor's answer."""
    if status not in DISPUTE_STATUSES:
        raise ValidationFailed("The status must be open, answered or closed.")
    text = _text(answer, ANSWER_LIMIT, "answer")
    dispute = await repo.dispute_for_update(session, dispute_id)
    if dispute is None:
        raise NotFound("No question with this id.")
    if dispute.actor_type not in ("agency", "citizen") and dispute.actor_id == auditor.actor_id:
        # A staff account may hold several roles (its events name the role it acted in, under
        # one account id): nobody answers a question about their own access.
        raise await recording.refuse(
            session,
            Forbidden("A question about your own access is answered by another auditor."),
            actor=auditor,
            action=DISPUTE_STATUS,
            outcome="denied",
            subject=dispute.citizen_id,
            detail={"dispute": dispute.id, "reason": "own_access"},
        )
    previous = dispute.status
    dispute.status = status
    if text is not None:
        dispute.answer = text
    dispute.updated_by = auditor.actor_id
    dispute.updated_at = utcnow()
    await session.flush()
    await recording.record(
        session,
        actor=auditor,
        action=DISPUTE_STATUS,
        outcome="granted",
        subject=dispute.citizen_id,
        detail={"dispute": dispute.id, "from": previous, "to": status},
    )
    return dispute
