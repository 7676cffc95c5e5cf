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
from core.inputs import OutsideTextRoute, ascii_int, is_ascii_digits
from core.text import ID_NUMBER_RE, csv_cell
from identity import accounts
from identity.services import IdentityServices
from identity.web import LANG_COOKIE, LOCALES, csrf_ok, pick_locale, set_cookie
from identity.web import TEXT as IDENTITY_TEXT
from registry.agency.policy import purposes
from registry.portal import service
from registry.portal.api import FIELD_LABELS, ServicesDep, portal_user
from registry.portal.service import AccessFilters
from registry.portal.session import SESSION_COOKIE, PortalUser, end_session
from registry.portal.web import render_page, strings
from registry.schemas import RECORD_FIELDS

router = APIRouter(route_class=OutsideTextRoute, include_in_schema=False)

Lang = Annotated[str | None, Query(max_length=2)]
EventUid = Annotated[str, Path(min_length=1, max_length=64)]

TEXT: dict[str, dict[str, str]] = {
    "vi": {
        "local_time": "giờ Việt Nam, UTC+7",
        "form_expired": "Biểu mẫu đã hết hạn. Vui lòng tải lại trang và thử lại.",
        "not_found": "Không tìm thấy.",
        "citizens_only": "Các trang này dành cho công dân đăng nhập bằng số định danh cá nhân.",
        "save": "Lưu",
        "remove": "Xóa",
        "revoke": "Thu hồi",
        "none": "Không có",
        # who accessed my data
        "access_intro": "Mọi lần dữ liệu của bạn được đọc hoặc đối chiếu đều được ghi vào nhật "
        "ký kiểm toán không thể sửa đổi, kể cả các lần tra cứu hàng loạt và các lần chính bạn "
        "xem các trang này. Lần mới nhất ở trên cùng.",
        "filter_agency": "Cơ quan, dịch vụ",
        "all_agencies": "Tất cả",
        "since": "Từ ngày",
        "until": "Đến ngày",
        "apply_filter": "Lọc",
        "download_csv": "Tải về (CSV)",
        "col_when": "Thời gian",
        "col_who": "Ai",
        "col_what": "Hành động",
        "col_fields": "Thông tin",
        "col_purpose": "Mục đích",
        "col_outcome": "Kết quả",
        "col_proof": "Bằng chứng",
        "show_proof": "Xem bằng chứng",
        "more": "Xem các lần cũ hơn",
        "no_events": "Không có lần truy cập nào phù hợp.",
        "bad_filter": "Bộ lọc không hợp lệ: ngày theo dạng NNNN-TT-NN, và “Từ ngày” không sau "
        "“Đến ngày”.",
        "actor_you": "Bạn",
        "actor_official": "Cán bộ",
        "actor_auditor": "Kiểm toán viên",
        "actor_administrator": "Quản trị viên",
        "actor_system": "Hệ thống",
        "official_inside": "cán bộ",
        "outcome.granted": "Được phép",
        "outcome.denied": "Bị từ chối",
        "outcome.not_found": "Không tìm thấy",
        "outcome.error": "Lỗi",
        "action.agency.verify": "Xác minh thông tin",
        "action.agency.lookup": "Tra cứu thông tin",
        "action.api.request": "Yêu cầu qua giao diện lập trình (API)",
        "action.oidc.authorize": "Cho phép dịch vụ đăng nhập",
        "action.oidc.token": "Dịch vụ nhận thông tin đăng nhập",
        "action.oidc.userinfo": "Dịch vụ đọc thông tin cá nhân",
        "action.portal.view": "Xem trên cổng thông tin",
        "action.identity.login": "Đăng nhập",
        "action.identity.logout": "Đăng xuất",
        "action.identity.consent": "Quyết định chia sẻ thông tin",
        "action.identity.consent.revoke": "Rút lại sự cho phép",
        "action.identity.lock": "Khóa danh tính điện tử",
        "action.identity.unlock": "Mở khóa danh tính điện tử",
        "action.identity.close": "Đóng danh tính điện tử",
        "action.identity.enrol": "Đăng ký danh tính điện tử",
        "action.identity.activate": "Kích hoạt mức 2",
        "action.identity.activation_code": "Cấp mã kích hoạt",
        "action.identity.passkey.add": "Thêm khóa truy cập",
        "action.identity.passkey.rename": "Đổi tên khóa truy cập",
        "action.identity.passkey.remove": "Xóa khóa truy cập",
        "action.alias.create": "Tạo mã định danh thay thế",
        "action.alias.revoke": "Thu hồi mã định danh thay thế",
        "action.audit.proof": "Lấy bằng chứng kiểm toán",
        "action.audit.own_log": "Xem nhật ký truy cập",
        "action.audit.search": "Kiểm toán viên tìm trong nhật ký",
        "action.audit.event_view": "Kiểm toán viên xem một sự kiện",
        "action.audit.export": "Kiểm toán viên xuất nhật ký",
        "action.registry": "Nghiệp vụ của cán bộ",
        "purpose.civil_registration": "Đăng ký hộ tịch",
        "purpose.residence_management": "Quản lý cư trú",
        # the proof of one event
        "proof_title": "Bằng chứng trong nhật ký kiểm toán",
        "proof_intro": "Sự kiện này nằm trong cây Merkle của nhật ký, và gốc của cây được ký "
        "bằng khóa Ed25519 của cơ quan đăng ký. Máy chủ vừa kiểm tra chữ ký và đường dẫn "
        "chứng minh; bạn cũng có thể tự kiểm tra bằng khóa công khai tại /api/v1/audit/public-key.",
        "verified": "đã xác minh",
        "proof_failed": "KHÔNG xác minh được",
        "unsequenced": "Sự kiện đã được ghi nhưng chưa được đưa vào cây Merkle. Vui lòng thử "
        "lại sau ít phút.",
        "uncovered": "Sự kiện đã vào cây Merkle nhưng chưa có điểm kiểm tra (checkpoint) đã ký "
        "bao gồm nó. Vui lòng thử lại sau ít phút.",
        "event_uid": "Mã sự kiện",
        "leaf_index": "Vị trí lá",
        "tree_size": "Kích thước cây",
        "root_hash": "Gốc (base64)",
        "checkpoint": "Điểm kiểm tra đã ký",
        "back_to_log": "Quay lại nhật ký truy cập",
        # security
        "security_intro": "Khóa truy cập, lịch sử đăng nhập và khóa danh tính điện tử của bạn.",
        "status": "Trạng thái",
        "status.active": "Đang hoạt động",
        "status.locked": "Đang bị khóa",
        "rename": "Đổi tên",
        "actions": "Thao tác",
        "passkey_js": "Cần bật JavaScript để thêm khóa truy cập.",
        "passkey_session": "Việc thêm khóa truy cập cần phiên đăng nhập của cổng định danh; nếu "
        "không được, hãy đăng xuất rồi đăng nhập lại.",
        "sign_ins": "Lịch sử đăng nhập",
        "no_sign_ins": "Chưa có lần đăng nhập nào.",
        "method": "Cách đăng nhập",
        "method.pwd": "Mật khẩu",
        "method.passkey": "Khóa truy cập",
        "reason": "Lý do",
        "reason.credentials": "Sai mật khẩu",
        "reason.throttled": "Thử quá nhiều lần",
        "reason.locked": "Danh tính đang bị khóa",
        "reason.closed": "Danh tính đã đóng",
        "reason.passkey_required": "Cần khóa truy cập",
        "lock_title": "Khóa danh tính điện tử",
        "lock_intro": "Nếu bạn nghi ngờ ai đó dùng danh tính điện tử của mình, hãy khóa nó. "
        "Khi bị khóa:",
        "lock_1": "không ai đăng nhập được bằng danh tính này, kể cả bạn: mọi phiên đăng nhập "
        "kết thúc ngay (cả cổng này) và mọi dịch vụ bạn đã cho phép bị thu hồi quyền truy cập;",
        "lock_2": "các cơ quan (ngân hàng, nhà mạng, thuế, ...) bị từ chối khi xác minh hay tra "
        "cứu thông tin của bạn, trừ các mục đích luật định:",
        "lock_3": "các lần truy cập luật định đó vẫn được ghi lại và hiện trong “Ai đã truy cập "
        "dữ liệu của tôi”; hồ sơ của bạn trong cơ sở dữ liệu quốc gia không thay đổi;",
        "lock_4": "bạn mở khóa bất cứ lúc nào bằng số định danh và mật khẩu, không cần đăng "
        "nhập, tại trang",
        "lock_confirm": "Tôi hiểu và muốn khóa danh tính điện tử của mình",
        "lock_button": "Khóa danh tính điện tử",
        "error.lock_confirm": "Hãy đánh dấu ô xác nhận trước khi khóa.",
        # unlock (public)
        "unlock_title": "Mở khóa danh tính điện tử",
        "unlock_intro": "Nếu chính bạn đã khóa danh tính điện tử của mình, hãy nhập số định "
        "danh và mật khẩu để mở khóa. Nếu danh tính bị khóa do nhập sai mật khẩu quá nhiều lần "
        "hoặc do cán bộ khóa, bạn cần mã kích hoạt do cán bộ cấp.",
        "id_number": "Số định danh cá nhân",
        "unlock_button": "Mở khóa",
        "now_locked": "Danh tính điện tử của bạn đã bị khóa và bạn đã được đăng xuất.",
        "unlocked": "Danh tính điện tử đã được mở khóa. Bạn có thể đăng nhập lại.",
        "unlock_wrong": "Số định danh hoặc mật khẩu không đúng.",
        "unlock_official": "Danh tính này không do bạn khóa: hãy đến cơ quan công an để được "
        "cấp mã kích hoạt.",
        "sign_in_again": "Đăng nhập",
        # aliases
        "aliases_intro": "Mã định danh thay thế là một dãy 16 chữ số bạn có thể đưa cho một dịch "
        "vụ thay cho số định danh cá nhân. Bạn thu hồi được bất cứ lúc nào, và thấy cơ quan nào "
        "đã dùng nó.",
        "alias": "Mã thay thế",
        "alias_copy": "Chọn mã để sao chép",
        "label": "Ghi chú",
        "valid_days": "Hiệu lực (ngày)",
        "create_alias": "Tạo mã mới",
        "expires": "Hết hạn",
        "state.active": "Đang dùng được",
        "state.revoked": "Đã thu hồi",
        "state.expired": "Đã hết hạn",
        "used_by": "Cơ quan đã dùng",
        "not_used": "Chưa cơ quan nào dùng",
        "no_aliases": "Bạn chưa có mã định danh thay thế nào.",
        "error.alias": "Thời hạn phải từ 1 đến 3650 ngày, ghi chú tối đa 64 ký tự.",
        # consents
        "consents_intro": "Các dịch vụ bạn đã cho phép nhận thông tin khi đăng nhập bằng danh "
        "tính điện tử. Rút lại sự cho phép thì dịch vụ không nhận thêm gì và mọi quyền truy "
        "cập đang có của nó bị thu hồi.",
        "service": "Dịch vụ",
        "scopes": "Thông tin được chia sẻ",
        "granted_at": "Cho phép lúc",
        "revoked_at": "Đã rút lại lúc",
        "no_consents": "Bạn chưa cho phép dịch vụ nào.",
        "scope.openid": "Mã nhận diện riêng cho dịch vụ",
        "scope.profile": "Họ và tên",
        "scope.birthdate": "Ngày sinh",
        "scope.gender": "Giới tính",
        "scope.address": "Địa chỉ thường trú",
        "scope.national_id": "Số định danh cá nhân",
        "scope.offline_access": "Truy cập khi bạn không đăng nhập",
        # after a form
        "done.renamed": "Đã đổi tên khóa truy cập.",
        "done.removed": "Đã xóa khóa truy cập.",
        "done.alias_created": "Đã tạo mã định danh thay thế mới.",
        "done.alias_revoked": "Đã thu hồi mã định danh thay thế.",
        "done.consent_revoked": "Đã rút lại sự cho phép.",
        "error.passkey_name": "Tên khóa truy cập phải có 1–64 ký tự.",
        "error.failed": "Không thực hiện được yêu cầu.",
    },
    "en": {
        "local_time": "Vietnam time, UTC+7",
        "form_expired": "The form expired. Reload the page and try again.",
        "not_found": "Not found.",
        "citizens_only": "These pages are for citizens signed in with their personal ID number.",
        "save": "Save",
        "remove": "Remove",
        "revoke": "Revoke",
        "none": "None",
        "access_intro": "Every time your data is read or checked it is written to an audit log "
        "that cannot be rewritten, bulk checks included, and so are your own visits to these "
        "pages. Newest first.",
        "filter_agency": "Agency or service",
        "all_agencies": "All",
        "since": "From",
        "until": "To",
        "apply_filter": "Filter",
        "download_csv": "Download (CSV)",
        "col_when": "When",
        "col_who": "Who",
        "col_what": "Action",
        "col_fields": "Information",
        "col_purpose": "Purpose",
        "col_outcome": "Outcome",
        "col_proof": "Proof",
        "show_proof": "See the proof",
        "more": "Older accesses",
        "no_events": "No access matches.",
        "bad_filter": "Invalid filter: dates are YYYY-MM-DD, and “From” must not be after “To”.",
        "actor_you": "You",
        "actor_official": "Official",
        "actor_auditor": "Auditor",
        "actor_administrator": "Administrator",
        "actor_system": "System",
        "official_inside": "officer",
        "outcome.granted": "Granted",
        "outcome.denied": "Refused",
        "outcome.not_found": "Not found",
        "outcome.error": "Error",
        "action.agency.verify": "Verification",
        "action.agency.lookup": "Lookup",
        "action.api.request": "Request through the API",
        "action.oidc.authorize": "Service sign-in authorised",
        "action.oidc.token": "Service received sign-in data",
        "action.oidc.userinfo": "Service read your profile",
        "action.portal.view": "Viewed in the portal",
        "action.identity.login": "Sign-in",
        "action.identity.logout": "Sign-out",
        "action.identity.consent": "Sharing decision",
        "action.identity.consent.revoke": "Consent withdrawn",
        "action.identity.lock": "Identity locked",
        "action.identity.unlock": "Identity unlocked",
        "action.identity.close": "Identity closed",
        "action.identity.enrol": "Electronic identity created",
        "action.identity.activate": "Level 2 activation",
        "action.identity.activation_code": "Activation code issued",
        "action.identity.passkey.add": "Passkey added",
        "action.identity.passkey.rename": "Passkey renamed",
        "action.identity.passkey.remove": "Passkey removed",
        "action.alias.create": "Alias created",
        "action.alias.revoke": "Alias revoked",
        "action.audit.proof": "Audit proof fetched",
        "action.audit.own_log": "Access log viewed",
        "action.audit.search": "Auditor searched the log",
        "action.audit.event_view": "Auditor viewed an event",
        "action.audit.export": "Auditor exported the log",
        "action.registry": "Official's work on the record",
        "purpose.civil_registration": "Civil registration",
        "purpose.residence_management": "Residence management",
        "proof_title": "Proof in the audit log",
        "proof_intro": "This event is a leaf of the log's Merkle tree, whose root is signed with "
        "the registry's Ed25519 key. The server has just checked the signature and the proof "
        "path; you can check them yourself with the public key at /api/v1/audit/public-key.",
        "verified": "verified",
        "proof_failed": "NOT verified",
        "unsequenced": "The event is recorded but not yet in the Merkle tree. Try again in a few "
        "minutes.",
        "uncovered": "The event is in the Merkle tree but no signed checkpoint covers it yet. "
        "Try again in a few minutes.",
        "event_uid": "Event id",
        "leaf_index": "Leaf index",
        "tree_size": "Tree size",
        "root_hash": "Root (base64)",
        "checkpoint": "Signed checkpoint",
        "back_to_log": "Back to the access log",
        "security_intro": "Your passkeys, your sign-in history, and locking your electronic "
        "identity.",
        "status": "Status",
        "status.active": "Active",
        "status.locked": "Locked",
        "rename": "Rename",
        "actions": "Actions",
        "passkey_js": "Adding a passkey needs JavaScript.",
        "passkey_session": "Adding a passkey needs your identity sign-in session; if it fails, "
        "sign out and sign in again.",
        "sign_ins": "Sign-in history",
        "no_sign_ins": "No sign-ins yet.",
        "method": "Method",
        "method.pwd": "Password",
        "method.passkey": "Passkey",
        "reason": "Reason",
        "reason.credentials": "Wrong password",
        "reason.throttled": "Too many attempts",
        "reason.locked": "Identity locked",
        "reason.closed": "Identity closed",
        "reason.passkey_required": "Passkey required",
        "lock_title": "Lock my electronic identity",
        "lock_intro": "If you think someone is using your electronic identity, lock it. While "
        "it is locked:",
        "lock_1": "nobody can sign in with it, you included: every sign-in session ends now "
        "(this portal's too) and every service you allowed loses its access;",
        "lock_2": "agencies (banks, telecoms, tax, ...) are refused when they verify or look up "
        "your data, except for statutory purposes:",
        "lock_3": "those statutory accesses are still recorded and shown in “Who accessed my "
        "data”; your record in the national database does not change;",
        "lock_4": "you can unlock it at any time with your ID number and password, without "
        "signing in, on the page",
        "lock_confirm": "I understand and want to lock my electronic identity",
        "lock_button": "Lock my electronic identity",
        "error.lock_confirm": "Tick the confirmation box before locking.",
        "unlock_title": "Unlock my electronic identity",
        "unlock_intro": "If you locked your electronic identity yourself, enter your ID number "
        "and password to unlock it. If it was locked after too many wrong passwords or by an "
        "official, you need an activation code from an official.",
        "id_number": "Personal ID number",
        "unlock_button": "Unlock",
        "now_locked": "Your electronic identity is locked and you have been signed out.",
        "unlocked": "Your electronic identity is unlocked. You can sign in again.",
        "unlock_wrong": "The ID number or the password is wrong.",
        "unlock_official": "You did not lock this identity yourself: ask the police for an "
        "activation code.",
        "sign_in_again": "Sign in",
        "aliases_intro": "An alias ID is a 16-digit number you can give a service instead of "
        "your personal ID number. You can revoke it at any time and see which agencies used it.",
        "alias": "Alias",
        "alias_copy": "Select the alias to copy it",
        "label": "Note",
        "valid_days": "Valid for (days)",
        "create_alias": "Create a new alias",
        "expires": "Expires",
        "state.active": "Usable",
        "state.revoked": "Revoked",
        "state.expired": "Expired",
        "used_by": "Used by",
        "not_used": "Not used by any agency",
        "no_aliases": "You have no alias IDs yet.",
        "error.alias": "Validity must be 1 to 3650 days, the note at most 64 characters.",
        "consents_intro": "The services you allowed to receive your information when you sign "
        "in with your electronic identity. Withdrawing consent stops them receiving anything "
        "more and revokes every access they hold.",
        "service": "Service",
        "scopes": "Information shared",
        "granted_at": "Allowed on",
        "revoked_at": "Withdrawn on",
        "no_consents": "You have not allowed any service.",
        "scope.openid": "An identifier for this service only",
        "scope.profile": "Full name",
        "scope.birthdate": "Date of birth",
        "scope.gender": "Gender",
        "scope.address": "Permanent address",
        "scope.national_id": "Personal ID number",
        "scope.offline_access": "Access while you are signed out",
        "field.id_number": "Personal ID number",
        "field.full_name": "Full name",
        "field.other_names": "Other names",
        "field.birth_date": "Date of birth",
        "field.gender": "Gender",
        "field.birth_province": "Province of birth registration",
        "field.birth_place": "Place of birth",
        "field.hometown": "Home town",
        "field.ethnicity": "Ethnicity",
        "field.religion": "Religion",
        "field.nationality": "Nationality",
        "field.marital_status": "Marital status",
        "field.blood_type": "Blood type",
        "field.permanent_address": "Permanent address",
        "field.temporary_address": "Temporary address",
        "field.current_address": "Current address",
        "field.household_id": "Household number",
        "field.household_relationship": "Relationship to the household head",
        "field.father_id_number": "Father's ID number",
        "field.father_name": "Father's name",
        "field.mother_id_number": "Mother's ID number",
        "field.mother_name": "Mother's name",
        "field.spouse_name": "Spouse's name",
        "field.status": "Status",
        "field.death_date": "Date of death",
        "field.card_number": "ID card number",
        "field.card_issue_date": "Card issue date",
        "field.card_issue_place": "Card issued by",
        "field.card_expiry_date": "Card valid until",
        "field.old_id_number": "Former ID number",
        "done.renamed": "The passkey was renamed.",
        "done.removed": "The passkey was removed.",
        "done.alias_created": "A new alias ID was created.",
        "done.alias_revoked": "The alias ID was revoked.",
        "done.consent_revoked": "Consent withdrawn.",
        "error.passkey_name": "A passkey name has 1-64 characters.",
        "error.failed": "The request could not be completed.",
    },
}


# ------------------------------------------------------------------------------ helpers


def words(locale: str, key: str, default: str | None = None) -> str:
    """A string of this module in the locale."""
    found = TEXT[locale].get(key)
    return found if found is not None else (default if default is not None else key)


def field_label(name: str, locale: str) -> str:
    """A record field or an OIDC claim, as the citizen reads it."""
    return (
        TEXT[locale].get("field." + name)
        or FIELD_LABELS.get(locale, {}).get(name)
        or IDENTITY_TEXT[locale].get("claim." + name)
        or name.replace("_", " ").capitalize()
    )


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
        context={"when": when, **(context or {})}, text=TEXT,
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
        return error_page(request, services, locale, words(locale, "citizens_only"), 403)
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
        return error_page(request, services, locale, words(locale, "form_expired"), 403)
    return user, fields


def notice(request: Request, locale: str) -> dict[str, str | None]:
    """The message a redirect after a form asked for (only known keys are shown)."""
    done, error = request.query_params.get("done"), request.query_params.get("error")
    shown_error = (
        (TEXT[locale].get(f"error.{error}") or words(locale, "error.failed")) if error else None
    )
    return {"done": TEXT[locale].get(f"done.{done}") if done else None, "error": shown_error}


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
            name += f" ({words(locale, 'official_inside')} {event['on_behalf_of']})"
        return name
    if kind == "citizen" and actor == me:
        return words(locale, "actor_you")
    return f"{words(locale, 'actor_' + kind, kind)} {actor}"


def action_label(action: str, locale: str) -> str:
    """An audit action in words (officials' registry.* actions share one label)."""
    found = TEXT[locale].get("action." + action)
    if found is None and action.startswith("registry."):
        return f"{words(locale, 'action.registry')} ({action.removeprefix('registry.')})"
    return found or action


def purpose_label(code: str | None, locale: str) -> str:
    """A purpose code's name (registry/data/purposes.csv), or the code itself."""
    if not code:
        return "—"
    found = purposes().get(code)
    if found is not None:
        return found.name_vi if locale == "vi" else found.name_en
    return TEXT[locale].get("purpose." + code) or code


def _field_order(name: str) -> tuple[int, str]:
    # The record's own order (the trail stores names sorted alphabetically).
    return (RECORD_FIELDS.index(name) if name in RECORD_FIELDS else len(RECORD_FIELDS), name)


# The portal page of a portal.view event, by the string naming it.
VIEWED_PAGES = {
    "record": "nav_record", "access": "nav_access", "access_csv": "download_csv",
    "access_proof": "proof_title", "security": "nav_security", "aliases": "nav_aliases",
    "consents": "nav_consents",
}  # fmt: skip


def what_label(event: Mapping[str, Any], locale: str) -> str:
    """The action in words; a portal view names the page that was seen."""
    label = action_label(event["action"], locale)
    viewed = VIEWED_PAGES.get(str(event["detail"].get("page")))
    if event["action"] == "portal.view" and viewed:
        label += ": " + {**strings(locale), **TEXT[locale]}[viewed]
    return label


def shown_event(event: Mapping[str, Any], me: str, locale: str) -> dict[str, Any]:
    """An audit event as a row of the access log."""
    return {
        "uid": event["event_uid"], "when": when(event["occurred_at"]),
        "who": actor_label(event, me, locale), "what": what_label(event, locale),
        "fields": [field_label(f, locale) for f in sorted(event["fields"], key=_field_order)],
        "purpose": purpose_label(event["purpose"], locale), "outcome_code": event["outcome"],
        "outcome": words(locale, "outcome." + event["outcome"], event["outcome"]),
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
        return error_page(request, services, locale, words(locale, "bad_filter"), 400)
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
        return error_page(request, services, locale, words(locale, "not_found"), 404)
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
        {**s, "method": words(locale, "method." + s["method"], s["method"] or "—"),
         "reason": words(locale, "reason." + s["reason"], s["reason"]) if s["reason"] else "",
         "outcome": words(locale, "outcome." + s["outcome"], s["outcome"]),
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
    message = {"done": words(locale, "unlocked")}.get(state or "")
    if request.query_params.get("locked") == "1":
        message = words(locale, "now_locked")
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
        return error_page(request, services, locale, words(locale, "form_expired"), 403)
    login, password = fields.get("id_number", "").strip()[:12], fields.get("password", "")[:1024]

    def again(key: str, status_code: int) -> Response:
        message = IDENTITY_TEXT[locale]["throttled"] if key == "throttled" else words(locale, key)
        return page(
            request, services, "citizen_unlock.html", locale=locale, status_code=status_code,
            context={"error": message, "id_number": login},
        )  # fmt: skip

    if not ID_NUMBER_RE.fullmatch(login):
        return again("unlock_wrong", 401)
    try:
        account = await service.unlock_identity(
            session, services.ctx, login=login, password=password,
            client_ip=request.client.host if request.client else None,
        )  # fmt: skip
    except accounts.AccountLocked:
        return again("unlock_official", 403)
    except RegistryError as exc:
        await failed(session, exc)
        if exc.status == 429:
            return again("throttled", 429)
        return again("unlock_wrong" if exc.status == 401 else "error.failed", exc.status)
    if account.status != "active":  # locked by failures or an official: a code is needed
        return again("unlock_official", 403)
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
        {**c, "scopes": [words(locale, "scope." + s, s) for s in c["scopes"]]}
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
