-- A page of a run's recipients, read in one step for a page that follows the run live: the run,
-- its counts, how many recipients match, and the matching ones at [offset, offset + limit), in
-- list order. Without a filter it reads only the page; a filter (state, or a fragment of the
-- recipient key) looks at every recipient's key and state, inside Redis.
-- KEYS: run, counts, order; ARGV: recipient key prefix, offset, limit (>= 1), state ('' for
-- any), key fragment ('' for any), then the names of the recipient fields to read
-- Returns {run fields, counts fields, matched, recipient, recipient, ...}, each recipient a
-- JSON array of its values in the order of the names asked for (false for a missing one): one
-- string per recipient is much cheaper for a client to parse than a reply per field.
local prefix = ARGV[1]
local offset = tonumber(ARGV[2])
local limit = tonumber(ARGV[3])
local wanted = ARGV[4]
local fragment = ARGV[5]
local fields = {unpack(ARGV, 6)}
local function read(key)
  return cjson.encode(redis.call('HMGET', prefix .. key, unpack(fields)))
end
local result = {redis.call('HGETALL', KEYS[1]), redis.call('HGETALL', KEYS[2]), 0}
if wanted == '' and fragment == '' then
  result[3] = redis.call('LLEN', KEYS[3])
  for _, key in ipairs(redis.call('LRANGE', KEYS[3], offset, offset + limit - 1)) do
    table.insert(result, read(key))
  end
  return result
end
local matched = 0
for _, key in ipairs(redis.call('LRANGE', KEYS[3], 0, -1)) do
  if fragment == '' or string.find(key, fragment, 1, true) then
    if wanted == '' or redis.call('HGET', prefix .. key, 'state') == wanted then
      if matched >= offset and matched < offset + limit then
        table.insert(result, read(key))
      end
      matched = matched + 1
    end
  end
end
result[3] = matched
return result
