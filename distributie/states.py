"""Every delivery state of a recipient, every outcome in its history, and their groupings.

The ledger's Lua scripts get these names from here (see ledger/scripts.py), so a name exists once.
"""

from __future__ import annotations

QUEUED = "queued"
SENDING = "sending"
RETRYING = "retrying"
SENT = "sent"
FAILED = "failed"
UNKNOWN = "unknown"
CANCELLED = "cancelled"
BOUNCED = "bounced"  # the relay accepted it, and a permanent failure report came back later

# Last, so existing counts keep their order; a counts hash of a run made before `bounced`
# existed lacks it, and reads as 0.
ALL_STATES = (QUEUED, SENDING, RETRYING, SENT, FAILED, UNKNOWN, CANCELLED, BOUNCED)

# No worker touches a recipient in one of these states again without an operator's resend/retry.
TERMINAL_STATES = frozenset({SENT, FAILED, UNKNOWN, CANCELLED, BOUNCED})
PENDING_STATES = frozenset({QUEUED, SENDING, RETRYING})

# What `retry` picks up. (What `cancel` stops, queued and retrying, is decided in the
# ledger's cancel script, atomically with the claim.)
RETRYABLE_BY_OPERATOR = frozenset({FAILED, UNKNOWN})

# What `retry --bounced` picks up as well: a bounced address usually needs `resend --to`.
RETRYABLE_WHEN_BOUNCED = frozenset({BOUNCED})

# States that make `send` exit 1.
UNSUCCESSFUL_STATES = frozenset({FAILED, UNKNOWN, CANCELLED, BOUNCED})

# Written from reports in the bounce mailbox (bounces/): the names of bounces.Outcome.
OUTCOME_BOUNCE = "bounce"  # a permanent failure report: bounced, or an event of an older send
OUTCOME_DELAYED = "delayed"  # a temporary report (vertraagd): an event, the state stays
OUTCOME_AUTO_REPLY = "auto_reply"  # an automatic reply (automatisch antwoord): an event
REPORT_OUTCOMES = (OUTCOME_BOUNCE, OUTCOME_DELAYED, OUTCOME_AUTO_REPLY)

# Outcomes of one attempt, as kept in a recipient's history.
OUTCOME_ACCEPTED = "accepted"  # the server took the message: sent
OUTCOME_TRANSIENT = "transient"  # temporary problem before the end of DATA: will retry
OUTCOME_PERMANENT = "permanent"  # the server refused: failed
OUTCOME_UNKNOWN = "unknown"  # lost while waiting for the reply to the end of DATA
OUTCOME_ERROR = "error"  # a bug in distributie: failed (or unknown after the end of DATA)
# Written by the ledger's scripts:
OUTCOME_CLAIMED = "claimed"  # a worker took the recipient: an attempt starts
OUTCOME_WORKER_LOST = "worker-lost"  # the worker died; decided by how far it got
OUTCOME_CANCELLED = "cancelled"  # an operator cancelled a queued or retrying recipient
OUTCOME_CANCEL_REQUESTED = "cancel"  # cancelled while being sent: that attempt is not retried
OUTCOME_LATE = "late"  # the outcome of an attempt that was taken over: kept, not applied
OUTCOME_QUEUED = "queued"  # the run's creation, or an operator's resend or retry
OUTCOME_CREATED = "created"  # the run's creation, in the run's event stream
OUTCOME_REPUBLISHED = "republished"  # its task message was never published: published again

# How far the attempt that holds a claim got: decides what a takeover may do.
STAGE_CLAIMED = "claimed"
STAGE_END_OF_DATA = "end-of-data"  # the final dot may have gone out: never resent on its own

ALL_STAGES = (STAGE_CLAIMED, STAGE_END_OF_DATA)

# Why a queued recipient waits (shown by `status`).
WAITING_DAILY_LIMIT = "daily-limit"

# --- runs ---------------------------------------------------------------------------------------
# A run's own state (the `state` field of its hash; a run without one is active). A run is also
# finished, without it being stored, once it is active or paused and every recipient is done.
RUN_AWAITING_APPROVAL = "awaiting_approval"  # DISTRIBUTIE_REQUIRE_APPROVAL: nothing queued yet
RUN_SCHEDULED = "scheduled"  # released by a worker at its time (and once approved)
RUN_ACTIVE = "active"
RUN_PAUSED = "paused"  # no new attempt starts; tasks that arrive are dropped, resume requeues
RUN_FINISHED = "finished"

ALL_RUN_STATES = (RUN_AWAITING_APPROVAL, RUN_SCHEDULED, RUN_ACTIVE, RUN_PAUSED, RUN_FINISHED)
# Runs whose tasks a worker must not act on now.
RUN_HELD_STATES = frozenset({RUN_AWAITING_APPROVAL, RUN_SCHEDULED, RUN_PAUSED})

RUN_KIND_MAILING = "mailing"
RUN_KIND_TEST = "test"  # a proefzending: every message to one test address, marked [PROEF]

# What an operator or a worker did to a whole run, in the history of the run and its recipients.
OUTCOME_APPROVED = "approved"
OUTCOME_REJECTED = "rejected"
OUTCOME_PAUSED = "paused"
OUTCOME_RESUMED = "resumed"
OUTCOME_RELEASED = "released"  # a scheduled (or approved) run went to the workers

# Every outcome defined above, in the order they appear (the web page names each in Dutch).
ALL_OUTCOMES = tuple(
    value for name, value in list(globals().items()) if name.startswith("OUTCOME_")
)
