"""A cap on SMTP connections that holds across every worker process on every host.

Each connection holds a slot in a Redis sorted set, scored by when the slot expires; a holder
that dies without releasing simply lets its slot expire.
"""

from __future__ import annotations

import time

import redis

from distributie.ledger import CONNECTION_WAITERS, CONNECTIONS
from distributie.redis_server import pid_alive
from distributie.transport import Reply, TransientSendError

# KEYS: slots; ARGV: holder, max, ttl. Returns 1 when the holder has a slot.
_TAKE_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', now)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or
   redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], now + tonumber(ARGV[3]), ARGV[1])
  return 1
end
return 0
"""

# KEYS: slots; ARGV: holder, ttl. Returns 0 when the slot had expired and is gone.
_KEEP_SLOT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
local expires = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expires or tonumber(expires) < now then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('ZADD', KEYS[1], now + tonumber(ARGV[2]), ARGV[1])
return 1
"""


class RedisConnectionGate:
    """At most `limit` SMTP connections at once among all holders sharing this Redis."""

    def __init__(
        self, client: redis.Redis, holder: str, limit: int, ttl: float = 60.0, wait: float = 60.0
    ) -> None:
        self.holder = holder
        self.limit = limit
        self.ttl = ttl
        self.wait = wait
        self._client = client
        self._take = client.register_script(_TAKE_SLOT)
        self._keep = client.register_script(_KEEP_SLOT)
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
        host = self.holder.rpartition(":")[0]
        for raw in self._client.zrange(CONNECTIONS, 0, -1):
            other = raw.decode() if isinstance(raw, bytes) else str(raw)
            other_host, _, pid = other.rpartition(":")
            if other_host == host and pid.isdigit() and not pid_alive(int(pid)):
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
