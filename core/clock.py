"""Time as the service sees it: always timezone-aware UTC; Vietnam time only for people."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

# Asia/Ho_Chi_Minh: UTC+7 all year (no daylight saving since 1975), so no tz database needed.
VIETNAM_TIME = timezone(timedelta(hours=7), "ICT")


def utcnow() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return datetime.now(UTC)
