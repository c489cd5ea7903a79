#!lua
--[[ kvUpdate: replace a KV record's value if its version is the expected one (DTM's UpdateKV).
  KEYS[1] kv      {p:kv}:r:<n>:<cat>:<key>  HASH cat, k, v, version, create_time, update_time
  ARGV[1] cat             ARGV[2] key
  ARGV[3] expectedVersion whole number >= 1
  ARGV[4] value           ARGV[5] nowMs
  Returns {'OK', newVersion}
        | {'NOT_FOUND'}
        | {'STALE', currentVersion, currentValue} (a replay finds expected + 1 and its own value)
]]
local kv = KEYS[1]
local cat = str(1)
local key = str(2)
local expected = num(3)
local value = str(4)
local now = num(5)
if expected < 1 or expected % 1 ~= 0 or expected >= 2 ^ 53 then
  error({ err = 'DTM_ARGS ARGV[3] version must be a whole number >= 1' })
end
local tail = ':r:' .. #cat .. ':' .. cat .. ':' .. key
if string.sub(kv, -#tail) ~= tail then
  error({ err = 'DTM_ARGS KEYS[1] is not the record of this cat and key' })
end

local current = rcall('HMGET', kv, 'version', 'v')
if not current[1] then
  return { 'NOT_FOUND' }
end
if tonumber(current[1]) ~= expected then
  return { 'STALE', current[1], current[2] or '' }
end
-- string.format keeps the version an integer string (tostring of a Lua number may not).
local version = string.format('%d', expected + 1)
rcall('HSET', kv, 'v', value, 'version', version, 'update_time', now)
return { 'OK', version }
