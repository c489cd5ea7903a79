#!lua
--[[ pruneIndex: drop listing-index entries whose transaction record has expired.
  Only entries created before `before` can have expired, so the work is bounded by `limit`.
  KEYS[1] idx     {p:b}:idx      ZSET gid -> create ms
  ARGV[1] before    ARGV[2] limit
  Returns {'OK', removedCount}
]]
local idx = KEYS[1]
local before = num(1)
local limit = num(2)
-- A negative LIMIT count would make ZRANGE return the whole index: keep the work bounded.
if limit < 1 or limit > 10000 or limit % 1 ~= 0 then
  error({ err = 'DTM_ARGS limit must be a whole number 1-10000' })
end
-- The record key shares the index key's hash tag, so it is on this slot.
local tag = string.match(idx, '^(.*):idx$')
if not tag then
  error({ err = 'DTM_ARGS not an index key: ' .. idx })
end
local gids = rcall('ZRANGE', idx, '-inf', '(' .. before, 'BYSCORE', 'LIMIT', 0, limit)
local removed = 0
for _, gid in ipairs(gids) do
  if rcall('EXISTS', tag .. ':g:' .. gid) == 0 then
    rcall('ZREM', idx, gid)
    removed = removed + 1
  end
end
return { 'OK', removed }
