#!lua
--[[ resetNextCron: admin; make one transaction due now (the reference only rewrote JSON).
  KEYS[1] trans   {p:b}:g:<gid>  HASH
  KEYS[2] due     {p:b}:due      ZSET gid -> next cron ms
  ARGV[1] gid     ARGV[2] now
  Returns {'OK'} | {'NOT_FOUND'}
]]
local trans, due = KEYS[1], KEYS[2]
local gid = str(1)
local now = num(2)
if rcall('EXISTS', trans) == 0 then
  return { 'NOT_FOUND' }
end
rcall('HSET', trans, F.nextCronTime, now, F.updateTime, now)
rcall('ZADD', due, 'XX', now, gid)
return { 'OK' }
