"""Portal sessions (the registry's own OIDC client keeps its signed-in users here) and the
citizens' questions about accesses to their data."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Index, String, text
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


DISPUTE_STATUSES = ("open", "answered", "closed")


class AccessDispute(Base):
    """A citizen's question about one access to their data ("question this access"), and where
    the auditors are with it. The question and each change of status are audit events too; this
    row is the state the console shows and changes."""

    __tablename__ = "access_dispute"

    id: Mapped[str] = mapped_column(String(36), primary_key=True)  # uuid4
    # The questioned audit event (one question per access) and who it was about.
    event_uid: Mapped[str] = mapped_column(String(64), unique=True)
    citizen_id: Mapped[str] = mapped_column(String(12), index=True)
    # Who accessed (copied from the event, so the console lists disputes by the accessor).
    actor_type: Mapped[str] = mapped_column(String(16))
    actor_id: Mapped[str] = mapped_column(String(128))
    reason: Mapped[str | None] = mapped_column(String(500))
    status: Mapped[str] = mapped_column(String(8))
    answer: Mapped[str | None] = mapped_column(String(1000))
    # The auditor (username) who last changed the status.
    updated_by: Mapped[str | None] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=text("CURRENT_TIMESTAMP")
    )
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)

    __table_args__ = (
        CheckConstraint(
            "status IN (" + ", ".join(f"'{s}'" for s in DISPUTE_STATUSES) + ")", name="status"
        ),
        Index("ix_access_dispute_status_created_at", "status", "created_at"),
    )
