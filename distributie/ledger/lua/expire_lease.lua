-- End the lease of a claim whose holder is known to be dead; the next claim decides by stage.
-- KEYS: recipient; ARGV: claim
if redis.call('HGET', KEYS[1], 'state') == STATE.sending and
   redis.call('HGET', KEYS[1], 'claim') == ARGV[1] then
  redis.call('HSET', KEYS[1], 'lease_until', now())
  return 1
end
return 0
