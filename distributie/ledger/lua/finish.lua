-- Record the outcome of an attempt, unless that attempt was taken over meanwhile.
-- KEYS: recipient, history, counts, events, leases
-- ARGV: run, rid, claim, worker, outcome, state, reply, code, message id, retry delay
local function finish(KEYS, ARGV)
  local rkey, hkey, ckey, ekey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
  local run, rid, claim, worker = ARGV[1], ARGV[2], ARGV[3], ARGV[4]
  local outcome, to, reply, code = ARGV[5], ARGV[6], ARGV[7], ARGV[8]
  local t = now()
  local state = redis.call('HGET', rkey, 'state')
  local current = redis.call('HGET', rkey, 'claim')
  -- 'unknown' here means a takeover gave up on this attempt while it waited for the server's
  -- reply; the reply did come, so it is the truth after all.
  if current ~= claim or (state ~= STATE.sending and state ~= STATE.unknown) then
    redis.call('RPUSH', hkey, cjson.encode({at = t, worker = worker, outcome = OUTCOME.late,
      reply = 'late result of attempt ' .. claim .. ' ignored: ' .. outcome .. ': ' .. reply}))
    return {VERDICT.stale, state}
  end
  if to == STATE.retrying and redis.call('HGET', rkey, 'cancel_requested') == '1' then
    to = STATE.cancelled
    reply = reply .. ' (cancelled: not retried)'
  end
  redis.call('ZREM', KEYS[5], run .. '/' .. rid)
  redis.call('HSET', rkey, 'last_reply', reply, 'last_code', code, 'holder', '',
    'message_id', ARGV[9])
  if to == STATE.retrying then
    redis.call('HSET', rkey, 'not_before', t + tonumber(ARGV[10]), 'seq',
      tonumber(redis.call('HGET', rkey, 'seq')) + 1)
  end
  if to == STATE.sent then redis.call('HSET', rkey, 'sent_at', t) end
  transition(rkey, hkey, ckey, ekey, rid, to, outcome, reply, code, worker, t)
  return {VERDICT.recorded, to, redis.call('HGET', rkey, 'seq')}
end
