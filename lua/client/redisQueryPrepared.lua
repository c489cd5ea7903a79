#!lua
--[[ redisQueryPrepared: the msg check-back on Redis (dtm-protocol.md §7.2, DTM's RedisQueryPrepared).
  A msg's DoAndSubmit sets the msg barrier key when its deduction happens (redisCheckAdjustAmount
  with op `msg`, barrier `01`). If the key is absent, the deduction has not happened and now never
  will: the key is set to 'rollback' so a late deduction sees DUPLICATE instead of running.
  KEYS[1] msg     <gid>-00-msg-01  STRING 'op' | 'rollback', EX expire
  ARGV[1] expire  TTL of the key when it is created here, whole seconds > 0
  Returns {'OK'} (the deduction happened: submit) | {'FAILURE'} (rolled back: fail the msg)
]]
local rcall = redis.call

local msgKey = KEYS[1]
local expire = tonumber(ARGV[1])
if expire == nil or expire % 1 ~= 0 or expire < 1 or expire > 2147483647 then
  return redis.error_reply('DTM_ARGS ARGV[1] expire is not a positive whole number of seconds: ' .. tostring(ARGV[1]))
end

local value = rcall('GET', msgKey)
if value == false then
  rcall('SET', msgKey, 'rollback', 'EX', expire)
  value = 'rollback'
end
if value == 'rollback' then
  return { 'FAILURE' }
end
return { 'OK' }
