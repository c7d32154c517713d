-- Make a new run visible, once all its recipients are stored (create_recipients.lua).
-- KEYS: run, counts, events, runs, scheduled runs
-- ARGV: run, now, total, release time ('' for none), the run's fields as JSON {name: text}
local fields = cjson.decode(ARGV[5])
for name, value in pairs(fields) do redis.call('HSET', KEYS[1], name, value) end
for _, state in ipairs(ALL_STATES) do redis.call('HSET', KEYS[2], state, 0) end
redis.call('HSET', KEYS[2], STATE.queued, ARGV[3])
redis.call('XADD', KEYS[3], '*', 'recipient', '*', 'to', STATE.queued,
           'outcome', OUTCOME.created)
redis.call('ZADD', KEYS[4], ARGV[2], ARGV[1])
if ARGV[4] ~= '' then redis.call('ZADD', KEYS[5], ARGV[4], ARGV[1]) end
return VERDICT.ok
