"""Every change of a recipient's state: one atomic Lua script each (see lua/)."""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any, Literal, cast
from zoneinfo import ZoneInfo

from distributie.ledger.connection import text
from distributie.ledger.keys import (
    LEASES,
    RATE_LOG,
    RATE_NEXT,
    SCHEDULED,
    UNPUBLISHED,
    counts_key,
    daily_key,
    events_key,
    order_key,
    recipient_key_of,
    recipient_prefix,
    run_key,
    transition_keys,
)
from distributie.ledger.records import (
    Claim,
    ClaimRefused,
    RefusalReason,
    Requeued,
    RequeueRefused,
    RunChanged,
    RunControlRefused,
)
from distributie.ledger.scripts import Scripts
from distributie.ledger.sent import SentMessage, end_of_data_record
from distributie.settings import RateLimit


def rate_margin(rate: RateLimit) -> float:
    """Slack on top of the rate window: a relay counts when a message arrives, which is a
    little after distributie counts it, and the limit must hold as the relay counts."""
    return max(0.25, rate.period * 0.02)


def _rate_args(rate: RateLimit | None) -> list[float]:
    if rate is None:
        return [0, 0, 0]
    return [rate.count, rate.period, rate_margin(rate)]


def next_day_start(tz: str) -> float:
    zone = ZoneInfo(tz)
    today = datetime.now(zone).date()
    return datetime.combine(today + timedelta(days=1), datetime.min.time(), zone).timestamp()


def _refusal(result: list[Any]) -> ClaimRefused:
    reason = cast(RefusalReason, text(result[0]))
    if reason == "busy":
        return ClaimRefused(reason, None, float(result[1]), text(result[2]), text(result[3]))
    if reason == "early":
        return ClaimRefused(reason, until=float(result[1]))
    if reason == "done":
        decided_for = text(result[2]) if len(result) > 2 else None
        return ClaimRefused(reason, text(result[1]), decided_for=decided_for)
    if reason in ("stale", "held"):
        return ClaimRefused(reason, text(result[1]))
    return ClaimRefused(reason)


class Transitions:
    """The state changes of recipients (part of `Ledger`)."""

    scripts: Scripts

    def claim(
        self,
        run_id: str,
        key: str,
        seq: int,
        worker: str,
        lease: float,
        rate: RateLimit | None = None,
        daily_limit: int | None = None,
        timezone: str = "Europe/Amsterdam",
    ) -> Claim | ClaimRefused:
        """Take the recipient for one attempt, or say why this task must not send it now."""
        day = datetime.now(ZoneInfo(timezone)).date().isoformat()
        result = self.scripts.claim(
            keys=[
                *transition_keys(run_id, key),
                LEASES,
                RATE_NEXT,
                daily_key(day),
                run_key(run_id),
            ],
            args=[
                run_id,
                key,
                seq,
                worker,
                lease,
                *_rate_args(rate),
                daily_limit or 0,
                next_day_start(timezone) if daily_limit else 0,
            ],
        )
        if text(result[0]) != "claimed":
            return _refusal(result)
        return Claim(
            claim=text(result[1]),
            wait=max(0.0, float(result[2])),
            email=text(result[3]),
            resend=int(result[4]),
            data=json.loads(result[5]),
            tries=int(result[6]),
            gemeente=text(result[7]),
            taken_over_from=text(result[8]),
        )

    def mark_end_of_data(
        self,
        run_id: str,
        key: str,
        claim: str,
        extra_lease: float,
        rate: RateLimit | None = None,
        sent: SentMessage | None = None,
    ) -> float | None:
        """Record that the end of DATA goes out now, and with `sent` what is handed over.

        Returns 0 when recorded, None when the claim was taken over (the dot must not be
        sent), or the seconds to wait before asking again because the rate window is full.
        """
        keys = [recipient_key_of(run_id, key), RATE_LOG]
        args: list[str | float] = [claim, extra_lease, *_rate_args(rate)]
        if sent is not None:
            more_keys, more_args = end_of_data_record(run_id, key, sent)
            keys += more_keys
            args += more_args
        result = text(self.scripts.mark_end_of_data(keys=keys, args=args))
        if result == "ok":
            return 0.0
        if result == "lost":
            return None
        return float(result)

    def expire_lease(self, run_id: str, key: str, claim: str) -> bool:
        """End the lease of `claim` now: its holder is dead. The next claim decides by stage."""
        return bool(self.scripts.expire_lease(keys=[recipient_key_of(run_id, key)], args=[claim]))

    def finish(
        self,
        run_id: str,
        key: str,
        claim: str,
        worker: str,
        *,
        outcome: str,
        state: str,
        reply: str,
        code: int | None,
        message_id: str,
        retry_delay: float = 0,
    ) -> str:
        """Record an attempt's outcome. Returns the recipient's state afterwards."""
        result = self.scripts.finish(
            keys=[*transition_keys(run_id, key), LEASES],
            args=[
                run_id,
                key,
                claim,
                worker,
                outcome,
                state,
                reply,
                "" if code is None else code,
                message_id,
                retry_delay,
            ],
        )
        return text(result[1])

    def requeue(
        self, run_id: str, key: str, by: str, new_address: str | None, why: str
    ) -> Requeued | RequeueRefused:
        """An operator's resend or retry of a recipient that is done."""
        result = self.scripts.requeue(
            keys=[*transition_keys(run_id, key), UNPUBLISHED],
            args=[run_id, key, by, new_address or "", why],
        )
        verdict = text(result[0])
        if verdict == "queued":
            return Requeued(int(result[1]))
        state = text(result[1]) if len(result) > 1 else ""
        return RequeueRefused("missing" if verdict == "missing" else "pending", state)

    def cancel(self, run_id: str, key: str, by: str) -> str:
        """'cancelled', 'finishing' (an attempt is in progress) or the unchanged state."""
        return text(self.scripts.cancel(keys=transition_keys(run_id, key), args=[run_id, key, by]))

    def control_run(self, run_id: str, action: str, by: str) -> RunChanged | RunControlRefused:
        """Approve, reject, pause, resume or release a run (`action` is an OUTCOME_ name).

        On a change to active, the recipients to hand to the workers come back with it.
        """
        result = self.scripts.run_control(
            keys=[
                run_key(run_id),
                order_key(run_id),
                counts_key(run_id),
                events_key(run_id),
                SCHEDULED,
                UNPUBLISHED,
            ],
            args=[run_id, action, by, recipient_prefix(run_id)],
        )
        verdict = text(result[0])
        if verdict != "changed":
            reason = cast(Literal["refused", "same_person", "early", "missing"], verdict)
            return RunControlRefused(reason, text(result[1]))
        pending = result[2:]
        items = [(text(pending[i]), int(pending[i + 1])) for i in range(0, len(pending), 2)]
        return RunChanged(text(result[1]), items)
