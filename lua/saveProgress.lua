#!lua
--[[ saveProgress: record branch results and the next cron time, guarded by the global status.
  KEYS[1] trans   {p:b}:g:<gid>  HASH
  KEYS[2] due     {p:b}:due      ZSET gid -> next cron ms
  ARGV[1] gid
  ARGV[2] expectedStatus
  ARGV[3] now
  ARGV[4] nextCronTime    '' leaves the schedule as it is
  ARGV[5] nextCronInterval'' leaves it as it is
  ARGV[6] retryCount      '' leaves it as it is
  ARGV[7] retries         rounds that ended in a backoff so far; '' leaves it as it is
  ARGV[8] attempts        msgpack list of [branch index, attempts, last attempt ms, last error], or ''
  ARGV[9..] branchUpdates  pairs of branch index (1-based) and status code 'p' | 's' | 'f'
  Returns {'OK'} | {'NOT_FOUND'} | {'STALE', currentStatus}
]]
local trans, due = KEYS[1], KEYS[2]
local gid = str(1)
local expected = oneOf(2, STATUSES)
local now = num(3)
local nextCronTime = ARGV[4] ~= '' and num(4) or nil
local nextCronInterval = ARGV[5] ~= '' and num(5) or nil
local retryCount = ARGV[6] ~= '' and num(6) or nil
local retries = ARGV[7] ~= '' and num(7) or nil

local refused, current, statusString = guardStatus(trans, expected)
if refused then
  return refused
end
if FINAL[current] then
  -- A finished transaction must never go back on the schedule.
  error({ err = 'DTM_STATE no progress can be saved in final status ' .. current })
end
local attempts = readAttempts(8, #statusString)
local updates = readBranchUpdates(9, statusString)

local fields = { F.updateTime, now }
addBranchUpdates(fields, statusString, updates, now)
addAttempts(fields, attempts)
if nextCronTime then
  fields[#fields + 1] = F.nextCronTime
  fields[#fields + 1] = nextCronTime
  rcall('ZADD', due, nextCronTime, gid)
end
if nextCronInterval then
  fields[#fields + 1] = F.nextCronInterval
  fields[#fields + 1] = nextCronInterval
end
if retryCount then
  fields[#fields + 1] = F.retryCount
  fields[#fields + 1] = retryCount
end
if retries then
  fields[#fields + 1] = F.retries
  fields[#fields + 1] = retries
end
rcall('HSET', trans, unpack(fields))
return { 'OK' }
