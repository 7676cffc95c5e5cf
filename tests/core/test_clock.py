"""Vietnam time: the one fixed offset that every page and form uses."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import pytest
from hypothesis import given
from hypothesis import strategies as st

from core.clock import VIETNAM_TIME

INSTANTS = st.datetimes(
    min_value=datetime(1976, 1, 1), max_value=datetime(2100, 1, 1), timezones=st.just(UTC)
)


@given(INSTANTS)
def test_vietnam_time_agrees_with_the_tz_database_since_1976(instant: datetime) -> None:
    try:
        zone = ZoneInfo("Asia/Ho_Chi_Minh")
    except ZoneInfoNotFoundError:  # pragma: no cover - a system without tz data
        pytest.skip("no tz database here")
    assert instant.astimezone(VIETNAM_TIME).utcoffset() == instant.astimezone(zone).utcoffset()


def test_people_read_dates_and_instants_in_vietnam_time() -> None:
    from datetime import UTC, date, datetime

    from core.clock import date_text, time_text

    assert date_text(date(2026, 3, 9)) == "09/03/2026"
    assert date_text(None) == ""
    late = datetime(2026, 12, 31, 17, 30, 5, tzinfo=UTC)  # already the next day in Vietnam
    assert time_text(late) == "01/01/2027 00:30"
    assert time_text(late, seconds=True) == "01/01/2027 00:30:05"
    assert time_text(late.isoformat()) == "01/01/2027 00:30"  # as a JSON API gives it
    assert time_text(None) == "" and time_text("", empty="—") == "—"
