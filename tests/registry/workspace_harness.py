"""The officials' workspace in tests: the app, an official's passkey session, forms with their
CSRF token, and the audit events the pages left."""

from __future__ import annotations

import json
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from html import unescape
from typing import Any

import httpx
import pytest
from sqlalchemy import text

from core.db import Database
from core.settings import Settings
from registry.app import create_app
from registry.portal.session import SESSION_COOKIE
from tests.identity.factories import make_citizen, make_staff
from tests.registry.portal_sessions import session_cookie

CLERK = "clerk.hoankiem"


@dataclass
class Desk:
    """A signed-in official's browser on the served app, and the test's database."""

    settings: Settings
    database: Database
    web: httpx.AsyncClient
    transport: httpx.ASGITransport

    async def csrf(self, path: str) -> str:
        """Open a form page; the CSRF token its form carries."""
        page = await self.web.get(path)
        assert page.status_code == 200, page.text
        found = re.search(r'name="csrf" value="([^"]+)"', page.text)
        assert found is not None
        return found.group(1)

    async def submit(self, path: str, form: dict[str, str]) -> httpx.Response:
        """Post a form as the page would (its CSRF token first read from the page)."""
        return await self.web.post(path, data={"csrf": await self.csrf(path), **form})

    async def events(self, action: str | None = None) -> list[dict[str, Any]]:
        """Audit events, oldest first (fields and detail decoded)."""
        async with self.database.unit_of_work() as session:
            found = (
                await session.execute(text("SELECT * FROM audit_event ORDER BY id"))
            ).mappings()
            rows = [dict(r) for r in found]
        return [
            {**e, "fields": json.loads(e["fields"]), "detail": json.loads(e["detail"] or "{}")}
            for e in rows
            if action is None or e["action"] == action
        ]

    async def citizens(self) -> int:
        """How many records the register holds."""
        async with self.database.unit_of_work() as session:
            return int((await session.execute(text("SELECT count(*) FROM citizen"))).scalar_one())


@pytest.fixture
async def desk(settings: Settings, database: Database) -> AsyncIterator[Desk]:
    """A citizen on the register and an official signed in with a passkey."""
    app = create_app(settings, database=database)
    transport = httpx.ASGITransport(app=app, raise_app_exceptions=False)
    async with (
        app.router.lifespan_context(app),
        httpx.AsyncClient(transport=transport, base_url=settings.public_url) as web,
    ):
        await make_citizen(database)
        clerk = await make_staff(database, settings, username=CLERK, roles=("official",))
        web.cookies.set(SESSION_COOKIE, await session_cookie(database, settings, clerk))
        yield Desk(settings, database, web, transport)


def error_beside(html: str, field: str) -> str:
    """The message shown beside a field (its aria-described error paragraph)."""
    found = re.search(rf'<p class="error" id="e-{field}">([^<]*)</p>', html)
    assert found is not None, f"no error beside {field}"
    return unescape(found.group(1))


def typed_value(html: str, field: str) -> str:
    """The value an input shows again."""
    found = re.search(rf'id="f-{field}" name="{field}" value="([^"]*)"', html)
    assert found is not None, f"no input {field}"
    return unescape(found.group(1))
