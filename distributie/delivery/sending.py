"""Sends one recipient of a run: claim in the ledger, prepare the message, send it, record the
outcome.

This is the logic the Celery tasks call; it knows nothing about Celery. The order of steps is
what makes "never twice, never lost" hold: nothing talks to SMTP without a claim, the ledger
learns that the end of DATA is about to go out before it does, and a retry is scheduled before
the attempt's outcome is recorded, so a crash between the two leaves a duplicate task message
(harmless: the ledger refuses it) rather than a recipient nobody will ever send.
"""

from __future__ import annotations

import logging
import random
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from distributie import states
from distributie.delivery.attempt import Attempt, Outcome, Outgoing, outcome_of, sent_message
from distributie.delivery.preparing import RunContext, load_run, prepare
from distributie.delivery.throttle import RedisConnectionGate
from distributie.delivery.transport import (
    Envelope,
    Reply,
    SendError,
    TransientSendError,
    Transport,
)
from distributie.errors import InvariantError
from distributie.ledger import Claim, ClaimRefused, ClaimRequest, Finish, Ledger
from distributie.runtime.processes import holder_name, local_holder_dead
from distributie.settings import Settings

log = logging.getLogger(__name__)


class LeaseLost(Exception):
    """Another task took this recipient over; this attempt must not send the end of DATA."""


@dataclass(frozen=True)
class Later:
    """Try this recipient again after `countdown` seconds with task sequence number `seq`."""

    seq: int
    countdown: float


Schedule = Callable[[str, str, int, float], None]  # run, recipient key, seq, countdown
QueuedItem = tuple[str, int]  # recipient key, task sequence number

# Longest wait for the rate window between the message body and its final dot.
MAX_RATE_WAIT_IN_DATA = 5.0


def backoff(settings: Settings, tries: int) -> float:
    """Exponential with jitter: retries of many recipients don't arrive at the relay together."""
    delay = min(settings.retry_delay * 2 ** (tries - 1), settings.retry_delay_max)
    return float(delay * random.uniform(0.8, 1.2))


class RecipientSender:
    """One per worker process: it owns that process's transport (one reused SMTP connection)."""

    def __init__(
        self,
        settings: Settings,
        ledger: Ledger,
        transport: Transport,
        gate: RedisConnectionGate | None = None,
    ) -> None:
        self.settings = settings
        self.ledger = ledger
        self.transport = transport
        self.gate = gate
        self.worker = holder_name()
        self._runs: dict[str, RunContext] = {}
        # The next recipient's claim, made with the last outcome (see `send`): (run, key, seq).
        self._claimed_ahead: tuple[tuple[str, str, int], Claim | ClaimRefused] | None = None

    def hand_over_connection(self) -> None:
        """Close this process's SMTP connection if another process waits for a slot.

        Called between task messages: an idle connection must not keep the others out when
        DISTRIBUTIE_SMTP_MAX_CONNECTIONS is smaller than the number of worker processes.
        """
        if self.gate is not None and self.gate.others_waiting():
            self.transport.close()

    def send(
        self, run_id: str, key: str, seq: int, schedule: Schedule, then: QueuedItem | None = None
    ) -> Later | None:
        """Do what the ledger allows for this recipient now; Later when it must wait.

        `then`: the recipient this process sends next, of the same run (the task's next item).
        Its claim then goes with this recipient's outcome, in one round trip to the ledger.
        """
        got = self._claim(run_id, key, seq)
        if not isinstance(got, Claim):
            if got.reason == "held":
                log.debug("task dropped: run %s is %s", run_id, got.state)
            if got.reason in ("busy", "early") and got.until is not None:
                # Another holder is at work, or it is not yet time: check again then.
                return Later(seq, max(0.0, got.until - time.time()) + 0.5)
            return None
        attempt = Attempt(run_id, key, got, time.monotonic())
        try:
            outcome = self._prepare_and_send(attempt)
        except LeaseLost:
            log.warning(
                "claim taken over while sending; this attempt stopped before the end of DATA",
                extra={"run": run_id, "gemeente": key, "attempt": got.attempt},
            )
            return None
        except (redis.ConnectionError, redis.TimeoutError):
            # The ledger is out of reach for longer than the client's retries: nothing can be
            # recorded now. The task is redelivered and the expired claim decided then.
            raise
        except BaseException as exc:
            # A bug, or the process is being stopped: leave a true record, then go down loudly.
            state = states.UNKNOWN if attempt.end_of_data_sent else states.FAILED
            self._record(
                attempt, Outcome(state, states.OUTCOME_ERROR, f"internal error: {exc!r}"), schedule
            )
            raise
        self._record(attempt, outcome, schedule, then)
        return None

    # -- claim -------------------------------------------------------------------------------

    def _claim(self, run_id: str, key: str, seq: int) -> Claim | ClaimRefused:
        ahead, self._claimed_ahead = self._claimed_ahead, None
        if ahead is None:
            got = self._claim_once(run_id, key, seq)
        elif ahead[0] == (run_id, key, seq):
            got = ahead[1]
        else:
            raise InvariantError(f"claimed {ahead[0]} ahead, but the next is {run_id}/{key}")
        if (
            isinstance(got, ClaimRefused)
            and got.reason == "busy"
            and got.claim is not None
            and local_holder_dead(got.holder or "")
        ):
            # The holder was a process on this host that no longer runs (killed, OOM): no need
            # to wait out its lease. Safe even if wrong: a live holder whose claim is taken
            # over cannot mark the end of DATA, so it never sends the final dot.
            self.ledger.expire_lease(run_id, key, got.claim)
            got = self._claim_once(run_id, key, seq)
        dead = got.taken_over_from if isinstance(got, Claim) else got.decided_for
        if dead:
            log.warning(
                "took over the expired claim of a lost worker",
                extra={
                    "run": run_id,
                    "gemeente": key,
                    "lost_worker": dead,
                    "result": _claimed(got),
                },
            )
        return got

    def _claim_once(self, run_id: str, key: str, seq: int) -> Claim | ClaimRefused:
        return self.ledger.claim_for(self._claim_request(run_id, key, seq))

    def _claim_request(self, run_id: str, key: str, seq: int) -> ClaimRequest:
        settings = self.settings
        return ClaimRequest(
            run_id,
            key,
            seq,
            self.worker,
            settings.send_lease,
            settings.rate,
            settings.daily_limit,
            settings.timezone,
        )

    # -- prepare and send --------------------------------------------------------------------

    def _prepare(self, attempt: Attempt) -> Outgoing | Outcome:
        """The message to send, or why it cannot be sent at all."""
        run = self._runs.get(attempt.run_id)
        if run is None:
            run = self._runs[attempt.run_id] = load_run(self.ledger, self.settings, attempt.run_id)
        return prepare(run, attempt, self.settings.max_message_bytes)

    def _prepare_and_send(self, attempt: Attempt) -> Outcome:
        prepared = self._prepare(attempt)
        if isinstance(prepared, Outcome):
            return prepared
        attempt.sent = sent_message(attempt, prepared)
        if attempt.claim.wait > 0:
            time.sleep(attempt.claim.wait)  # this attempt's rate-limit slot
        envelope = Envelope(
            prepared.message.addressing.sender_address,
            (attempt.claim.email,),
            attempt.run_id,
            attempt.key,
            crlf=True,  # build_message and the DKIM header write CRLF line endings only
        )
        if self.gate is not None and not self.gate.keep():
            self.transport.close()  # its connection slot expired: reconnect through the gate
        try:
            reply = self.transport.send(
                envelope, prepared.data, lambda: self._mark_end_of_data(attempt)
            )
        except SendError as exc:
            return outcome_of(exc)
        return Outcome(states.SENT, states.OUTCOME_ACCEPTED, str(reply), reply.code)

    def _mark_end_of_data(self, attempt: Attempt) -> None:
        """Called by the transport just before the final dot: may this message be accepted?"""
        # Room for the server's reply to the end of DATA before a takeover may decide.
        extra = self.settings.smtp_timeout * 2 + 10
        while True:
            wait = self.ledger.mark_end_of_data(
                attempt.run_id,
                attempt.key,
                attempt.claim.claim,
                extra,
                self.settings.rate,
                attempt.sent,
            )
            if wait is None:
                raise LeaseLost(
                    f"{attempt.run_id}/{attempt.key}: claim {attempt.claim.claim} was taken over"
                )
            if wait == 0:
                break
            if wait > MAX_RATE_WAIT_IN_DATA:
                # Don't keep the server waiting mid-DATA: abandon this try, nothing sent.
                raise TransientSendError(
                    Reply(None, f"rate limit window full for {wait:.0f} s; sending later")
                )
            time.sleep(wait)
        attempt.end_of_data_sent = True

    # -- record ------------------------------------------------------------------------------

    def _record(
        self,
        attempt: Attempt,
        outcome: Outcome,
        schedule: Schedule,
        then: QueuedItem | None = None,
    ) -> None:
        claim = attempt.claim
        retry_delay = 0.0
        if outcome.state == states.RETRYING:
            if claim.tries >= self.settings.max_attempts:
                reply = f"gave up after {claim.tries} attempts: {outcome.reply}"
                outcome = Outcome(states.FAILED, outcome.outcome, reply, outcome.code)
            else:
                retry_delay = backoff(self.settings, claim.tries)
                # Before the outcome is recorded: see the module's docstring.
                schedule(attempt.run_id, attempt.key, claim.seq + 1, retry_delay)
        finish = Finish(
            attempt.run_id,
            attempt.key,
            claim.claim,
            self.worker,
            outcome.outcome,
            outcome.state,
            outcome.reply,
            outcome.code,
            attempt.message_id,
            retry_delay,
        )
        ahead = None if then is None else self._claim_request(attempt.run_id, *then)
        state, got = self.ledger.record_outcome(finish, ahead)
        if ahead is not None and got is not None:
            self._claimed_ahead = ((ahead.run_id, ahead.key, ahead.seq), got)
        log.info(
            "attempt",
            extra={
                "run": attempt.run_id,
                "gemeente": attempt.key,
                "attempt": claim.attempt,
                "outcome": outcome.outcome,
                "state": state,
                "code": outcome.code,
                "ms": round((time.monotonic() - attempt.started) * 1000),
                "reply": outcome.reply,
            },
        )


def _claimed(got: Claim | ClaimRefused) -> str:
    return "claimed" if isinstance(got, Claim) else f"{got.reason} {got.state or ''}".strip()
