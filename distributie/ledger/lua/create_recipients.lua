-- Store a chunk of a new run's recipients, `queued`, each with its first history entry.
-- KEYS: order, unpublished task messages
-- ARGV: run, recipient key prefix, now, the history entry (JSON), note unpublished ('1'/'0'),
--       the recipients as JSON: [[key, gemeente, email, data (JSON text), message id], ...]
-- A run is visible (in `runs`, with its hash and counts) only once create_run.lua has run, after
-- every chunk: a command killed halfway leaves recipients nobody sees, never half a run.
local run, prefix, now, created = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local keys, tasks = {}, {}
for _, r in ipairs(cjson.decode(ARGV[6])) do
  local key = r[1]
  local rk = prefix .. key
  redis.call('HSET', rk, 'key', key, 'gemeente', r[2], 'email', r[3], 'data', r[4],
    'state', STATE.queued, 'seq', 1, 'resend', 0, 'attempts', 0, 'not_before', 0,
    'message_id', r[5], 'created_at', now, 'updated_at', now)
  redis.call('RPUSH', rk .. ':history', created)
  table.insert(keys, key)
  table.insert(tasks, now)
  table.insert(tasks, run .. '/' .. key .. '/1')
end
if #keys > 0 then
  redis.call('RPUSH', KEYS[1], unpack(keys))
  if ARGV[5] == '1' then redis.call('ZADD', KEYS[2], unpack(tasks)) end
end
return VERDICT.ok
