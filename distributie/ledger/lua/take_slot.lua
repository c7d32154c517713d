-- Take (or keep) one of the SMTP connection slots shared by every worker on every host.
-- KEYS: slots; ARGV: holder, max, ttl. Returns 1 when the holder has a slot.
local t = now()
redis.call('ZREMRANGEBYSCORE', KEYS[1], '-inf', t)
if redis.call('ZSCORE', KEYS[1], ARGV[1]) or
   redis.call('ZCARD', KEYS[1]) < tonumber(ARGV[2]) then
  redis.call('ZADD', KEYS[1], t + tonumber(ARGV[3]), ARGV[1])
  return 1
end
return 0
