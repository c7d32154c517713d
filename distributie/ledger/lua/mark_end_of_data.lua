-- Record that the end of DATA goes out now, if the claim still holds and the rate allows.
-- KEYS: recipient, rate log; ARGV: claim, extra lease seconds, rate count, rate period, margin
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
return VERDICT.ok
