-- Shared by every transition script: the server's clock, and one state change (state, counts,
-- history, event stream) in one place. STATE.<name>, OUTCOME.<name>, STAGE, VERDICT and RUN are the
-- names of distributie/states.py and ledger/records.py, put in as text when the script is loaded;
-- TERMINAL, HELD and ALL_STATES are generated from them too (see ledger/scripts.py).
local function now()
  local t = redis.call('TIME')
  return tonumber(t[1]) + tonumber(t[2]) / 1000000
end

local function transition(rkey, hkey, ckey, ekey, rid, to, outcome, reply, code, worker, at)
  local from = redis.call('HGET', rkey, 'state')
  if from ~= to then
    redis.call('HINCRBY', ckey, from, -1)
    redis.call('HINCRBY', ckey, to, 1)
  end
  redis.call('HSET', rkey, 'state', to, 'updated_at', at)
  local entry = {at = at, worker = worker, outcome = outcome, reply = reply, state = to,
                 attempt = tonumber(redis.call('HGET', rkey, 'attempts') or '0')}
  if code ~= '' then entry['code'] = tonumber(code) end
  redis.call('RPUSH', hkey, cjson.encode(entry))
  redis.call('XADD', ekey, '*', 'recipient', rid, 'from', from, 'to', to, 'outcome', outcome,
             'worker', worker, 'at', tostring(at))
end
