#!lua
--[[ resetCron: admin; pull forward to now the transactions of one bucket scheduled after `from`.
  KEYS[1] due     {p:b}:due      ZSET gid -> next cron ms
  ARGV[1] from    ARGV[2] now    ARGV[3] limit
  Returns {'OK', resetCount, hasRemaining (0|1)}
]]
local due = KEYS[1]
local from = num(1)
local now = num(2)
local limit = num(3)
if limit < 0 or limit > 10000 or limit % 1 ~= 0 then
  error({ err = 'DTM_ARGS limit must be a whole number 0-10000' })
end
local gids = rcall('ZRANGE', due, '(' .. from, '+inf', 'BYSCORE', 'LIMIT', 0, limit + 1)
local count = math.min(#gids, limit)
for i = 1, count do
  rcall('ZADD', due, 'XX', now, gids[i])
end
return { 'OK', count, #gids > limit and 1 or 0 }
