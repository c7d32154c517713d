-- A lost task message was published again: say so in the recipient's history; stop waiting.
-- KEYS: unpublished tasks, recipient, history; ARGV: entry (run/rid/seq), worker, reply
local t = now()
redis.call('ZREM', KEYS[1], ARGV[1])
local state = redis.call('HGET', KEYS[2], 'state')
if not state then return 0 end
redis.call('RPUSH', KEYS[3], cjson.encode({at = t, worker = ARGV[2],
  outcome = OUTCOME.republished, reply = ARGV[3], state = state,
  attempt = tonumber(redis.call('HGET', KEYS[2], 'attempts') or '0')}))
return 1
