#!lua
--[[ pruneIndex: drop from a bucket's listing index the finished transactions whose record has expired.
  changeStatus puts every finished transaction in `fin`, scored by the time its record expires,
  so the work is exact and bounded by `limit`: nothing is examined that is not due for removal.
  KEYS[1] idx     {p:b}:idx      ZSET gid -> create ms
  KEYS[2] fin     {p:b}:fin      ZSET gid -> ms its finished record expires
  ARGV[1] now     ARGV[2] limit
  Returns {'OK', removedCount, more (0|1: another call would find more)}
]]
local idx, fin = KEYS[1], KEYS[2]
local now = num(1)
local limit = num(2)
-- A negative LIMIT count would make ZRANGE return the whole set: keep the work bounded.
if limit < 1 or limit > 1000 or limit % 1 ~= 0 then
  error({ err = 'DTM_ARGS limit must be a whole number 1-1000' })
end
local gids = rcall('ZRANGE', fin, '-inf', now, 'BYSCORE', 'LIMIT', 0, limit)
if #gids > 0 then
  rcall('ZREM', idx, unpack(gids))
  rcall('ZREM', fin, unpack(gids))
end
return { 'OK', #gids, #gids == limit and 1 or 0 }
