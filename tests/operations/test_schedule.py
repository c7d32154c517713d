"""`send --at`: ISO 8601 times, in the configured time zone unless they carry an offset."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from distributie.errors import UsageError
from distributie.operations.schedule import parse_start

TZ = "Europe/Amsterdam"
NOW = datetime(2026, 12, 4, 16, 30, tzinfo=ZoneInfo(TZ))


def test_a_time_without_offset_is_in_the_configured_time_zone() -> None:
    when = parse_start("2026-12-07T09:00", TZ, NOW)

    assert when == datetime(2026, 12, 7, 8, 0, tzinfo=ZoneInfo("UTC"))


def test_seconds_and_an_offset_are_taken_as_given() -> None:
    when = parse_start("2026-12-07T09:00:30+00:00", TZ, NOW)

    assert when == datetime(2026, 12, 7, 9, 0, 30, tzinfo=ZoneInfo("UTC"))


@pytest.mark.parametrize(
    ("text", "reason"),
    [
        ("2026-12-04T16:00", "in the past"),
        ("2027-12-05T09:00", "more than a year ahead"),
        ("maandag 9 uur", "is not a date and time"),
    ],
)
def test_a_time_that_cannot_be_a_start_is_refused(text: str, reason: str) -> None:
    with pytest.raises(UsageError, match=reason):
        parse_start(text, TZ, NOW)
