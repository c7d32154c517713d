"""What the ledger hands back: typed records instead of raw Redis hashes and script replies."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from typing import Any, Literal, get_args

from redis.typing import EncodableT

from distributie.states import QUEUED

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
    "recorded",  # finish: the outcome was applied
    "queued",  # requeue: queued again
    "pending",  # requeue: still queued or being sent
    "cancelled",  # cancel: stopped before it was sent
    "finishing",  # cancel: being sent now; finishes and is not retried
]
VERDICTS: tuple[str, ...] = get_args(Verdict)

RefusalReason = Literal["done", "stale", "busy", "early", "missing"]


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

    def fields(self, templates_sha256: str, total: int, now: float) -> dict[EncodableT, EncodableT]:
        return {
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

    def fields(self, message_id: str, now: float) -> dict[EncodableT, EncodableT]:
        return {
            "key": self.key,
            "gemeente": self.gemeente,
            "email": self.email,
            "data": json.dumps(self.data, ensure_ascii=False),
            "state": QUEUED,
            "seq": 1,
            "resend": 0,
            "attempts": 0,
            "not_before": 0,
            "message_id": message_id,
            "created_at": now,
            "updated_at": now,
        }
