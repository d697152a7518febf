-- wrk script for authgate's cache-miss rows: every request carries the next
-- token of $TOKENS_FILE (one access token per line, all distinct) as
-- "Authorization: Bearer", so no request can be answered from a token cache.
-- Headers given with -H are kept. Run with one wrk thread (-t1): each thread
-- would load its own copy of the tokens and start at the same one.
--
-- It loads only the tokens of this run: $TOKENS_COUNT lines from line
-- $TOKENS_OFFSET (0-based) on. When every line has the same length
-- ($TOKENS_LINE bytes, newline included), it seeks straight there, so a run
-- starts within milliseconds however large the file; loading the whole file
-- took seconds, during which a concurrent baseline ran alone. benchstack
-- knows the window and reports a run that needed more tokens than it held.
local tokens = {}
local i = 0

function init(args)
  local path = os.getenv("TOKENS_FILE")
  local offset = tonumber(os.getenv("TOKENS_OFFSET") or "0") or 0
  local count = tonumber(os.getenv("TOKENS_COUNT") or "") or math.huge
  local line = tonumber(os.getenv("TOKENS_LINE") or "") or 0
  local f = assert(io.open(path, "r"), "rotate.lua: cannot open TOKENS_FILE " .. tostring(path))
  local skip = offset
  if line > 0 then
    assert(f:seek("set", offset * line), "rotate.lua: cannot seek in " .. path)
    skip = 0
  end
  for l in f:lines() do
    if skip > 0 then
      skip = skip - 1
    elseif #l > 0 then
      tokens[#tokens + 1] = l
      if #tokens >= count then break end
    end
  end
  f:close()
  assert(#tokens > 0, "rotate.lua: no tokens in " .. path .. " from line " .. offset)
end

-- TOKENS_PRELOAD_ONLY=1: load the same window, send the -H headers as
-- given. benchstack runs the baseline of a rotating row this way in
-- concurrent mode, so that both loads start after the same delay.
if os.getenv("TOKENS_PRELOAD_ONLY") ~= "1" then
  function request()
    i = i + 1
    if i > #tokens then i = 1 end
    wrk.headers["Authorization"] = "Bearer " .. tokens[i]
    return wrk.format()
  end
end
