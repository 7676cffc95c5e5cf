"""The citizen's pages beyond 'my record': who accessed my data, security, aliases, consents."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
