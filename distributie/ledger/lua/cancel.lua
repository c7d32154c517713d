-- Cancel a recipient that is not yet sent; one being sent finishes and is not retried.
-- KEYS: recipient, history, counts, events; ARGV: run, rid, by
-- Returns 'cancelled', 'finishing' or the unchanged state.
local rkey = KEYS[1]
local t = now()
local state = redis.call('HGET', rkey, 'state')
if state == STATE.queued or state == STATE.retrying then
  transition(rkey, KEYS[2], KEYS[3], KEYS[4], ARGV[2], STATE.cancelled, OUTCOME.cancelled,
    'cancelled by ' .. ARGV[3], '', ARGV[3], t)
  return VERDICT.cancelled
end
if state == STATE.sending then
  redis.call('HSET', rkey, 'cancel_requested', 1)
  redis.call('RPUSH', KEYS[2], cjson.encode({at = t, worker = ARGV[3],
    outcome = OUTCOME.cancel_requested, state = state, reply = 'cancel requested by ' ..
    ARGV[3] .. ': the attempt in progress finishes and is not retried'}))
  return VERDICT.finishing
end
return state
