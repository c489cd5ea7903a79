#!lua
--[[ changeStatus: compare-and-set the global status, with branch results of the same step.
  On a final status the transaction leaves the schedule and its record gets the finished TTL.
  KEYS[1] trans   {p:b}:g:<gid>  HASH
  KEYS[2] due     {p:b}:due      ZSET gid -> next cron ms
  ARGV[1] gid
  ARGV[2] expectedStatus  ARGV[3] newStatus
  ARGV[4] nowMs
  ARGV[5] rollbackReason  '' leaves it as it is
  ARGV[6] finishedTtlS
  ARGV[7] nextCronMs      '' leaves the schedule as it is (ignored on a final status)
  ARGV[8] intervalS       '' leaves it as it is
  ARGV[9] result          '' leaves it as it is
  ARGV[10] expectedType   '' for any; else the stored trans_type must match too (a mismatch is
                          STALE with the current status), so a caller that does not know the
                          type yet can try a type-specific transition in one round trip
  ARGV[11..] pairs of branch index (1-based) and status code 'p' | 's' | 'f'
  Returns {'OK'} | {'NOT_FOUND'} | {'STALE', currentStatus}
]]
local trans, due = KEYS[1], KEYS[2]
local gid = str(1)
local expected = oneOf(2, STATUSES)
local newStatus = oneOf(3, STATUSES)
local now = num(4)
local reason = str(5)
local ttl = num(6)
-- EXPIRE refuses a fraction and deletes at once on <= 0; either would strike after the HSET.
if ttl < 1 or ttl % 1 ~= 0 then
  error({ err = 'DTM_ARGS ARGV[6] finished ttl must be a whole number of seconds >= 1' })
end
local nextCron = ARGV[7] ~= '' and num(7) or nil
local interval = ARGV[8] ~= '' and num(8) or nil
local result = str(9)
local expectedType = str(10)

local refused, current = guardStatus(trans, expected)
if refused then
  return refused
end
if expectedType ~= '' and rcall('HGET', trans, 'tt') ~= expectedType then
  return { 'STALE', current }
end
if FINAL[current] then
  error({ err = 'DTM_STATE cannot leave final status ' .. current })
end
local statusString = rcall('HGET', trans, 'bs') or ''
local updates = readBranchUpdates(11, statusString)

local fields = { 's', newStatus, 'ut', now }
addBranchUpdates(fields, statusString, updates, now)
if reason ~= '' then
  fields[#fields + 1] = 'rr'
  fields[#fields + 1] = reason
end
if result ~= '' then
  fields[#fields + 1] = 'res'
  fields[#fields + 1] = result
end
if interval then
  fields[#fields + 1] = 'nci'
  fields[#fields + 1] = interval
end
if newStatus == 'succeed' then
  fields[#fields + 1] = 'ft'
  fields[#fields + 1] = now
elseif newStatus == 'failed' then
  fields[#fields + 1] = 'rt'
  fields[#fields + 1] = now
elseif nextCron then
  fields[#fields + 1] = 'nct'
  fields[#fields + 1] = nextCron
end
rcall('HSET', trans, unpack(fields))
if FINAL[newStatus] then
  rcall('ZREM', due, gid)
  rcall('EXPIRE', trans, ttl)
elseif nextCron then
  rcall('ZADD', due, nextCron, gid)
end
return { 'OK' }
