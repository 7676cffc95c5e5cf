"""The start page (``/``: where each kind of user signs in) and the agency quick start.

Both are public and hold nothing personal. The quick start's lists (scopes, attributes, fields,
purposes, problem types) are those the code decides with (registry/guide/reference.py), and its
curl examples name this service's own public URL.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import APIRouter, Request, Response

from core.i18n import N_
from core.inputs import OutsideTextRoute
from core.settings import Settings
from identity.web import pick_locale
from registry.agency.policy import purposes
from registry.guide import reference
from registry.guide.web import render_guide

router = APIRouter(route_class=OutsideTextRoute, include_in_schema=False)

AGENCY_GUIDE = "/docs/agency"


@dataclass(frozen=True)
class Door:
    """Where one kind of user starts, and how they sign in there."""

    key: str
    who: str
    what: str
    how: str
    path: str
    link: str


# The same places as the README's "Signing in" and the banner of `registry serve`.
DOORS = (
    Door(
        "citizen",
        N_("Công dân"),
        N_("Xem thông tin của bạn, ai đã truy cập, khóa hoặc mở khóa danh tính điện tử."),
        N_("Đăng nhập bằng số định danh cá nhân và mật khẩu, hoặc bằng khóa truy cập."),
        "/portal",
        N_("Vào cổng công dân"),
    ),
    Door(
        "official",
        N_("Cán bộ hộ tịch, công an"),
        N_("Đăng ký khai sinh, khai tử, cư trú, kết hôn và cải chính hồ sơ."),
        N_("Đăng nhập bằng tên đăng nhập và mật khẩu lần đầu, sau đó bằng khóa truy cập."),
        "/workspace",
        N_("Đăng nhập cán bộ"),
    ),
    Door(
        "auditor",
        N_("Kiểm toán viên"),
        N_("Tìm và xuất nhật ký truy cập, kiểm tra rằng không ai sửa được nhật ký."),
        N_("Đăng nhập bằng tên đăng nhập, rồi bằng khóa truy cập."),
        "/console",
        N_("Vào trang kiểm toán"),
    ),
    Door(
        "administrator",
        N_("Quản trị viên"),
        N_("Quản lý tài khoản cán bộ và các cơ quan được kết nối."),
        N_("Đăng nhập bằng tên đăng nhập, rồi bằng khóa truy cập."),
        "/admin/staff",
        N_("Đăng nhập quản trị"),
    ),
    Door(
        "agency",
        N_("Cơ quan, tổ chức kết nối"),
        N_("Xác minh và tra cứu thông tin công dân qua API, theo chính sách và mục đích."),
        N_(
            "Không đăng nhập trên trang: hệ thống của cơ quan lấy mã truy cập bằng client_id "
            "và client_secret."
        ),
        AGENCY_GUIDE,
        N_("Hướng dẫn nhanh cho cơ quan"),
    ),
)


@router.get("/")
async def start_page(request: Request) -> Response:
    """Where each kind of user goes: the first link `registry serve` prints."""
    settings: Settings = request.app.state.settings
    return render_guide(
        request,
        "guide_start.html",
        context={"doors": DOORS, "base": settings.public_url.rstrip("/")},
    )


@router.get(AGENCY_GUIDE)
async def agency_guide(request: Request) -> Response:
    """How an agency gets a token, verifies and looks up; what it may ask; what errors mean."""
    settings: Settings = request.app.state.settings
    locale = pick_locale(request)
    return render_guide(
        request,
        "guide_agency.html",
        context={
            "base": settings.public_url.rstrip("/"),
            "token_ttl": settings.access_token_ttl,
            "actions": reference.action_texts(),
            "attributes": reference.attribute_texts(),
            "fields": reference.field_labels(),
            "purposes": [
                (p.code, p.name_vi if locale == "vi" else p.name_en, p) for p in purposes().values()
            ],
            "problems": reference.agency_problems(),
            "token_errors": reference.TOKEN_ERROR_TEXT,
            "policy": reference.DEFAULT_POLICY,
            "example_id": reference.EXAMPLE_ID,
            "example_purpose": reference.EXAMPLE_PURPOSE,
        },
    )
