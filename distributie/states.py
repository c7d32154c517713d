"""Every delivery state of a recipient, and the groupings the rest of the code asks about."""

from __future__ import annotations

QUEUED = "queued"
SENDING = "sending"
RETRYING = "retrying"
SENT = "sent"
FAILED = "failed"
UNKNOWN = "unknown"
CANCELLED = "cancelled"

ALL_STATES = (QUEUED, SENDING, RETRYING, SENT, FAILED, UNKNOWN, CANCELLED)

# No worker touches a recipient in one of these states again without an operator's resend/retry.
TERMINAL_STATES = frozenset({SENT, FAILED, UNKNOWN, CANCELLED})
PENDING_STATES = frozenset({QUEUED, SENDING, RETRYING})

# What `retry` picks up, and what `cancel` stops.
RETRYABLE_BY_OPERATOR = frozenset({FAILED, UNKNOWN})
CANCELLABLE = frozenset({QUEUED, RETRYING})

# States that make `send` exit 1.
UNSUCCESSFUL_STATES = frozenset({FAILED, UNKNOWN, CANCELLED})

# Outcomes of one attempt, as kept in a recipient's history.
OUTCOME_ACCEPTED = "accepted"  # the server took the message: sent
OUTCOME_TRANSIENT = "transient"  # temporary problem before the end of DATA: will retry
OUTCOME_PERMANENT = "permanent"  # the server refused: failed
OUTCOME_UNKNOWN = "unknown"  # lost while waiting for the reply to the end of DATA
OUTCOME_WORKER_LOST = "worker-lost"  # the worker died; decided by how far it got
OUTCOME_CANCELLED = "cancelled"
OUTCOME_QUEUED = "queued"  # an operator's resend or retry
