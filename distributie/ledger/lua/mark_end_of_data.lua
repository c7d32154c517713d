-- Record that the end of DATA goes out now, if the claim still holds and the rate allows.
-- KEYS: recipient, rate log, [sent messages, sent-to index of the address]
-- ARGV: claim, extra lease seconds, rate count, rate period, margin,
--       [attempt, what is handed over (JSON), index member run/key/resend]
-- Returns 'ok' (marked), 'lost' (the claim was taken over) or the seconds to wait for the rate
-- window before asking again.
local t = now()
if redis.call('HGET', KEYS[1], 'state') ~= STATE.sending or
   redis.call('HGET', KEYS[1], 'claim') ~= ARGV[1] then
  return VERDICT.lost
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
redis.call('HSET', KEYS[1], 'stage', STAGE.end_of_data, 'lease_until', t + tonumber(ARGV[2]),
  'end_of_data_at', t)
if ARGV[6] then
  -- The archive's proof of what was sent, per attempt; and who was sent what, by address.
  local sent = cjson.decode(ARGV[7])
  sent['at'] = t
  redis.call('HSET', KEYS[3], ARGV[6], cjson.encode(sent))
  redis.call('ZADD', KEYS[4], t, ARGV[8])
end
return VERDICT.ok
