#!lua
--[[ kvDelete: delete a KV record and its index entry (DTM's DeleteKV).
  KEYS[1] kv      {p:kv}:r:<n>:<cat>:<key>  HASH
  KEYS[2] kvIdx   {p:kv}:i:<cat>            ZSET key -> 0
  ARGV[1] cat             ARGV[2] key
  Returns {'OK'} | {'NOT_FOUND'}
]]
local kv, kvIdx = KEYS[1], KEYS[2]
-- The cat is named by the keys; it is checked as present like every argument.
str(1)
local key = str(2)

if rcall('DEL', kv) == 0 then
  return { 'NOT_FOUND' }
end
rcall('ZREM', kvIdx, key)
return { 'OK' }
