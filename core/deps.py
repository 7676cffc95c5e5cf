"""FastAPI dependencies of the kernel: the database and the request's unit of work."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import Depends, Request
from sqlalchemy.ext.asyncio import AsyncSession

from core.db import Database
from core.settings import Settings

# Dependencies are ``async def`` even when they do not await: FastAPI runs plain ``def``
# dependencies in a worker thread, a measurable share of the token endpoint's CPU
# (docs/performance.md, "Async dependencies").


async def get_database(request: Request) -> Database:
    """The process's Database, attached to the app at creation."""
    database: Database = request.app.state.database
    return database


async def get_settings(request: Request) -> Settings:
    """The app's Settings."""
    settings: Settings = request.app.state.settings
    return settings


async def unit_of_work(
    database: Annotated[Database, Depends(get_database)],
) -> AsyncIterator[AsyncSession]:
    """One transaction per request, committed or rolled back before the response is sent."""
    async with database.unit_of_work() as session:
        yield session


DatabaseDep = Annotated[Database, Depends(get_database)]
SettingsDep = Annotated[Settings, Depends(get_settings)]
# scope="function": the commit runs when the endpoint returns, before the response goes out,
# so a failed commit becomes an error response instead of an acknowledged, lost write.
SessionDep = Annotated[AsyncSession, Depends(unit_of_work, scope="function")]
