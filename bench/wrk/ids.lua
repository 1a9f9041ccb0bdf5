-- wrk script: GET a path whose id walks over 1..N, then print report.lua's summary line and
-- one line saying which ids were asked for.
--   wrk ... -s bench/wrk/ids.lua http://127.0.0.1:PORT -- /api/v1/initiatives/%d 10000
-- Each thread steps through the ids by a prime stride (7919) from its own starting point, so
-- every id is asked for, in a scattered order, the same way on every server. At the end,
-- WRK_IDS {"count": N, "stride": 7919, "threads": [[start, requests made], ...]}: thread t
-- asked for id (start + k * stride) % N + 1 for k = 1 .. requests made.
local here = debug.getinfo(1, "S").source:match("^@(.*[/\\])") or "./"
dofile(here .. "report.lua")
local report = done

local STRIDE = 7919
local threads = {}
setup = function(thread)
  thread:set("start", #threads * 4999)
  table.insert(threads, thread)
end

-- Globals, not locals: done() reads them from each thread with thread:get.
template, count, step = "/%d", 1, 0
init = function(args)
  template = args[1] or template
  count = tonumber(args[2]) or count
end

request = function()
  step = step + 1
  local id = ((start or 0) + step * STRIDE) % count + 1
  return wrk.format("GET", string.format(template, id))
end

done = function(summary, latency, requests)
  report(summary, latency, requests)
  local walked = {}
  for _, thread in ipairs(threads) do
    table.insert(walked, string.format("[%d, %d]", thread:get("start"), thread:get("step")))
  end
  io.write(string.format(
    'WRK_IDS {"count": %d, "stride": %d, "threads": [%s]}\n',
    threads[1]:get("count"), STRIDE, table.concat(walked, ", ")))
end
