"""The officials' API in tests: an app whose officials and auditors are BearerTable principals,
births registered through the API, life events posted, records read, and the audit events left."""

from __future__ import annotations

import json
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import text

from core.auth import Principal
from core.db import Database
from core.settings import Settings
from registry.app import create_app
from tests.auth import BearerTable, bearer

OFFICIAL = Principal("official", "clerk-7", roles=frozenset({"official"}))
AUDITOR = Principal("auditor", "auditor-1", roles=frozenset({"auditor"}))
TOKENS = {"tok-official": OFFICIAL, "tok-auditor": AUDITOR}
BASE = "/api/v1/officials"
AS_OFFICIAL = bearer("tok-official")


def officials_app(settings: Settings, database: Database) -> FastAPI:
    return create_app(settings, database=database, authenticator=BearerTable(TOKENS))


def child(**overrides: Any) -> dict[str, Any]:
    body: dict[str, Any] = {
        "full_name": "nguyễn  thị minh anh",
        "birth_date": "2003-05-14",
        "gender": "female",
        "birth_province": "001",
        "ethnicity": "01",
        "birth_place": "Bệnh viện Phụ sản Hà Nội",
        "permanent_address": "12 Hàng Bạc, Hoàn Kiếm, Hà Nội",
        "household_id": "HN-000123",
        "household_relationship": "con",
        "legal_basis": "Birth certificate 123/2003/KS",
    }
    body.update(overrides)
    return body


async def register(api: httpx.AsyncClient, **overrides: Any) -> dict[str, Any]:
    """Register a birth through the API; the created record."""
    response = await api.post(f"{BASE}/births", json=child(**overrides))
    assert response.status_code == 201, response.text
    created: dict[str, Any] = response.json()
    return created


async def adult(api: httpx.AsyncClient, name: str, gender: str, **more: Any) -> str:
    record = await register(api, full_name=name, gender=gender, birth_date="1980-02-03", **more)
    return str(record["id_number"])


async def read(api: httpx.AsyncClient, id_number: str) -> dict[str, Any]:
    response = await api.get(f"{BASE}/citizens/{id_number}")
    assert response.status_code == 200, response.text
    record: dict[str, Any] = response.json()
    return record


async def post(
    api: httpx.AsyncClient, id_number: str, event: str, body: dict[str, Any]
) -> httpx.Response:
    return await api.post(f"{BASE}/citizens/{id_number}/{event}", json=body)


async def rows(database: Database, sql: str, **params: Any) -> list[dict[str, Any]]:
    async with database.unit_of_work() as session:
        result = await session.execute(text(sql), params)
        return [dict(r) for r in result.mappings().all()]


async def events(
    database: Database, *, action: str | None = None, subject: str | None = None
) -> list[dict[str, Any]]:
    """Audit events (oldest first), optionally of one action and/or subject."""
    found = await rows(database, "SELECT * FROM audit_event ORDER BY id")
    return [
        {**e, "fields": json.loads(e["fields"])}
        for e in found
        if (action is None or e["action"] == action)
        and (subject is None or e["subject"] == subject)
    ]
