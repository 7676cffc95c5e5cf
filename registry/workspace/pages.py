"""The workspace's pages: find a citizen, the record with its history, register a birth.

Thin routes: the gate (an official signed in with a passkey), the form read into the API's
request model, one call of the API's service function (which records its audit events in
this request's unit of work), a page. Life events are in ``events.py``.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path, Query, Request, Response
from fastapi.responses import RedirectResponse
from pydantic import ValidationError
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import Principal
from core.deps import SessionDep, SettingsDep
from core.errors import NotFound, RegistryError, ValidationFailed
from core.headers import NO_STORE
from core.i18n import N_
from core.inputs import OutsideTextRoute
from core.settings import Settings
from core.text import ID_NUMBER_RE
from identity import accounts
from identity.web import pick_locale
from registry import reads, service
from registry.codes import BLOOD_TYPES
from registry.portal import labels
from registry.schemas import BirthRegistration, CitizenRecord, SearchParams
from registry.workspace import forms, gate, record_view, values
from registry.workspace.forms import LEGAL_BASIS, Field, Section
from registry.workspace.web import render

router = APIRouter(route_class=OutsideTextRoute, include_in_schema=False)
Lang = Annotated[str | None, Query(max_length=2)]
IdPath = Annotated[str, Path(min_length=1, max_length=20)]

BIRTH = (
    Section(
        N_("Người được khai sinh"),
        (
            Field("full_name", labels.FIELDS["full_name"], required=True, wide=True),
            Field("birth_date", labels.FIELDS["birth_date"], "date", required=True),
            Field("gender", labels.FIELDS["gender"], "choice", "gender", required=True),
            Field(
                "birth_province",
                labels.FIELDS["birth_province"],
                "choice",
                "province",
                required=True,
            ),
            Field("birth_place", labels.FIELDS["birth_place"], wide=True),
            Field("hometown", labels.FIELDS["hometown"]),
            Field("ethnicity", labels.FIELDS["ethnicity"], "choice", "ethnicity", required=True),
            Field("religion", labels.FIELDS["religion"], "choice", "religion"),
            Field("nationality", labels.FIELDS["nationality"], "choice", "country"),
            Field("blood_type", labels.FIELDS["blood_type"], "choice", "blood"),
        ),
    ),
    Section(
        N_("Cư trú"),
        (
            Field("permanent_address", labels.FIELDS["permanent_address"], wide=True),
            Field("current_address", labels.FIELDS["current_address"], wide=True),
            Field("household_id", labels.FIELDS["household_id"]),
            Field("household_relationship", labels.FIELDS["household_relationship"]),
        ),
    ),
    Section(
        N_("Cha"),
        (
            Field(
                "father_id_number",
                labels.FIELDS["father_id_number"],
                "id",
                lookup=True,
                hint=N_("Có số định danh: họ tên và quốc tịch lấy từ hồ sơ của cha."),
            ),
            Field("father_name", labels.FIELDS["father_name"]),
            Field("father_nationality", labels.FIELDS["father_nationality"], "choice", "country"),
        ),
    ),
    Section(
        N_("Mẹ"),
        (
            Field(
                "mother_id_number",
                labels.FIELDS["mother_id_number"],
                "id",
                lookup=True,
                hint=N_("Có số định danh: họ tên và quốc tịch lấy từ hồ sơ của mẹ."),
            ),
            Field("mother_name", labels.FIELDS["mother_name"]),
            Field("mother_nationality", labels.FIELDS["mother_nationality"], "choice", "country"),
        ),
    ),
    Section(N_("Căn cứ"), (LEGAL_BASIS,)),
)

NOT_FOUND = N_("Không có hồ sơ nào mang số định danh cá nhân này.")
DONE = {
    "birth": N_("Đã đăng ký khai sinh."),
    "death": N_("Đã đăng ký khai tử."),
    "missing": N_("Đã ghi nhận mất tích."),
    "residence": N_("Đã ghi nhận thay đổi cư trú."),
    "marriage": N_("Đã đăng ký kết hôn."),
    "divorce": N_("Đã ghi nhận ly hôn."),
    "name": N_("Đã ghi nhận thay đổi họ tên."),
    "gender": N_("Đã ghi nhận xác định lại giới tính; công dân được cấp số định danh mới."),
    "correction": N_("Đã đính chính hồ sơ."),
}


def lists(locale: str) -> dict[str, Any]:
    """The values each kind of choice offers, by name in the locale."""
    return {
        "gender": values.choices(labels.GENDERS, locale),
        "marital": values.choices(labels.MARITAL, locale),
        "status": values.choices(labels.STATUSES, locale),
        "province": values.provinces(),
        "ethnicity": values.ethnicities(),
        "religion": values.religions(locale),
        "country": values.countries(locale),
        "blood": tuple((code, code) for code in BLOOD_TYPES),
    }


def form_page(
    request: Request,
    settings: Settings,
    locale: str,
    *,
    title: str,
    action: str,
    sections: tuple[Section, ...],
    filled: forms.Filled | None = None,
    subject: dict[str, str] | None = None,
    status_code: int = 200,
    **more: Any,
) -> Response:
    """One of the workspace's forms, with what was typed and the errors beside the fields."""
    return render(
        request,
        settings,
        "ws_form.html",
        locale=locale,
        status_code=status_code,
        context={
            "title": title,
            "action": action,
            "sections": sections,
            "typed": filled.typed if filled else {},
            "errors": filled.errors if filled else {},
            "lists": lists(locale),
            "subject": subject,
            **more,
        },
    )


def see(path: str) -> RedirectResponse:
    """The 303 that ends a form that recorded something (POST-redirect-GET)."""
    return RedirectResponse(path, status_code=303, headers=NO_STORE)


async def refused(session: AsyncSession, exc: RegistryError) -> None:
    """Undo what a refused request did, unless its own record of the refusal must be kept."""
    if not exc.commit_unit_of_work:
        await session.rollback()


# ------------------------------------------------------------------------------ find


@router.get("/workspace")
async def find_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    lang: Lang = None,
    id_number: Annotated[str | None, Query(max_length=40)] = None,
    old_id_number: Annotated[str | None, Query(max_length=40)] = None,
    name: Annotated[str | None, Query(max_length=200)] = None,
    birth_date: Annotated[str | None, Query(max_length=20)] = None,
    cursor: Annotated[str | None, Query(max_length=64)] = None,
) -> Response:
    """Find a citizen by ID number, old card number, or name and a (partial) birth date."""
    locale = pick_locale(request, lang)
    who = await gate.official(request, session, settings)
    if isinstance(who, Response):
        return who
    typed = {
        "id_number": (id_number or "").strip(),
        "old_id_number": (old_id_number or "").strip(),
        "name": " ".join((name or "").split()),
        "birth_date": (birth_date or "").strip(),
    }
    errors: dict[str, str] = {}
    results = None
    more = None
    by = request.query_params.get("by")
    if by == "id":
        if ID_NUMBER_RE.fullmatch(typed["id_number"]):
            return see(f"/workspace/citizens/{typed['id_number']}")
        errors["id_number"] = forms.ID_INVALID
    elif by in ("old", "name"):
        params: dict[str, str] = {}
        asked = ("old_id_number",) if by == "old" else ("name", "birth_date")
        errors = {name: forms.REQUIRED for name in asked if not typed[name]}
        if by == "old":
            params["old_id_number"] = typed["old_id_number"]
        else:
            params["name"] = typed["name"]
            try:
                params["birth_date"] = values.iso_partial_date(typed["birth_date"])
            except ValueError:
                errors.setdefault("birth_date", forms.PARTIAL_DATE_FORMAT)
        if cursor:
            params["cursor"] = cursor
        if not errors:
            try:
                page = await reads.search(
                    session, official=who, params=SearchParams.model_validate(params)
                )
            except ValidationError as exc:
                filled = forms.Filled(typed=typed)
                forms.model_errors(exc, filled)
                errors = filled.errors
            except ValidationFailed as exc:
                filled = forms.Filled(typed=typed)
                forms.service_errors(exc, filled)
                errors = filled.errors
            else:
                results = [
                    {
                        "id_number": item.id_number,
                        "full_name": item.full_name,
                        "birth_date": values.show_date(item.birth_date),
                        "gender": values.shown("gender", item.gender, locale),
                        "birth_province": values.shown(
                            "birth_province", item.birth_province, locale
                        ),
                        "status": values.shown("status", item.status, locale),
                        "replaced_by": item.replaced_by,
                    }
                    for item in page.items
                ]
                if page.next_cursor:
                    query = {k: v for k, v in typed.items() if v}
                    more = {**query, "by": by, "cursor": page.next_cursor}
    return render(
        request,
        settings,
        "ws_find.html",
        locale=locale,
        status_code=422 if errors else 200,
        context={"typed": typed, "errors": errors, "by": by, "results": results, "more": more},
    )


# ------------------------------------------------------------------------------ record


async def shown_record(
    session: AsyncSession, who: Principal, id_number: str
) -> CitizenRecord | None:
    """The record (its read recorded), or None when no record has this number."""
    try:
        return await reads.read_record(session, official=who, id_number=id_number)
    except (NotFound, ValidationFailed):
        return None


async def open_record(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    locale: str,
    id_number: str,
    *,
    page_exists: bool = True,
) -> tuple[Principal, CitizenRecord] | Response:
    """The signed-in official and the record (its read recorded); or the page that refuses
    the visitor, says there is no such record, or no such page."""
    who = await gate.official(request, session, settings)
    if isinstance(who, Response):
        return who
    if not page_exists:
        return missing_record(request, settings, locale, notice="no_page")
    record = await shown_record(session, who, id_number)
    if record is None:
        return missing_record(request, settings, locale)
    return who, record


def missing_record(
    request: Request, settings: Settings, locale: str, *, notice: str = "not_found"
) -> Response:
    """The page of an ID number that names no record (its refusal is recorded), or of a
    registration the workspace does not have (``no_page``)."""
    return render(
        request,
        settings,
        "ws_notice.html",
        locale=locale,
        status_code=404,
        context={"notice": notice},
    )


async def _staff_names(session: AsyncSession, usernames: set[str]) -> dict[str, str]:
    """The display names of the staff who recorded versions, by username."""
    names = {}
    for username in sorted(usernames):
        account = await accounts.staff_account(session, username)
        if account is not None and account.display_name:
            names[username] = account.display_name
    return names


@router.get("/workspace/citizens/{id_number}")
async def record_page(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    id_number: IdPath,
    lang: Lang = None,
) -> Response:
    """The record grouped, its history, and the registrations that can follow."""
    locale = pick_locale(request, lang)
    opened = await open_record(request, session, settings, locale, id_number)
    if isinstance(opened, Response):
        return opened
    who, record = opened
    found = await reads.read_history(session, official=who, id_number=id_number)
    staff = await _staff_names(
        session, {v.actor.id for v in found.versions if v.actor.type != "system"}
    )
    done = request.query_params.get("done")
    return render(
        request,
        settings,
        "ws_record.html",
        locale=locale,
        context={
            "record": record,
            "groups": record_view.groups(record, locale),
            "history": record_view.history(found, locale, staff),
            "summary": record_view.summary(record, locale),
            "done": DONE.get(done or ""),
            "done_kind": done if done in DONE else None,
        },
    )


# ------------------------------------------------------------------------------ birth


@router.get("/workspace/births/new")
async def birth_form(
    request: Request, session: SessionDep, settings: SettingsDep, lang: Lang = None
) -> Response:
    """The birth registration form."""
    locale = pick_locale(request, lang)
    who = await gate.official(request, session, settings)
    if isinstance(who, Response):
        return who
    return _birth_page(request, settings, locale, None)


def _birth_page(
    request: Request,
    settings: Settings,
    locale: str,
    filled: forms.Filled | None,
    status_code: int = 200,
    notes: dict[str, str] | None = None,
) -> Response:
    return form_page(
        request,
        settings,
        locale,
        title=N_("Đăng ký khai sinh"),
        action="/workspace/births/new",
        sections=BIRTH,
        filled=filled or forms.Filled(typed={"nationality": "VN"}),
        status_code=status_code,
        notes=notes or {},
    )


async def _find_parent(
    request: Request,
    session: AsyncSession,
    settings: Settings,
    locale: str,
    who: Principal,
    filled: forms.Filled,
    field: str,
) -> Response:
    """The birth form again, with the parent the number names (their record's read recorded):
    name and nationality filled in, or the error beside the number."""
    filled.errors = {}
    relation = field.removesuffix("_id_number")
    number = filled.typed[field]
    parent = await shown_record(session, who, number) if ID_NUMBER_RE.fullmatch(number) else None
    if parent is None:
        filled.errors[field] = NOT_FOUND if number else forms.ID_INVALID
        return _birth_page(request, settings, locale, filled, 422)
    filled.typed[f"{relation}_name"] = parent.full_name
    filled.typed[f"{relation}_nationality"] = parent.nationality
    found = f"{parent.full_name} · {values.show_date(parent.birth_date)}"
    return _birth_page(request, settings, locale, filled, notes={field: found})


@router.post("/workspace/births/new")
async def register_birth(request: Request, session: SessionDep, settings: SettingsDep) -> Response:
    """Register the birth; the record page then shows the new ID number."""
    locale = pick_locale(request)
    signed = await gate.official_form(request, session, settings)
    if isinstance(signed, Response):
        return signed
    who, posted = signed
    filled = forms.read_form(posted, BIRTH)
    lookup = posted.get("lookup")
    if lookup in ("father_id_number", "mother_id_number"):
        return await _find_parent(request, session, settings, locale, who, filled, lookup)
    birth = forms.build(BirthRegistration, filled)
    if birth is None:
        return _birth_page(request, settings, locale, filled, 422)
    try:
        created = await service.register_birth(session, official=who, birth=birth)
    except RegistryError as exc:
        await refused(session, exc)
        forms.service_errors(exc, filled)
        return _birth_page(request, settings, locale, filled, 422)
    return see(f"/workspace/citizens/{created.id_number}?done=birth")
