"""Error pages for browsers: not found, server error, locked identity, expired session, ...

Installed on ``app.state.error_pages`` by the composition root; core's handlers call it for a
request whose Accept names text/html, so a person reads a page in their language with a way
on, while API clients keep RFC 9457 problem+json.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Request
from fastapi.responses import Response

from core.errors import RegistryError
from core.i18n import N_
from identity.web import pick_locale
from registry.portal.web import gettext, render_page


@dataclass(frozen=True)
class ErrorText:
    """What the page says: a title, a sentence, and where to go on."""

    title: str
    message: str
    link: str
    link_text: str


HOME = ("/portal", N_("Về trang chủ cổng thông tin"))
SIGN_IN = ("/portal/login", N_("Đăng nhập lại"))

# By the error's stable code first, then by its status.
BY_CODE = {
    "identity-locked": ErrorText(
        N_("Danh tính điện tử đang bị khóa"),
        N_(
            "Danh tính điện tử của bạn đang bị khóa, nên không dịch vụ nào đăng nhập hay đọc "
            "được thông tin của bạn. Bạn có thể mở khóa bằng khóa truy cập hoặc mã kích hoạt."
        ),
        "/portal/unlock",
        N_("Mở khóa danh tính điện tử"),
    ),
    "identity-closed": ErrorText(
        N_("Danh tính điện tử đã đóng"),
        N_("Danh tính điện tử này đã đóng và không thể dùng để đăng nhập."),
        *HOME,
    ),
    "passkey-required": ErrorText(
        N_("Cần đăng nhập bằng khóa truy cập"),
        N_("Trang này cần đăng nhập bằng khóa truy cập (passkey)."),
        *SIGN_IN,
    ),
}
BY_STATUS = {
    401: ErrorText(
        N_("Phiên đăng nhập đã hết hạn"),
        N_("Phiên đăng nhập của bạn đã hết hạn hoặc bạn chưa đăng nhập. Vui lòng đăng nhập lại."),
        *SIGN_IN,
    ),
    403: ErrorText(
        N_("Không có quyền truy cập"),
        N_("Bạn không có quyền xem trang này."),
        *HOME,
    ),
    404: ErrorText(
        N_("Không tìm thấy trang"),
        N_("Địa chỉ này không có trang nào. Có thể liên kết đã cũ hoặc bị gõ sai."),
        *HOME,
    ),
    405: ErrorText(
        N_("Không tìm thấy trang"),
        N_("Địa chỉ này không có trang nào. Có thể liên kết đã cũ hoặc bị gõ sai."),
        *HOME,
    ),
    429: ErrorText(
        N_("Quá nhiều yêu cầu"),
        N_("Bạn đã gửi quá nhiều yêu cầu trong thời gian ngắn. Vui lòng đợi một lát rồi thử lại."),
        *HOME,
    ),
    503: ErrorText(
        N_("Hệ thống tạm thời gián đoạn"),
        N_("Hệ thống đang tạm thời không phục vụ được. Vui lòng thử lại sau ít phút."),
        *HOME,
    ),
}
BAD_REQUEST = ErrorText(
    N_("Yêu cầu không hợp lệ"),
    N_("Yêu cầu gửi lên không hợp lệ. Vui lòng quay lại trang trước và thử lại."),
    *HOME,
)
SERVER_ERROR = ErrorText(
    N_("Đã có lỗi xảy ra"),
    N_("Hệ thống gặp lỗi khi xử lý yêu cầu của bạn. Lỗi đã được ghi lại; vui lòng thử lại sau."),
    *HOME,
)


def text_of(error: RegistryError) -> ErrorText:
    """What the page of ``error`` says."""
    found = BY_CODE.get(error.code) or BY_STATUS.get(error.status)
    if found is not None:
        return found
    return BAD_REQUEST if 400 <= error.status < 500 else SERVER_ERROR


def error_page(request: Request, error: RegistryError) -> Response:
    """The page of ``error`` in the browser's language, with the error's status and headers."""
    locale = pick_locale(request)
    text = text_of(error)
    response = render_page(
        request,
        request.app.state.settings,
        "error_page.html",
        locale=locale,
        status_code=error.status,
        context={
            "title": gettext(locale, text.title),
            "message": gettext(locale, text.message),
            "link": text.link,
            "link_text": gettext(locale, text.link_text),
            "status": error.status,
            "request_id": getattr(request.state, "request_id", None),
        },
    )
    for name, value in error.headers.items():
        response.headers.setdefault(name, value)
    return response
