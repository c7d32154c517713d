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
    bundle_key,
    counts_key,
    events_key,
    history_key,
    order_key,
    recipient_key_of,
    run_key,
)
from distributie.ledger.records import NewRecipient


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
        run_id: str,
        *,
        mailing_name: str,
        mailing_dir: str,
        bundle: MailingBundle,
        recipients_path: str,
        recipients_sha256: str,
        created_by: str,
        transport: str,
        recipients: Sequence[NewRecipient],
        message_id_for: Callable[[str, int], str],
    ) -> None:
        """Write a run and all its recipients as `queued`, in one transaction."""
        self.store_bundle(bundle)
        now = time.time()
        pipe = self.client.pipeline(transaction=True)
        pipe.hset(
            run_key(run_id),
            mapping={
                "id": run_id,
                "mailing": mailing_name,
                "mailing_dir": mailing_dir,
                "templates_sha256": bundle.sha256,
                "recipients_path": recipients_path,
                "recipients_sha256": recipients_sha256,
                "created_at": now,
                "created_by": created_by,
                "transport": transport,
                "total": len(recipients),
            },
        )
        pipe.hset(counts_key(run_id), mapping={s: 0 for s in states.ALL_STATES})
        pipe.hset(counts_key(run_id), states.QUEUED, len(recipients))
        created = json.dumps(
            {
                "at": now,
                "worker": created_by,
                "outcome": states.OUTCOME_QUEUED,
                "state": states.QUEUED,
                "reply": "queued",
                "attempt": 0,
            }
        )
        for recipient in recipients:
            pipe.rpush(order_key(run_id), recipient.key)
            pipe.hset(
                recipient_key_of(run_id, recipient.key),
                mapping={
                    "key": recipient.key,
                    "gemeente": recipient.gemeente,
                    "email": recipient.email,
                    "data": json.dumps(recipient.data, ensure_ascii=False),
                    "state": states.QUEUED,
                    "seq": 1,
                    "resend": 0,
                    "attempts": 0,
                    "not_before": 0,
                    "message_id": message_id_for(recipient.key, 0),
                    "created_at": now,
                    "updated_at": now,
                },
            )
            pipe.rpush(history_key(run_id, recipient.key), created)
        pipe.xadd(
            events_key(run_id),
            {"recipient": "*", "to": states.QUEUED, "outcome": states.OUTCOME_CREATED},
        )
        pipe.zadd(RUNS, {run_id: now})
        pipe.execute()
