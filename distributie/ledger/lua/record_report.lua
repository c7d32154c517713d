-- Record what a report from the bounce mailbox says about one recipient, once per report.
-- KEYS: recipient, history, counts, events, processed reports
-- ARGV: report id, rid, outcome, resend ('' = the current one), attempt ('' = the latest),
--       status code, reply (diagnostic or first line), SMTP code, match method, report kind,
--       worker, run
-- Returns {'recorded', state, gemeente}, {'already', state, gemeente} (this report was
-- recorded before: nothing changes) or {'missing'}.
local rkey, hkey, ckey, ekey, pkey = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local report, rid, outcome, worker = ARGV[1], ARGV[2], ARGV[3], ARGV[11]
local t = now()
local state = redis.call('HGET', rkey, 'state')
if not state then return {VERDICT.missing} end
local gemeente = redis.call('HGET', rkey, 'gemeente')
if redis.call('HEXISTS', pkey, report) == 1 then return {VERDICT.already, state, gemeente} end
local current = tonumber(redis.call('HGET', rkey, 'resend') or '0')
local resend = tonumber(ARGV[4]) or current
local attempt = tonumber(ARGV[5])
if not attempt then
  attempt = 0
  if resend == current then attempt = tonumber(redis.call('HGET', rkey, 'attempts') or '0') end
end
local to = state
-- Only a permanent failure of the message the state is about changes the state: a bounce of
-- an older send is history of that send, and while a newer attempt is under way (or none was
-- handed over) that attempt's own outcome decides.
if outcome == OUTCOME.bounce and resend == current and
   (state == STATE.sent or state == STATE.unknown) then
  to = STATE.bounced
  redis.call('HINCRBY', ckey, state, -1)
  redis.call('HINCRBY', ckey, to, 1)
  redis.call('HSET', rkey, 'state', to, 'updated_at', t, 'last_reply', ARGV[7],
    'last_code', ARGV[8], 'bounced_at', t)
  redis.call('XADD', ekey, '*', 'recipient', rid, 'from', state, 'to', to, 'outcome', outcome,
    'worker', worker, 'at', tostring(t))
end
if outcome == OUTCOME.auto_reply then
  redis.call('HSET', rkey, 'auto_reply_line', ARGV[7], 'auto_reply_at', t)
end
local entry = {at = t, worker = worker, outcome = outcome, reply = ARGV[7], state = to,
               attempt = attempt, resend = resend, method = ARGV[9], report = report,
               kind = ARGV[10]}
if ARGV[6] ~= '' then entry['status'] = ARGV[6] end
if ARGV[8] ~= '' then entry['code'] = tonumber(ARGV[8]) end
redis.call('RPUSH', hkey, cjson.encode(entry))
redis.call('HSET', pkey, report, cjson.encode({at = t, run = ARGV[12], recipient = rid,
  outcome = outcome, state = to}))
return {VERDICT.recorded, to, gemeente}
