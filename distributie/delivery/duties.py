"""Work that one worker at a time does for every host, on a timer: repairing lost requeues,
releasing scheduled runs, reading the bounce mailbox.

Every worker's main process runs a `DutyRunner` thread. A duty is due at most once per period
across all hosts: whoever first sets its Redis key (`distributie:duty:{name}`, which lives for
one period) runs it; the others skip it until the key has expired. A host that dies mid-duty
lets the key expire, and the next period another host does the duty. Duties must be idempotent
(the ledger's scripts make them so): a slow run that overlaps the next period does no harm.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import redis

from distributie.ledger.keys import duty_key

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Duty:
    name: str  # also its Redis key and its name in the log
    every: float  # seconds between runs, across all hosts
    run: Callable[[], object]


class DutyRunner(threading.Thread):
    """Runs every due duty, one after the other, until stopped."""

    def __init__(
        self, client: redis.Redis, duties: Sequence[Duty], holder: str, tick: float = 1.0
    ) -> None:
        super().__init__(name="distributie-duties", daemon=True)
        self._client = client
        self._duties = list(duties)
        self._holder = holder
        self._tick = tick
        self._stopped = threading.Event()

    def stop(self) -> None:
        self._stopped.set()

    def run(self) -> None:
        while not self._stopped.is_set():
            for duty in self._duties:
                if self._stopped.is_set():
                    break
                self.run_if_due(duty)
            self._stopped.wait(self._tick)

    def run_if_due(self, duty: Duty) -> bool:
        """Run `duty` if no host has in this period; True when this call ran it."""
        try:
            taken = self._client.set(
                duty_key(duty.name), self._holder, nx=True, px=max(1, int(duty.every * 1000))
            )
        except redis.RedisError:
            log.warning("duty %s: Redis out of reach; trying again later", duty.name)
            return False
        if not taken:
            return False
        started = time.monotonic()
        try:
            duty.run()
        except Exception:
            # A duty's failure must not stop the others, nor the worker: it runs again next
            # period, on whichever host gets there first.
            log.exception("duty failed", extra={"duty": duty.name})
        else:
            ms = round((time.monotonic() - started) * 1000)
            log.debug("duty done", extra={"duty": duty.name, "ms": ms})
        return True
