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
from audit.gate import named_subject
from audit.models import ACTOR_TYPES, OUTCOMES
from core.auth import Principal
from core.clock import utcnow
from core.db import Database
from core.deps import DatabaseDep, SessionDep, SettingsDep
from core.errors import NotFound, ValidationFailed
from core.headers import NO_STORE
from core.inputs import OutsideTextRoute
from core.settings import Settings
from identity.web import PAGE_HEADERS, pick_locale
from registry.agency.policy import purposes
from registry.portal import console_service as service
from registry.portal.service import record_view
from registry.portal.session import current_user
from registry.portal.web import render_page

router = APIRouter(route_class=OutsideTextRoute, include_in_schema=False)
LangQuery = Annotated[str | None, Query(max_length=2)]
EventUid = Annotated[str, Path(min_length=1, max_length=64)]

TEXT: dict[str, dict[str, str]] = {
    "vi": {
        "search_title": "Tìm kiếm nhật ký truy cập",
        "f_subject": "Số định danh cá nhân (chủ thể dữ liệu)",
        "f_actor_id": "Mã tác nhân",
        "f_actor_type": "Loại tác nhân",
        "f_action": "Hành động",
        "f_purpose": "Mục đích",
        "f_outcome": "Kết quả",
        "f_since": "Từ thời điểm",
        "f_until": "Đến thời điểm",
        "time_hint": "Giờ Việt Nam (UTC+7). Chỉ nhập ngày thì tính trọn ngày đó.",
        "any": "Tất cả",
        "search": "Tìm kiếm",
        "results": "Kết quả tìm kiếm",
        "col_when": "Thời điểm (UTC+7)",
        "col_actor": "Tác nhân",
        "col_subject": "Chủ thể",
        "col_action": "Hành động",
        "col_fields": "Trường dữ liệu",
        "col_purpose": "Mục đích",
        "col_outcome": "Kết quả",
        "col_detail": "Chi tiết",
        "open": "Xem",
        "more": "Xem thêm (cũ hơn)",
        "no_results": "Không có sự kiện nào khớp với bộ lọc.",
        "export_ndjson": "Xuất NDJSON",
        "export_csv": "Xuất CSV",
        "invalid_form": "Bộ lọc chưa hợp lệ. Vui lòng sửa các trường được đánh dấu.",
        "err_subject": "Số định danh cá nhân gồm đúng 12 chữ số.",
        "err_time": "Nhập ngày (YYYY-MM-DD) hoặc ngày giờ (YYYY-MM-DDTHH:MM).",
        "err_order": "Thời điểm kết thúc không được sớm hơn thời điểm bắt đầu.",
        "err_choice": "Hãy chọn một giá trị trong danh sách.",
        "err_text": "Tối đa 64 ký tự (mã tác nhân 128): chữ không dấu, số và . _ @ : -",
        "err_cursor": "Liên kết trang tiếp theo không hợp lệ; vui lòng tìm kiếm lại.",
        "chart_title": "Lượt truy cập của các cơ quan theo ngày",
        "chart_link": "Biểu đồ 30 ngày",
        "chart_empty": "Không có lượt truy cập nào của cơ quan trong khoảng thời gian này.",
        "chart_total": "tổng",
        "chart_others": "Các cơ quan khác",
        "detail_title": "Sự kiện kiểm toán",
        "event_uid": "Mã sự kiện",
        "request_id": "Mã yêu cầu",
        "proof_title": "Bằng chứng bao hàm trong nhật ký Merkle",
        "verified": "Đã xác minh",
        "proof_verified": "Sự kiện nằm trong nhật ký: bằng chứng bao hàm dẫn tới gốc của "
        "checkpoint đã ký mới nhất, và chữ ký của checkpoint hợp lệ.",
        "not_verified": "KHÔNG xác minh được",
        "unsequenced": "Sự kiện đã được ghi nhưng chưa được xếp vào cây Merkle. "
        "Vui lòng tải lại trang sau ít phút.",
        "uncovered": "Sự kiện đã có vị trí trong cây nhưng chưa có checkpoint đã ký nào "
        "bao gồm nó. Vui lòng tải lại trang sau ít phút.",
        "leaf_index": "Chỉ số lá",
        "tree_size": "Kích thước cây",
        "root_hash": "Hash gốc",
        "checkpoint_note": "Checkpoint đã ký",
        "back": "Quay lại tìm kiếm",
        "not_found": "Không có sự kiện kiểm toán nào với mã này.",
        "checkpoints_title": "Các checkpoint đã ký",
        "checkpoints_intro": "Mỗi checkpoint là gốc cây Merkle của nhật ký được ký bằng khóa "
        "Ed25519. Với mỗi cặp liên tiếp, bằng chứng nhất quán được kiểm tra tại máy chủ: "
        "nhật ký chỉ được nối thêm, không bị viết lại.",
        "col_created": "Thời điểm ký (UTC+7)",
        "col_signature": "Chữ ký",
        "col_consistency": "Nhất quán với checkpoint trước",
        "signature_ok": "Hợp lệ",
        "signature_bad": "KHÔNG hợp lệ",
        "first_checkpoint": "— (checkpoint đầu tiên)",
        "no_checkpoints": "Chưa có checkpoint nào được ký.",
        "older": "Checkpoint cũ hơn",
        "passkey_title": "Cần đăng nhập bằng khóa truy cập (passkey)",
        "passkey_body": "Bảng điều khiển kiểm toán chỉ mở cho cán bộ đăng nhập bằng khóa "
        "truy cập. Bạn đang đăng nhập bằng mật khẩu.",
        "passkey_step1": "Đăng ký khóa truy cập tại trang tài khoản.",
        "passkey_step2": "Đăng xuất.",
        "passkey_step3": "Đăng nhập lại bằng khóa truy cập.",
        "go_account": "Đến trang tài khoản",
        "forbidden_title": "Không có quyền truy cập",
        "forbidden_body": "Bảng điều khiển kiểm toán chỉ dành cho kiểm toán viên.",
    },
    "en": {
        "search_title": "Search the access trail",
        "f_subject": "Personal ID number (data subject)",
        "f_actor_id": "Actor ID",
        "f_actor_type": "Actor type",
        "f_action": "Action",
        "f_purpose": "Purpose",
        "f_outcome": "Outcome",
        "f_since": "From",
        "f_until": "Until",
        "time_hint": "Vietnam time (UTC+7). A date alone means the whole day.",
        "any": "Any",
        "search": "Search",
        "results": "Results",
        "col_when": "When (UTC+7)",
        "col_actor": "Actor",
        "col_subject": "Subject",
        "col_action": "Action",
        "col_fields": "Fields",
        "col_purpose": "Purpose",
        "col_outcome": "Outcome",
        "col_detail": "Detail",
        "open": "Open",
        "more": "More (older)",
        "no_results": "No event matches the filters.",
        "export_ndjson": "Export NDJSON",
        "export_csv": "Export CSV",
        "invalid_form": "The filters are not valid; please correct the marked fields.",
        "err_subject": "A personal ID number has exactly 12 digits.",
        "err_time": "Enter a date (YYYY-MM-DD) or a date and time (YYYY-MM-DDTHH:MM).",
        "err_order": "Must not be earlier than From.",
        "err_choice": "Choose one of the listed values.",
        "err_text": "At most 64 characters (actor ID 128): letters, digits and . _ @ : -",
        "err_cursor": "The next-page link is not valid; please search again.",
        "chart_title": "Accesses per agency per day",
        "chart_link": "30-day chart",
        "chart_empty": "No agency accessed the registry in this period.",
        "chart_total": "total",
        "chart_others": "Other agencies",
        "detail_title": "Audit event",
        "event_uid": "Event ID",
        "request_id": "Request ID",
        "proof_title": "Inclusion in the Merkle log",
        "verified": "Verified",
        "proof_verified": "The event is in the log: its inclusion proof leads to the root of "
        "the newest signed checkpoint, whose signature is valid.",
        "not_verified": "NOT verified",
        "unsequenced": "The event is recorded but not yet sequenced into the Merkle tree. "
        "Reload the page in a few minutes.",
        "uncovered": "The event has its place in the tree, but no signed checkpoint covers it "
        "yet. Reload the page in a few minutes.",
        "leaf_index": "Leaf index",
        "tree_size": "Tree size",
        "root_hash": "Root hash",
        "checkpoint_note": "Signed checkpoint",
        "back": "Back to the search",
        "not_found": "There is no audit event with this ID.",
        "checkpoints_title": "Signed checkpoints",
        "checkpoints_intro": "Each checkpoint is the Merkle root of the log signed with an "
        "Ed25519 key. For each consecutive pair the consistency proof is checked on the "
        "server: the log was only appended to, never rewritten.",
        "col_created": "Signed at (UTC+7)",
        "col_signature": "Signature",
        "col_consistency": "Consistent with the previous checkpoint",
        "signature_ok": "Valid",
        "signature_bad": "NOT valid",
        "first_checkpoint": "— (first checkpoint)",
        "no_checkpoints": "No checkpoint has been signed yet.",
        "older": "Older checkpoints",
        "passkey_title": "Sign in with a passkey",
        "passkey_body": "The audit console is open only to staff signed in with a passkey. "
        "You signed in with a password.",
        "passkey_step1": "Register a passkey on your account page.",
        "passkey_step2": "Sign out.",
        "passkey_step3": "Sign in again with the passkey.",
        "go_account": "Go to the account page",
        "forbidden_title": "Access denied",
        "forbidden_body": "The audit console is for auditors only.",
    },
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
        request, settings, template, locale=locale, status_code=status_code, text=TEXT,
        context={"console": True, **context},
    )  # fmt: skip


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
        session, user.principal, page=request.url.path[:100], subject=named_subject(request),
        refused="passkey_required" if verdict == "passkey" else "not_auditor",
    )  # fmt: skip
    return _page(request, settings, "console_notice.html", locale, status_code=403,
                 notice="passkey" if verdict == "passkey" else "forbidden")  # fmt: skip


def _search_page(
    request: Request,
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
        request, settings, "console_search.html", locale, status_code=status_code, form=form,
        page=page, more=more, query=query, lang_query=query + "&" if query else "",
        actor_types=ACTOR_TYPES, outcomes=OUTCOMES,
        purposes=[(p.code, p.name_vi if locale == "vi" else p.name_en)
                  for p in sorted(purposes().values(), key=lambda p: p.code)],
    )  # fmt: skip


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
        return _search_page(request, settings, locale, form, status_code=422)
    if not form.submitted or form.filters is None:
        return _search_page(request, settings, locale, form)
    try:
        page = await service.search(session, auditor, form.filters, cursor)
    except ValidationFailed:  # a cursor this console did not hand out
        form.errors["cursor"] = "err_cursor"
        return _search_page(request, settings, locale, form, status_code=422)
    more = None
    if page.next_cursor:
        more = "/console?" + urlencode({**form.query(), "cursor": page.next_cursor})
    rows = [service.event_row(item) for item in page.items]
    return _search_page(request, settings, locale, form, page=rows, more=more)


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
        return _page(request, settings, "console_event.html", locale, status_code=404,
                     event=None, proof=None)  # fmt: skip
    return _page(request, settings, "console_event.html", locale,
                 event=service.event_row(view), proof=proof)  # fmt: skip


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
        return _search_page(request, settings, locale, form, status_code=422)
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
    return _page(request, settings, "console_checkpoints.html", locale, page=page,
                 lang_query=f"before={before}&" if before else "")  # fmt: skip


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
    words = TEXT[locale]
    data = await service.chart_data(
        session, days=days, now=utcnow(), others_label=words["chart_others"]
    )
    svg = service.chart_svg(
        data, title=words["chart_title"], empty=words["chart_empty"],
        total_label=words["chart_total"],
    )  # fmt: skip
    return Response(svg, media_type="image/svg+xml", headers=PAGE_HEADERS)
