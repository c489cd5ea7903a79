#!lua
--[[ claimDue: take up to `limit` due transactions of one bucket and lease them.
  The lease pushes each score to `leaseUntil`, so no other process claims the same
  transaction until the lease runs out or the holder reschedules it.
  KEYS[1] due     {p:b}:due      ZSET gid -> next cron ms
  ARGV[1] now     ARGV[2] leaseUntil   ARGV[3] limit
  Returns {'OK', gid, ...}
]]
local due = KEYS[1]
local now = num(1)
local leaseUntil = num(2)
local limit = num(3)
if limit < 1 or limit > 1000 or limit % 1 ~= 0 then
  error({ err = 'DTM_ARGS limit must be a whole number 1-1000' })
end
local gids = rcall('ZRANGE', due, '-inf', now, 'BYSCORE', 'LIMIT', 0, limit)
for _, gid in ipairs(gids) do
  rcall('ZADD', due, 'XX', leaseUntil, gid)
end
table.insert(gids, 1, 'OK')
return gids
