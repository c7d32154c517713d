"""Recording what came back in the bounce mailbox (lua/record_report.lua), once per report."""

from __future__ import annotations

from typing import cast

import redis

from distributie.ledger.connection import text
from distributie.ledger.keys import REPORTS_PROCESSED, recipient_key_of, transition_keys
from distributie.ledger.records import ReportEvent, ReportRecorded
from distributie.ledger.scripts import Scripts


class BounceRecords:
    """Bounce, delay and auto-reply events (part of `Ledger`)."""

    client: redis.Redis
    scripts: Scripts

    def record_report(self, event: ReportEvent, worker: str) -> ReportRecorded:
        """Record `event` unless its report was recorded before: processing the same report
        twice (a crash between recording and moving it) changes nothing."""
        result = self.scripts.record_report(
            keys=[*transition_keys(event.run, event.key), REPORTS_PROCESSED],
            args=[
                event.report_id,
                event.key,
                event.outcome,
                "" if event.resend is None else event.resend,
                "" if event.attempt is None else event.attempt,
                event.status,
                event.reply,
                "" if event.code is None else event.code,
                event.method,
                event.kind,
                worker,
                event.run,
            ],
        )
        verdict = text(result[0])
        if verdict == "missing":
            return ReportRecorded("missing")
        return ReportRecorded(
            "already" if verdict == "already" else "recorded", text(result[1]), text(result[2])
        )

    def report_processed(self, report_id: str) -> bool:
        return bool(self.client.hexists(REPORTS_PROCESSED, report_id))

    def current_resend(self, run_id: str, key: str) -> int | None:
        """The recipient's current resend number; None when there is no such recipient."""
        state, resend = cast(
            list[bytes | None],
            self.client.hmget(recipient_key_of(run_id, key), ["state", "resend"]),
        )
        if state is None:
            return None
        return int(resend or 0)
