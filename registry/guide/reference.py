"""What the agency quick start lists, taken from the code that decides (never typed twice).

The scopes (``ACTIONS``), the attributes a verification compares (``VERIFY_ATTRIBUTES``), the
fields a lookup may release (``LOOKUP_FIELDS``), the purposes (registry/data/purposes.csv) and
the problem types an agency call can answer (the ``RegistryError`` classes of core and of the
agency API) come from their definitions; this module adds only what a person reads about each,
as catalog messages. tests/registry/test_guide.py fails when a definition gains a member that
has no words here.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from core.errors import RegistryError, all_error_types
from core.i18n import N_
from registry.agency.policy import ACTIONS, LOOKUP_FIELDS, VERIFY_ATTRIBUTES, Policy, purposes
from registry.portal.labels import FIELDS

# Each scope a token asks for (= each action a policy may allow).
ACTION_TEXT = {
    "verify": N_(
        "Xác minh: số định danh này có thuộc về người có các thông tin được khai không (có/không)."
    ),
    "verify_batch": N_("Xác minh theo lô: đến 1.000 người trong một lần gọi, cùng một mục đích."),
    "lookup": N_("Tra cứu: đọc các trường mà chính sách của cơ quan cho phép, cho một mục đích."),
}

# How each claimed attribute is written and compared (registry/agency/matching.py).
ATTRIBUTE_TEXT = {
    "full_name": N_(
        "Họ, chữ đệm và tên. So khớp sau khi chuẩn hóa chữ hoa và khoảng trắng; dấu phải "
        "đúng, trừ khi chính sách cho phép so khớp bỏ dấu."
    ),
    "birth_date": N_(
        "YYYY-MM-DD, YYYY-MM hoặc YYYY. Khớp khi đủ chính xác như hồ sơ và đúng với mọi "
        "phần hồ sơ biết."
    ),
    "gender": N_("male (nam) hoặc female (nữ)."),
    "nationality": N_("Mã quốc gia ISO 3166 hai chữ cái, ví dụ VN."),
    "card_number": N_("Số thẻ căn cước."),
}

# Fields the portal's labels do not name (they are never shown to the citizen as a row).
_MORE_FIELDS = {"replaced_by": N_("Số định danh cá nhân thay thế số này")}

# What an agency should understand, and do, for each problem type it may be answered.
PROBLEM_TEXT = {
    "internal-error": N_(
        "Lỗi không lường trước của hệ thống; đã được ghi lại. Hãy báo kèm request_id."
    ),
    "bad-request": N_("Yêu cầu sai dạng (ví dụ thân không phải JSON, tham số lặp lại)."),
    "unauthenticated": N_(
        "Thiếu mã truy cập, hoặc mã đã hết hạn hay bị thu hồi: lấy mã mới tại /token."
    ),
    "forbidden": N_("Bên gọi không được phép làm việc này (ví dụ không phải tài khoản cơ quan)."),
    "not-found": N_("Không có công dân với số định danh hoặc mã thay thế này."),
    "method-not-allowed": N_("Địa chỉ này không nhận phương thức HTTP đó."),
    "conflict": N_("Yêu cầu mâu thuẫn với dữ liệu hiện có."),
    "payload-too-large": N_("Thân yêu cầu quá lớn."),
    "unsupported-media-type": N_("Thân yêu cầu phải là application/json."),
    "validation-failed": N_("Dữ liệu không hợp lệ; mục errors chỉ ra từng trường sai."),
    "rate-limited": N_("Vượt hạn mức gọi của cơ quan; thử lại sau số giây trong Retry-After."),
    "service-unavailable": N_("Hệ thống tạm thời không phục vụ được; thử lại sau Retry-After."),
    "audit-unavailable": N_("Không ghi được nhật ký truy cập nên không trả dữ liệu; thử lại sau."),
    "database-unavailable": N_(
        "Cơ sở dữ liệu không trả lời kịp; mục recorded cho biết lượt gọi đã được ghi hay chưa."
    ),
    "action-not-allowed": N_(
        "Mã truy cập hoặc chính sách không cho phép thao tác này (xem phạm vi scope)."
    ),
    "purpose-not-allowed": N_(
        "Mục đích không có trong danh sách, hoặc không thuộc chính sách của cơ quan."
    ),
    "field-not-allowed": N_(
        "Có trường nằm ngoài chính sách của cơ quan; mục fields liệt kê các trường đó."
    ),
    "identity-locked": N_(
        "Công dân đã khóa danh tính điện tử; chỉ các mục đích theo luật định mới được xem."
    ),
    "citizen-deceased": N_("Công dân đã mất; mục đích này không liên quan đến người đã mất."),
    "alias-invalid": N_("Mã định danh thay thế đã bị thu hồi hoặc hết hạn."),
    "agency-suspended": N_("Quyền truy cập của cơ quan đang bị tạm dừng."),
}

# The token endpoint answers RFC 6749 5.2 errors ({"error": ...}), not problems.
TOKEN_ERROR_TEXT = {
    "invalid_request": N_("Thiếu tham số hoặc tham số lặp lại."),
    "invalid_client": N_("Sai client_id hoặc client_secret (HTTP 401)."),
    "unauthorized_client": N_("Ứng dụng này không được dùng client_credentials."),
    "unsupported_grant_type": N_("grant_type phải là client_credentials."),
    "invalid_scope": N_("Phạm vi (scope) không được cấp cho cơ quan này."),
}

# Whose problem types an agency call can answer: the kernel's and the agency API's own.
_AGENCY_MODULES = ("core.", "registry.agency.")


@dataclass(frozen=True)
class ProblemType:
    """A problem type an agency may be answered: its code, HTTP status and meaning."""

    code: str
    status: int
    text: str


def agency_problems() -> list[ProblemType]:
    """The problem types of core and the agency API, by status then code."""
    found = {
        cls.code: cls.status
        for cls in all_error_types()
        if cls is not RegistryError and cls.__module__.startswith(_AGENCY_MODULES)
    }
    found[RegistryError.code] = RegistryError.status
    return sorted(
        (ProblemType(code, status, PROBLEM_TEXT[code]) for code, status in found.items()),
        key=lambda p: (p.status, p.code),
    )


def field_labels() -> Mapping[str, str]:
    """Each field a lookup may release, with its label (a catalog message)."""
    labels = {**FIELDS, **_MORE_FIELDS}
    return {name: labels[name] for name in LOOKUP_FIELDS}


def attribute_texts() -> Mapping[str, tuple[str, str]]:
    """Each attribute a verification compares: (its label, how it is written)."""
    return {name: (FIELDS[name], ATTRIBUTE_TEXT[name]) for name in VERIFY_ATTRIBUTES}


def action_texts() -> Mapping[str, str]:
    """Each scope, in the order of the policy's actions."""
    return {action: ACTION_TEXT[action] for action in ACTIONS}


DEFAULT_POLICY = Policy()
EXAMPLE_PURPOSE = next(iter(purposes()))
# A number whose digits follow the rules (Hà Nội, a woman born in 2003): DESIGN.md's example.
EXAMPLE_ID = "001303004512"
