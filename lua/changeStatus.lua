#!lua
--[[ changeStatus: compare-and-set the global status, with branch results of the same step.
  On a final status the transaction leaves the schedule, its record gets the finished TTL, and
  it joins `fin` so pruneIndex drops it from the listing index once the record has expired.
  KEYS[1] trans   {p:b}:g:<gid>  HASH
  KEYS[2] due     {p:b}:due      ZSET gid -> next cron ms
  KEYS[3] fin     {p:b}:fin      ZSET gid -> ms its finished record expires
  KEYS[4] stats   {p:b}:stats    HASH unfinished status -> count of the bucket's transactions
  ARGV[1] gid
  ARGV[2] expectedStatus  ARGV[3] newStatus
  ARGV[4] now
  ARGV[5] rollbackReason  '' leaves it as it is
  ARGV[6] finishedDataExpireS
  ARGV[7] nextCronTime    '' leaves the schedule as it is (ignored on a final status)
  ARGV[8] nextCronInterval'' leaves it as it is
  ARGV[9] result          '' leaves it as it is
  ARGV[10] expectedType   '' for any; else the stored trans_type must match too (a mismatch is
                          STALE with the current status), so a caller that does not know the
                          type yet can try a type-specific transition in one round trip
  ARGV[11] attempts       msgpack list of [branch index, attempts, last attempt ms, last error], or ''
  ARGV[12..] branchUpdates  pairs of branch index (1-based) and status code 'p' | 's' | 'f'
  Returns {'OK'} | {'NOT_FOUND'} | {'STALE', currentStatus}
]]
local trans, due, fin, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4]
local gid = str(1)
local expected = oneOf(2, STATUSES)
local newStatus = oneOf(3, STATUSES)
local now = num(4)
local reason = str(5)
local finishedDataExpireS = num(6)
-- A fraction or a TTL <= 0 is a caller's bug: refuse it before the first write.
if finishedDataExpireS < 1 or finishedDataExpireS % 1 ~= 0 then
  error({ err = 'DTM_ARGS ARGV[6] finished ttl must be a whole number of seconds >= 1' })
end
local nextCronTime = ARGV[7] ~= '' and num(7) or nil
local nextCronInterval = ARGV[8] ~= '' and num(8) or nil
local result = str(9)
local expectedType = str(10)

local refused, current, statusString, storedType = guardStatus(trans, expected)
if refused then
  return refused
end
if expectedType ~= '' and storedType ~= expectedType then
  return { 'STALE', current }
end
if FINAL[current] then
  error({ err = 'DTM_STATE cannot leave final status ' .. current })
end
local attempts = readAttempts(11, #statusString)
local updates = readBranchUpdates(12, statusString)

local fields = { F.status, newStatus, F.updateTime, now }
addBranchUpdates(fields, statusString, updates, now)
addAttempts(fields, attempts)
if reason ~= '' then
  fields[#fields + 1] = F.rollbackReason
  fields[#fields + 1] = reason
end
if result ~= '' then
  fields[#fields + 1] = F.result
  fields[#fields + 1] = result
end
if nextCronInterval then
  fields[#fields + 1] = F.nextCronInterval
  fields[#fields + 1] = nextCronInterval
end
if newStatus == 'succeed' then
  fields[#fields + 1] = F.finishTime
  fields[#fields + 1] = now
elseif newStatus == 'failed' then
  fields[#fields + 1] = F.rollbackTime
  fields[#fields + 1] = now
elseif nextCronTime then
  fields[#fields + 1] = F.nextCronTime
  fields[#fields + 1] = nextCronTime
end
rcall('HSET', trans, unpack(fields))
rcall('HINCRBY', stats, current, -1)
if not FINAL[newStatus] then
  rcall('HINCRBY', stats, newStatus, 1)
end
if FINAL[newStatus] then
  -- The record and its fin entry expire at the same instant, on the caller's clock (the time
  -- argument), so pruneIndex never drops a listed record that still exists.
  local expiresAt = now + finishedDataExpireS * 1000
  rcall('ZREM', due, gid)
  rcall('PEXPIREAT', trans, expiresAt)
  rcall('ZADD', fin, expiresAt, gid)
elseif nextCronTime then
  rcall('ZADD', due, nextCronTime, gid)
end
return { 'OK' }
