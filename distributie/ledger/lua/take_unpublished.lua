-- A task message that a command recorded but did not confirm as published (it stopped between
-- the ledger and the queue): may this worker publish it again now?
-- KEYS: unpublished tasks, recipient; ARGV: entry (run/rid/seq), seq, waited at least (seconds)
-- Returns 'republish' (the entry now waits another period, in case this worker stops too),
-- 'obsolete' (the recipient moved on or is gone: entry removed) or 'early' (not due, or
-- another worker just took it).
local t = now()
local queued_at = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not queued_at then return VERDICT.obsolete end
if tonumber(queued_at) > t - tonumber(ARGV[3]) then return VERDICT.early end
local state = redis.call('HGET', KEYS[2], 'state')
local seq = tonumber(redis.call('HGET', KEYS[2], 'seq') or '-1')
if (state ~= STATE.queued and state ~= STATE.retrying) or seq ~= tonumber(ARGV[2]) then
  -- Claimed, cancelled, requeued with a newer seq (which has its own entry), or deleted.
  redis.call('ZREM', KEYS[1], ARGV[1])
  return VERDICT.obsolete
end
redis.call('ZADD', KEYS[1], t, ARGV[1])
return VERDICT.republish
