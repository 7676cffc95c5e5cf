"""What the portal's pages call the registry's codes: record fields, audit actions, outcomes.

Each label is a message of the catalog (Vietnamese, the source language; core/i18n.py), marked
here and translated where it is shown.
"""

from __future__ import annotations

from core.i18n import N_, pgettext_noop

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
    "registry": pgettext_noop("audit action", "Nghiệp vụ của cán bộ"),
}

OUTCOMES = {
    "granted": N_("Được phép"),
    "denied": N_("Bị từ chối"),
    "not_found": N_("Không tìm thấy"),
    "error": N_("Lỗi"),
}

ACTORS = {
    "you": N_("Bạn"),
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
}

SIGN_IN_REASONS = {
    "credentials": N_("Sai mật khẩu"),
    "throttled": N_("Thử quá nhiều lần"),
    "locked": N_("Danh tính đang bị khóa"),
    "closed": N_("Danh tính đã đóng"),
    "passkey_required": N_("Cần khóa truy cập"),
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
}

ERRORS = {
    "lock_confirm": N_("Hãy đánh dấu ô xác nhận trước khi khóa."),
    "alias": N_("Thời hạn phải từ 1 đến 3650 ngày, ghi chú tối đa 64 ký tự."),
    "passkey_name": N_("Tên khóa truy cập phải có 1–64 ký tự."),
    "failed": N_("Không thực hiện được yêu cầu."),
}

# The portal page of a portal.view event, by the string naming it.
VIEWED_PAGES = {
    "record": N_("Hồ sơ của tôi"),
    "access": N_("Ai đã truy cập dữ liệu của tôi"),
    "access_csv": N_("Tải về (CSV)"),
    "access_proof": N_("Bằng chứng trong nhật ký kiểm toán"),
    "security": N_("Bảo mật"),
    "aliases": N_("Mã định danh thay thế"),
    "consents": N_("Dịch vụ đã cho phép"),
}
