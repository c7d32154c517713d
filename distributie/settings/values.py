"""Values settings are made of: a rate limit such as 30/m, and what counts as this machine."""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass

_RATE_RE = re.compile(r"^\s*(\d+)\s*/\s*(s|sec|second|m|min|minute|h|hour)\s*$", re.IGNORECASE)
_PERIODS = {
    "s": 1,
    "sec": 1,
    "second": 1,
    "m": 60,
    "min": 60,
    "minute": 60,
    "h": 3600,
    "hour": 3600,
}
DEFAULT_PORTS = {"starttls": 587, "tls": 465, "none": 25}


@dataclass(frozen=True)
class RateLimit:
    """At most `count` messages in any window of `period` seconds."""

    count: int
    period: float

    def __str__(self) -> str:
        unit = {1: "s", 60: "m", 3600: "h"}.get(int(self.period), f"{self.period}s")
        return f"{self.count}/{unit}"


def parse_rate(text: str) -> RateLimit:
    match = _RATE_RE.match(text)
    if not match or int(match.group(1)) <= 0:
        raise ValueError(f"{text!r} is not a rate such as '30/m', '5/s' or '1000/h'")
    return RateLimit(int(match.group(1)), float(_PERIODS[match.group(2).lower()]))


def is_loopback(host: str) -> bool:
    if host.lower() in {"localhost", "localhost.localdomain"}:
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False
