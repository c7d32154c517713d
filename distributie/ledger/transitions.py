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
    ClaimRequest,
    Finish,
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


def _claim_call(request: ClaimRequest) -> tuple[list[str], list[str | int | float]]:
    """The KEYS and ARGV of claim.lua."""
    day = datetime.now(ZoneInfo(request.timezone)).date().isoformat()
    keys = [
        *transition_keys(request.run_id, request.key),
        LEASES,
        RATE_NEXT,
        daily_key(day),
        run_key(request.run_id),
    ]
    args = [
        request.run_id,
        request.key,
        request.seq,
        request.worker,
        request.lease,
        *_rate_args(request.rate),
        request.daily_limit or 0,
        next_day_start(request.timezone) if request.daily_limit else 0,
    ]
    return keys, args


def _claimed(result: list[Any]) -> Claim | ClaimRefused:
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


def _finish_call(finish: Finish) -> tuple[list[str], list[str | int | float]]:
    """The KEYS and ARGV of finish.lua."""
    keys = [*transition_keys(finish.run_id, finish.key), LEASES]
    args = [
        finish.run_id,
        finish.key,
        finish.claim,
        finish.worker,
        finish.outcome,
        finish.state,
        finish.reply,
        "" if finish.code is None else finish.code,
        finish.message_id,
        finish.retry_delay,
    ]
    return keys, args


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
        return self.claim_for(
            ClaimRequest(run_id, key, seq, worker, lease, rate, daily_limit, timezone)
        )

    def claim_for(self, request: ClaimRequest) -> Claim | ClaimRefused:
        """`claim`, asked as a ClaimRequest."""
        keys, args = _claim_call(request)
        return _claimed(self.scripts.claim(keys=keys, args=args))

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
        finish = Finish(
            run_id, key, claim, worker, outcome, state, reply, code, message_id, retry_delay
        )
        return self.record_outcome(finish)[0]

    def record_outcome(
        self, finish: Finish, then: ClaimRequest | None = None
    ) -> tuple[str, Claim | ClaimRefused | None]:
        """Record an attempt's outcome and, with `then`, claim the next recipient in the same
        round trip (each as it runs alone). Returns the recipient's state afterwards and the
        next claim's answer."""
        keys, args = _finish_call(finish)
        if then is None:
            return text(self.scripts.finish(keys=keys, args=args)[1]), None
        claim_keys, claim_args = _claim_call(then)
        finished, claimed = self.scripts.finish_then_claim(
            keys=[*keys, *claim_keys], args=[*args, *claim_args]
        )
        return text(finished[1]), _claimed(claimed)

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
