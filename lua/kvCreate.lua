#!lua
--[[ kvCreate: create a KV record at version 1 (DTM's CreateKV) and list its key in the cat's index.
  KEYS[1] kv      {p:kv}:r:<n>:<cat>:<key>  HASH cat, k, v, version, create_time, update_time
  KEYS[2] kvIdx   {p:kv}:i:<cat>            ZSET key -> 0
  ARGV[1] cat             ARGV[2] key (not empty)
  ARGV[3] value           ARGV[4] now
  Returns {'OK'}
        | {'DUP', version, value} when the record exists (a replay finds its own value at version 1)
]]
local kv, kvIdx = KEYS[1], KEYS[2]
local cat = str(1)
local key = str(2)
local value = str(3)
local now = num(4)
if key == '' then
  error({ err = 'DTM_ARGS ARGV[2] key must not be empty' })
end

if rcall('EXISTS', kv) == 1 then
  local current = rcall('HMGET', kv, KF.version, KF.value)
  return { 'DUP', current[1] or '0', current[2] or '' }
end
rcall('HSET', kv, KF.cat, cat, KF.key, key, KF.value, value, KF.version, 1, KF.createTime, now, KF.updateTime, now)
rcall('ZADD', kvIdx, 0, key)
return { 'OK' }
