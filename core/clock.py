"""Time as the service sees it: always timezone-aware UTC; Vietnam time only for people."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone

# Asia/Ho_Chi_Minh: UTC+7 all year (no daylight saving since 1975), so no tz database needed.
VIETNAM_TIME = timezone(timedelta(hours=7), "ICT")


def utcnow() -> datetime:
    """The current instant, timezone-aware, in UTC."""
    return datetime.now(UTC)


def date_text(value: date | None) -> str:
    """A calendar date as people in Vietnam write it: dd/mm/yyyy; "" for none."""
    return value.strftime("%d/%m/%Y") if value is not None else ""


def time_text(value: datetime | str | None, *, seconds: bool = False, empty: str = "") -> str:
    """An instant in Vietnam time, dd/mm/yyyy HH:MM (and :SS when asked); ``empty`` for none.
    An ISO 8601 text (what the JSON APIs give) is read first."""
    if value is None or value == "":
        return empty
    instant = datetime.fromisoformat(value) if isinstance(value, str) else value
    shape = "%d/%m/%Y %H:%M:%S" if seconds else "%d/%m/%Y %H:%M"
    return instant.astimezone(VIETNAM_TIME).strftime(shape)
