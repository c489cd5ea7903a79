#!lua
--[[ kvCreate: create a KV record at version 1 (DTM's CreateKV) and list its key in the cat's index.
  KEYS[1] kv      {p:kv}:r:<n>:<cat>:<key>  HASH cat, k, v, version, create_time, update_time
  KEYS[2] kvIdx   {p:kv}:i:<cat>            ZSET key -> 0
  ARGV[1] cat             ARGV[2] key (not empty)
  ARGV[3] value           ARGV[4] nowMs
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
-- Both keys must be the ones of (cat, key), or the index would name a record it does not hold.
local base = string.sub(kvIdx, 1, #kvIdx - #cat - 3)
if kvIdx ~= base .. ':i:' .. cat or kv ~= base .. ':r:' .. #cat .. ':' .. cat .. ':' .. key then
  error({ err = 'DTM_ARGS KEYS are not the record and index of this cat and key' })
end

if rcall('EXISTS', kv) == 1 then
  local current = rcall('HMGET', kv, 'version', 'v')
  return { 'DUP', current[1] or '0', current[2] or '' }
end
rcall('HSET', kv, 'cat', cat, 'k', key, 'v', value, 'version', 1, 'create_time', now, 'update_time', now)
rcall('ZADD', kvIdx, 0, key)
return { 'OK' }
