"""A record and its history as the workspace shows them: fields grouped, values by name, empty
fields left out, and each version with who recorded it, on what legal basis, what changed."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from core.i18n import N_, pgettext_noop
from registry.portal import labels
from registry.portal.web import gettext, pgettext
from registry.schemas import CitizenHistory, CitizenRecord
from registry.workspace import values

GROUPS: tuple[tuple[str, tuple[str, ...]], ...] = (
    (
        N_("Nhân thân"),
        (
            "id_number",
            "full_name",
            "other_names",
            "gender",
            "birth_date",
            "status",
            "death_date",
            "missing_date",
            "replaced_by",
            "old_id_number",
        ),
    ),
    (
        N_("Khai sinh"),
        (
            "birth_province",
            "birth_place",
            "hometown",
            "ethnicity",
            "religion",
            "nationality",
            "blood_type",
        ),
    ),
    (
        N_("Cư trú"),
        (
            "permanent_address",
            "temporary_address",
            "current_address",
            "household_id",
            "household_relationship",
        ),
    ),
    (
        N_("Gia đình"),
        (
            "marital_status",
            "spouse_id_number",
            "spouse_name",
            "spouse_nationality",
            "spouse_passport_number",
            "father_id_number",
            "father_name",
            "father_nationality",
            "mother_id_number",
            "mother_name",
            "mother_nationality",
            "representative_id_number",
            "representative_name",
            "representative_nationality",
        ),
    ),
    (
        N_("Thẻ căn cước"),
        ("card_number", "card_issue_date", "card_issue_place", "card_expiry_date"),
    ),
)
# Fields whose value links to another record.
LINKED = frozenset(
    {
        "replaced_by",
        "spouse_id_number",
        "father_id_number",
        "mother_id_number",
        "representative_id_number",
    }
)

# What each kind of version is called (registry.codes.VERSION_KINDS).
KIND_CONTEXT = "record history"
KINDS = {
    "birth": pgettext_noop("record history", "Đăng ký khai sinh"),
    "death": pgettext_noop("record history", "Đăng ký khai tử"),
    "missing": pgettext_noop("record history", "Ghi nhận mất tích"),
    "residence": pgettext_noop("record history", "Thay đổi cư trú"),
    "marriage": pgettext_noop("record history", "Đăng ký kết hôn"),
    "divorce": pgettext_noop("record history", "Ghi nhận ly hôn"),
    "name_change": pgettext_noop("record history", "Thay đổi họ tên"),
    "gender_change": pgettext_noop("record history", "Xác định lại giới tính"),
    "correction": pgettext_noop("record history", "Đính chính"),
    "import": pgettext_noop("record history", "Nhập dữ liệu ban đầu"),
    "card": pgettext_noop("record history", "Cấp thẻ căn cước"),
}


def groups(record: CitizenRecord, locale: str) -> list[dict[str, Any]]:
    """The record's groups of (label, value by name, link) rows; empty fields left out."""
    data = record.model_dump()
    out = []
    for title, names in GROUPS:
        rows = []
        for name in names:
            shown = values.shown(name, data.get(name), locale)
            if shown:
                link = f"/workspace/citizens/{data[name]}" if name in LINKED else None
                rows.append(
                    {
                        "name": name,
                        "label": values.field_label(name, locale),
                        "value": shown,
                        "link": link,
                    }
                )
        if rows:
            out.append({"title": gettext(locale, title), "rows": rows})
    return out


def history(
    found: CitizenHistory, locale: str, staff: Mapping[str, str] | None = None
) -> list[dict[str, Any]]:
    """Each version, newest first: when, what, who (``staff``: display names by username),
    on what basis, each change's old value."""
    out = []
    for version in found.versions:
        kind = KINDS.get(version.kind)
        actor = labels.ACTORS.get(version.actor.type)
        previous = version.previous or {}
        changes = [
            {
                "label": values.field_label(name, locale),
                "before": values.shown(name, previous.get(name), locale)
                if version.previous is not None
                else "",
            }
            for name in version.changed_fields
            if name not in ("name_folded", "birth_date_precision", "version", "updated_at")
        ]
        out.append(
            {
                "version": version.version,
                "when": values.show_instant(version.valid_from),
                "kind": pgettext(locale, KIND_CONTEXT, kind) if kind else version.kind,
                "correction": version.is_correction,
                "legal_basis": version.legal_basis or "",
                "actor": (gettext(locale, actor) if actor else version.actor.type),
                "actor_id": version.actor.id,
                "actor_name": (staff or {}).get(version.actor.id, ""),
                "event_date": values.show_date(version.event_date),
                "changes": changes,
                "created": version.previous is None,
            }
        )
    return out


def summary(record: CitizenRecord, locale: str) -> dict[str, str]:
    """Who a form is about: name, number, birth date, gender, status (by name)."""
    return {
        "id_number": record.id_number,
        "full_name": record.full_name,
        "birth_date": values.show_date(record.birth_date),
        "gender": values.shown("gender", record.gender, locale),
        "status": values.shown("status", record.status, locale),
        "marital_status": values.shown("marital_status", record.marital_status, locale),
    }
