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
    order_key,
    recipient_prefix,
    run_key,
)
from distributie.ledger.records import NewRecipient, NewRun
from distributie.ledger.scripts import Scripts


def new_run_id() -> str:
    """Sortable and readable: 20191004-142501-7f3a."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


# Recipients per script call: one call must not hold Redis up for long (about 30 ms here).
_CHUNK = 2000


class RunWrites:
    """Creating a run and storing its mailing (part of `Ledger`)."""

    client: redis.Redis
    scripts: Scripts

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
        """Write a run and all its recipients as `queued`.

        The recipients go in chunks, then one script makes the run visible with its counts: a
        process killed halfway leaves nothing anyone sees. Their task messages count as
        unpublished until the caller confirms it published them (`published`); if it never
        does, the repair duty publishes them (ledger/publishing.py).
        """
        self.store_bundle(bundle)
        now = repr(time.time())
        created = json.dumps(
            {
                "at": float(now),
                "worker": run.created_by,
                "outcome": states.OUTCOME_QUEUED,
                "state": states.QUEUED,
                "reply": "queued",
                "attempt": 0,
            }
        )
        # A run that waits for approval or its time has no task yet; run_control.lua notes its
        # recipients as unpublished when it hands them over.
        unpublished = "1" if run.state == states.RUN_ACTIVE else "0"
        for start in range(0, len(recipients), _CHUNK):
            rows = [
                [r.key, r.gemeente, r.email, json.dumps(r.data, ensure_ascii=False),
                 message_id_for(r.key, 0)]
                for r in recipients[start : start + _CHUNK]
            ]  # fmt: skip
            self.scripts.create_recipients(
                keys=[order_key(run.id), UNPUBLISHED],
                args=[run.id, recipient_prefix(run.id), now, created, unpublished,
                      json.dumps(rows, ensure_ascii=False)],
            )  # fmt: skip
        fields = {k: str(v) for k, v in run.fields(bundle.sha256, len(recipients), now).items()}
        self.scripts.create_run(
            keys=[run_key(run.id), counts_key(run.id), events_key(run.id), RUNS, SCHEDULED],
            args=[run.id, now, len(recipients), run.release_at or "", json.dumps(fields)],
        )
