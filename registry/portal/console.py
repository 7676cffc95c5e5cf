"""The auditor console: search the trail, event detail with its proof, export, checkpoints.

Thin routes: the gate (auditor role, passkey sign-in), one call into console_service, a page.
Pages speak Vietnamese by default with an English switch and send the portal's security
headers (CSP, frame-ancestors, Referrer-Policy, no-store); downloads send them too.
"""

from __future__ import annotations

from datetime import UTC
from typing import Annotated
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request
from fastapi.responses import RedirectResponse, Response, StreamingResponse
from sqlalchemy.ext.asyncio import AsyncSession

from audit.api import log_signer
from audit.events import ACTOR_TYPES, OUTCOMES
from audit.gate import named_subject
from core.auth import Principal
from core.clock import utcnow
from core.db import Database
from core.deps import DatabaseDep, SessionDep, SettingsDep
from core.errors import Forbidden, NotFound, ValidationFailed
from core.headers import NO_STORE
from core.i18n import N_
from core.inputs import OutsideTextRoute
from core.settings import Settings
from identity.web import FORM_EXPIRED, PAGE_HEADERS, csrf_ok, pick_locale
from registry.agency.policy import purposes
from registry.portal import console_service as service
from registry.portal import console_words as words
from registry.portal import disputes, labels
from registry.portal.models import DISPUTE_STATUSES
from registry.portal.service import record_view
from registry.portal.session import current_user
from registry.portal.web import gettext, render_page

router = APIRouter(route_class=OutsideTextRoute, include_in_schema=False)
LangQuery = Annotated[str | None, Query(max_length=2)]
EventUid = Annotated[str, Path(min_length=1, max_length=64)]

# The actions the search form offers by name (any other still searches, typed in the address).
SEARCHABLE_ACTIONS = (
    *(action for action in labels.ACTIONS if action != "registry"),
    *(f"registry.{kind}" for kind in labels.REGISTRY_WORK),
)

# The search form's errors, by the key console_service gives each.
FORM_ERRORS = {
    "err_subject": N_("Số định danh cá nhân gồm đúng 12 chữ số."),
    "err_time": N_("Nhập ngày (YYYY-MM-DD) hoặc ngày giờ (YYYY-MM-DDTHH:MM)."),
    "err_order": N_("Thời điểm kết thúc không được sớm hơn thời điểm bắt đầu."),
    "err_choice": N_("Hãy chọn một giá trị trong danh sách."),
    "err_text": N_("Tối đa 64 ký tự (mã tác nhân 128): chữ không dấu, số và . _ @ : -"),
    "err_cursor": N_("Liên kết trang tiếp theo không hợp lệ; vui lòng tìm kiếm lại."),
}


def _page(
    request: Request,
    settings: Settings,
    template: str,
    locale: str,
    *,
    status_code: int = 200,
    **context: object,
) -> Response:
    return render_page(
        request,
        settings,
        template,
        locale=locale,
        status_code=status_code,
        context={"console": True, "form_errors": FORM_ERRORS, **context},
    )


async def _auditor(
    request: Request, session: AsyncSession, settings: Settings, locale: str
) -> Principal | Response:
    """The signed-in auditor, or the response that sends everyone else elsewhere."""
    user = await current_user(request, session, settings)
    verdict = service.access(user)
    if verdict == "ok" and user is not None:
        return user.principal
    if verdict == "login" or user is None:
        target = request.url.path
        if request.url.query:
            target += "?" + request.url.query
        return RedirectResponse(
            "/portal/login?" + urlencode({"next": target}), status_code=303, headers=NO_STORE
        )
    # A refused visit is on the record too, with the citizen it named, if any.
    await record_view(
        session,
        user.principal,
        page=request.url.path[:100],
        subject=named_subject(request),
        refused="passkey_required" if verdict == "passkey" else "not_auditor",
    )
    return _page(
        request,
        settings,
        "console_notice.html",
        locale,
        status_code=403,
        notice="passkey" if verdict == "passkey" else "forbidden",
    )


async def _search_page(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    locale: str,
    form: service.SearchForm,
    *,
    status_code: int = 200,
    page: object = None,
    more: str | None = None,
) -> Response:
    query = urlencode(form.query())
    return _page(
        request,
        settings,
        "console_search.html",
        locale,
        status_code=status_code,
        form=form,
        page=page,
        more=more,
        query=query,
        lang_query=query + "&" if query else "",
        actor_types=[(t, labels.coded_name(labels.ACTORS, t, locale) or t) for t in ACTOR_TYPES],
        outcomes=[(o, labels.coded_name(labels.OUTCOMES, o, locale) or o) for o in OUTCOMES],
        actors=await words.actor_choices(session, locale),
        actions=[(a, labels.action_text(a, locale)) for a in SEARCHABLE_ACTIONS],
        purposes=[
            (p.code, p.name_vi if locale == "vi" else p.name_en)
            for p in sorted(purposes().values(), key=lambda p: p.code)
        ],
    )


@router.get("/console")
async def search_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    lang: LangQuery = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """The search form, the chart, and (once the form is sent) one page of matching events."""
    locale = pick_locale(request, lang)
    auditor = await _auditor(request, session, settings, locale)
    if isinstance(auditor, Response):
        return auditor
    form = service.parse_form(request.query_params)
    if form.errors:
        return await _search_page(request, session, settings, locale, form, status_code=422)
    if not form.submitted or form.filters is None:
        return await _search_page(request, session, settings, locale, form)
    try:
        page = await service.search(session, auditor, form.filters, cursor)
    except ValidationFailed:  # a cursor this console did not hand out
        form.errors["cursor"] = "err_cursor"
        return await _search_page(request, session, settings, locale, form, status_code=422)
    more = None
    if page.next_cursor:
        more = "/console?" + urlencode({**form.query(), "cursor": page.next_cursor})
    names = await words.names_of(session, [(i.actor.type, i.actor.id) for i in page.items])
    why = await words.reasons(session, page.items)
    rows = [words.event_row(i, names, locale, why.get(i.event_uid)) for i in page.items]
    return await _search_page(request, session, settings, locale, form, page=rows, more=more)


@router.get("/console/events/{event_uid}")
async def event_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    event_uid: EventUid,
    lang: LangQuery = None,
) -> Response:
    """One event and its inclusion proof, checked here against the newest signed checkpoint."""
    locale = pick_locale(request, lang)
    auditor = await _auditor(request, session, settings, locale)
    if isinstance(auditor, Response):
        return auditor
    log = await log_signer(request, session)
    try:
        view, proof = await service.event_detail(
            session, auditor, event_uid, verifier=log.verifier(), origin=log.name
        )
    except NotFound:  # the refusal is recorded; this unit of work commits it
        return _page(
            request, settings, "console_event.html", locale, status_code=404, event=None, proof=None
        )
    names = await words.names_of(session, [(view.actor.type, view.actor.id)])
    why = await words.reasons(session, [view])
    row = words.event_row(view, names, locale, why.get(view.event_uid))
    return _page(request, settings, "console_event.html", locale, event=row, proof=proof)


async def _export(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    database: Database,
    lang: str | None,
    kind: str,
) -> Response:
    locale = pick_locale(request, lang)
    auditor = await _auditor(request, session, settings, locale)
    if isinstance(auditor, Response):
        return auditor
    form = service.parse_form(request.query_params)
    if form.errors or form.filters is None:
        return await _search_page(request, session, settings, locale, form, status_code=422)
    # Recorded in this unit of work, which commits before the first byte is streamed.
    body = await service.export(session, auditor, form.filters, database)
    stamp = utcnow().astimezone(UTC).strftime("%Y%m%dT%H%M%SZ")
    headers = {
        **PAGE_HEADERS,
        "Content-Disposition": f'attachment; filename="audit-events-{stamp}.{kind}"',
    }
    if kind == "csv":
        return StreamingResponse(
            service.as_csv(body), media_type="text/csv; charset=utf-8", headers=headers
        )
    return StreamingResponse(body, media_type="application/x-ndjson", headers=headers)


@router.get("/console/export.ndjson")
async def export_ndjson(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    database: DatabaseDep,
    lang: LangQuery = None,
) -> Response:
    """Every event matching the filters, one JSON object per line (newest first)."""
    return await _export(request, session, settings, database, lang, "ndjson")


@router.get("/console/export.csv")
async def export_csv(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    database: DatabaseDep,
    lang: LangQuery = None,
) -> Response:
    """Every event matching the filters as CSV (newest first)."""
    return await _export(request, session, settings, database, lang, "csv")


@router.get("/console/checkpoints")
async def checkpoints_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    lang: LangQuery = None,
    before: Annotated[int | None, Query(ge=1, le=2**63 - 1)] = None,
) -> Response:
    """Signed checkpoints, newest first, with each consecutive pair's consistency verified."""
    locale = pick_locale(request, lang)
    auditor = await _auditor(request, session, settings, locale)
    if isinstance(auditor, Response):
        return auditor
    log = await log_signer(request, session)
    page = await service.checkpoint_page(
        session, auditor, verifier=log.verifier(), origin=log.name, before=before
    )
    return _page(
        request,
        settings,
        "console_checkpoints.html",
        locale,
        page=page,
        lang_query=f"before={before}&" if before else "",
    )


@router.get("/console/chart.svg")
async def chart(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    lang: LangQuery = None,
    days: Annotated[int, Query(ge=1, le=service.CHART_DAYS_MAX)] = service.CHART_DAYS_DEFAULT,
) -> Response:
    """Accesses per agency per day (Vietnam time) as a stacked bar chart."""
    locale = pick_locale(request, lang)
    auditor = await _auditor(request, session, settings, locale)
    if isinstance(auditor, Response):
        return auditor
    data = await service.chart_data(
        session, days=days, now=utcnow(), others_label=gettext(locale, "Các cơ quan khác")
    )
    svg = service.chart_svg(
        data,
        title=gettext(locale, "Lượt truy cập của các cơ quan theo ngày"),
        empty=gettext(locale, "Không có lượt truy cập nào của cơ quan trong khoảng thời gian này."),
        total_label=gettext(locale, "tổng"),
    )
    return Response(svg, media_type="image/svg+xml", headers=PAGE_HEADERS)


# ------------------------------------------------------------------------------ disputes

DisputeStatus = Annotated[str | None, Query(max_length=8)]
ActorQuery = Annotated[str | None, Query(max_length=128)]


@router.get("/console/disputes")
async def disputes_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    lang: LangQuery = None,
    status: DisputeStatus = None,
    actor: ActorQuery = None,
) -> Response:
    """Citizens' questions about accesses, newest first, by status and by agency."""
    locale = pick_locale(request, lang)
    auditor = await _auditor(request, session, settings, locale)
    if isinstance(auditor, Response):
        return auditor
    wanted = status if status in DISPUTE_STATUSES else None
    items = await disputes.console_disputes(session, auditor, status=wanted, actor_id=actor or None)
    names = await words.names_of(session, [(d["actor_type"], d["actor_id"]) for d in items])
    shown = request.query_params.get("done") == "1"
    failed = request.query_params.get("error") == "1"
    return _page(
        request,
        settings,
        "console_disputes.html",
        locale,
        status_code=400 if failed else 200,
        rows=[words.dispute_row(d, names, locale) for d in items],
        statuses=[
            (s, labels.coded_name(labels.DISPUTE_STATUSES, s, locale)) for s in DISPUTE_STATUSES
        ],
        status=wanted or "",
        actor=actor or "",
        actors=await words.actor_choices(session, locale),
        saved=shown,
        failed=failed,
        lang_query=urlencode({k: v for k, v in (("status", wanted), ("actor", actor)) if v})
        + ("&" if wanted or actor else ""),
    )


@router.post("/console/disputes/{dispute_id}")
async def dispute_status(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    dispute_id: Annotated[str, Path(min_length=1, max_length=36)],
) -> Response:
    """Move a question to open, answered or closed (with an answer), then back to the list."""
    locale = pick_locale(request)
    auditor = await _auditor(request, session, settings, locale)
    if isinstance(auditor, Response):
        return auditor
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    if not csrf_ok(request, settings, fields.get("csrf")):
        return render_page(
            request,
            settings,
            "error.html",
            locale=locale,
            status_code=403,
            context={"message": gettext(locale, FORM_EXPIRED)},
        )
    try:
        await disputes.set_status(
            session,
            auditor,
            dispute_id=dispute_id,
            status=fields.get("status", ""),
            answer=fields.get("answer"),
        )
    except (ValidationFailed, NotFound):
        await session.rollback()
        return RedirectResponse("/console/disputes?error=1", status_code=303, headers=NO_STORE)
    except Forbidden:
        # Refused and recorded (nothing else was written): the record is committed.
        return RedirectResponse("/console/disputes?error=1", status_code=303, headers=NO_STORE)
    return RedirectResponse("/console/disputes?done=1", status_code=303, headers=NO_STORE)
