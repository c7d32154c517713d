"""The names of every Redis key distributie uses (the README's "Ledger key schema")."""

from __future__ import annotations

PREFIX = "distributie"
RUNS = f"{PREFIX}:runs"
SCHEDULED = f"{PREFIX}:runs:scheduled"  # runs waiting for their time, scored by it
LEASES = f"{PREFIX}:leases"
RATE_NEXT = f"{PREFIX}:rate:next"
RATE_LOG = f"{PREFIX}:rate:log"
CONNECTIONS = f"{PREFIX}:smtp:connections"
CONNECTION_WAITERS = f"{PREFIX}:smtp:waiting"
# Recipients queued by a command whose task message is not yet known to be published.
UNPUBLISHED = f"{PREFIX}:tasks:unpublished"
REPORTS_PROCESSED = f"{PREFIX}:bounces:processed"
BOUNCE_POLLER = f"{PREFIX}:bounces:poller"


def run_key(run_id: str) -> str:
    return f"{PREFIX}:run:{run_id}"


def recipient_key_of(run_id: str, key: str) -> str:
    return f"{PREFIX}:run:{run_id}:r:{key}"


def recipient_prefix(run_id: str) -> str:
    """What recipient_key_of puts before the key: for scripts that go through a whole run."""
    return f"{PREFIX}:run:{run_id}:r:"


def history_key(run_id: str, key: str) -> str:
    return f"{PREFIX}:run:{run_id}:r:{key}:history"


def messages_key(run_id: str, key: str) -> str:
    """What each attempt that sent the end of DATA handed over: attempt number -> JSON."""
    return f"{PREFIX}:run:{run_id}:r:{key}:messages"


def sent_to_key(address: str) -> str:
    """Every message sent to one address (lower case): `run/key/resend`, scored by time."""
    return f"{PREFIX}:sent-to:{address.lower()}"


def counts_key(run_id: str) -> str:
    return f"{PREFIX}:run:{run_id}:counts"


def order_key(run_id: str) -> str:
    return f"{PREFIX}:run:{run_id}:order"


def events_key(run_id: str) -> str:
    return f"{PREFIX}:run:{run_id}:events"


def bundle_key(sha256: str) -> str:
    return f"{PREFIX}:bundle:{sha256}"


def daily_key(day: str) -> str:
    return f"{PREFIX}:daily:{day}"


def duty_key(name: str) -> str:
    return f"{PREFIX}:duty:{name}"


def unpublished_member(run_id: str, key: str, seq: int) -> str:
    """An entry of UNPUBLISHED: one recipient's task message of one sequence number."""
    return f"{run_id}/{key}/{seq}"


def transition_keys(run_id: str, key: str) -> list[str]:
    """KEYS[1..4] of every script that moves a recipient from one state to another."""
    return [
        recipient_key_of(run_id, key),
        history_key(run_id, key),
        counts_key(run_id),
        events_key(run_id),
    ]
