"""Alias IDs, agency policies and per-agency rate-limit buckets."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import (
    Boolean,
    CheckConstraint,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    text,
)
from sqlalchemy.orm import Mapped, mapped_column

from core.models import Base, UTCDateTime, code


class Alias(Base):
    """A revocable 16-digit number an agency may use instead of the citizen's ID number."""

    __tablename__ = "citizen_alias"

    alias: Mapped[str] = mapped_column(code(16), primary_key=True)
    citizen_id: Mapped[str] = mapped_column(code(12), index=True)
    label: Mapped[str | None] = mapped_column(String(64))
    # Who created it: "citizen" (portal/API) or an official's id.
    created_by: Mapped[str] = mapped_column(String(128))
    created_at: Mapped[datetime] = mapped_column(
        UTCDateTime, server_default=text("CURRENT_TIMESTAMP")
    )
    expires_at: Mapped[datetime | None] = mapped_column(UTCDateTime)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime)

    __table_args__ = (CheckConstraint("length(alias) = 16", name="alias_length"),)


class AgencyPolicy(Base):
    """What an agency client may ask (registry/agency/policy.py), as stored JSON text; a client
    without a row may ask nothing."""

    __tablename__ = "agency_policy"

    client_id: Mapped[str] = mapped_column(
        String(64), ForeignKey("oauth_client.client_id", ondelete="CASCADE"), primary_key=True
    )
    policy: Mapped[str] = mapped_column(Text)


class RateBucket(Base):
    """A token bucket per agency, shared by every worker process (RFC 6585 429 when empty)."""

    __tablename__ = "rate_bucket"

    client_id: Mapped[str] = mapped_column(String(64), primary_key=True)
    tokens: Mapped[float] = mapped_column(Float)
    # Whether the last request took a token, and how many it took (read back by the same
    # statement; a worker process may take several at once, see agency.service.rate_limit).
    granted: Mapped[bool] = mapped_column(Boolean)
    taken: Mapped[int] = mapped_column(Integer, server_default=text("0"))
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime)


Index("ix_citizen_alias_expires_at", Alias.expires_at)
