-- Claim a recipient for one attempt, or say why not.
-- KEYS: recipient, history, counts, events, leases, next rate slot, daily counter, run
-- ARGV: run, rid, seq, worker, lease, rate count, rate period, margin, daily limit,
--       next day start (unix time)
local function claim(KEYS, ARGV)
  local rkey, hkey, ckey, ekey = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
  local run, rid, worker = ARGV[1], ARGV[2], ARGV[4]
  local seq, lease = tonumber(ARGV[3]), tonumber(ARGV[5])
  local rate_count, rate_period, margin = tonumber(ARGV[6]), tonumber(ARGV[7]), tonumber(ARGV[8])
  local daily_limit, next_day = tonumber(ARGV[9]), tonumber(ARGV[10])
  local t = now()
  local state = redis.call('HGET', rkey, 'state')
  local taken_from = ''
  if not state then return {VERDICT.missing} end
  if TERMINAL[state] then return {VERDICT.done, state} end
  -- A paused run (or one not yet approved or released) starts no attempt: the task is dropped, and
  -- resume (or the release) hands the recipient to the workers again.
  local run_state = redis.call('HGET', KEYS[8], 'state')
  if run_state and HELD[run_state] then return {VERDICT.held, run_state} end
  local current = tonumber(redis.call('HGET', rkey, 'seq'))
  if seq < current then return {VERDICT.stale, state} end
  if state == STATE.sending then
    local lease_until = tonumber(redis.call('HGET', rkey, 'lease_until'))
    if t < lease_until then
      return {VERDICT.busy, tostring(lease_until), redis.call('HGET', rkey, 'holder'),
              redis.call('HGET', rkey, 'claim')}
    end
    -- The lease expired: decide the dead attempt by how far it got.
    local holder = redis.call('HGET', rkey, 'holder')
    redis.call('ZREM', KEYS[5], run .. '/' .. rid)
    if redis.call('HGET', rkey, 'stage') == STAGE.end_of_data then
      transition(rkey, hkey, ckey, ekey, rid, STATE.unknown, OUTCOME.worker_lost,
        'worker ' .. holder .. ' stopped after the end of DATA was sent: the server may have ' ..
        'accepted the message; not sent again without an explicit resend', '', worker, t)
      redis.call('HSET', rkey, 'last_reply', 'worker lost after the end of DATA: outcome unknown')
      return {VERDICT.done, STATE.unknown, holder}
    end
    if redis.call('HGET', rkey, 'cancel_requested') == '1' then
      transition(rkey, hkey, ckey, ekey, rid, STATE.cancelled, OUTCOME.worker_lost,
        'worker ' .. holder .. ' stopped before the end of DATA; cancelled, not sent', '', worker, t)
      return {VERDICT.done, STATE.cancelled, holder}
    end
    transition(rkey, hkey, ckey, ekey, rid, STATE.retrying, OUTCOME.worker_lost,
      'worker ' .. holder .. ' stopped before the end of DATA: the message was not accepted; ' ..
      'sending again', '', worker, t)
    taken_from = holder
  else
    local not_before = tonumber(redis.call('HGET', rkey, 'not_before') or '0')
    if t < not_before then return {VERDICT.early, tostring(not_before)} end
  end
  if daily_limit > 0 then
    local used = tonumber(redis.call('GET', KEYS[7]) or '0')
    if used >= daily_limit then
      redis.call('HSET', rkey, 'not_before', next_day, 'waiting', WAITING.daily_limit)
      return {VERDICT.early, tostring(next_day)}
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
    'stage', STAGE.claimed, 'lease_until', slot + lease, 'waiting', '')
  redis.call('HSETNX', rkey, 'first_attempt_at', t)
  redis.call('ZADD', KEYS[5], slot + lease, run .. '/' .. rid)
  transition(rkey, hkey, ckey, ekey, rid, STATE.sending, OUTCOME.claimed,
    'attempt ' .. attempts .. ' claimed', '', worker, t)
  return {VERDICT.claimed, claim, tostring(slot - t), redis.call('HGET', rkey, 'email'),
          redis.call('HGET', rkey, 'resend'), redis.call('HGET', rkey, 'data'), tostring(tries),
          redis.call('HGET', rkey, 'gemeente'), taken_from}
end
