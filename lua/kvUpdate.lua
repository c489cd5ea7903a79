#!lua
--[[ kvUpdate: replace a KV record's value if its version is the expected one (DTM's UpdateKV).
  KEYS[1] kv      {p:kv}:r:<n>:<cat>:<key>  HASH cat, k, v, version, create_time, update_time
  ARGV[1] cat             ARGV[2] key
  ARGV[3] expectedVersion whole number >= 1
  ARGV[4] value           ARGV[5] now
  Returns {'OK', newVersion}
        | {'NOT_FOUND'}
        | {'STALE', currentVersion, currentValue} (a replay finds expected + 1 and its own value)
]]
local kv = KEYS[1]
-- The cat and key are named by the record key; they are checked as present like every argument.
str(1)
str(2)
local expected = num(3)
local value = str(4)
local now = num(5)
if expected < 1 or expected % 1 ~= 0 or expected >= 2 ^ 53 then
  error({ err = 'DTM_ARGS ARGV[3] version must be a whole number >= 1' })
end

local current = rcall('HMGET', kv, KF.version, KF.value)
if not current[1] then
  return { 'NOT_FOUND' }
end
if tonumber(current[1]) ~= expected then
  return { 'STALE', current[1], current[2] or '' }
end
-- string.format keeps the version an integer string (tostring of a Lua number may not).
local version = string.format('%d', expected + 1)
rcall('HSET', kv, KF.value, value, KF.version, version, KF.updateTime, now)
return { 'OK', version }
