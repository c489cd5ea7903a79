#!lua
--[[ redisCheckAdjustAmount: adjust an amount behind a branch barrier (dtm-protocol.md §7.2).
  DTM's RedisCheckAdjustAmount: deduct (or give back) `amount` only if the result stays >= 0,
  once per gid/branch/op/barrier, with null compensation and hanging handled by the barrier
  keys. For a cluster, all three keys must share a hash tag: put the same `{tag}` first in the
  gid and in the amount key (e.g. gid `{a}-<uuid>`, key `{a}--stock-1`).
  KEYS[1] amount   the business key, an integer string      STRING
  KEYS[2] current  <gid>-<branch_id>-<op>-<barrier_id>        STRING 'op' (DTM's value), EX expire
  KEYS[3] origin   <gid>-<branch_id>-<originOp>-<barrier_id>  STRING 'rollback' on null compensation
  ARGV[1] amount   integer to add (negative to deduct)
  ARGV[2] originOp the forward op of a compensation ('try', 'action'), '' for a forward op
  ARGV[3] expire   TTL of the barrier keys, whole seconds > 0
  Returns {'OK', newAmount} | {'NULL_COMPENSATION'} | {'FAILURE'} | {'DUPLICATE'}
  FAILURE (the amount key is missing, or the result would be < 0) is checked before DUPLICATE,
  as DTM does: a repeated deduction that now lacks stock still reports FAILURE.
]]
local rcall = redis.call

local amountKey = KEYS[1]
local currentKey = KEYS[2]
local originKey = KEYS[3]
local amount = tonumber(ARGV[1])
local originOp = ARGV[2]
local expire = tonumber(ARGV[3])

-- Validate every argument and the stored amount before the first write: Redis keeps the writes
-- of a script that fails half-way.
if amount == nil or amount ~= amount or amount % 1 ~= 0 or math.abs(amount) > 9007199254740991 then
  return redis.error_reply('DTM_ARGS ARGV[1] amount is not an integer: ' .. tostring(ARGV[1]))
end
if originOp == nil then
  return redis.error_reply('DTM_ARGS ARGV[2] originOp missing')
end
if expire == nil or expire % 1 ~= 0 or expire < 1 or expire > 2147483647 then
  return redis.error_reply('DTM_ARGS ARGV[3] expire is not a positive whole number of seconds: ' .. tostring(ARGV[3]))
end

local value = rcall('GET', amountKey)
local current = rcall('GET', currentKey)
if value == false then
  return { 'FAILURE' }
end
local have = tonumber(value)
if have == nil or have % 1 ~= 0 then
  return redis.error_reply('DTM_STATE ' .. amountKey .. ' does not hold an integer')
end
if have + amount < 0 then
  return { 'FAILURE' }
end
if current ~= false then
  return { 'DUPLICATE' }
end

rcall('SET', currentKey, 'op', 'EX', expire)
if originOp ~= '' and rcall('EXISTS', originKey) == 0 then
  -- The compensation came first: mark its forward op as done so a late one is a DUPLICATE.
  rcall('SET', originKey, 'rollback', 'EX', expire)
  return { 'NULL_COMPENSATION' }
end
return { 'OK', rcall('INCRBY', amountKey, amount) }
