"""The workspace's life events on one record: death, disappearance, residence, marriage,
divorce, change of name or gender, correction.

Each is one form over one function of the officials' API (registry.service) with its request
model (registry.schemas): the page reads the form into the model, the service judges and
records, and the record page then shows what was recorded.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from datetime import date
from typing import Annotated, Any

from fastapi import APIRouter, Path, Request, Response
from pydantic import BaseModel
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import Principal
from core.deps import SessionDep, SettingsDep
from core.errors import RegistryError
from core.i18n import N_
from core.inputs import OutsideTextRoute
from core.settings import Settings
from identity.web import pick_locale
from registry import service
from registry.portal import labels
from registry.schemas import (
    CitizenChange,
    CitizenRecord,
    Correction,
    DeathReport,
    DivorceRegistration,
    GenderChange,
    MarriageRegistration,
    MissingReport,
    NameChange,
    ResidenceChange,
)
from registry.workspace import forms, gate, record_view, values
from registry.workspace.forms import LEGAL_BASIS, Field, Section
from registry.workspace.pages import (
    IdPath,
    Lang,
    form_page,
    missing_record,
    open_record,
    refused,
    see,
    shown_record,
)

router = APIRouter(route_class=OutsideTextRoute, include_in_schema=False)
F = labels.FIELDS
Call = Callable[[AsyncSession, Principal, str, Any], Awaitable[CitizenChange]]


@dataclass(frozen=True)
class Event:
    """One life event's form: its title, inputs, the API's model and service function."""

    title: str
    sections: tuple[Section, ...]
    model: type[BaseModel]
    call: Call
    intro: str | None = None
    # Residence and correction: an emptied input clears the field (the API's null).
    keep_empty: bool = False
    # The inputs that start with the record's current values.
    prefilled: tuple[str, ...] = ()


def _basis(*fields: Field) -> tuple[Section, ...]:
    return (Section(N_("Sự kiện"), fields), Section(N_("Căn cứ"), (LEGAL_BASIS,)))


RESIDENCE_FIELDS = (
    Field("permanent_address", F["permanent_address"], wide=True),
    Field("temporary_address", F["temporary_address"], wide=True),
    Field("current_address", F["current_address"], wide=True),
    Field("household_id", F["household_id"]),
    Field("household_relationship", F["household_relationship"]),
)
CORRECTED = (
    Field("full_name", F["full_name"], wide=True),
    Field("other_names", F["other_names"]),
    Field(
        "birth_date",
        F["birth_date"],
        "partial_date",
        hint=N_("dd/mm/yyyy, hoặc mm/yyyy hay yyyy khi chỉ biết đến đó."),
    ),
    Field("birth_province", F["birth_province"], "choice", "province"),
    Field("birth_place", F["birth_place"], wide=True),
    Field("hometown", F["hometown"]),
    Field("ethnicity", F["ethnicity"], "choice", "ethnicity"),
    Field("religion", F["religion"], "choice", "religion"),
    Field("nationality", F["nationality"], "choice", "country"),
    Field("blood_type", F["blood_type"], "choice", "blood"),
    Field("father_name", F["father_name"]),
    Field("mother_name", F["mother_name"]),
    Field("old_id_number", F["old_id_number"]),
)

EVENTS: Mapping[str, Event] = {
    "death": Event(
        N_("Đăng ký khai tử"),
        _basis(Field("death_date", F["death_date"], "date", required=True)),
        DeathReport,
        lambda s, o, n, body: service.record_death(s, official=o, id_number=n, report=body),
        intro=N_("Vợ hoặc chồng còn liên kết với người mất sẽ được ghi là góa."),
    ),
    "missing": Event(
        N_("Ghi nhận mất tích"),
        _basis(Field("missing_date", F["missing_date"], "date", required=True)),
        MissingReport,
        lambda s, o, n, body: service.record_missing(s, official=o, id_number=n, report=body),
    ),
    "residence": Event(
        N_("Thay đổi cư trú"),
        (
            Section(N_("Thường trú, tạm trú và hộ"), RESIDENCE_FIELDS),
            Section(N_("Căn cứ"), (LEGAL_BASIS,)),
        ),
        ResidenceChange,
        lambda s, o, n, body: service.change_residence(s, official=o, id_number=n, change=body),
        intro=N_("Sửa các thông tin đã thay đổi; xóa trống một ô để bỏ thông tin đó."),
        keep_empty=True,
        prefilled=tuple(f.name for f in RESIDENCE_FIELDS),
    ),
    "marriage": Event(
        N_("Đăng ký kết hôn"),
        (
            Section(
                N_("Bên kia là công dân có số định danh cá nhân"),
                (Field("spouse_id_number", F["spouse_id_number"], "id"),),
            ),
            Section(
                N_("Hoặc bên kia là người nước ngoài chưa có số định danh"),
                (
                    Field("spouse_name", F["spouse_name"], wide=True),
                    Field("spouse_nationality", F["spouse_nationality"], "choice", "country"),
                    Field("spouse_passport_number", F["spouse_passport_number"]),
                ),
            ),
            Section(
                N_("Sự kiện"), (Field("date", N_("Ngày đăng ký kết hôn"), "date", required=True),)
            ),
            Section(N_("Căn cứ"), (LEGAL_BASIS,)),
        ),
        MarriageRegistration,
        lambda s, o, n, body: service.register_marriage(s, official=o, id_number=n, marriage=body),
        intro=N_(
            "Nhập số định danh của bên kia (hai hồ sơ liên kết với nhau), hoặc họ tên, quốc tịch "
            "và số hộ chiếu của người nước ngoài."
        ),
    ),
    "divorce": Event(
        N_("Ghi nhận ly hôn"),
        _basis(
            Field(
                "date",
                N_("Ngày bản án, quyết định ly hôn có hiệu lực"),
                "date",
                required=True,
            )
        ),
        DivorceRegistration,
        lambda s, o, n, body: service.register_divorce(s, official=o, id_number=n, divorce=body),
        intro=N_("Hồ sơ của cả hai bên được ghi là đã ly hôn."),
    ),
    "name": Event(
        N_("Thay đổi họ tên"),
        _basis(Field("full_name", N_("Họ, chữ đệm và tên mới"), required=True, wide=True)),
        NameChange,
        lambda s, o, n, body: service.change_name(s, official=o, id_number=n, change=body),
    ),
    "gender": Event(
        N_("Xác định lại giới tính"),
        _basis(Field("gender", N_("Giới tính mới"), "choice", "gender", required=True)),
        GenderChange,
        lambda s, o, n, body: service.change_gender(s, official=o, id_number=n, change=body),
        intro=N_("Công dân được cấp số định danh cá nhân mới; hồ sơ cũ trỏ đến số mới."),
    ),
    "correction": Event(
        N_("Đính chính hồ sơ"),
        (Section(N_("Thông tin đính chính"), CORRECTED), Section(N_("Căn cứ"), (LEGAL_BASIS,))),
        Correction,
        lambda s, o, n, body: service.correct(s, official=o, id_number=n, correction=body),
        intro=N_("Sửa các thông tin bị ghi sai; chỉ những ô đã sửa được ghi lại."),
        keep_empty=True,
        prefilled=tuple(f.name for f in CORRECTED),
    ),
}
EventSlug = Annotated[str, Path(min_length=1, max_length=20)]


def current(record: CitizenRecord, names: tuple[str, ...]) -> dict[str, str]:
    """The record's values of ``names`` as the form shows them (dates dd/mm/yyyy)."""
    data = record.model_dump()
    out = {}
    for name in names:
        value = data.get(name)
        if isinstance(value, date) or name == "birth_date":
            out[name] = values.show_date(value)
        else:
            out[name] = "" if value is None else str(value)
    return out


def _page(
    request: Request,
    settings: Settings,
    locale: str,
    slug: str,
    record: CitizenRecord,
    filled: forms.Filled | None,
    status_code: int = 200,
) -> Response:
    event = EVENTS[slug]
    return form_page(
        request,
        settings,
        locale,
        title=event.title,
        action=f"/workspace/citizens/{record.id_number}/{slug}",
        sections=event.sections,
        filled=filled or forms.Filled(typed=current(record, event.prefilled)),
        subject=record_view.summary(record, locale),
        status_code=status_code,
        intro=event.intro,
    )


@router.get("/workspace/citizens/{id_number}/{slug}")
async def event_form(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    id_number: IdPath,
    slug: EventSlug,
    lang: Lang = None,
) -> Response:
    """The form of one life event for this record (the record read, and recorded)."""
    locale = pick_locale(request, lang)
    opened = await open_record(
        request, session, settings, locale, id_number, page_exists=slug in EVENTS
    )
    if isinstance(opened, Response):
        return opened
    return _page(request, settings, locale, slug, opened[1], None)


def changed_only(filled: forms.Filled, record: CitizenRecord) -> None:
    """Keep in the request only what differs from the record (a correction names its fields)."""
    data = record.model_dump(mode="json")
    for name, value in list(filled.request.items()):
        if (data.get(name) or None) == value:
            del filled.request[name]


@router.post("/workspace/citizens/{id_number}/{slug}")
async def record_event(
    request: Request,
    session: SessionDep,
    settings: SettingsDep,
    id_number: IdPath,
    slug: EventSlug,
) -> Response:
    """Record the event through the API's service; the record page then shows it."""
    locale = pick_locale(request)
    signed = await gate.official_form(request, session, settings)
    if isinstance(signed, Response):
        return signed
    who, posted = signed
    event = EVENTS.get(slug)
    if event is None:
        return missing_record(request, settings, locale, notice="no_page")
    filled = forms.read_form(posted, event.sections, keep_empty=event.keep_empty)
    if slug == "correction" and not filled.errors:
        before = await shown_record(session, who, id_number)
        if before is not None:
            changed_only(filled, before)
    body = forms.build(event.model, filled)
    if body is not None:
        try:
            done = await event.call(session, who, id_number, body)
        except RegistryError as exc:
            await refused(session, exc)
            forms.service_errors(exc, filled)
        else:
            return see(f"/workspace/citizens/{done.id_number}?done={slug}")
    record = await shown_record(session, who, id_number)
    if record is None:
        return missing_record(request, settings, locale)
    return _page(request, settings, locale, slug, record, filled, 422)
