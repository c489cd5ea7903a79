-- Shared helpers, spliced after each script's shebang line by src/store/scripts.ts.
local rcall = redis.call

-- The record schema, the same tables as src/store/schema.ts (the contract test compares them):
-- scripts name every hash field through these, never as a literal.
local F = {
  status = 's', transType = 'tt', createTime = 'ct', updateTime = 'ut', nextCronTime = 'nct',
  nextCronInterval = 'nci', request = 'req', branchCount = 'n', branchStatuses = 'bs',
  rollbackReason = 'rr', result = 'res', finishTime = 'ft', rollbackTime = 'rt', retryCount = 'rc',
  retries = 'nr',
}
-- Per-branch fields: the prefix, then the 1-based branch index (or `branch_id|op`).
local BF = {
  blob = 'b', changeTime = 't', registered = 'u:', attempts = 'a', lastAttemptTime = 'la', lastError = 'e',
}
local KF = {
  cat = 'cat', key = 'k', value = 'v', version = 'version', createTime = 'create_time',
  updateTime = 'update_time',
}
-- Branch status codes in the F.branchStatuses string.
local CODE = { prepared = 'p', succeed = 's', failed = 'f' }

-- Argument readers: a bad argument is a broken contract, answered with a DTM_ARGS error
-- before the script writes anything.
local function num(i)
  local v = tonumber(ARGV[i])
  -- tonumber goes through strtod, which also accepts 'nan' and 'inf': neither is a usable time,
  -- count or score, and ZADD would refuse them only after the script's first writes.
  if v == nil or v ~= v or v == math.huge or v == -math.huge then
    error({ err = 'DTM_ARGS ARGV[' .. i .. '] not a number: ' .. tostring(ARGV[i]) })
  end
  return v
end

local function str(i)
  local v = ARGV[i]
  if v == nil then
    error({ err = 'DTM_ARGS ARGV[' .. i .. '] missing' })
  end
  return v
end

local function oneOf(i, allowed)
  local v = str(i)
  if allowed[v] == nil then
    error({ err = 'DTM_ARGS ARGV[' .. i .. '] unexpected value: ' .. v })
  end
  return v
end

-- The TransStatus and TransType unions of src/types.ts (the contract test compares them).
local FINAL = { succeed = true, failed = true }
local STATUSES = { prepared = true, submitted = true, aborting = true, succeed = true, failed = true }
local TRANS_TYPES = { saga = true, msg = true, tcc = true, xa = true, workflow = true }
local BRANCH_CODES = { [CODE.prepared] = true, [CODE.succeed] = true, [CODE.failed] = true }

-- Reads branch status updates given as (index, code) pairs from ARGV[first..] and checks
-- them against the current status string; returns a list of {index, code}.
local function readBranchUpdates(first, statusString)
  local updates = {}
  local count = #statusString
  local i = first
  while ARGV[i] ~= nil do
    local index = num(i)
    local code = str(i + 1)
    if index < 1 or index > count or index % 1 ~= 0 then
      error({ err = 'DTM_ARGS branch index out of range: ' .. ARGV[i] })
    end
    if BRANCH_CODES[code] == nil then
      error({ err = 'DTM_ARGS bad branch status code: ' .. code })
    end
    updates[#updates + 1] = { index, code }
    i = i + 2
  end
  return updates
end

-- Adds the HSET arguments for applied branch updates to `fields`: the new status string and
-- each changed branch's change time. Nothing is added when there are no updates.
local function addBranchUpdates(fields, statusString, updates, now)
  if #updates == 0 then
    return
  end
  for _, u in ipairs(updates) do
    local index, code = u[1], u[2]
    statusString = string.sub(statusString, 1, index - 1) .. code .. string.sub(statusString, index + 1)
    fields[#fields + 1] = BF.changeTime .. index
    fields[#fields + 1] = now
  end
  fields[#fields + 1] = F.branchStatuses
  fields[#fields + 1] = statusString
end

-- Reads the msgpack list of branch attempt records in ARGV[i] ('' for none): each
-- [index (1-based), attempts, lastAttemptMs, lastError], checked against the branch count.
local function readAttempts(i, branchCount)
  local raw = str(i)
  if raw == '' then
    return {}
  end
  local ok, list = pcall(cmsgpack.unpack, raw)
  if not ok or type(list) ~= 'table' then
    error({ err = 'DTM_ARGS ARGV[' .. i .. '] is not a msgpack list of attempt records' })
  end
  for _, a in ipairs(list) do
    local index, attempts, at, lastError = a[1], a[2], a[3], a[4]
    if type(index) ~= 'number' or index < 1 or index > branchCount or index % 1 ~= 0
      or type(attempts) ~= 'number' or attempts < 1 or attempts % 1 ~= 0
      or type(at) ~= 'number' or type(lastError) ~= 'string' then
      error({ err = 'DTM_ARGS ARGV[' .. i .. '] has a bad attempt record' })
    end
  end
  return list
end

-- Adds the HSET arguments of attempt records to `fields`; an empty error keeps the last one.
local function addAttempts(fields, attempts)
  for _, a in ipairs(attempts) do
    local index = a[1]
    fields[#fields + 1] = BF.attempts .. index
    fields[#fields + 1] = a[2]
    fields[#fields + 1] = BF.lastAttemptTime .. index
    fields[#fields + 1] = a[3]
    if a[4] ~= '' then
      fields[#fields + 1] = BF.lastError .. index
      fields[#fields + 1] = a[4]
    end
  end
end

-- The compare-and-set guard on a transaction's global status; one HMGET also reads what the
-- transitions need next. Returns the reply to give when the guard fails ({'NOT_FOUND'} or
-- {'STALE', current}), or nil, the current status, the branch status string and the trans_type.
local function guardStatus(trans, expected)
  local head = rcall('HMGET', trans, F.status, F.branchStatuses, F.transType)
  local current = head[1]
  if not current then
    return { 'NOT_FOUND' }
  end
  if current ~= expected then
    return { 'STALE', current }
  end
  return nil, current, head[2] or '', head[3]
end
