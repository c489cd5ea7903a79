#!lua
--[[ registerBranch: append branches to a prepared transaction (TCC, XA, workflow progress).
  The first new branch's (branch_id, op) must not be registered yet; registered pairs are kept
  as `BF.registered .. '<branch_id>|<op>'` fields so the check costs one HEXISTS, not a decode of every branch.
  KEYS[1] trans   {p:b}:g:<gid>  HASH
  ARGV[1] gid
  ARGV[2] now
  ARGV[3] firstKey        'branch_id|op' of the first new branch, checked for duplicates
  ARGV[4..] branches  triples of branch blob (msgpack [branch_id, op, url, data]), 'branch_id|op',
                      status code 'p' | 's' | 'f'
  Returns {'OK'} | {'NOT_FOUND'} | {'STALE', currentStatus} | {'DUP'}
]]
local trans = KEYS[1]
str(1)
local now = num(2)
local firstKey = str(3)
local count = (#ARGV - 3) / 3
if count < 1 or count % 1 ~= 0 then
  error({ err = 'DTM_ARGS expected triples of blob, branch key and status code' })
end
for i = 0, count - 1 do
  local code = str(6 + 3 * i)
  if BRANCH_CODES[code] == nil then
    error({ err = 'DTM_ARGS bad branch status code: ' .. code })
  end
end

local current = rcall('HGET', trans, F.status)
if not current then
  return { 'NOT_FOUND' }
end
if current ~= 'prepared' then
  return { 'STALE', current }
end
if rcall('HEXISTS', trans, BF.registered .. firstKey) == 1 then
  return { 'DUP' }
end

local n = tonumber(rcall('HGET', trans, F.branchCount) or '0')
local statusString = rcall('HGET', trans, F.branchStatuses) or ''
local fields = {}
for i = 0, count - 1 do
  local index = n + i + 1
  local code = ARGV[6 + 3 * i]
  fields[#fields + 1] = BF.blob .. index
  fields[#fields + 1] = ARGV[4 + 3 * i]
  fields[#fields + 1] = BF.registered .. ARGV[5 + 3 * i]
  fields[#fields + 1] = 1
  if code ~= CODE.prepared then
    fields[#fields + 1] = BF.changeTime .. index
    fields[#fields + 1] = now
  end
  statusString = statusString .. code
end
fields[#fields + 1] = F.branchCount
fields[#fields + 1] = n + count
fields[#fields + 1] = F.branchStatuses
fields[#fields + 1] = statusString
fields[#fields + 1] = F.updateTime
fields[#fields + 1] = now
rcall('HSET', trans, unpack(fields))
return { 'OK' }
