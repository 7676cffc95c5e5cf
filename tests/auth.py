"""A bearer-token table Authenticator for tests (identity provides the production one)."""

from __future__ import annotations

from collections.abc import Mapping

from fastapi import Request
from sqlalchemy.ext.asyncio import AsyncSession

from core.auth import Principal


class BearerTable:
    """A real Authenticator over a fixed token table."""

    def __init__(self, tokens: Mapping[str, Principal]) -> None:
        self.tokens = dict(tokens)

    async def authenticate(self, request: Request, session: AsyncSession) -> Principal | None:
        """The principal of the request's bearer token, if the table has it."""
        scheme, _, token = request.headers.get("authorization", "").partition(" ")
        return self.tokens.get(token) if scheme.lower() == "bearer" else None


def bearer(token: str) -> dict[str, str]:
    """The Authorization header for ``token``."""
    return {"authorization": f"Bearer {token}"}
