-- Extend the slot of an open SMTP connection.
-- KEYS: slots; ARGV: holder, ttl. Returns 0 when the slot had expired and is gone.
local t = now()
local expires = redis.call('ZSCORE', KEYS[1], ARGV[1])
if not expires or tonumber(expires) < t then
  redis.call('ZREM', KEYS[1], ARGV[1])
  return 0
end
redis.call('ZADD', KEYS[1], t + tonumber(ARGV[2]), ARGV[1])
return 1
