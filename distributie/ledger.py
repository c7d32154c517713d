"""The delivery ledger in Redis: the single truth about every run and every recipient.

Every transition of a recipient is one Lua script, so it is atomic and appends to the recipient's
history and the run's event stream in the same step. Times come from the Redis server's clock,
so leases and rate slots mean the same on every host. The key schema is in the README.
"""

from __future__ import annotations

import json
import secrets
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, cast
from zoneinfo import ZoneInfo

import redis
from redis.backoff import ExponentialBackoff
from redis.retry import Retry

from distributie import states
from distributie.mailing import MailingBundle
from distributie.settings import RateLimit

PREFIX = "distributie"
RUNS = f"{PREFIX}:runs"
LEASES = f"{PREFIX}:leases"
RATE_NEXT = f"{PREFIX}:rate:next"
RATE_LOG = f"{PREFIX}:rate:log"
CONNECTIONS = f"{PREFIX}:smtp:connections"
CONNECTION_WAITERS = f"{PREFIX}:smtp:waiting"


def rate_margin(rate: RateLimit) -> float:
    """Slack on top of the rate window: a relay counts when a message arrives, which is a
    little after distributie counts it, and the limit must hold as the relay counts."""
    return max(0.25, rate.period * 0.02)


def run_key(run_id: str) -> str:
    return f"{PREFIX}:run:{run_id}"


def recipient_key_of(run_id: str, key: str) -> str:
    return f"{PREFIX}:run:{run_id}:r:{key}"


def history_key(run_id: str, key: str) -> str:
    return f"{PREFIX}:run:{run_id}:r:{key}:history"


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


# Shared Lua: the clock, and one transition (state, counts, history, event) in one place.
_LUA_COMMON = """
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end
local function transition(rkey, hkey, ckey, ekey, run, rid, to, outcome, reply, code, worker, at)
  local from = redis.call('HGET', rkey, 'state')
  if from ~= to then
    redis.call('HINCRBY', ckey, from, -1)
    redis.call('HINCRBY', ckey, to, 1)
  end
  redis.call('HSET', rkey, 'state', to, 'updated_at', at)
  local entry = {at = at, worker = worker, outcome = outcome, reply = reply, state = to,
                 attempt = tonumber(redis.call('HGET', rkey, 'attempts') or '0')}
  if code ~= '' then entry['code'] = tonumber(code) end
  redis.call('RPUSH', hkey, cjson.encode(entry))
  redis.call('XADD', ekey, '*', 'recipient', rid, 'from', from, 'to', to, 'outcome', outcome,
             'worker', worker, 'at', tostring(at))
end
"""

# KEYS: recipient, history, counts, events, leases, next rate slot, daily counter
# ARGV: run, rid, seq, worker, lease, rate count, rate period, margin, daily limit,
#       next day start (unix time)
_CLAIM = (
    _LUA_COMMON
    + """
local rkey, hkey, ckey, ekey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local run, rid, worker = ARGV[1], ARGV[2], ARGV[4]
local seq, lease = tonumber(ARGV[3]), tonumber(ARGV[5])
local rate_count, rate_period, margin = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
local daily_limit, next_day = tonumber(ARGV[9]), tonumber(ARGV[10])
local t = now()
local state = redis.call('HGET', rkey, 'state')
if not state then return {'missing'} end
if state == 'sent' or state == 'failed' or state == 'unknown' or state == 'cancelled' then
  return {'done', state}
end
local current = tonumber(redis.call('HGET', rkey, 'seq'))
if seq < current then return {'stale', state} end
if state == 'sending' then
  local lease_until = tonumber(redis.call('HGET', rkey, 'lease_until'))
  if t < lease_until then
    return {'busy', tostring(lease_until), redis.call('HGET', rkey, 'holder'),
            redis.call('HGET', rkey, 'claim')}
  end
  local holder = redis.call('HGET', rkey, 'holder')
  redis.call('ZREM', KEYS[5], run .. '/' .. rid)
  if redis.call('HGET', rkey, 'stage') == 'end-of-data' then
    transition(rkey, hkey, ckey, ekey, run, rid, 'unknown', 'worker-lost',
      'worker ' .. holder .. ' stopped after the end of DATA was sent: the server may have ' ..
      'accepted the message; not sent again without an explicit resend', '', worker, t)
    redis.call('HSET', rkey, 'last_reply', 'worker lost after the end of DATA: outcome unknown')
    return {'done', 'unknown'}
  end
  if redis.call('HGET', rkey, 'cancel_requested') == '1' then
    transition(rkey, hkey, ckey, ekey, run, rid, 'cancelled', 'worker-lost',
      'worker ' .. holder .. ' stopped before the end of DATA; cancelled, not sent', '', worker, t)
    return {'done', 'cancelled'}
  end
  transition(rkey, hkey, ckey, ekey, run, rid, 'retrying', 'worker-lost',
    'worker ' .. holder .. ' stopped before the end of DATA: the message was not accepted; ' ..
    'sending again', '', worker, t)
else
  local not_before = tonumber(redis.call('HGET', rkey, 'not_before') or '0')
  if t < not_before then return {'early', tostring(not_before)} end
end
if daily_limit > 0 then
  local used = tonumber(redis.call('GET', KEYS[7]) or '0')
  if used >= daily_limit then
    redis.call('HSET', rkey, 'not_before', next_day, 'waiting', 'daily-limit')
    return {'early', tostring(next_day)}
  end
  redis.call('INCR', KEYS[7])
  redis.call('EXPIRE', KEYS[7], 172800)
end
local slot = t
if rate_count > 0 then
  -- Slots evenly spaced from the first message on (no burst at the start). The hard limit is
  -- checked again at the end of DATA, against the times messages really went out.
  slot = math.max(t, tonumber(redis.call('GET', KEYS[6]) or '0'))
  redis.call('SET', KEYS[6], slot + (rate_period + margin) / rate_count)
end
local attempts = redis.call('HINCRBY', rkey, 'attempts', 1)
local tries = redis.call('HINCRBY', rkey, 'tries', 1)
local claim = tostring(seq) .. '.' .. tostring(attempts)
redis.call('HSET', rkey, 'seq', math.max(seq, current), 'holder', worker, 'claim', claim,
  'stage', 'claimed', 'lease_until', slot + lease, 'waiting', '')
redis.call('HSETNX', rkey, 'first_attempt_at', t)
redis.call('ZADD', KEYS[5], slot + lease, run .. '/' .. rid)
transition(rkey, hkey, ckey, ekey, run, rid, 'sending', 'claimed',
  'attempt ' .. attempts .. ' claimed', '', worker, t)
return {'claimed', claim, tostring(slot - t), redis.call('HGET', rkey, 'email'),
        redis.call('HGET', rkey, 'resend'), redis.call('HGET', rkey, 'data'), tostring(tries),
        redis.call('HGET', rkey, 'gemeente')}
"""
)

# KEYS: recipient, rate log; ARGV: claim, extra lease seconds, rate count, rate period, margin
# Returns 'ok' (marked), 'lost' (the claim was taken over) or the seconds to wait for the rate
# window before asking again.
_MARK_END_OF_DATA = (
    _LUA_COMMON
    + """
local t = now()
if redis.call('HGET', KEYS[1], 'state') ~= 'sending' or
   redis.call('HGET', KEYS[1], 'claim') ~= ARGV[1] then
  return 'lost'
end
local rate_count, rate_period = tonumber(ARGV[3]), tonumber(ARGV[4])
if rate_count > 0 then
  if redis.call('LLEN', KEYS[2]) >= rate_count then
    local free = tonumber(redis.call('LINDEX', KEYS[2], rate_count - 1)) + rate_period +
                 tonumber(ARGV[5])
    if t < free then return tostring(free - t) end
  end
  redis.call('LPUSH', KEYS[2], tostring(t))
  redis.call('LTRIM', KEYS[2], 0, rate_count - 1)
end
redis.call('HSET', KEYS[1], 'stage', 'end-of-data', 'lease_until', t + tonumber(ARGV[2]),
  'end_of_data_at', t)
return 'ok'
"""
)

# KEYS: recipient; ARGV: claim. Ends the lease of a claim whose holder is known to be dead.
_EXPIRE_LEASE = (
    _LUA_COMMON
    + """
if redis.call('HGET', KEYS[1], 'state') == 'sending' and
   redis.call('HGET', KEYS[1], 'claim') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'lease_until', now())
  return 1
end
return 0
"""
)

# KEYS: recipient, history, counts, events, leases
# ARGV: run, rid, claim, worker, outcome, state, reply, code, message id, retry delay
_FINISH = (
    _LUA_COMMON
    + """
local rkey, hkey, ckey, ekey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local run, rid, claim, worker = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local outcome, to, reply, code = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
local t = now()
local state = redis.call('HGET', rkey, 'state')
local current = redis.call('HGET', rkey, 'claim')
-- 'unknown' here means a takeover gave up on this attempt while it waited for the server's
-- reply; the reply did come, so it is the truth after all.
if current ~= claim or (state ~= 'sending' and state ~= 'unknown') then
  redis.call('RPUSH', hkey, cjson.encode({at = t, worker = worker, outcome = 'late',
    reply = 'late result of attempt ' .. claim .. ' ignored: ' .. outcome .. ': ' .. reply}))
  return {'stale', state}
end
if to == 'retrying' and redis.call('HGET', rkey, 'cancel_requested') == '1' then
  to = 'cancelled'
  reply = reply .. ' (cancelled: not retried)'
end
redis.call('ZREM', KEYS[5], run .. '/' .. rid)
redis.call('HSET', rkey, 'last_reply', reply, 'last_code', code, 'holder', '',
  'message_id', ARGV[9])
if to == 'retrying' then
  redis.call('HSET', rkey, 'not_before', t + tonumber(ARGV[10]), 'seq',
    tonumber(redis.call('HGET', rkey, 'seq')) + 1)
end
if to == 'sent' then redis.call('HSET', rkey, 'sent_at', t) end
transition(rkey, hkey, ckey, ekey, run, rid, to, outcome, reply, code, worker, t)
return {to, redis.call('HGET', rkey, 'seq')}
"""
)

# KEYS: recipient, history, counts, events; ARGV: run, rid, by, new address ('' keeps it)
# Returns the new vehicle sequence number, or an error string.
_REQUEUE = (
    _LUA_COMMON
    + """
local rkey = KEYS[1]
local t = now()
local state = redis.call('HGET', rkey, 'state')
if not state then return {'missing'} end
if state ~= 'sent' and state ~= 'failed' and state ~= 'unknown' and state ~= 'cancelled' then
  return {'pending', state}
end
local seq = tonumber(redis.call('HGET', rkey, 'seq')) + 1
local resend = redis.call('HINCRBY', rkey, 'resend', 1)
local why = ARGV[5] .. ' by ' .. ARGV[3]
if ARGV[4] ~= '' then
  why = why .. ' to ' .. ARGV[4] .. ' (was ' .. redis.call('HGET', rkey, 'email') .. ')'
  redis.call('HSET', rkey, 'email', ARGV[4])
end
redis.call('HSET', rkey, 'seq', seq, 'not_before', 0, 'cancel_requested', 0, 'claim', '',
  'stage', '', 'tries', 0)
transition(rkey, KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], 'queued', 'queued',
  why .. ' (resend ' .. resend .. ')', '', ARGV[3], t)
return {'queued', tostring(seq)}
"""
)

# KEYS: recipient, history, counts, events; ARGV: run, rid, by
_CANCEL = (
    _LUA_COMMON
    + """
local rkey = KEYS[1]
local t = now()
local state = redis.call('HGET', rkey, 'state')
if state == 'queued' or state == 'retrying' then
  transition(rkey, KEYS[2], KEYS[3], KEYS[4], ARGV[1], ARGV[2], 'cancelled', 'cancelled',
    'cancelled by ' .. ARGV[3], '', ARGV[3], t)
  return 'cancelled'
end
if state == 'sending' then
  redis.call('HSET', rkey, 'cancel_requested', 1)
  redis.call('RPUSH', KEYS[2], cjson.encode({at = t, worker = ARGV[3], outcome = 'cancel',
    state = state, reply = 'cancel requested by ' .. ARGV[3] ..
    ': the attempt in progress finishes and is not retried'}))
  return 'finishing'
end
return state
"""
)


@dataclass(frozen=True)
class Claim:
    """What a task got when it claimed a recipient."""

    claim: str
    wait: float  # seconds until the message may go out (its rate-limit slot)
    email: str
    resend: int
    data: dict[str, Any]
    tries: int  # attempts since the last operator resend: what DISTRIBUTIE_MAX_ATTEMPTS caps
    gemeente: str


@dataclass(frozen=True)
class ClaimRefused:
    """Why a task must not send now: done, stale, busy (until), early (until), missing."""

    reason: str
    state: str | None = None
    until: float | None = None
    holder: str | None = None  # busy: the worker holding the claim, and its claim id
    claim: str | None = None


@dataclass
class RecipientStatus:
    key: str
    gemeente: str
    email: str
    state: str
    attempts: int
    message_id: str
    last_reply: str
    updated_at: float | None
    waiting: str
    not_before: float
    history: list[dict[str, Any]] = field(default_factory=list)


@dataclass
class RunStatus:
    run: str
    mailing: str
    created_at: float
    created_by: str
    recipients_path: str
    recipients_sha256: str
    templates_sha256: str
    transport: str
    total: int
    counts: dict[str, int]
    recipients: list[RecipientStatus]


@dataclass(frozen=True)
class NewRecipient:
    key: str
    gemeente: str
    email: str
    data: dict[str, Any]


def connect(url: str) -> redis.Redis:
    """A client that rides out a Redis restart (about 30 s) instead of failing a send.

    Retrying a script whose reply was lost is safe: every script checks the state it changes.
    """
    return redis.Redis.from_url(
        url,
        retry=Retry(ExponentialBackoff(cap=1.0, base=0.05), retries=40),
        retry_on_error=[redis.ConnectionError, redis.TimeoutError, redis.BusyLoadingError],
        socket_timeout=30,
        socket_connect_timeout=5,
        health_check_interval=30,
    )


def new_run_id() -> str:
    """Sortable and readable: 20191004-142501-7f3a."""
    return time.strftime("%Y%m%d-%H%M%S") + "-" + secrets.token_hex(2)


def next_day_start(tz: str) -> float:
    zone = ZoneInfo(tz)
    today = datetime.now(zone).date()
    return datetime.combine(today + timedelta(days=1), datetime.min.time(), zone).timestamp()


def _text(value: bytes | str | None) -> str:
    if value is None:
        return ""
    return value.decode("utf-8") if isinstance(value, bytes) else value


class Ledger:
    """All reads and writes of delivery state. Scripts are registered once per client."""

    def __init__(self, client: redis.Redis) -> None:
        self.client = client
        self._claim = client.register_script(_CLAIM)
        self._mark = client.register_script(_MARK_END_OF_DATA)
        self._finish = client.register_script(_FINISH)
        self._expire = client.register_script(_EXPIRE_LEASE)
        self._requeue = client.register_script(_REQUEUE)
        self._cancel = client.register_script(_CANCEL)

    @classmethod
    def from_url(cls, url: str) -> Ledger:
        return cls(connect(url))

    # --- runs -------------------------------------------------------------------------------

    def store_bundle(self, bundle: MailingBundle) -> None:
        key = bundle_key(bundle.sha256)
        if not self.client.exists(key):
            self.client.hset(key, mapping=dict(bundle.files))  # type: ignore[arg-type]

    def load_bundle(self, sha256: str) -> MailingBundle:
        raw = cast(dict[bytes, bytes], self.client.hgetall(bundle_key(sha256)))
        if not raw:
            raise LookupError(f"mailing {sha256} is not in the ledger")
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
            pipe.rpush(
                history_key(run_id, recipient.key),
                json.dumps(
                    {
                        "at": now,
                        "worker": created_by,
                        "outcome": states.OUTCOME_QUEUED,
                        "state": states.QUEUED,
                        "reply": "queued",
                        "attempt": 0,
                    }
                ),
            )
        pipe.xadd(events_key(run_id), {"recipient": "*", "to": "queued", "outcome": "created"})
        pipe.zadd(RUNS, {run_id: now})
        pipe.execute()

    def run_ids(self) -> list[str]:
        return [_text(r) for r in cast(list[bytes], self.client.zrange(RUNS, 0, -1))]

    def latest_run(self) -> str | None:
        latest = cast(list[bytes], self.client.zrange(RUNS, -1, -1))
        return _text(latest[0]) if latest else None

    def run_exists(self, run_id: str) -> bool:
        return bool(self.client.exists(run_key(run_id)))

    def run_info(self, run_id: str) -> dict[str, str]:
        raw = cast(dict[bytes, bytes], self.client.hgetall(run_key(run_id)))
        return {_text(k): _text(v) for k, v in raw.items()}

    def counts(self, run_id: str) -> dict[str, int]:
        raw = cast(dict[bytes, bytes], self.client.hgetall(counts_key(run_id)))
        counts = {s: 0 for s in states.ALL_STATES}
        counts.update({_text(k): int(v) for k, v in raw.items()})
        return counts

    def recipient_keys(self, run_id: str) -> list[str]:
        return [_text(k) for k in self.client.lrange(order_key(run_id), 0, -1)]

    def find_recipient(self, run_id: str, gemeente: str) -> str | None:
        """The key of a recipient by its gemeente name (case-insensitive) or key."""
        wanted = gemeente.strip().casefold()
        keys = self.recipient_keys(run_id)
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hget(recipient_key_of(run_id, key), "gemeente")
        for key, name in zip(keys, pipe.execute(), strict=True):
            if wanted in (key, _text(name).casefold()):
                return key
        return None

    def status(
        self, run_id: str, keys: Iterable[str] | None = None, with_history: bool = True
    ) -> RunStatus:
        info = self.run_info(run_id)
        keys = list(keys) if keys is not None else self.recipient_keys(run_id)
        pipe = self.client.pipeline(transaction=False)
        for key in keys:
            pipe.hgetall(recipient_key_of(run_id, key))
            if with_history:
                pipe.lrange(history_key(run_id, key), 0, -1)
        results = pipe.execute()
        step = 2 if with_history else 1
        recipients = []
        for index, key in enumerate(keys):
            raw = {_text(k): _text(v) for k, v in results[index * step].items()}
            history = [json.loads(h) for h in results[index * step + 1]] if with_history else []
            recipients.append(
                RecipientStatus(
                    key=key,
                    gemeente=raw.get("gemeente", ""),
                    email=raw.get("email", ""),
                    state=raw.get("state", ""),
                    attempts=int(raw.get("attempts") or 0),
                    message_id=raw.get("message_id", ""),
                    last_reply=raw.get("last_reply", ""),
                    updated_at=float(raw["updated_at"]) if raw.get("updated_at") else None,
                    waiting=raw.get("waiting", ""),
                    not_before=float(raw.get("not_before") or 0),
                    history=history,
                )
            )
        return RunStatus(
            run=run_id,
            mailing=info.get("mailing", ""),
            created_at=float(info.get("created_at") or 0),
            created_by=info.get("created_by", ""),
            recipients_path=info.get("recipients_path", ""),
            recipients_sha256=info.get("recipients_sha256", ""),
            templates_sha256=info.get("templates_sha256", ""),
            transport=info.get("transport", ""),
            total=int(info.get("total") or 0),
            counts=self.counts(run_id),
            recipients=recipients,
        )

    # --- transitions ------------------------------------------------------------------------

    def _keys(self, run_id: str, key: str) -> list[str]:
        return [
            recipient_key_of(run_id, key),
            history_key(run_id, key),
            counts_key(run_id),
            events_key(run_id),
        ]

    def claim(
        self,
        run_id: str,
        key: str,
        seq: int,
        worker: str,
        lease: float,
        rate: RateLimit | None = None,
        daily_limit: int | None = None,
        timezone: str = "Europe/Amsterdam",
    ) -> Claim | ClaimRefused:
        day = datetime.now(ZoneInfo(timezone)).date().isoformat()
        result = self._claim(
            keys=[*self._keys(run_id, key), LEASES, RATE_NEXT, daily_key(day)],
            args=[
                run_id,
                key,
                seq,
                worker,
                lease,
                rate.count if rate else 0,
                rate.period if rate else 0,
                rate_margin(rate) if rate else 0,
                daily_limit or 0,
                next_day_start(timezone) if daily_limit else 0,
            ],
        )
        verdict = _text(result[0])
        if verdict != "claimed":
            until = float(result[1]) if verdict in ("busy", "early") else None
            state = _text(result[1]) if verdict in ("done", "stale") else None
            if verdict == "busy":
                return ClaimRefused(verdict, None, until, _text(result[2]), _text(result[3]))
            return ClaimRefused(verdict, state, until)
        return Claim(
            claim=_text(result[1]),
            wait=max(0.0, float(result[2])),
            email=_text(result[3]),
            resend=int(result[4]),
            data=json.loads(result[5]),
            tries=int(result[6]),
            gemeente=_text(result[7]),
        )

    def mark_end_of_data(
        self, run_id: str, key: str, claim: str, extra_lease: float, rate: RateLimit | None = None
    ) -> float | None:
        """Record that the end of DATA goes out now.

        Returns 0 when recorded, None when the claim was taken over (the dot must not be
        sent), or the seconds to wait before asking again because the rate window is full.
        """
        result = _text(
            self._mark(
                keys=[recipient_key_of(run_id, key), RATE_LOG],
                args=[
                    claim,
                    extra_lease,
                    rate.count if rate else 0,
                    rate.period if rate else 0,
                    rate_margin(rate) if rate else 0,
                ],
            )
        )
        if result == "ok":
            return 0.0
        if result == "lost":
            return None
        return float(result)

    def expire_lease(self, run_id: str, key: str, claim: str) -> bool:
        """End the lease of `claim` now: its holder is dead. The next claim decides by stage."""
        return bool(self._expire(keys=[recipient_key_of(run_id, key)], args=[claim]))

    def finish(
        self,
        run_id: str,
        key: str,
        claim: str,
        worker: str,
        *,
        outcome: str,
        state: str,
        reply: str,
        code: int | None,
        message_id: str,
        retry_delay: float = 0,
    ) -> str:
        """Record an attempt's outcome. Returns the recipient's state afterwards."""
        result = self._finish(
            keys=[*self._keys(run_id, key), LEASES],
            args=[
                run_id,
                key,
                claim,
                worker,
                outcome,
                state,
                reply,
                "" if code is None else code,
                message_id,
                retry_delay,
            ],
        )
        return _text(result[1]) if _text(result[0]) == "stale" else _text(result[0])

    def requeue(
        self, run_id: str, key: str, by: str, new_address: str | None, why: str
    ) -> tuple[str, int | str]:
        """An operator's resend: ('queued', new seq) or (reason, current state)."""
        result = self._requeue(
            keys=self._keys(run_id, key), args=[run_id, key, by, new_address or "", why]
        )
        verdict = _text(result[0])
        if verdict == "queued":
            return verdict, int(result[1])
        return verdict, _text(result[1]) if len(result) > 1 else ""

    def cancel(self, run_id: str, key: str, by: str) -> str:
        """'cancelled', 'finishing' (an attempt is in progress) or the unchanged state."""
        return _text(self._cancel(keys=self._keys(run_id, key), args=[run_id, key, by]))
