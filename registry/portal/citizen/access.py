"""Who accessed my data: the log of every access, its CSV, and each access's proof."""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping, Sequence
from datetime import date
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Query, Request, Response

from audit.api import log_signer
from core.deps import SessionDep
from core.errors import NotFound, RegistryError
from core.headers import NO_STORE
from core.i18n import N_
from core.inputs import OutsideTextRoute
from core.text import csv_cell
from identity.web import pick_locale
from registry.portal import disputes, labels, service
from registry.portal.citizen.common import (
    EventUid,
    Lang,
    citizen,
    coded,
    error_page,
    field_label,
    notice,
    page,
    when,
)
from registry.portal.pages import ServicesDep
from registry.portal.service import AccessFilters
from registry.portal.web import gettext
from registry.schemas import RECORD_FIELDS

router = APIRouter(route_class=OutsideTextRoute, include_in_schema=False)

BAD_FILTER = N_(
    "Bộ lọc không hợp lệ: ngày theo dạng NNNN-TT-NN, và “Từ ngày” không sau “Đến ngày”."
)


def _parse_date(value: str | None) -> date | None:
    if not value:
        return None
    return date.fromisoformat(value) if re.fullmatch(r"[0-9]{4}-[0-9]{2}-[0-9]{2}", value) else None


def _filters(agency: str | None, since: str | None, until: str | None) -> AccessFilters | None:
    try:
        start, end = _parse_date(since), _parse_date(until)
    except ValueError:
        return None
    if (since and start is None) or (until and end is None) or (start and end and start > end):
        return None
    return AccessFilters(agency=agency or None, since=start, until=end)


STAFF_WITH_OFFICE = N_("{name}, {office}")
ON_BEHALF = N_("{agency} (cán bộ {official})")


def actor_label(event: Mapping[str, Any], me: str, locale: str) -> str:
    """Who acted: the agency's name (and its official), a staff member's name and office (and
    role), "you", or the system."""
    kind, actor = event["actor_type"], event["actor_id"]
    if kind == "agency":
        name = str(event["actor_name"] or actor)
        if event["on_behalf_of"]:
            name = gettext(locale, ON_BEHALF).format(agency=name, official=event["on_behalf_of"])
        return name
    if kind == "citizen" and actor == me:
        return gettext(locale, labels.ACTORS["you"])
    role = coded(locale, labels.ACTORS, kind, kind)
    if kind == "system":
        return role
    name = event.get("actor_name") or actor
    if event.get("actor_office"):
        name = gettext(locale, STAFF_WITH_OFFICE).format(name=name, office=event["actor_office"])
    return f"{name} ({role.lower()})"


def own(event: Mapping[str, Any], me: str) -> bool:
    """Whether the citizen did this themself (their own views and sign-ins)."""
    return bool(event["actor_type"] == "citizen" and event["actor_id"] == me)


def fold_own(events: Sequence[Mapping[str, Any]], me: str, locale: str) -> list[dict[str, Any]]:
    """The citizen's own activity, one line per Vietnam-time day: how many times, and what."""
    days: dict[str, dict[str, Any]] = {}
    for event in events:
        if not own(event, me):
            continue
        day = labels.day_text(event["occurred_at"])
        line = days.setdefault(day, {"day": day, "count": 0, "what": []})
        line["count"] += 1
        what = what_label(event, locale)
        if what not in line["what"]:
            line["what"].append(what)
    return list(days.values())


def action_label(action: str, locale: str) -> str:
    """An audit action in words (officials' registry.* actions by their kind of work)."""
    return labels.action_text(action, locale)


def purpose_label(code: str | None, locale: str) -> str:
    """A purpose code's name (registry/data/purposes.csv), or "—"."""
    return labels.purpose_text(code, locale) or "—"


def _field_order(name: str) -> tuple[int, str]:
    # The record's own order (the trail stores names sorted alphabetically).
    return (RECORD_FIELDS.index(name) if name in RECORD_FIELDS else len(RECORD_FIELDS), name)


def what_label(event: Mapping[str, Any], locale: str) -> str:
    """The action in words; a portal view names the page that was seen."""
    label = action_label(event["action"], locale)
    viewed = labels.VIEWED_PAGES.get(str(event["detail"].get("page")))
    if event["action"] == "portal.view" and viewed:
        label += ": " + gettext(locale, viewed)
    return label


def shown_event(event: Mapping[str, Any], me: str, locale: str) -> dict[str, Any]:
    """An audit event as a row of the access log."""
    return {
        "uid": event["event_uid"],
        "mine": own(event, me),
        "when": when(event["occurred_at"]),
        "who": actor_label(event, me, locale),
        "what": what_label(event, locale),
        "fields": [field_label(f, locale) for f in sorted(event["fields"], key=_field_order)],
        "purpose": purpose_label(event["purpose"], locale),
        "outcome_code": event["outcome"],
        "outcome": coded(locale, labels.OUTCOMES, event["outcome"], event["outcome"]),
        "reason": ""
        if event["outcome"] == "granted"
        else labels.reason_text(event["detail"], locale),
        "proof": f"/portal/access/{event['event_uid']}/proof",
    }


@router.get("/portal/access")
async def access_page(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    lang: Lang = None,
    agency: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(max_length=10)] = None,
    until: Annotated[str | None, Query(max_length=10)] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Every access to my data, newest first, filtered by agency and dates, in pages."""
    user = await citizen(request, session, services, path=request.url.path)
    if isinstance(user, Response):
        return user
    locale = pick_locale(request, lang)
    me = str(user.citizen_id)
    filters = _filters(agency, since, until)
    bad = filters is None
    try:
        events, following = await service.access_log(
            session, user.principal, filters=filters or AccessFilters(), cursor=cursor
        )
    except RegistryError:  # a cursor this page did not hand out: start again
        events, following = await service.access_log(
            session, user.principal, filters=filters or AccessFilters(), cursor=None
        )
    kept = {"agency": agency or "", "since": since or "", "until": until or ""}
    kept = {k: v for k, v in kept.items() if v and not bad}
    rows = [shown_event(e, me, locale) for e in events if not own(e, me)]
    asked = await disputes.questioned(session, me, [r["uid"] for r in rows])
    for row in rows:
        found = asked.get(row["uid"])
        row["dispute"] = found.status if found else None
        row["answer"] = found.answer if found else None
        row["dispute_label"] = coded(locale, labels.DISPUTE_STATUSES, row["dispute"], "")
    return page(
        request,
        services,
        "citizen_access.html",
        locale=locale,
        status_code=400 if bad else 200,
        context={
            "rows": rows,
            "own_days": fold_own(events, me, locale),
            "notice": notice(request, locale),
            "bad_filter": bad,
            "agencies": await service.agencies(session),
            "agency": agency or "",
            "since": since or "",
            "until": until or "",
            "more": "?" + urlencode({**kept, "cursor": following}) if following else None,
            "csv": "/portal/access.csv" + ("?" + urlencode(kept) if kept else ""),
            "lang_query": urlencode(kept) + "&" if kept else "",
        },
    )


@router.get("/portal/access.csv")
async def access_csv(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    lang: Lang = None,
    agency: Annotated[str | None, Query(max_length=64)] = None,
    since: Annotated[str | None, Query(max_length=10)] = None,
    until: Annotated[str | None, Query(max_length=10)] = None,
) -> Response:
    """The same accesses (same filters, all pages) as a CSV attachment."""
    user = await citizen(request, session, services, path="/portal/access")
    if isinstance(user, Response):
        return user
    locale = pick_locale(request, lang)
    filters = _filters(agency, since, until)
    if filters is None:
        return error_page(
            request,
            services,
            locale,
            gettext(locale, BAD_FILTER),
            400,
        )
    me = str(user.citizen_id)
    events = await service.access_export(session, user.principal, filters=filters)
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\r\n")
    writer.writerow(
        [
            "occurred_at_utc",
            "occurred_at_vietnam",
            "actor_type",
            "actor_id",
            "actor_name",
            "on_behalf_of",
            "action",
            "fields",
            "purpose",
            "purpose_name",
            "outcome",
            "event_uid",
            "leaf_index",
        ]
    )
    for e in events:
        writer.writerow(
            csv_cell(v)
            for v in (
                e["occurred_at"].isoformat(),
                when(e["occurred_at"]),
                e["actor_type"],
                e["actor_id"],
                actor_label(e, me, locale),
                e["on_behalf_of"],
                e["action"],
                " ".join(e["fields"]),
                e["purpose"],
                purpose_label(e["purpose"], locale) if e["purpose"] else "",
                e["outcome"],
                e["event_uid"],
                e["leaf_index"],
            )
        )
    # A BOM so spreadsheet programs read the Vietnamese names as UTF-8.
    return Response(
        "\ufeff" + out.getvalue(),
        media_type="text/csv; charset=utf-8",
        headers={
            **NO_STORE,
            "Content-Disposition": 'attachment; filename="access-log.csv"',
            "X-Content-Type-Options": "nosniff",
        },
    )


@router.get("/portal/access/{event_uid}/proof")
async def access_proof(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    event_uid: EventUid,
    lang: Lang = None,
) -> Response:
    """One access with its inclusion proof, verified here against the newest checkpoint."""
    user = await citizen(request, session, services, path=request.url.path)
    if isinstance(user, Response):
        return user
    locale = pick_locale(request, lang)
    log = await log_signer(request, session)
    try:
        shown = await service.access_proof(
            session,
            user.principal,
            event_uid=event_uid,
            verifier=log.verifier(),
            origin=log.name,
        )
    except NotFound:  # not the citizen's event: the refusal is recorded and committed
        return error_page(request, services, locale, gettext(locale, "Không tìm thấy."), 404)
    proof = shown["proof"] or {}
    return page(
        request,
        services,
        "citizen_proof.html",
        locale=locale,
        context={
            "row": shown_event(shown["event"], str(user.citizen_id), locale),
            "status": shown["status"],
            "reason": shown["reason"],
            "leaf_index": shown["event"]["leaf_index"],
            "tree_size": proof.get("tree_size"),
            "root": shown.get("root"),
            "checkpoint": proof.get("checkpoint"),
        },
    )
