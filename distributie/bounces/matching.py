"""Which recipient a report is about, in this order: the Message-ID of the returned original
(or the report's In-Reply-To/References), then its X-Distributie-Run and -Recipient headers,
then the failed address against the messages sent to it in the last
DISTRIBUTIE_BOUNCE_MATCH_DAYS, the latest first. The method used is kept with the event.

No VERP: Microsoft 365 refuses envelope senders the mailbox may not send as, so the report
itself must say who it is about.
"""

from __future__ import annotations

import re
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal

from distributie.bounces.model import Report
from distributie.ledger import Ledger

MatchMethod = Literal["message_id", "in_reply_to", "distributie_headers", "final_recipient"]
DAY = 86400.0
# Run ids as distributie makes them (20191004-142501-7f3a): anything else names no run.
_RUN_ID = re.compile(r"^[A-Za-z0-9_-]{1,80}$")


@dataclass(frozen=True)
class Match:
    """The recipient a report is about, and the send it names when the report says."""

    run: str
    key: str
    method: MatchMethod
    resend: int | None = None  # None: the report does not say; the recipient's current send
    attempt: int | None = None  # the attempt that handed that send over, when recorded


class Matcher:
    """Matches reports against one ledger."""

    def __init__(
        self, ledger: Ledger, match_days: int, clock: Callable[[], float] = time.time
    ) -> None:
        self._ledger = ledger
        self._match_days = match_days
        self._clock = clock

    def match(self, report: Report) -> Match | None:
        return self._by_message_id(report) or self._by_headers(report) or self._by_address(report)

    def _by_message_id(self, report: Report) -> Match | None:
        returned = report.original.message_id if report.original else None
        for parsed in report.sent_message_ids:
            current = self._ledger.current_resend(parsed.run, parsed.recipient_key)
            # A resend number the recipient never had is not one of ours.
            if current is None or parsed.resend > current:
                continue
            method: MatchMethod = "message_id" if parsed.message_id == returned else "in_reply_to"
            return self._found(parsed.run, parsed.recipient_key, method, parsed.resend)
        return None

    def _by_headers(self, report: Report) -> Match | None:
        original = report.original
        if original is None or not original.run or not original.recipient:
            return None
        if not _RUN_ID.match(original.run) or not self._ledger.run_exists(original.run):
            return None
        key = self._ledger.find_recipient(original.run, original.recipient)
        if key is None:
            return None
        return Match(original.run, key, "distributie_headers")

    def _by_address(self, report: Report) -> Match | None:
        since = self._clock() - self._match_days * DAY
        sent = [s for address in report.addresses for s in self._ledger.sent_to(address, since)]
        for latest in sorted(sent, key=lambda s: s.at, reverse=True):
            if self._ledger.current_resend(latest.run, latest.key) is not None:
                return self._found(latest.run, latest.key, "final_recipient", latest.resend)
        return None

    def _found(self, run: str, key: str, method: MatchMethod, resend: int) -> Match:
        attempts = [m.attempt for m in self._ledger.sent_messages(run, key) if m.resend == resend]
        return Match(run, key, method, resend, max(attempts) if attempts else None)
