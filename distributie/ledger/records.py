"""What the ledger hands back: typed records instead of raw Redis hashes and script replies."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from distributie.settings import RateLimit
from distributie.states import (
    PENDING_STATES,
    RUN_ACTIVE,
    RUN_FINISHED,
    RUN_KIND_MAILING,
)

# Every verdict a ledger script returns. The scripts spell them VERDICT.<name> (ledger/scripts.py
# generates that table from this Literal), so the two cannot drift apart.
Verdict = Literal[
    "claimed",  # claim: the recipient is ours for one attempt
    "done",  # claim: it is sent, failed, unknown or cancelled
    "stale",  # claim/finish: an older task message or attempt than the current one
    "busy",  # claim: another worker holds a live lease
    "early",  # claim: not yet (retry backoff, or the daily limit is used up)
    "missing",  # claim/requeue: no such recipient
    "ok",  # mark end of DATA: recorded
    "lost",  # mark end of DATA: the claim was taken over
    "recorded",  # finish: the outcome was applied (record_report: the report)
    "already",  # record_report: this report was recorded before (processed twice)
    "queued",  # requeue: queued again
    "pending",  # requeue: still queued or being sent
    "cancelled",  # cancel: stopped before it was sent
    "finishing",  # cancel: being sent now; finishes and is not retried
    "held",  # claim: the run is paused, or not yet approved or released
    "changed",  # run control: the run went to its new state
    "refused",  # run control: not from the state the run is in
    "same_person",  # run control: approval by whoever created the run
    "republish",  # take_unpublished: its task message was lost; publish it again now
    "obsolete",  # take_unpublished: the recipient moved on; nothing to publish
]
VERDICTS: tuple[str, ...] = get_args(Verdict)

RefusalReason = Literal["done", "stale", "busy", "early", "missing", "held"]


@dataclass(frozen=True)
class ClaimRequest:
    """A task asking to take one recipient for an attempt (see Ledger.claim)."""

    run_id: str
    key: str
    seq: int
    worker: str
    lease: float
    rate: RateLimit | None = None
    daily_limit: int | None = None
    timezone: str = "Europe/Amsterdam"


@dataclass(frozen=True)
class Finish:
    """An attempt's outcome as the ledger records it (see Ledger.finish)."""

    run_id: str
    key: str
    claim: str
    worker: str
    outcome: str
    state: str
    reply: str
    code: int | None
    message_id: str
    retry_delay: float = 0


@dataclass(frozen=True)
class Claim:
    """What a task got when it claimed a recipient."""

    claim: str  # "<seq>.<attempt>": identifies this attempt in every later script call
    wait: float  # seconds until the message may go out (its rate-limit slot)
    email: str
    resend: int
    data: dict[str, Any]
    tries: int  # attempts since the last operator resend: what DISTRIBUTIE_MAX_ATTEMPTS caps
    gemeente: str
    taken_over_from: str = ""  # the dead holder whose expired claim this one replaces

    @property
    def seq(self) -> int:
        """The task sequence number this claim was made with."""
        return int(self.claim.split(".")[0])

    @property
    def attempt(self) -> int:
        """Which attempt of this recipient this is (1 for the first)."""
        return int(self.claim.split(".")[1])


@dataclass(frozen=True)
class ClaimRefused:
    """Why a task must not send now."""

    reason: RefusalReason
    state: str | None = None  # done, stale: the recipient's state
    until: float | None = None  # busy, early: when to look again
    holder: str | None = None  # busy: the worker holding the claim, and its claim id
    claim: str | None = None
    decided_for: str | None = None  # done after a takeover: the dead holder it decided for


@dataclass(frozen=True)
class Requeued:
    """An operator's resend or retry was queued; `seq` is the new task sequence number."""

    seq: int


@dataclass(frozen=True)
class RequeueRefused:
    """The recipient cannot be queued again now (it is still queued or being sent)."""

    reason: Literal["pending", "missing"]
    state: str


@dataclass(frozen=True)
class RunChanged:
    """A run went to `state`; `to_send` are the (recipient key, seq) to hand to the workers."""

    state: str
    to_send: list[tuple[str, int]]


@dataclass(frozen=True)
class RunControlRefused:
    """Why a run control action was refused; `detail` is the run's state (or its release time)."""

    reason: Literal["refused", "same_person", "early", "missing"]
    detail: str


@dataclass
class RecipientStatus:
    key: str
    gemeente: str
    email: str
    state: str
    attempts: int
    message_id: str
    last_reply: str
    updated_at: float | None
    waiting: str
    not_before: float
    history: list[dict[str, Any]] = field(default_factory=list)
    auto_reply: str = ""  # first line of the latest automatic reply (out of office), if any
    auto_reply_at: float | None = None


@dataclass(frozen=True)
class SentMessage:
    """What one attempt handed to the server when it sent the end of DATA: enough to rebuild
    the exact bytes (`prefix` + the message built with `date`) and to prove them (sha256)."""

    attempt: int
    resend: int
    message_id: str
    email: str  # the address it went to (a resend --to changes the recipient's)
    date: str  # the Date header as written
    sha256: str  # of the bytes handed over, before SMTP's dot-stuffing and final dot
    size: int
    prefix: str = ""  # base64 of what went before the built message (DKIM-Signature)
    at: float = 0.0  # when the end of DATA went out (the Redis server's clock)

    def as_json(self) -> str:
        return json.dumps(
            {
                "attempt": self.attempt,
                "resend": self.resend,
                "message_id": self.message_id,
                "email": self.email,
                "date": self.date,
                "sha256": self.sha256,
                "bytes": self.size,
                "prefix": self.prefix,
            }
        )

    @classmethod
    def from_json(cls, raw: str | bytes) -> SentMessage:
        data = json.loads(raw)
        return cls(
            attempt=int(data["attempt"]),
            resend=int(data["resend"]),
            message_id=str(data["message_id"]),
            email=str(data["email"]),
            date=str(data["date"]),
            sha256=str(data["sha256"]),
            size=int(data["bytes"]),
            prefix=str(data.get("prefix", "")),
            at=float(data.get("at") or 0),
        )


def _time(raw: dict[str, str], name: str) -> float | None:
    return float(raw[name]) if raw.get(name) else None


@dataclass(frozen=True)
class RunControl:
    """A run's kind and own state, and who approved, scheduled, paused or released it when."""

    kind: str = RUN_KIND_MAILING
    stored_state: str = RUN_ACTIVE  # as stored; see `state` for what the run is now
    approval_required: bool = False
    approved_by: str = ""
    approved_at: float | None = None
    rejected_by: str = ""
    release_at: float | None = None  # a scheduled start
    released_at: float | None = None
    release_delay: float | None = None  # seconds after release_at that a worker released it
    paused_by: str = ""
    paused_at: float | None = None

    @classmethod
    def from_hash(cls, raw: dict[str, str]) -> RunControl:
        return cls(
            kind=raw.get("kind") or RUN_KIND_MAILING,
            stored_state=raw.get("state") or RUN_ACTIVE,
            approval_required=raw.get("approval_required") == "1",
            approved_by=raw.get("approved_by", ""),
            approved_at=_time(raw, "approved_at"),
            rejected_by=raw.get("rejected_by", ""),
            release_at=_time(raw, "release_at"),
            released_at=_time(raw, "released_at"),
            release_delay=_time(raw, "release_delay"),
            paused_by=raw.get("paused_by", ""),
            paused_at=_time(raw, "paused_at"),
        )

    def state(self, counts: dict[str, int]) -> str:
        """The run's state now: a run with nobody left to send is finished, also one that was
        paused, or cancelled while it awaited approval or its time (nothing is left to do)."""
        if not any(counts.get(s) for s in PENDING_STATES):
            return RUN_FINISHED
        return self.stored_state


@dataclass
class RunStatus:
    run: str
    mailing: str
    created_at: float
    created_by: str
    recipients_path: str
    recipients_sha256: str
    templates_sha256: str
    transport: str
    total: int
    counts: dict[str, int]
    recipients: list[RecipientStatus]
    control: RunControl = RunControl()

    @property
    def run_state(self) -> str:
        return self.control.state(self.counts)


@dataclass
class RunPage:
    """One page of a run's recipients with the run and its counts, read in one step."""

    info: dict[str, str]  # every field of the run's hash (empty: no such run)
    counts: dict[str, int]
    matched: int  # recipients that match the filter, on all pages
    recipients: list[RecipientStatus]


@dataclass(frozen=True)
class NewRun:
    """A run as `create_run` stores it (the `run:{run}` hash of the key schema)."""

    id: str
    mailing: str
    mailing_dir: str
    recipients_path: str
    recipients_sha256: str
    created_by: str
    transport: str
    kind: str = RUN_KIND_MAILING
    state: str = RUN_ACTIVE  # awaiting_approval or scheduled: nothing is handed to workers yet
    release_at: float | None = None
    approval_required: bool = False

    def fields(self, templates_sha256: str, total: int, now: str) -> dict[str, object]:
        return {
            "kind": self.kind,
            "state": self.state,
            "release_at": self.release_at or "",
            "approval_required": int(self.approval_required),
            "id": self.id,
            "mailing": self.mailing,
            "mailing_dir": self.mailing_dir,
            "templates_sha256": templates_sha256,
            "recipients_path": self.recipients_path,
            "recipients_sha256": self.recipients_sha256,
            "created_at": now,
            "created_by": self.created_by,
            "transport": self.transport,
            "total": total,
        }


@dataclass(frozen=True)
class NewRecipient:
    """A recipient as `create_run` stores it, `queued` (the `run:{run}:r:{key}` hash)."""

    key: str
    gemeente: str
    email: str
    data: dict[str, Any]  # the row: {"row": Excel row number, "fields": {column: value}}


@dataclass(frozen=True)
class ReportEvent:
    """What a report from the bounce mailbox says about one recipient, as the ledger records it
    (`record_report`): a bounce, delay or auto-reply event, and for a bounce of the current
    send the state `bounced`."""

    report_id: str  # the report's own Message-ID, else sha256:<hex of its bytes>
    run: str
    key: str
    outcome: str  # states.OUTCOME_BOUNCE, OUTCOME_DELAYED or OUTCOME_AUTO_REPLY
    method: str  # how the report was matched to the recipient
    kind: str  # what came back: dsn, ndr, text_bounce, auto_reply
    reply: str  # the diagnostic, or an auto-reply's first line
    status: str = ""  # the enhanced status code, e.g. 5.1.1
    code: int | None = None  # the SMTP reply code in the diagnostic, e.g. 550
    resend: int | None = None  # the send it names; None: the current one
    attempt: int | None = None  # the attempt that sent it; None: the latest


@dataclass(frozen=True)
class ReportRecorded:
    """`recorded` (now), `already` (processed before: nothing changed) or `missing`."""

    verdict: Literal["recorded", "already", "missing"]
    state: str = ""
    gemeente: str = ""


@dataclass(frozen=True)
class SentTo:
    """One message sent to an address (the sent-to index), for matching by address."""

    run: str
    key: str
    resend: int
    at: float
