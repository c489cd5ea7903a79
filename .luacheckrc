-- luacheck for lua/: Redis runs Lua 5.1 with these globals.
std = 'lua51'
max_line_length = 120
local redis_globals = { 'redis', 'KEYS', 'ARGV', 'cmsgpack', 'cjson', 'bit', 'unpack', 'struct' }

-- src/store/scripts.ts splices lua/lib/prelude.lua in after each script's shebang line, so a
-- script sees the prelude's top-level locals: read them from the prelude itself.
local prelude_names = {}
for line in io.lines('lua/lib/prelude.lua') do
  local name = line:match('^local function ([%w_]+)') or line:match('^local ([%w_]+) =')
  if name then
    prelude_names[#prelude_names + 1] = name
  end
end
for _, g in ipairs(redis_globals) do
  prelude_names[#prelude_names + 1] = g
end

read_globals = redis_globals
files['lua/*.lua'] = { read_globals = prelude_names }
-- The prelude's helpers are each used by some scripts, not by the prelude itself.
files['lua/lib/prelude.lua'] = { ignore = { '211' } }
