-- What an operator (or a worker, for `released`) does to a whole run: approve, reject, pause,
-- resume, release. The run and every recipient still waiting get it in their history.
-- KEYS: run, order, counts, events, scheduled runs, unpublished task messages
-- ARGV: run, action (an OUTCOME), by, recipient key prefix
-- Returns {VERDICT.changed, new state, key1, seq1, key2, seq2, ...} with the recipients to hand
-- to the workers now, or {VERDICT.refused | same_person | early | missing, state or time}.
local rkey = KEYS[1]
local run, action, by, prefix = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
local t = now()
if redis.call('EXISTS', rkey) == 0 then return {VERDICT.missing, ''} end
local state = redis.call('HGET', rkey, 'state')
if not state or state == '' then state = RUN.active end
local release_at = tonumber(redis.call('HGET', rkey, 'release_at') or '0') or 0
local to
local why = action .. ' by ' .. by

local function released()
  redis.call('HSET', rkey, 'released_at', t)
  if release_at > 0 then redis.call('HSET', rkey, 'release_delay', math.max(0, t - release_at)) end
end

if action == OUTCOME.approved then
  if state ~= RUN.awaiting_approval then return {VERDICT.refused, state} end
  if redis.call('HGET', rkey, 'created_by') == by then return {VERDICT.same_person, state} end
  redis.call('HSET', rkey, 'approved_by', by, 'approved_at', t)
  if release_at > t then to = RUN.scheduled else to = RUN.active; released() end
elseif action == OUTCOME.rejected then
  if state ~= RUN.awaiting_approval and state ~= RUN.scheduled then
    return {VERDICT.refused, state}
  end
  redis.call('HSET', rkey, 'rejected_by', by, 'rejected_at', t)
  to = RUN.finished
elseif action == OUTCOME.paused then
  if state ~= RUN.active then return {VERDICT.refused, state} end
  redis.call('HSET', rkey, 'paused_by', by, 'paused_at', t)
  to = RUN.paused
elseif action == OUTCOME.resumed then
  if state ~= RUN.paused then return {VERDICT.refused, state} end
  redis.call('HSET', rkey, 'resumed_by', by, 'resumed_at', t)
  to = RUN.active
elseif action == OUTCOME.released then
  if state ~= RUN.scheduled then return {VERDICT.refused, state} end
  if release_at > t then return {VERDICT.early, tostring(release_at)} end
  released()
  why = 'released by worker ' .. by
  to = RUN.active
else
  return {VERDICT.refused, state}
end

redis.call('HSET', rkey, 'state', to)
if to ~= RUN.scheduled then redis.call('ZREM', KEYS[5], run) end
redis.call('XADD', KEYS[4], '*', 'recipient', '*', 'from', state, 'to', to, 'outcome', action,
           'worker', by, 'at', tostring(t))

local result = {VERDICT.changed, to}
for _, key in ipairs(redis.call('LRANGE', KEYS[2], 0, -1)) do
  local rk = prefix .. key
  local rstate = redis.call('HGET', rk, 'state')
  if rstate and not TERMINAL[rstate] then
    if action == OUTCOME.rejected and rstate ~= STATE.sending then
      transition(rk, rk .. ':history', KEYS[3], KEYS[4], key, STATE.cancelled, action, why, '',
                 by, t)
    else
      redis.call('RPUSH', rk .. ':history', cjson.encode({at = t, worker = by, outcome = action,
        state = rstate, reply = why,
        attempt = tonumber(redis.call('HGET', rk, 'attempts') or '0')}))
      if to == RUN.active then
        local seq = redis.call('HGET', rk, 'seq')
        table.insert(result, key)
        table.insert(result, seq)
        -- Unpublished until the caller confirms its enqueue; the repair duty finds it if not.
        redis.call('ZADD', KEYS[6], t, run .. '/' .. key .. '/' .. seq)
      end
    end
  end
end
return result
