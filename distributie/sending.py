"""Sends one recipient of a run: claim in the ledger, render, wait for a rate slot, send, record.

This is the logic the Celery tasks call; it knows nothing about Celery. The order of steps is
what makes "never twice, never lost" hold: nothing talks to SMTP without a claim, the ledger
learns that the end of DATA is about to go out before it does, and a retry is scheduled before
the attempt's outcome is recorded, so a crash between the two leaves a duplicate task message
(harmless: the ledger refuses it) rather than a recipient nobody will ever send.
"""

from __future__ import annotations

import os
import random
import socket
import time
from collections.abc import Callable
from dataclasses import dataclass

import redis

from distributie import states
from distributie.ledger import Claim, ClaimRefused, Ledger
from distributie.mailing import Mailing, mailing_from_bundle
from distributie.message import Addressing, build_message, message_id
from distributie.recipients import Recipient
from distributie.redis_server import pid_alive
from distributie.rendering import CompiledMailing, RenderError, compile_mailing
from distributie.settings import Settings
from distributie.throttle import RedisConnectionGate
from distributie.transport import (
    Envelope,
    PermanentSendError,
    Reply,
    TransientSendError,
    Transport,
    UnknownOutcomeError,
)


class LeaseLost(Exception):
    """Another task took this recipient over; this attempt must not send the end of DATA."""


@dataclass(frozen=True)
class Later:
    """Try this recipient again after `countdown` seconds with task sequence number `seq`."""

    seq: int
    countdown: float


Schedule = Callable[[str, str, int, float], None]  # run, recipient key, seq, countdown

# Longest wait for the rate window between the message body and its final dot.
MAX_RATE_WAIT_IN_DATA = 5.0


def worker_name() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"


def backoff(settings: Settings, tries: int) -> float:
    """Exponential with jitter: retries of many recipients don't arrive at the relay together."""
    delay = min(settings.retry_delay * 2 ** (tries - 1), settings.retry_delay_max)
    return float(delay * random.uniform(0.8, 1.2))


@dataclass
class _Progress:
    """How far an attempt got: after the end of DATA its outcome may be 'accepted'."""

    end_of_data_sent: bool = False


@dataclass(frozen=True)
class RunContext:
    """What every message of a run shares, loaded once per process."""

    mailing: Mailing
    compiled: CompiledMailing
    domain: str


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
        self.worker = worker_name()
        self._runs: dict[str, RunContext] = {}

    def hand_over_connection(self) -> None:
        """Close this process's SMTP connection if another process waits for a slot.

        Called between task messages: an idle connection must not keep the others out when
        DISTRIBUTIE_SMTP_MAX_CONNECTIONS is smaller than the number of worker processes.
        """
        if self.gate is not None and self.gate.others_waiting():
            self.transport.close()

    def _run(self, run_id: str) -> RunContext:
        context = self._runs.get(run_id)
        if context is None:
            sha = self.ledger.run_info(run_id)["templates_sha256"]
            mailing = mailing_from_bundle(self.ledger.load_bundle(sha))
            domain = mailing.spec.sender.address.rpartition("@")[2]
            context = self._runs[run_id] = RunContext(mailing, compile_mailing(mailing), domain)
        return context

    def send(self, run_id: str, key: str, seq: int, schedule: Schedule) -> Later | None:
        """Do what the ledger allows for this recipient now; Later when it must wait."""
        got = self._claim(run_id, key, seq)
        if isinstance(got, ClaimRefused) and got.reason == "busy" and self._holder_died(got):
            # The holder was a process on this host that no longer runs (killed, OOM): no
            # need to wait out its lease. Safe even if wrong: a live holder whose claim is
            # taken over cannot mark the end of DATA, so it never sends the final dot.
            assert got.claim is not None
            self.ledger.expire_lease(run_id, key, got.claim)
            got = self._claim(run_id, key, seq)
        if not isinstance(got, Claim):
            if got.reason in ("busy", "early") and got.until is not None:
                # Another holder is at work, or it is not yet time: check again then.
                return Later(seq, max(0.0, got.until - time.time()) + 0.5)
            return None
        progress = _Progress()
        try:
            self._attempt(run_id, key, got, schedule, progress)
        except LeaseLost:
            pass
        except (redis.ConnectionError, redis.TimeoutError):
            # The ledger is out of reach for longer than the client's retries: nothing can be
            # recorded now. The task is redelivered and the expired claim decided then.
            raise
        except BaseException as exc:
            # A bug, or the process is being stopped: leave a true record, then go down loudly.
            state = states.UNKNOWN if progress.end_of_data_sent else states.FAILED
            self._finish(run_id, key, got, state, states.OUTCOME_ERROR, f"internal error: {exc!r}")
            raise
        return None

    def _claim(self, run_id: str, key: str, seq: int) -> Claim | ClaimRefused:
        return self.ledger.claim(
            run_id,
            key,
            seq,
            self.worker,
            self.settings.send_lease,
            self.settings.rate,
            self.settings.daily_limit,
            self.settings.timezone,
        )

    def _holder_died(self, refused: ClaimRefused) -> bool:
        host, _, pid = (refused.holder or "").rpartition(":")
        return host == socket.gethostname() and pid.isdigit() and not pid_alive(int(pid))

    def _attempt(
        self, run_id: str, key: str, claim: Claim, schedule: Schedule, progress: _Progress
    ) -> None:
        run = self._run(run_id)
        spec = run.mailing.spec
        mid = message_id(run_id, key, claim.resend, run.domain)
        recipient = Recipient(
            row=int(claim.data["row"]),
            gemeente=claim.gemeente,
            email=claim.email,
            fields=dict(claim.data["fields"]),
            key=key,
        )
        try:
            rendered = run.compiled.render(recipient.context())
        except RenderError as exc:
            self._finish(
                run_id, key, claim, states.FAILED, states.OUTCOME_PERMANENT, str(exc), mid=mid
            )
            return
        addressing = Addressing(
            sender_name=spec.sender.name,
            sender_address=spec.sender.address,
            reply_to=spec.sender.reply_to,
            to_address=claim.email,
            run_id=run_id,
            gemeente=claim.gemeente,
            recipient_key=key,
            resend=claim.resend,
        )
        data = build_message(rendered, addressing)
        if len(data) > self.settings.max_message_bytes:
            reason = (
                f"message is {len(data)} bytes, more than DISTRIBUTIE_MAX_MESSAGE_BYTES="
                f"{self.settings.max_message_bytes}"
            )
            self._finish(
                run_id, key, claim, states.FAILED, states.OUTCOME_PERMANENT, reason, mid=mid
            )
            return
        if claim.wait > 0:
            time.sleep(claim.wait)

        def before_end_of_data() -> None:
            # Room for the server's reply to the end of DATA before a takeover may decide.
            extra = self.settings.smtp_timeout * 2 + 10
            while True:
                wait = self.ledger.mark_end_of_data(
                    run_id, key, claim.claim, extra, self.settings.rate
                )
                if wait is None:
                    raise LeaseLost(f"{run_id}/{key}: claim {claim.claim} was taken over")
                if wait == 0:
                    break
                if wait > MAX_RATE_WAIT_IN_DATA:
                    # Don't keep the server waiting mid-DATA: abandon this try, nothing sent.
                    raise TransientSendError(
                        Reply(None, f"rate limit window full for {wait:.0f} s; sending later")
                    )
                time.sleep(wait)
            progress.end_of_data_sent = True

        envelope = Envelope(spec.sender.address, (claim.email,), run_id, key)
        if self.gate is not None and not self.gate.keep():
            self.transport.close()  # its connection slot expired: reconnect through the gate
        try:
            reply = self.transport.send(envelope, data, before_end_of_data)
        except TransientSendError as exc:
            if claim.tries >= self.settings.max_attempts:
                reason = f"gave up after {claim.tries} attempts: {_reply_text(exc)}"
                self._finish(
                    run_id, key, claim, states.FAILED, states.OUTCOME_TRANSIENT, reason, exc, mid
                )
                return
            delay = backoff(self.settings, claim.tries)
            schedule(run_id, key, seq_after_retry(claim), delay)
            self._finish(
                run_id,
                key,
                claim,
                states.RETRYING,
                states.OUTCOME_TRANSIENT,
                _reply_text(exc),
                exc,
                mid,
                delay,
            )
            return
        except PermanentSendError as exc:
            self._finish(
                run_id,
                key,
                claim,
                states.FAILED,
                states.OUTCOME_PERMANENT,
                _reply_text(exc),
                exc,
                mid,
            )
            return
        except UnknownOutcomeError as exc:
            self._finish(
                run_id,
                key,
                claim,
                states.UNKNOWN,
                states.OUTCOME_UNKNOWN,
                _reply_text(exc),
                exc,
                mid,
            )
            return
        text = f"{reply.code} {reply.text}" if reply.code is not None else reply.text
        self._finish(
            run_id, key, claim, states.SENT, states.OUTCOME_ACCEPTED, text, code=reply.code, mid=mid
        )

    def _finish(
        self,
        run_id: str,
        key: str,
        claim: Claim,
        state: str,
        outcome: str,
        reply: str,
        exc: Exception | None = None,
        mid: str = "",
        retry_delay: float = 0,
        code: int | None = None,
    ) -> None:
        if exc is not None:
            code = getattr(getattr(exc, "reply", None), "code", None)
        self.ledger.finish(
            run_id,
            key,
            claim.claim,
            self.worker,
            outcome=outcome,
            state=state,
            reply=reply,
            code=code,
            message_id=mid,
            retry_delay=retry_delay,
        )


def seq_after_retry(claim: Claim) -> int:
    """The task sequence number the ledger gives the retry (see ledger's finish script)."""
    return int(claim.claim.split(".")[0]) + 1


def _reply_text(exc: Exception) -> str:
    reply = getattr(exc, "reply", None)
    if reply is None:
        return str(exc)
    return f"{reply.code} {reply.text}" if reply.code is not None else str(reply.text)
