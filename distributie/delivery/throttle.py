"""A cap on SMTP connections that holds across every worker process on every host.

Each connection holds a slot in a Redis sorted set, scored by when the slot expires; a holder
that dies without releasing simply lets its slot expire.
"""

from __future__ import annotations

import time

import redis

from distributie.delivery.transport import Reply, TransientSendError
from distributie.ledger.keys import CONNECTION_WAITERS, CONNECTIONS
from distributie.ledger.scripts import Scripts
from distributie.runtime.processes import local_holder_dead


class RedisConnectionGate:
    """At most `limit` SMTP connections at once among all holders sharing this Redis."""

    def __init__(
        self,
        client: redis.Redis,
        holder: str,
        limit: int,
        ttl: float = 60.0,
        wait: float = 60.0,
        scripts: Scripts | None = None,
    ) -> None:
        self.holder = holder
        self.limit = limit
        self.ttl = ttl
        self.wait = wait
        self._client = client
        scripts = scripts or Scripts(client)
        self._take = scripts.take_slot
        self._keep = scripts.keep_slot
        self._kept_at = 0.0

    def acquire(self) -> None:
        deadline = time.monotonic() + self.wait
        while not self._take(keys=[CONNECTIONS], args=[self.holder, self.limit, self.ttl]):
            # Let holders see someone is waiting, so they hand their connection over.
            self._client.zadd(CONNECTION_WAITERS, {self.holder: time.time() + 5})
            self._free_slots_of_dead_local_holders()
            if time.monotonic() > deadline:
                self._client.zrem(CONNECTION_WAITERS, self.holder)
                raise TransientSendError(
                    Reply(
                        None,
                        f"all {self.limit} SMTP connections (DISTRIBUTIE_SMTP_MAX_CONNECTIONS) "
                        f"stayed in use by other workers for {self.wait:.0f} s",
                    )
                )
            time.sleep(0.05)
        self._client.zrem(CONNECTION_WAITERS, self.holder)
        self._kept_at = time.monotonic()

    def _free_slots_of_dead_local_holders(self) -> None:
        # A killed process cannot release its slot; on this host we can see that it is gone
        # at once instead of waiting for the slot to expire.
        for raw in self._client.zrange(CONNECTIONS, 0, -1):
            other = raw.decode() if isinstance(raw, bytes) else str(raw)
            if local_holder_dead(other):
                self._client.zrem(CONNECTIONS, other)

    def others_waiting(self) -> bool:
        """Whether another process waits for a connection slot (one Redis round trip)."""
        pipe = self._client.pipeline(transaction=False)
        pipe.zremrangebyscore(CONNECTION_WAITERS, "-inf", time.time())
        pipe.zcard(CONNECTION_WAITERS)
        return int(pipe.execute()[1]) > 0

    def keep(self) -> bool:
        """Extend the slot of an open connection; False when it expired and must be reopened.

        Talks to Redis at most every ttl/3 seconds, so it costs nothing per message.
        """
        if time.monotonic() - self._kept_at < self.ttl / 3:
            return True
        self._kept_at = time.monotonic()
        return bool(self._keep(keys=[CONNECTIONS], args=[self.holder, self.ttl]))

    def release(self) -> None:
        self._client.zrem(CONNECTIONS, self.holder)
