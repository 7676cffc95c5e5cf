"""The workspace's forms: what each asks, the posted text turned into the API's request, and the
API's refusals turned into messages beside the fields (no rule here: the API's models and
service judge, this only translates their answers for a person)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TypeVar

from pydantic import BaseModel, ValidationError

from core.errors import Conflict, RegistryError
from core.i18n import N_
from registry.workspace import values

M = TypeVar("M", bound=BaseModel)
FORM = "_form"  # the key of an error that belongs to no one field


@dataclass(frozen=True)
class Field:
    """One input: the API's field it fills, its label (a catalog message) and its kind."""

    name: str
    label: str
    kind: str = "text"  # text | date | partial_date | choice | textarea | id
    choices: str | None = None  # a list of values.py by name: gender, province, country, ...
    required: bool = False
    hint: str | None = None
    wide: bool = False
    lookup: bool = False  # an ID number the form can look up before it is sent


@dataclass(frozen=True)
class Section:
    """A group of inputs under a heading."""

    title: str
    fields: tuple[Field, ...]


@dataclass
class Filled:
    """A form as posted: the text typed (shown again), the API's request built from it, and the
    messages to show beside each field (catalog messages)."""

    typed: dict[str, str]
    request: dict[str, str | None] = field(default_factory=dict)
    errors: dict[str, str] = field(default_factory=dict)


LEGAL_BASIS = Field(
    "legal_basis",
    N_("Căn cứ pháp lý"),
    required=True,
    hint=N_("Số và ngày của giấy tờ hoặc quyết định, ví dụ: Trích lục khai sinh số 123/2024."),
    wide=True,
)

DATE_FORMAT = N_("Nhập ngày theo dạng dd/mm/yyyy.")
PARTIAL_DATE_FORMAT = N_("Nhập ngày theo dạng dd/mm/yyyy, mm/yyyy hoặc yyyy.")
REQUIRED = N_("Trường này là bắt buộc.")
INVALID = N_("Giá trị không hợp lệ.")

# The API's reasons (registry.record, registry.service, registry.reads), as a person reads them.
REASONS = {
    "is required": REQUIRED,
    "is in the future": N_("Ngày này chưa đến."),
    "must be male or female": N_("Hãy chọn Nam hoặc Nữ."),
    "is not a province code": N_("Hãy chọn một tỉnh, thành phố trong danh sách."),
    "is not an ethnic group code": N_("Hãy chọn một dân tộc trong danh sách."),
    "must be an ISO 3166 alpha-2 code": N_("Hãy chọn một quốc tịch trong danh sách."),
    "no record has this ID number": N_("Không có hồ sơ nào mang số định danh cá nhân này."),
    "is the same person as the father": N_("Cha và mẹ không thể là cùng một người."),
    "is before the birth date": N_("Ngày này sớm hơn ngày sinh."),
    "is before a spouse's birth date": N_("Ngày này sớm hơn ngày sinh của một bên."),
    "is the citizen's own ID number": N_("Đây là số định danh của chính công dân."),
    "is already the recorded name": N_("Đây đã là họ tên trong hồ sơ."),
    "is already the recorded gender": N_("Đây đã là giới tính trong hồ sơ."),
    "give at least one residence field": N_("Hãy nhập ít nhất một thông tin cư trú."),
    "the request changes nothing": N_("Thông tin nhập vào giống hệt hồ sơ: không có gì thay đổi."),
    "give at least one field to correct": N_("Hãy sửa ít nhất một trường."),
    "must be a full date (YYYY-MM-DD) for a new birth": N_("Khai sinh cần ngày sinh đầy đủ."),
    "does not match the ID number": N_("Không khớp với số định danh cá nhân."),
    "must be 1-20 letters, digits or hyphens": N_("Số hộ gồm 1–20 chữ cái, chữ số hoặc dấu gạch."),
    "is required when married": N_("Cần họ tên vợ hoặc chồng."),
    "is required when status is deceased": N_("Cần ngày mất."),
    "is only allowed when status is deceased": N_("Chỉ ghi ngày mất khi công dân đã mất."),
    "is required when status is missing": N_("Cần ngày được xác định mất tích."),
    "is changed by marriage and divorce while a spouse is linked": N_(
        "Tình trạng hôn nhân thay đổi qua đăng ký kết hôn, ly hôn."
    ),
    "give the spouse's ID number, or the foreign spouse's name, nationality and passport": N_(
        "Nhập số định danh của bên kia, hoặc họ tên, quốc tịch và số hộ chiếu của người nước ngoài."
    ),
    "a foreign spouse's nationality is not VN": N_(
        "Người mang quốc tịch Việt Nam được tìm bằng số định danh cá nhân."
    ),
    "must be 5-20 letters or digits": N_("Số hộ chiếu gồm 5–20 chữ cái hoặc chữ số."),
}
# The reasons that begin with a varying part.
_REASON_PREFIXES = {
    "longer than": N_("Quá dài."),
    "contains control": N_("Có ký tự không được phép."),
    "must be one of": N_("Hãy chọn một giá trị trong danh sách."),
    "must be a date": DATE_FORMAT,
}
ID_INVALID = N_("Số định danh cá nhân gồm đúng 12 chữ số hợp lệ.")
OLD_ID_INVALID = N_("Số CMND cũ gồm đúng 9 chữ số.")
NAME_INVALID = N_("Họ tên chỉ gồm chữ cái, dấu cách và dấu nối.")

# A refusal of the record's state (409), by the reason the API gives.
CONFLICTS = {
    "deceased": N_("Công dân đã được ghi nhận là đã mất."),
    "missing": N_("Công dân đang được ghi nhận là mất tích."),
    "married": N_("Một bên đang có vợ hoặc chồng."),
    "not_married": N_("Công dân không ở tình trạng đã kết hôn."),
    "replaced": N_("Hồ sơ này đã được thay bằng một số định danh mới."),
    "spouse_link": N_("Hồ sơ của vợ hoặc chồng không liên kết ngược lại; hãy đính chính trước."),
    "concurrent_change": N_("Hồ sơ vừa được người khác thay đổi; hãy thử lại."),
}
REFUSED = N_("Không thực hiện được yêu cầu.")


def reason_message(name: str, reason: str) -> str:
    """The catalog message for the API's ``reason`` about field ``name``."""
    found = REASONS.get(reason)
    if found is not None:
        return found
    for prefix, message in _REASON_PREFIXES.items():
        if reason.startswith(prefix):
            return message
    if name == "old_id_number":
        return OLD_ID_INVALID
    if name.endswith("id_number"):
        return ID_INVALID
    if name.endswith(("name", "names")):
        return NAME_INVALID
    return INVALID


def read_form(
    posted: Mapping[str, str], sections: Sequence[Section], *, keep_empty: bool = False
) -> Filled:
    """The API request a posted form asks for: dates as ISO text, empty inputs left out (or,
    with ``keep_empty``, sent as null: the API clears those fields)."""
    filled = Filled(typed={})
    for section in sections:
        for item in section.fields:
            text = " ".join(posted.get(item.name, "").split())[:400]
            filled.typed[item.name] = text
            if not text:
                if item.required:
                    filled.errors[item.name] = REQUIRED
                elif keep_empty:
                    filled.request[item.name] = None
                continue
            try:
                if item.kind == "date":
                    text = values.iso_date(text)
                elif item.kind == "partial_date":
                    text = values.iso_partial_date(text)
            except ValueError:
                filled.errors[item.name] = (
                    DATE_FORMAT if item.kind == "date" else PARTIAL_DATE_FORMAT
                )
                continue
            filled.request[item.name] = text
    return filled


def model_errors(exc: ValidationError, filled: Filled) -> None:
    """The API model's refusals (payload validation) beside their fields."""
    for problem in exc.errors():
        loc = problem["loc"]
        name = str(loc[0]) if loc else FORM
        kind = problem["type"]
        if kind == "missing":
            message = REQUIRED
        elif kind in ("string_too_long", "string_too_short"):
            message = REQUIRED if kind == "string_too_short" else N_("Quá dài.")
        else:
            message = reason_message(
                name, str(problem.get("msg", "")).removeprefix("Value error, ")
            )
        filled.errors.setdefault(name if name in filled.typed else FORM, message)


def service_errors(exc: RegistryError, filled: Filled) -> None:
    """The service's refusal beside its fields (RFC 9457 ``errors`` pointers or parameters),
    or as the form's own error."""
    if isinstance(exc, Conflict):
        reason = str(exc.extensions.get("reason", ""))
        filled.errors[FORM] = CONFLICTS.get(reason, REFUSED)
        return
    for problem in exc.errors:
        name = problem.parameter or (problem.pointer or "#").removeprefix("#").removeprefix("/")
        message = reason_message(name, problem.detail)
        filled.errors.setdefault(name if name in filled.typed else FORM, message)
    if not filled.errors:
        filled.errors[FORM] = REFUSED


def build(model: type[M], filled: Filled) -> M | None:
    """The API's request model from the form, or None with the model's refusals noted."""
    if filled.errors:
        return None
    try:
        return model.model_validate(filled.request)
    except ValidationError as exc:
        model_errors(exc, filled)
        return None
