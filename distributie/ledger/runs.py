"""Creating a run in the ledger: the run, all its recipients as `queued`, and its mailing."""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Sequence
from typing import cast

import redis

from distributie import states
from distributie.compose.mailing import MailingBundle
from distributie.errors import LedgerError
from distributie.ledger.keys import (
    RUNS,
    SCHEDULED,
    UNPUBLISHED,
    bundle_key,
    counts_key,
    events_key,
    history_key,
    order_key,
    recipient_key_of,
    run_key,
    unpublished_member,
)
from distributie.ledger.records import NewRecipient, NewRun


def new_run_id() -> str:
    """Sortable and readable: 20191004-142501-7f3a."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


class RunWrites:
    """Creating a run and storing its mailing (part of `Ledger`)."""

    client: redis.Redis

    def store_bundle(self, bundle: MailingBundle) -> None:
        key = bundle_key(bundle.sha256)
        if not self.client.exists(key):
            self.client.hset(key, mapping=dict(bundle.files))  # type: ignore[arg-type]

    def load_bundle(self, sha256: str) -> MailingBundle:
        raw = cast(dict[bytes, bytes], self.client.hgetall(bundle_key(sha256)))
        if not raw:
            raise LedgerError(f"the mailing {sha256} of this run is not in the ledger")
        return MailingBundle({k.decode("utf-8"): v for k, v in raw.items()})

    def create_run(
        self,
        run: NewRun,
        bundle: MailingBundle,
        recipients: Sequence[NewRecipient],
        message_id_for: Callable[[str, int], str],
    ) -> None:
        """Write a run and all its recipients as `queued`, in one transaction.

        Their task messages count as unpublished until the caller confirms it published them
        (`published`); if it never does, the repair duty publishes them (ledger/publishing.py).
        """
        self.store_bundle(bundle)
        now = time.time()
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(run_key(run.id), mapping=run.fields(bundle.sha256, len(recipients), now))
        pipe.hset(counts_key(run.id), mapping={s: 0 for s in states.ALL_STATES})
        pipe.hset(counts_key(run.id), states.QUEUED, len(recipients))
        created = json.dumps(
            {
                "at": now,
                "worker": run.created_by,
                "outcome": states.OUTCOME_QUEUED,
                "state": states.QUEUED,
                "reply": "queued",
                "attempt": 0,
            }
        )
        for recipient in recipients:
            pipe.rpush(order_key(run.id), recipient.key)
            pipe.hset(
                recipient_key_of(run.id, recipient.key),
                mapping=recipient.fields(message_id_for(recipient.key, 0), now),
            )
            pipe.rpush(history_key(run.id, recipient.key), created)
        pipe.xadd(
            events_key(run.id),
            {"recipient": "*", "to": states.QUEUED, "outcome": states.OUTCOME_CREATED},
        )
        if recipients and run.state == states.RUN_ACTIVE:
            # A run that waits for approval or its time has no task yet; run_control.lua notes
            # its recipients as unpublished when it hands them over.
            pipe.zadd(UNPUBLISHED, {unpublished_member(run.id, r.key, 1): now for r in recipients})
        pipe.zadd(RUNS, {run.id: now})
        if run.release_at is not None:
            pipe.zadd(SCHEDULED, {run.id: run.release_at})
        pipe.execute()
