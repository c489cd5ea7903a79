#!lua
--[[ kvDelete: delete a KV record and its index entry (DTM's DeleteKV).
  KEYS[1] kv      {p:kv}:r:<n>:<cat>:<key>  HASH
  KEYS[2] kvIdx   {p:kv}:i:<cat>            ZSET key -> 0
  ARGV[1] cat             ARGV[2] key
  Returns {'OK'} | {'NOT_FOUND'}
]]
local kv, kvIdx = KEYS[1], KEYS[2]
local cat = str(1)
local key = str(2)
local base = string.sub(kvIdx, 1, #kvIdx - #cat - 3)
if kvIdx ~= base .. ':i:' .. cat or kv ~= base .. ':r:' .. #cat .. ':' .. cat .. ':' .. key then
  error({ err = 'DTM_ARGS KEYS are not the record and index of this cat and key' })
end

if rcall('DEL', kv) == 0 then
  return { 'NOT_FOUND' }
end
rcall('ZREM', kvIdx, key)
return { 'OK' }
