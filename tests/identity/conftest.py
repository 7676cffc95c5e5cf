"""Fixtures shared by the identity tests."""

from __future__ import annotations

import pytest
from fastapi import FastAPI

from core.db import Database
from core.settings import Settings
from tests.identity.factories import probe_app


@pytest.fixture
def app(settings: Settings, database: Database) -> FastAPI:
    """The real app plus the probe routes that show the Principal a request resolved to."""
    return probe_app(settings, database)
