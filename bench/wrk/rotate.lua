-- wrk script for authgate's cache-miss rows: every request carries the next
-- token of $TOKENS_FILE (one access token per line, all distinct) as
-- "Authorization: Bearer", so no request can be answered from a token cache
-- until the file wraps around (benchstack reports when it does). Headers
-- given with -H are kept. Run with one wrk thread (-t1): each thread would
-- load its own copy of the file and start at the same token.
local tokens = {}
local i = 0

function init(args)
  local path = os.getenv("TOKENS_FILE")
  local f = assert(io.open(path, "r"), "rotate.lua: cannot open TOKENS_FILE " .. tostring(path))
  for line in f:lines() do
    if #line > 0 then tokens[#tokens + 1] = line end
  end
  f:close()
  assert(#tokens > 0, "rotate.lua: no tokens in " .. path)
  -- A later run against the same process starts past the tokens it was sent.
  i = (tonumber(os.getenv("TOKENS_OFFSET") or "0") or 0) % #tokens
end

function request()
  i = i + 1
  if i > #tokens then i = 1 end
  wrk.headers["Authorization"] = "Bearer " .. tokens[i]
  return wrk.format()
end
