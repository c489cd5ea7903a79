#!lua
--[[ createTrans: create a transaction with its branches, or report the one that exists.
  KEYS[1] trans   {p:b}:g:<gid>  HASH
  KEYS[2] due     {p:b}:due      ZSET gid -> next cron ms
  KEYS[3] idx     {p:b}:idx      ZSET gid -> create ms
  KEYS[4] fin     {p:b}:fin      ZSET gid -> ms its finished record expires
  KEYS[5] stats   {p:b}:stats    HASH unfinished status -> count of the bucket's transactions
  ARGV[1] gid
  ARGV[2] status          'prepared' | 'submitted'
  ARGV[3] transType
  ARGV[4] now             ARGV[5] nextCronTime    ARGV[6] nextCronInterval
  ARGV[7] request         msgpack blob of the immutable request
  ARGV[8] mode            'prepare' | 'submit'
  ARGV[9..] branchBlobs   msgpack [branch_id, op, url, data], in list order
  Returns {'OK'} when created
        | {'PROMOTED', field, value, ...} when a submit found it prepared and moved it to submitted
          (and rescheduled at nextCronTime)
        | {'EXISTS', field, value, ...} otherwise
  The record after PROMOTED or EXISTS is the stored one, as HGETALL, except that a blob equal to
  the one this call sent (F.request, a branch's BF.blob) has the value false: the caller has it.
]]
local trans, due, idx, fin, stats = KEYS[1], KEYS[2], KEYS[3], KEYS[4], KEYS[5]
local gid = str(1)
local status = oneOf(2, { prepared = true, submitted = true })
local transType = oneOf(3, TRANS_TYPES)
local now = num(4)
local nextCronTime = num(5)
local nextCronInterval = num(6)
local request = str(7)
local mode = oneOf(8, { prepare = true, submit = true })

local branchCount = #ARGV - 8

-- The stored record as HGETALL, but a blob equal to the one this call sent comes back as false:
-- a prepared msg is usually submitted with the body it was prepared with, and the caller need not
-- receive (nor decode) again what it has just sent.
local function storedRecord()
  local sent = { [F.request] = request }
  for i = 1, branchCount do
    sent[BF.blob .. i] = ARGV[8 + i]
  end
  local record = rcall('HGETALL', trans)
  for i = 2, #record, 2 do
    if sent[record[i - 1]] == record[i] then
      record[i] = false
    end
  end
  return record
end

-- Every record has a status, so its absence means there is no record.
local current = rcall('HGET', trans, F.status)
if current then
  if mode == 'submit' and current == 'prepared' then
    -- Rescheduled as a submit is: leased while the submitting process drives it, or due at once
    -- when that process has no round slot free and leaves it to the pollers.
    rcall('HSET', trans, F.status, 'submitted', F.updateTime, now, F.nextCronTime, nextCronTime)
    rcall('ZADD', due, 'XX', nextCronTime, gid)
    rcall('HINCRBY', stats, 'prepared', -1)
    rcall('HINCRBY', stats, 'submitted', 1)
    local record = storedRecord()
    table.insert(record, 1, 'PROMOTED')
    return record
  end
  local record = storedRecord()
  table.insert(record, 1, 'EXISTS')
  return record
end

local fields = {
  F.status, status, F.transType, transType, F.createTime, now, F.updateTime, now,
  F.nextCronTime, nextCronTime, F.nextCronInterval, nextCronInterval, F.request, request,
  F.branchCount, branchCount, F.branchStatuses, string.rep(CODE.prepared, branchCount),
}
for i = 1, branchCount do
  fields[#fields + 1] = BF.blob .. i
  fields[#fields + 1] = ARGV[8 + i]
end
-- HSET takes every field in one call; unpack in chunks to stay under Lua's stack limit.
local chunk = 1000
for first = 1, #fields, chunk do
  rcall('HSET', trans, unpack(fields, first, math.min(first + chunk - 1, #fields)))
end
rcall('ZADD', due, nextCronTime, gid)
rcall('ZADD', idx, now, gid)
rcall('HINCRBY', stats, status, 1)
-- The gid may have named a transaction whose record expired: its pending prune must not drop this one.
rcall('ZREM', fin, gid)
return { 'OK' }
