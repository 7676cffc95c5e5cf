"""What the pages call the registry's codes: record fields and values, audit actions, outcomes.

Each label is a message of the catalog (Vietnamese, the source language; core/i18n.py), marked
here and translated where it is shown. The value helpers (``value_text``, ``date_text``,
``time_text``, ``province_name``, ...) are the one place where a page turns a stored value into
words: every page of the registry (portal, console, officials' workspace) uses them.
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date, datetime
from typing import Any

from babel import Locale

from core.clock import VIETNAM_TIME, date_text, time_text
from core.i18n import N_, pgettext_noop
from registry.agency.policy import purposes
from registry.portal.web import gettext
from registry.portal.web import translations as translations_of
from registry.refdata import ethnic_groups, province_table

# The audit actions' labels are one context: the same Vietnamese words name a page elsewhere.
ACTION_CONTEXT = "audit action"

# A record field as the citizen reads it (registry.schemas.RECORD_FIELDS).
FIELDS = {
    "id_number": N_("Số định danh cá nhân"),
    "full_name": N_("Họ, chữ đệm và tên"),
    "other_names": N_("Tên gọi khác"),
    "birth_date": N_("Ngày sinh"),
    "gender": N_("Giới tính"),
    "birth_province": N_("Nơi đăng ký khai sinh"),
    "birth_place": N_("Nơi sinh"),
    "hometown": N_("Quê quán"),
    "ethnicity": N_("Dân tộc"),
    "religion": N_("Tôn giáo"),
    "nationality": N_("Quốc tịch"),
    "marital_status": N_("Tình trạng hôn nhân"),
    "blood_type": N_("Nhóm máu"),
    "permanent_address": N_("Nơi thường trú"),
    "temporary_address": N_("Nơi tạm trú"),
    "current_address": N_("Nơi ở hiện tại"),
    "household_id": N_("Số hộ"),
    "household_relationship": N_("Quan hệ với chủ hộ"),
    "father_id_number": N_("Số định danh cá nhân của cha"),
    "father_name": N_("Họ tên cha"),
    "father_nationality": N_("Quốc tịch của cha"),
    "mother_id_number": N_("Số định danh cá nhân của mẹ"),
    "mother_name": N_("Họ tên mẹ"),
    "mother_nationality": N_("Quốc tịch của mẹ"),
    "spouse_id_number": N_("Số định danh cá nhân của vợ hoặc chồng"),
    "spouse_name": N_("Họ tên vợ hoặc chồng"),
    "spouse_nationality": N_("Quốc tịch của vợ hoặc chồng"),
    "spouse_passport_number": N_("Số hộ chiếu của vợ hoặc chồng"),
    "representative_id_number": N_("Số định danh cá nhân của người đại diện"),
    "representative_name": N_("Họ tên người đại diện"),
    "representative_nationality": N_("Quốc tịch của người đại diện"),
    "status": N_("Tình trạng"),
    "death_date": N_("Ngày mất"),
    "missing_date": N_("Ngày được xác định mất tích"),
    "card_number": N_("Số thẻ căn cước"),
    "card_issue_date": N_("Ngày cấp thẻ"),
    "card_issue_place": N_("Nơi cấp thẻ"),
    "card_expiry_date": N_("Thẻ có giá trị đến"),
    "old_id_number": N_("Số CMND cũ"),
}

ACTIONS = {
    "agency.verify": pgettext_noop("audit action", "Xác minh thông tin"),
    "agency.lookup": pgettext_noop("audit action", "Tra cứu thông tin"),
    "api.request": pgettext_noop("audit action", "Yêu cầu qua giao diện lập trình (API)"),
    "oidc.authorize": pgettext_noop("audit action", "Cho phép dịch vụ đăng nhập"),
    "oidc.token": pgettext_noop("audit action", "Dịch vụ nhận thông tin đăng nhập"),
    "oidc.userinfo": pgettext_noop("audit action", "Dịch vụ đọc thông tin cá nhân"),
    "portal.view": pgettext_noop("audit action", "Xem trên cổng thông tin"),
    "identity.login": pgettext_noop("audit action", "Đăng nhập"),
    "identity.logout": pgettext_noop("audit action", "Đăng xuất"),
    "identity.consent": pgettext_noop("audit action", "Quyết định chia sẻ thông tin"),
    "identity.consent.revoke": pgettext_noop("audit action", "Rút lại sự cho phép"),
    "identity.lock": pgettext_noop("audit action", "Khóa danh tính điện tử"),
    "identity.unlock": pgettext_noop("audit action", "Mở khóa danh tính điện tử"),
    "identity.close": pgettext_noop("audit action", "Đóng danh tính điện tử"),
    "identity.enrol": pgettext_noop("audit action", "Đăng ký danh tính điện tử"),
    "identity.activate": pgettext_noop("audit action", "Kích hoạt mức 2"),
    "identity.activation_code": pgettext_noop("audit action", "Cấp mã kích hoạt"),
    "identity.passkey.add": pgettext_noop("audit action", "Thêm khóa truy cập"),
    "identity.passkey.rename": pgettext_noop("audit action", "Đổi tên khóa truy cập"),
    "identity.passkey.remove": pgettext_noop("audit action", "Xóa khóa truy cập"),
    "identity.passkey.proof": pgettext_noop("audit action", "Xác nhận bằng khóa truy cập"),
    "identity.password.change": pgettext_noop("audit action", "Đổi mật khẩu"),
    "identity.password.recover": pgettext_noop("audit action", "Đặt lại mật khẩu đã quên"),
    "identity.sessions.end": pgettext_noop("audit action", "Đăng xuất thiết bị"),
    "identity.staff.create": pgettext_noop("audit action", "Tạo tài khoản cán bộ"),
    "identity.staff.disable": pgettext_noop("audit action", "Vô hiệu hóa tài khoản cán bộ"),
    "identity.staff.enable": pgettext_noop("audit action", "Kích hoạt lại tài khoản cán bộ"),
    "identity.staff.roles": pgettext_noop("audit action", "Đổi vai trò cán bộ"),
    "identity.staff.reset": pgettext_noop("audit action", "Cấp lại khóa truy cập của cán bộ"),
    "identity.staff.enrol": pgettext_noop("audit action", "Cán bộ dùng mã đăng ký"),
    "identity.staff.view": pgettext_noop("audit action", "Xem tài khoản cán bộ"),
    "alias.create": pgettext_noop("audit action", "Tạo mã định danh thay thế"),
    "alias.revoke": pgettext_noop("audit action", "Thu hồi mã định danh thay thế"),
    "audit.proof": pgettext_noop("audit action", "Lấy bằng chứng kiểm toán"),
    "audit.own_log": pgettext_noop("audit action", "Xem nhật ký truy cập"),
    "audit.search": pgettext_noop("audit action", "Kiểm toán viên tìm trong nhật ký"),
    "audit.event_view": pgettext_noop("audit action", "Kiểm toán viên xem một sự kiện"),
    "audit.export": pgettext_noop("audit action", "Kiểm toán viên xuất nhật ký"),
    "audit.consistency": pgettext_noop("audit action", "Kiểm tra tính nhất quán của nhật ký"),
    "access.dispute": pgettext_noop("audit action", "Đặt câu hỏi về một lần truy cập"),
    "access.dispute_status": pgettext_noop("audit action", "Cập nhật câu hỏi về lần truy cập"),
    "registry": pgettext_noop("audit action", "Nghiệp vụ của cán bộ"),
    "agency.verify_batch": pgettext_noop("audit action", "Xác minh thông tin hàng loạt"),
    "agency.activate": pgettext_noop("audit action", "Kích hoạt cơ quan"),
    "agency.suspend": pgettext_noop("audit action", "Tạm dừng cơ quan"),
    "agency.policy": pgettext_noop("audit action", "Đặt chính sách truy cập của cơ quan"),
}

# The officials' work (registry.<kind> actions, registry/door.py).
REGISTRY_WORK = {
    "read": pgettext_noop("audit action", "Xem hồ sơ"),
    "history": pgettext_noop("audit action", "Xem lịch sử hồ sơ"),
    "search": pgettext_noop("audit action", "Tìm kiếm công dân"),
    "birth": pgettext_noop("audit action", "Đăng ký khai sinh"),
    "death": pgettext_noop("audit action", "Đăng ký khai tử"),
    "missing": pgettext_noop("audit action", "Ghi nhận mất tích"),
    "residence": pgettext_noop("audit action", "Thay đổi nơi cư trú"),
    "marriage": pgettext_noop("audit action", "Đăng ký kết hôn"),
    "divorce": pgettext_noop("audit action", "Ghi nhận ly hôn"),
    "name_change": pgettext_noop("audit action", "Thay đổi họ tên"),
    "gender_change": pgettext_noop("audit action", "Xác định lại giới tính"),
    "correction": pgettext_noop("audit action", "Cải chính thông tin"),
    "import_batch": pgettext_noop("audit action", "Nhập dữ liệu hàng loạt"),
}

# Why something was refused: the detail's reason or refusal (a problem code), in words.
DENIAL_REASONS = {
    "missing_role": N_("Không có vai trò được phép"),
    "missing_scope": N_("Thiếu phạm vi truy cập cần thiết"),
    "citizens_only": N_("Trang chỉ dành cho công dân"),
    "not_auditor": N_("Không phải kiểm toán viên"),
    "passkey_required": N_("Cần đăng nhập bằng khóa truy cập"),
    "passkey-required": N_("Cần đăng nhập bằng khóa truy cập"),
    "passkey-proof-invalid": N_("Xác nhận bằng khóa truy cập không hợp lệ hoặc đã hết hạn"),
    "not_questionable": N_("Không phải lần truy cập của người khác vào dữ liệu của công dân"),
    "credentials": N_("Sai mật khẩu"),
    "throttled": N_("Thử quá nhiều lần"),
    "locked": N_("Danh tính đang bị khóa"),
    "closed": N_("Danh tính đã đóng"),
    "replaced": N_("Hồ sơ đã được thay bằng số định danh mới"),
    "deceased": N_("Công dân đã mất"),
    "missing": N_("Công dân đang mất tích"),
    "married": N_("Đã có vợ hoặc chồng"),
    "not_married": N_("Công dân chưa kết hôn"),
    "spouse_link": N_("Hồ sơ vợ chồng không khớp nhau"),
    "action-not-allowed": N_("Cơ quan không được phép thực hiện thao tác này"),
    "purpose-not-allowed": N_("Mục đích không được phép"),
    "field-not-allowed": N_("Trường thông tin ngoài phạm vi được phép"),
    "identity-locked": N_("Danh tính đang bị khóa"),
    "identity-closed": N_("Danh tính đã đóng"),
    "citizen-deceased": N_("Công dân đã mất"),
    "alias-invalid": N_("Mã định danh thay thế đã bị thu hồi hoặc hết hạn"),
    "agency-suspended": N_("Cơ quan đang bị tạm dừng"),
    "rate-limited": N_("Vượt giới hạn số lần gọi"),
    "not-found": N_("Không tìm thấy"),
    "unauthenticated": N_("Chưa xác thực"),
    "forbidden": N_("Không có quyền"),
    "validation-failed": N_("Dữ liệu gửi lên không hợp lệ"),
    "conflict": N_("Xung đột với dữ liệu đã ghi"),
    "passkey-invalid": N_("Khóa truy cập không được chấp nhận"),
    "passkey-counter": N_("Bộ đếm của khóa truy cập không tăng"),
}

OUTCOMES = {
    "granted": N_("Được phép"),
    "denied": N_("Bị từ chối"),
    "not_found": N_("Không tìm thấy"),
    "error": N_("Lỗi"),
}

ACTORS = {
    "you": N_("Bạn"),
    "agency": N_("Cơ quan, dịch vụ"),
    "citizen": N_("Công dân"),
    "official": N_("Cán bộ"),
    "auditor": N_("Kiểm toán viên"),
    "administrator": N_("Quản trị viên"),
    "system": N_("Hệ thống"),
}

# Purposes the registry's own officials record (agency purposes are in registry/data/purposes.csv).
PURPOSES = {
    "civil_registration": N_("Đăng ký hộ tịch"),
    "residence_management": N_("Quản lý cư trú"),
}

SIGN_IN_METHODS = {
    "pwd": N_("Mật khẩu"),
    "passkey": N_("Khóa truy cập"),
    "code": N_("Mã kích hoạt"),
}

SIGN_IN_REASONS = {
    "credentials": N_("Sai mật khẩu"),
    "throttled": N_("Thử quá nhiều lần"),
    "locked": N_("Danh tính đang bị khóa"),
    "closed": N_("Danh tính đã đóng"),
    "passkey_required": N_("Cần khóa truy cập"),
    "proof": N_("Xác nhận bằng khóa truy cập không hợp lệ"),
    "official": N_("Do cán bộ khóa"),
}

SCOPES = {
    "openid": N_("Mã nhận diện riêng cho dịch vụ"),
    "profile": N_("Họ và tên"),
    "birthdate": N_("Ngày sinh"),
    "gender": N_("Giới tính"),
    "address": N_("Địa chỉ thường trú"),
    "national_id": N_("Số định danh cá nhân"),
    "offline_access": N_("Truy cập khi bạn không đăng nhập"),
}

# After a form: what was done, or what went wrong (the redirect names it by key).
DONE = {
    "renamed": N_("Đã đổi tên khóa truy cập."),
    "removed": N_("Đã xóa khóa truy cập."),
    "alias_created": N_("Đã tạo mã định danh thay thế mới."),
    "alias_revoked": N_("Đã thu hồi mã định danh thay thế."),
    "consent_revoked": N_("Đã rút lại sự cho phép."),
    "questioned": N_("Đã gửi câu hỏi. Kiểm toán viên sẽ xem xét và trả lời."),
}

ERRORS = {
    "lock_confirm": N_("Hãy đánh dấu ô xác nhận trước khi khóa."),
    "alias": N_("Thời hạn phải từ 1 đến 3650 ngày, ghi chú tối đa 64 ký tự."),
    "passkey_name": N_("Tên khóa truy cập phải có 1–64 ký tự."),
    "failed": N_("Không thực hiện được yêu cầu."),
    "question": N_("Câu hỏi tối đa 500 ký tự."),
    "questioned_before": N_("Lần truy cập này đã được hỏi trước đó."),
}

# Where a citizen's question about an access stands (registry/portal/disputes.py).
DISPUTE_STATUSES = {
    "open": N_("Đang chờ trả lời"),
    "answered": N_("Đã trả lời"),
    "closed": N_("Đã đóng"),
}

# The portal page of a portal.view event, by the string naming it.
VIEWED_PAGES = {
    "record": N_("Hồ sơ của tôi"),
    "access": N_("Ai đã truy cập dữ liệu của tôi"),
    "access_csv": N_("Tải về (CSV)"),
    "access_proof": N_("Bằng chứng trong nhật ký kiểm toán"),
    "access_question": N_("Đặt câu hỏi về lần truy cập"),
    "security": N_("Bảo mật"),
    "aliases": N_("Mã định danh thay thế"),
    "consents": N_("Dịch vụ đã cho phép"),
    "console_disputes": N_("Câu hỏi của công dân về các lần truy cập"),
}


# ------------------------------------------------------------------------------ values by name
# A record's coded values as a person reads them (Law on Citizen Identification 2014 Art. 9).

GENDERS = {"male": N_("Nam"), "female": N_("Nữ")}

MARITAL = {
    "single": N_("Chưa kết hôn"),
    "married": N_("Đã kết hôn"),
    "divorced": N_("Đã ly hôn"),
    "widowed": N_("Góa"),
}

STATUSES = {
    "alive": N_("Còn sống"),
    "deceased": N_("Đã mất"),
    "missing": N_("Mất tích"),
}

# Blood types: the ABO group, "-" for Rh negative (registry.codes.BLOOD_TYPES).
RH_NEGATIVE = N_("{group}, Rh âm")

# Religions as the register words them (the state's recognised religions and their
# organisations); the stored text is the Vietnamese name, translated where it is known.
RELIGIONS = (
    N_("Phật giáo"),
    N_("Công giáo"),
    N_("Tin lành"),
    N_("Cao Đài"),
    N_("Phật giáo Hòa Hảo"),
    N_("Hồi giáo"),
    N_("Bà La Môn"),
    N_("Tôn giáo Baha'i"),
    N_("Tịnh độ Cư sĩ Phật hội Việt Nam"),
    N_("Cơ đốc Phục lâm"),
    N_("Phật giáo Tứ Ân Hiếu Nghĩa"),
    N_("Bửu Sơn Kỳ Hương"),
    N_("Minh Sư Đạo"),
    N_("Minh Lý Đạo"),
    N_("Giáo hội Phật đường Nam tông Minh Sư đạo"),
    N_("Mặc môn"),
)

# The relationship to the head of household, as the household book words it.
HOUSEHOLD_RELATIONSHIPS = (
    N_("Chủ hộ"),
    N_("Vợ"),
    N_("Chồng"),
    N_("Con"),
    N_("Con dâu"),
    N_("Con rể"),
    N_("Cha"),
    N_("Mẹ"),
    N_("Cha vợ"),
    N_("Mẹ vợ"),
    N_("Cha chồng"),
    N_("Mẹ chồng"),
    N_("Cháu"),
    N_("Người thân"),
)
_KNOWN_TEXT = frozenset((*RELIGIONS, *HOUSEHOLD_RELATIONSHIPS))
_KNOWN_FOLDED = {t.casefold(): t for t in _KNOWN_TEXT}


def translate(locale: str, message: str) -> str:
    """One of the registry's messages in ``locale`` (the portal's catalogs)."""
    return gettext(locale, message)


def coded_name(table: Mapping[str, str], code: str | None, locale: str) -> str | None:
    """The name of ``code`` in one of the tables above, in ``locale``; None if unknown."""
    found = table.get(code) if code is not None else None
    return translate(locale, found) if found is not None else None


def partial_date_text(value: date | None, precision: str | None) -> str:
    """A date known to the day (dd/mm/yyyy), the month (mm/yyyy) or the year (yyyy)."""
    if value is None:
        return ""
    if precision == "year":
        return f"{value.year:04d}"
    if precision == "month":
        return f"{value.month:02d}/{value.year:04d}"
    return date_text(value)


def day_text(value: datetime) -> str:
    """The Vietnam-time day of an instant: dd/mm/yyyy."""
    return date_text(value.astimezone(VIETNAM_TIME).date())


def province_name(code: str | None) -> str:
    """A province's name from its three-digit code (Circular 07/2016/TT-BCA Appendix 1)."""
    if not code:
        return ""
    return province_table().name(code) or code


def ethnicity_name(code: str | None) -> str:
    """An ethnic group's name from its two-digit code (the 54 recognised groups)."""
    if not code:
        return ""
    return ethnic_groups().get(code) or code


def nationality_name(code: str | None, locale: str) -> str:
    """A country's name in ``locale`` from its ISO 3166 alpha-2 code (CLDR, via Babel)."""
    if not code:
        return ""
    return _territories(locale).get(code.upper(), code)


@functools.cache
def _territories(locale: str) -> Mapping[str, str]:
    return dict(Locale.parse(locale).territories)


def known_text(value: str, locale: str) -> str:
    """Stored Vietnamese text (a religion, a household relationship) in ``locale`` when it is
    one the catalogs know, else as stored."""
    found = _KNOWN_FOLDED.get(value.casefold())
    return translate(locale, found) if found is not None else value


def blood_type_text(code: str, locale: str) -> str:
    """A blood type: the ABO group, and "Rh negative" in words."""
    if code.endswith("-"):
        return translate(locale, RH_NEGATIVE).format(group=code[:-1])
    return code


def action_text(action: str, locale: str) -> str:
    """An audit action in words (an official's work by its kind)."""
    found = ACTIONS.get(action)
    if found is None and action.startswith("registry."):
        found = REGISTRY_WORK.get(action.removeprefix("registry."), ACTIONS["registry"])
    if found is None:
        return action
    return translations_of(locale).pgettext(ACTION_CONTEXT, found)


def reason_text(detail: Mapping[str, Any], locale: str) -> str:
    """Why an event was refused, in words, from its detail ("" when it does not say)."""
    code = detail.get("reason") or detail.get("refusal")
    if not isinstance(code, str) or not code:
        return ""
    return coded_name(DENIAL_REASONS, code, locale) or code


def purpose_text(code: str | None, locale: str) -> str:
    """A purpose by name (registry/data/purposes.csv, or the officials' own), "" for none."""
    if not code:
        return ""
    found = purposes().get(code)
    if found is not None:
        return found.name_vi if locale == "vi" else found.name_en
    return coded_name(PURPOSES, code, locale) or code


def value_text(name: str, value: Any, locale: str, *, precision: str | None = None) -> str:
    """One field of a record as a person reads it: names, not codes; dates dd/mm/yyyy.

    ``precision`` is the birth date's (day, month or year). Empty text for an empty value.
    """
    if value is None or value == "":
        return ""
    if name == "gender":
        return coded_name(GENDERS, value, locale) or str(value)
    if name == "marital_status":
        return coded_name(MARITAL, value, locale) or str(value)
    if name == "status":
        return coded_name(STATUSES, value, locale) or str(value)
    if name == "birth_province":
        return province_name(value)
    if name == "ethnicity":
        return ethnicity_name(value)
    if name == "nationality" or name.endswith("_nationality"):
        return nationality_name(value, locale)
    if name == "blood_type":
        return blood_type_text(value, locale)
    if name in ("religion", "household_relationship"):
        return known_text(value, locale)
    if name == "birth_date":
        return partial_date_text(value, precision)
    if isinstance(value, datetime):
        return time_text(value)
    if isinstance(value, date):
        return date_text(value)
    return str(value)


# ------------------------------------------------------------------------------ a record, grouped
# The record page's cards: each a heading and its fields in the order people expect them on the
# card and the household book. A relative's three fields (ID number, name, nationality) are one
# row under the relative's name.

RECORD_GROUPS: tuple[tuple[str, str, tuple[str, ...]], ...] = (
    (
        "identity",
        N_("Thông tin định danh"),
        (
            "full_name",
            "other_names",
            "id_number",
            "old_id_number",
            "gender",
            "ethnicity",
            "religion",
            "nationality",
            "blood_type",
            "status",
            "death_date",
            "missing_date",
        ),
    ),
    ("birth", N_("Khai sinh"), ("birth_date", "birth_province", "birth_place", "hometown")),
    (
        "residence",
        N_("Cư trú"),
        (
            "permanent_address",
            "temporary_address",
            "current_address",
            "household_id",
            "household_relationship",
        ),
    ),
    ("family", N_("Gia đình"), ("marital_status", "father", "mother", "spouse", "representative")),
    (
        "card",
        N_("Thẻ căn cước"),
        ("card_number", "card_issue_date", "card_issue_place", "card_expiry_date"),
    ),
)

RELATIVES = {
    "father": N_("Cha"),
    "mother": N_("Mẹ"),
    "spouse": N_("Vợ hoặc chồng"),
    "representative": N_("Người đại diện"),
}
RELATIVE_ID = N_("Số định danh: {number}")
RELATIVE_NATIONALITY = N_("Quốc tịch: {country}")
HOME_COUNTRY = "VN"


def _relative(who: str, values: Mapping[str, Any], locale: str) -> str:
    """A relative in one line: the name, their ID number, and a nationality other than ours."""
    name = values.get(f"{who}_name")
    number = values.get(f"{who}_id_number")
    country = values.get(f"{who}_nationality")
    parts = [str(name)] if name else []
    if number:
        parts.append(translate(locale, RELATIVE_ID).format(number=number))
    if country and country != HOME_COUNTRY:
        shown = nationality_name(country, locale)
        parts.append(translate(locale, RELATIVE_NATIONALITY).format(country=shown))
    return " · ".join(parts)


def _applies(name: str, values: Mapping[str, Any]) -> bool:
    """Whether a row means something for this person (a living person has no death date)."""
    status = values.get("status")
    if name == "status":
        return status not in (None, "alive")
    if name == "death_date":
        return status == "deceased"
    if name == "missing_date":
        return status == "missing"
    return True


def record_sections(
    values: Mapping[str, Any], changed: Mapping[str, date], locale: str
) -> list[dict[str, Any]]:
    """The record as cards: [{key, title, rows: [{name, label, value, changed}]}], with empty
    and not-applicable rows left out, every value by name and every date dd/mm/yyyy."""
    sections: list[dict[str, Any]] = []
    for key, title, names in RECORD_GROUPS:
        rows: list[dict[str, Any]] = []
        for name in names:
            if name in RELATIVES:
                text = _relative(name, values, locale)
                label = translate(locale, RELATIVES[name])
                fields = [f"{name}_id_number", f"{name}_name", f"{name}_nationality"]
                when = max((changed[f] for f in fields if f in changed), default=None)
            else:
                if not _applies(name, values):
                    continue
                precision = values.get("birth_date_precision")
                text = value_text(name, values.get(name), locale, precision=precision)
                label = translate(locale, FIELDS[name])
                when = changed.get(name)
            if text:
                rows.append({"name": name, "label": label, "value": text, "changed": when})
        if rows:
            sections.append({"key": key, "title": translate(locale, title), "rows": rows})
    return sections
