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
