"""Login throttling: five failures for an account or from an address close it for 10 minutes.

Concretely: every attempt is counted as a failure *before* the password is checked, and given
back when it succeeds, so parallel attempts cannot slip past the limit. A counter lives for
10 minutes from its first failure; the fifth failure restarts that to 10 minutes from then.
While a counter is at five, every attempt for that account or from that address is refused,
also with the right password, without checking the password and without counting, until the
counter expires. Only existing accounts are counted by name (a mistyped name may be a
password, and no secret goes into a key name); every attempt is counted by address.
"""

from __future__ import annotations

from dataclasses import dataclass

import redis

from distributie.accounts.errors import LoginThrottled
from distributie.accounts.keys import failures_from_address, failures_of_account

LIMIT = 5
WINDOW = 600  # seconds

# KEYS: the counters that apply. ARGV: limit, window. Returns {1} or {0, seconds to wait}.
_RESERVE = """
local limit = tonumber(ARGV[1])
local wait = 0
for _, key in ipairs(KEYS) do
  if tonumber(redis.call('GET', key) or '0') >= limit then
    wait = math.max(wait, redis.call('TTL', key))
  end
end
if wait > 0 then return {0, wait} end
for _, key in ipairs(KEYS) do
  local n = redis.call('INCR', key)
  if n == 1 or n >= limit or redis.call('TTL', key) < 0 then
    redis.call('EXPIRE', key, tonumber(ARGV[2]))
  end
end
return {1, 0}
"""

# KEYS: account counter (or none), address counter. A success clears the account's failures
# and gives back the address's reserved one, but never the other failures from that address:
# logging in to one account must not reset the count of guesses at another.
_SUCCEEDED = """
if #KEYS == 2 then redis.call('DEL', KEYS[1]) end
local address = KEYS[#KEYS]
if tonumber(redis.call('GET', address) or '0') > 0 then redis.call('DECR', address) end
return 1
"""


@dataclass(frozen=True)
class Reservation:
    keys: tuple[str, ...]


class LoginThrottle:
    def __init__(self, client: redis.Redis, limit: int = LIMIT, window: int = WINDOW) -> None:
        self.limit = limit
        self.window = window
        self._reserve = client.register_script(_RESERVE)
        self._succeeded = client.register_script(_SUCCEEDED)

    def reserve(self, account: str | None, address: str) -> Reservation:
        """Count an attempt as failed until `succeeded`; raise LoginThrottled when closed."""
        keys = ([failures_of_account(account)] if account else []) + [
            failures_from_address(address)
        ]
        allowed, wait = self._reserve(keys=keys, args=[self.limit, self.window])
        if not allowed:
            raise LoginThrottled(int(wait))
        return Reservation(tuple(keys))

    def succeeded(self, reservation: Reservation) -> None:
        self._succeeded(keys=list(reservation.keys))
