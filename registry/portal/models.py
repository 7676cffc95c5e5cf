"""Portal sessions: the registry's own OIDC client keeps its signed-in users here."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import String, text
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, UTCDateTime


class PortalSession(Base):
    """A signed-in portal user (after the code flow), found by the SHA-256 of the cookie."""

    __tablename__ = "portal_session"

    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    account_id: Mapped[str] = mapped_column(String(36), index=True)
    grant_id: Mapped[str] = mapped_column(String(36))
    # "citizen" pages or the auditor "console".
    kind: Mapped[str] = mapped_column(String(8))
    amr: Mapped[str] = mapped_column(String(40))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=text("CURRENT_TIMESTAMP")
    )
    last_seen_at: Mapped[datetime] = mapped_column(UTCDateTime)
    expires_at: Mapped[datetime] = mapped_column(UTCDateTime)
    ended_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
