"""When a scheduled run starts: `send --at` in ISO 8601, read in DISTRIBUTIE_TIMEZONE."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Literal
from zoneinfo import ZoneInfo

from distributie.errors import UsageError

LATEST = timedelta(days=365)


class StartRefused(UsageError):
    """A start time that is not one, in the past, or too far ahead; `reason` says which."""

    def __init__(self, reason: Literal["format", "past", "far"], message: str) -> None:
        self.reason = reason
        super().__init__(message)


def parse_start(text: str, timezone: str, now: datetime | None = None) -> datetime:
    """`2026-12-07T09:00`, with or without seconds, with an optional UTC offset; without one,
    in `timezone`. A time in the past or more than a year ahead is a UsageError."""
    try:
        when = datetime.fromisoformat(text.strip())
    except ValueError:
        raise StartRefused(
            "format",
            f"--at {text!r} is not a date and time such as 2026-12-07T09:00 "
            f"(optionally with seconds and an offset such as +01:00)",
        ) from None
    if when.tzinfo is None:
        when = when.replace(tzinfo=ZoneInfo(timezone))
    now = now or datetime.now(ZoneInfo(timezone))
    if when <= now:
        raise StartRefused("past", f"--at {text!r} is in the past (it is now {now:%Y-%m-%d %H:%M})")
    if when - now > LATEST:
        raise StartRefused("far", f"--at {text!r} is more than a year ahead")
    return when
