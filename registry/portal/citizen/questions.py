"""Question this access: a citizen asks the auditors about one access to their data."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Request, Response

from core.deps import SessionDep
from core.errors import Conflict, NotFound, ValidationFailed
from core.inputs import OutsideTextRoute
from identity.web import pick_locale
from registry.portal import disputes, service
from registry.portal.citizen.access import shown_event
from registry.portal.citizen.common import (
    EventUid,
    Lang,
    back,
    citizen,
    citizen_form,
    error_page,
    failed,
    page,
)
from registry.portal.pages import ServicesDep
from registry.portal.session import PortalUser
from registry.portal.web import gettext

router = APIRouter(route_class=OutsideTextRoute, include_in_schema=False)

NOT_FOUND = "Không tìm thấy."


async def _form(
    request: Request,
    services: ServicesDep,
    session: SessionDep,
    user: PortalUser,
    event_uid: str,
    locale: str,
    *,
    reason: str = "",
    error: bool = False,
) -> Response:
    try:
        event = await service.access_event(session, user.principal, event_uid=event_uid)
    except NotFound:
        return error_page(request, services, locale, gettext(locale, NOT_FOUND), 404)
    context: dict[str, Any] = {
        "row": shown_event(event, str(user.citizen_id), locale),
        "reason": reason,
        "reason_error": error,
        "limit": disputes.REASON_LIMIT,
    }
    status = 400 if error else 200
    return page(
        request,
        services,
        "citizen_question.html",
        locale=locale,
        context=context,
        status_code=status,
    )


@router.get("/portal/access/{event_uid}/question")
async def question_page(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    event_uid: EventUid,
    lang: Lang = None,
) -> Response:
    """The access and a form to question it."""
    user = await citizen(request, session, services, path=request.url.path)
    if isinstance(user, Response):
        return user
    return await _form(request, services, session, user, event_uid, pick_locale(request, lang))


@router.post("/portal/access/{event_uid}/question")
async def question(
    request: Request, session: SessionDep, services: ServicesDep, event_uid: EventUid
) -> Response:
    """Record the question (an audit event and an open dispute), then back to the log."""
    signed = await citizen_form(request, session, services, path=request.url.path)
    if isinstance(signed, Response):
        return signed
    user, fields = signed
    locale = pick_locale(request)
    reason = fields.get("reason", "")
    try:
        await disputes.question_access(session, user.principal, event_uid=event_uid, reason=reason)
    except ValidationFailed:  # checked before anything was written
        return await _form(
            request, services, session, user, event_uid, locale, reason=reason[:600], error=True
        )
    except Conflict as exc:
        await failed(session, exc)
        return back("/portal/access", error="questioned_before")
    except NotFound:  # recorded as refused; this unit of work commits it
        return error_page(request, services, locale, gettext(locale, NOT_FOUND), 404)
    return back("/portal/access", done="questioned")
