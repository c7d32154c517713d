-- An operator's resend or retry of a recipient that is done: queue it again, with a new seq.
-- KEYS: recipient, history, counts, events, unpublished tasks
-- ARGV: run, rid, by, new address ('' keeps it), why
-- Returns {'queued', new seq} or {reason, current state}. The new task message counts as
-- unpublished until the command that asked confirms it published it (ledger/publishing.py).
local rkey = KEYS[1]
local t = now()
local state = redis.call('HGET', rkey, 'state')
if not state then return {VERDICT.missing} end
if not TERMINAL[state] then return {VERDICT.pending, state} end
local seq = tonumber(redis.call('HGET', rkey, 'seq')) + 1
local resend = redis.call('HINCRBY', rkey, 'resend', 1)
local why = ARGV[5] .. ' by ' .. ARGV[3]
if ARGV[4] ~= '' then
  why = why .. ' to ' .. ARGV[4] .. ' (was ' .. redis.call('HGET', rkey, 'email') .. ')'
  redis.call('HSET', rkey, 'email', ARGV[4])
end
redis.call('HSET', rkey, 'seq', seq, 'not_before', 0, 'cancel_requested', 0, 'claim', '',
  'stage', '', 'tries', 0)
redis.call('ZADD', KEYS[5], t, ARGV[1] .. '/' .. ARGV[2] .. '/' .. seq)
transition(rkey, KEYS[2], KEYS[3], KEYS[4], ARGV[2], STATE.queued, OUTCOME.queued,
  why .. ' (resend ' .. resend .. ')', '', ARGV[3], t)
return {VERDICT.queued, tostring(seq)}
