"""Fixtures for kernel tests that exercise HTTP behaviour without needing a populated database."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from fastapi import FastAPI

from core.settings import Settings
from registry.app import create_app
from tests.http import asgi_client


@pytest.fixture
def http_settings(tmp_path: Path) -> Settings:
    """Settings on an empty embedded database (HTTP-only tests)."""
    return Settings(environment="test", database_url=f"sqlite+aiosqlite:///{tmp_path}/http.db")


@pytest.fixture
def http_app(http_settings: Settings) -> FastAPI:
    """A real app for HTTP-behaviour tests; tests may add routes to it."""
    return create_app(http_settings)


@pytest.fixture
async def http_client(http_app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    """Client for ``http_app`` with its lifespan running."""
    async with asgi_client(http_app) as c:
        yield c
