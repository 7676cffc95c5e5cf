"""The citizen's pages beyond 'my record': who accessed my data, security, aliases, consents.

Server-rendered and usable without JavaScript (adding a passkey excepted). Every form is a POST
with the CSRF token, answered by a 303 back to its page (POST-redirect-GET); every page that
shows personal data records its view (registry.portal.service). Times are shown in Vietnamese
time (UTC+7, Asia/Ho_Chi_Minh), and say so.
"""

from __future__ import annotations

import csv
import io
import re
from collections.abc import Mapping
from datetime import date, datetime
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from sqlalchemy.ext.asyncio import AsyncSession

from audit.api import log_signer
from core.clock import VIETNAM_TIME
from core.deps import SessionDep
from core.errors import NotFound, RegistryError
from core.headers import NO_STORE
from core.i18n import LOCALES, N_
from core.inputs import ascii_int, is_ascii_digits
from core.text import ID_NUMBER_RE, csv_cell
from identity import accounts
from identity.services import IdentityServices
from identity.web import CLAIMS, LANG_COOKIE, THROTTLED, csrf_ok, pick_locale, set_cookie
from registry.agency.policy import purposes
from registry.portal import labels, service
from registry.portal.pages import ServicesDep, portal_user
from registry.portal.service import AccessFilters
from registry.portal.session import SESSION_COOKIE, PortalUser, end_session
from registry.portal.web import gettext, pgettext, render_page
from registry.schemas import RECORD_FIELDS

router = APIRouter(include_in_schema=False)

Lang = Annotated[str | None, Query(max_length=2)]
EventUid = Annotated[str, Path(min_length=1, max_length=64)]

FORM_EXPIRED = N_("Biểu mẫu đã hết hạn. Vui lòng tải lại trang và thử lại.")
UNLOCK_WRONG = N_("Số định danh hoặc mật khẩu không đúng.")
BAD_FILTER = N_(
    "Bộ lọc không hợp lệ: ngày theo dạng NNNN-TT-NN, và “Từ ngày” không sau “Đến ngày”."
)
UNLOCK_OFFICIAL = N_(
    "Danh tính này không do bạn khóa: hãy đến cơ quan công an để được cấp mã kích hoạt."
)

# ------------------------------------------------------------------------------ helpers


def coded(locale: str, table: Mapping[str, str], code: str | None, default: str) -> str:
    """The label of a code from one of the tables in registry.portal.labels, in the locale."""
    found = table.get(code) if code is not None else None
    return gettext(locale, found) if found is not None else default


def field_label(name: str, locale: str) -> str:
    """A record field or an OIDC claim, as the citizen reads it."""
    found = labels.FIELDS.get(name) or CLAIMS.get(name)
    return gettext(locale, found) if found else name.replace("_", " ").capitalize()


def when(value: datetime | None) -> str:
    """A timestamp in Vietnamese time (the pages say so in their headings)."""
    return value.astimezone(VIETNAM_TIME).strftime("%Y-%m-%d %H:%M") if value else "—"


def page(
    request: Request,
    services: IdentityServices,
    template: str,
    *,
    locale: str,
    context: Mapping[str, Any] | None = None,
    status_code: int = 200,
) -> Response:
    """Render one of these pages; ``?lang=`` also sets the language cookie (the switch sticks)."""
    response = render_page(
        request, services.settings, template, locale=locale, status_code=status_code,
        context={"when": when, **(context or {})},
    )  # fmt: skip
    if request.query_params.get("lang") in LOCALES:
        set_cookie(response, services.settings, LANG_COOKIE, locale, max_age=31_536_000)
    return response


def error_page(
    request: Request, services: IdentityServices, locale: str, message: str, status_code: int
) -> Response:
    """The shared error page."""
    return page(
        request, services, "error.html", locale=locale, status_code=status_code,
        context={"message": message},
    )  # fmt: skip


def to_login(path: str) -> RedirectResponse:
    """Sign in first, then come back to ``path``."""
    return RedirectResponse(
        "/portal/login?" + urlencode({"next": path}), status_code=303, headers=NO_STORE
    )


def back(path: str, **params: str) -> RedirectResponse:
    """The 303 that ends a form POST (POST-redirect-GET)."""
    target = path + ("?" + urlencode(params) if params else "")
    return RedirectResponse(target, status_code=303, headers=NO_STORE)


async def citizen(
    request: Request, session: AsyncSession, services: IdentityServices, *, path: str
) -> PortalUser | Response:
    """The signed-in citizen; otherwise the answer: sign in first (then back to ``path``), or
    403 for staff signed in to the console (a redirect to sign in again would loop)."""
    user = await portal_user(request, session, services)
    if user is None:
        return to_login(path)
    if user.citizen_id is None:
        await service.record_view(
            session, user.principal, page=request.url.path[:100], subject=None,
            refused="citizens_only",
        )  # fmt: skip
        locale = pick_locale(request)
        return error_page(
            request,
            services,
            locale,
            gettext(locale, "Các trang này dành cho công dân đăng nhập bằng số định danh cá nhân."),
            403,
        )
    return user


async def posted(request: Request, services: IdentityServices) -> dict[str, str] | None:
    """The form's fields when its CSRF token matches this browser; None otherwise."""
    form = await request.form()
    fields = {k: v for k, v in form.items() if isinstance(v, str)}
    return fields if csrf_ok(request, services.settings, fields.get("csrf")) else None


async def citizen_form(
    request: Request, session: AsyncSession, services: IdentityServices, *, path: str
) -> tuple[PortalUser, dict[str, str]] | Response:
    """The signed-in citizen and the posted fields (CSRF checked), or the refusing response."""
    user = await citizen(request, session, services, path=path)
    if isinstance(user, Response):
        return user
    fields = await posted(request, services)
    if fields is None:
        locale = pick_locale(request)
        return error_page(request, services, locale, gettext(locale, FORM_EXPIRED), 403)
    return user, fields


def notice(request: Request, locale: str) -> dict[str, str | None]:
    """The message a redirect after a form asked for (only known keys are shown)."""
    done, error = request.query_params.get("done"), request.query_params.get("error")
    failed = gettext(locale, labels.ERRORS["failed"])
    shown_error = coded(locale, labels.ERRORS, error, failed) if error else None
    return {"done": coded(locale, labels.DONE, done, "") or None, "error": shown_error}


async def failed(session: AsyncSession, exc: RegistryError) -> None:
    """Undo what a refused form did, unless the refusal's own record must be kept."""
    if not exc.commit_unit_of_work:
        await session.rollback()


# ------------------------------------------------------------------------------ who accessed


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


def actor_label(event: Mapping[str, Any], me: str, locale: str) -> str:
    """Who acted: the agency's name, an official by id, or "you"."""
    kind, actor = event["actor_type"], event["actor_id"]
    if kind == "agency":
        name = str(event["actor_name"] or actor)
        if event["on_behalf_of"]:
            name += f" ({gettext(locale, 'cán bộ')} {event['on_behalf_of']})"
        return name
    if kind == "citizen" and actor == me:
        return gettext(locale, labels.ACTORS["you"])
    return f"{coded(locale, labels.ACTORS, kind, kind)} {actor}"


def action_label(action: str, locale: str) -> str:
    """An audit action in words (officials' registry.* actions share one label)."""
    found = labels.ACTIONS.get(action)
    if found is None and action.startswith("registry."):
        found = labels.ACTIONS["registry"]
        work = action.removeprefix("registry.")
        return f"{pgettext(locale, labels.ACTION_CONTEXT, found)} ({work})"
    return pgettext(locale, labels.ACTION_CONTEXT, found) if found else action


def purpose_label(code: str | None, locale: str) -> str:
    """A purpose code's name (registry/data/purposes.csv), or the code itself."""
    if not code:
        return "—"
    found = purposes().get(code)
    if found is not None:
        return found.name_vi if locale == "vi" else found.name_en
    return coded(locale, labels.PURPOSES, code, code)


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
        "uid": event["event_uid"], "when": when(event["occurred_at"]),
        "who": actor_label(event, me, locale), "what": what_label(event, locale),
        "fields": [field_label(f, locale) for f in sorted(event["fields"], key=_field_order)],
        "purpose": purpose_label(event["purpose"], locale), "outcome_code": event["outcome"],
        "outcome": coded(locale, labels.OUTCOMES, event["outcome"], event["outcome"]),
        "proof": f"/portal/access/{event['event_uid']}/proof",
    }  # fmt: skip


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
    return page(
        request, services, "citizen_access.html", locale=locale, status_code=400 if bad else 200,
        context={
            "rows": [shown_event(e, me, locale) for e in events], "bad_filter": bad,
            "agencies": await service.agencies(session), "agency": agency or "",
            "since": since or "", "until": until or "",
            "more": "?" + urlencode({**kept, "cursor": following}) if following else None,
            "csv": "/portal/access.csv" + ("?" + urlencode(kept) if kept else ""),
            "lang_query": urlencode(kept) + "&" if kept else "",
        },
    )  # fmt: skip


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
        ["occurred_at_utc", "occurred_at_vietnam", "actor_type", "actor_id", "actor_name",
         "on_behalf_of", "action", "fields", "purpose", "purpose_name", "outcome", "event_uid",
         "leaf_index"]
    )  # fmt: skip
    for e in events:
        writer.writerow(
            csv_cell(v)
            for v in (
                e["occurred_at"].isoformat(), when(e["occurred_at"]), e["actor_type"],
                e["actor_id"], actor_label(e, me, locale), e["on_behalf_of"], e["action"],
                " ".join(e["fields"]), e["purpose"],
                purpose_label(e["purpose"], locale) if e["purpose"] else "", e["outcome"],
                e["event_uid"], e["leaf_index"],
            )
        )  # fmt: skip
    # A BOM so spreadsheet programs read the Vietnamese names as UTF-8.
    return Response(
        "\ufeff" + out.getvalue(), media_type="text/csv; charset=utf-8",
        headers={**NO_STORE, "Content-Disposition": 'attachment; filename="access-log.csv"',
                 "X-Content-Type-Options": "nosniff"},
    )  # fmt: skip


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
            session, user.principal, event_uid=event_uid, verifier=log.verifier(),
            origin=log.name,
        )  # fmt: skip
    except NotFound:  # not the citizen's event: the refusal is recorded and committed
        return error_page(request, services, locale, gettext(locale, "Không tìm thấy."), 404)
    proof = shown["proof"] or {}
    return page(
        request, services, "citizen_proof.html", locale=locale,
        context={"row": shown_event(shown["event"], str(user.citizen_id), locale),
                 "status": shown["status"], "reason": shown["reason"],
                 "leaf_index": shown["event"]["leaf_index"], "tree_size": proof.get("tree_size"),
                 "root": shown.get("root"), "checkpoint": proof.get("checkpoint")},
    )  # fmt: skip


# ------------------------------------------------------------------------------ security


@router.get("/portal/security")
async def security_page(
    request: Request, session: SessionDep, services: ServicesDep, lang: Lang = None
) -> Response:
    """Passkeys (add, rename, remove), sign-in history, and the lock."""
    user = await citizen(request, session, services, path=request.url.path)
    if isinstance(user, Response):
        return user
    locale = pick_locale(request, lang)
    overview = await service.security_overview(session, user.principal, user.account)
    statutory = [
        p.name_vi if locale == "vi" else p.name_en for p in purposes().values() if p.overrides_lock
    ]
    sign_ins = [
        {**s, "method": coded(locale, labels.SIGN_IN_METHODS, s["method"], s["method"] or "—"),
         "reason": coded(locale, labels.SIGN_IN_REASONS, s["reason"], s["reason"])
         if s["reason"] else "",
         "outcome": coded(locale, labels.OUTCOMES, s["outcome"], s["outcome"]),
         "outcome_code": s["outcome"]}
        for s in overview["sign_ins"]
    ]  # fmt: skip
    return page(
        request, services, "citizen_security.html", locale=locale,
        context={**overview, "sign_ins": sign_ins, "statutory": statutory,
                 **notice(request, locale)},
    )  # fmt: skip


@router.post("/portal/security/passkeys/{passkey_id}/rename")
async def rename_passkey(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    passkey_id: Annotated[str, Path(max_length=36)],
) -> Response:
    """Give a passkey a new name."""
    signed = await citizen_form(request, session, services, path="/portal/security")
    if isinstance(signed, Response):
        return signed
    user, fields = signed
    try:
        await service.rename_passkey(
            session, user.account, passkey_id=passkey_id, name=fields.get("name", "")[:200]
        )
    except RegistryError as exc:
        await failed(session, exc)
        return back("/portal/security", error="failed" if exc.status == 404 else "passkey_name")
    return back("/portal/security", done="renamed")


@router.post("/portal/security/passkeys/{passkey_id}/remove")
async def remove_passkey(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    passkey_id: Annotated[str, Path(max_length=36)],
) -> Response:
    """Remove a passkey."""
    signed = await citizen_form(request, session, services, path="/portal/security")
    if isinstance(signed, Response):
        return signed
    user, _ = signed
    try:
        await service.remove_passkey(session, user.account, passkey_id=passkey_id)
    except RegistryError as exc:
        await failed(session, exc)
        return back("/portal/security", error="failed")
    return back("/portal/security", done="removed")


@router.post("/portal/security/lock")
async def lock_identity(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """Lock the electronic identity; the portal session ends with every other sign-in."""
    signed = await citizen_form(request, session, services, path="/portal/security")
    if isinstance(signed, Response):
        return signed
    user, fields = signed
    if fields.get("confirm") != "yes":
        return back("/portal/security", error="lock_confirm")
    try:
        await service.lock_identity(session, user.account)
    except RegistryError as exc:
        await failed(session, exc)
        return back("/portal/security", error="failed")
    await end_session(request, session)
    response = back("/portal/unlock", locked="1")
    response.delete_cookie(SESSION_COOKIE, path="/")
    return response


@router.get("/portal/unlock")
async def unlock_page(request: Request, services: ServicesDep, lang: Lang = None) -> Response:
    """The public unlock page (a locked identity cannot sign in to reach the portal)."""
    locale = pick_locale(request, lang)
    state = request.query_params.get("state")
    message = (
        gettext(locale, "Danh tính điện tử đã được mở khóa. Bạn có thể đăng nhập lại.")
        if state == "done"
        else None
    )
    if request.query_params.get("locked") == "1":
        message = gettext(locale, "Danh tính điện tử của bạn đã bị khóa và bạn đã được đăng xuất.")
    return page(
        request, services, "citizen_unlock.html", locale=locale,
        context={"message": message, "done": state == "done"},
    )  # fmt: skip


@router.post("/portal/unlock")
async def unlock_submit(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """Unlock with the ID number and the password (counted like any failed sign-in)."""
    locale = pick_locale(request)
    fields = await posted(request, services)
    if fields is None:
        return error_page(request, services, locale, gettext(locale, FORM_EXPIRED), 403)
    login, password = fields.get("id_number", "").strip()[:12], fields.get("password", "")[:1024]

    def again(message: str, status_code: int) -> Response:
        return page(
            request, services, "citizen_unlock.html", locale=locale, status_code=status_code,
            context={"error": gettext(locale, message), "id_number": login},
        )  # fmt: skip

    if not ID_NUMBER_RE.fullmatch(login):
        return again(UNLOCK_WRONG, 401)
    try:
        account = await service.unlock_identity(
            session, services.ctx, login=login, password=password,
            client_ip=request.client.host if request.client else None,
        )  # fmt: skip
    except accounts.AccountLocked:
        return again(UNLOCK_OFFICIAL, 403)
    except RegistryError as exc:
        await failed(session, exc)
        if exc.status == 429:
            return again(THROTTLED, 429)
        return again(UNLOCK_WRONG if exc.status == 401 else labels.ERRORS["failed"], exc.status)
    if account.status != "active":  # locked by failures or an official: a code is needed
        return again(UNLOCK_OFFICIAL, 403)
    return back("/portal/unlock", state="done")


# ------------------------------------------------------------------------------ aliases


@router.get("/portal/aliases")
async def aliases_page(
    request: Request, session: SessionDep, services: ServicesDep, lang: Lang = None
) -> Response:
    """My alias IDs: create, copy, revoke, and which agencies used each."""
    user = await citizen(request, session, services, path=request.url.path)
    if isinstance(user, Response):
        return user
    locale = pick_locale(request, lang)
    aliases = await service.aliases_overview(session, user.principal)
    return page(
        request, services, "citizen_aliases.html", locale=locale,
        context={"aliases": aliases, **notice(request, locale)},
    )  # fmt: skip


@router.post("/portal/aliases")
async def create_alias(request: Request, session: SessionDep, services: ServicesDep) -> Response:
    """Create an alias with a note and a validity."""
    signed = await citizen_form(request, session, services, path="/portal/aliases")
    if isinstance(signed, Response):
        return signed
    user, fields = signed
    days_text, label = fields.get("valid_days", "").strip(), fields.get("label", "").strip()
    if (days_text and not is_ascii_digits(days_text)) or len(days_text) > 5 or len(label) > 64:
        return back("/portal/aliases", error="alias")
    try:
        await service.create_alias(
            session, user.principal, label=label or None,
            valid_days=ascii_int(days_text) if days_text else None,
        )  # fmt: skip
    except RegistryError as exc:
        await failed(session, exc)
        return back("/portal/aliases", error="alias")
    return back("/portal/aliases", done="alias_created")


@router.post("/portal/aliases/{alias}/revoke")
async def revoke_alias(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    alias: Annotated[str, Path(max_length=16)],
) -> Response:
    """Revoke one of my aliases."""
    signed = await citizen_form(request, session, services, path="/portal/aliases")
    if isinstance(signed, Response):
        return signed
    user, _ = signed
    try:
        await service.revoke_alias(session, user.principal, alias=alias)
    except RegistryError as exc:
        await failed(session, exc)
        return back("/portal/aliases", error="failed")
    return back("/portal/aliases", done="alias_revoked")


# ------------------------------------------------------------------------------ consents


@router.get("/portal/consents")
async def consents_page(
    request: Request, session: SessionDep, services: ServicesDep, lang: Lang = None
) -> Response:
    """The services I allowed, what each receives, and withdrawing consent."""
    user = await citizen(request, session, services, path=request.url.path)
    if isinstance(user, Response):
        return user
    locale = pick_locale(request, lang)
    consents = [
        {**c, "scopes": [coded(locale, labels.SCOPES, s, s) for s in c["scopes"]]}
        for c in await service.consents_overview(session, user.principal, user.account)
    ]
    return page(
        request, services, "citizen_consents.html", locale=locale,
        context={"consents": consents, **notice(request, locale)},
    )  # fmt: skip


@router.post("/portal/consents/{client_id}/revoke")
async def revoke_consent(
    request: Request,
    session: SessionDep,
    services: ServicesDep,
    client_id: Annotated[str, Path(max_length=64)],
) -> Response:
    """Withdraw consent from one service."""
    signed = await citizen_form(request, session, services, path="/portal/consents")
    if isinstance(signed, Response):
        return signed
    user, _ = signed
    try:
        await service.revoke_consent(session, user.account, client_id=client_id)
    except RegistryError as exc:
        await failed(session, exc)
        return back("/portal/consents", error="failed")
    return back("/portal/consents", done="consent_revoked")
