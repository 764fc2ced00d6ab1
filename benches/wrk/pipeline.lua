-- wrk script: send DEPTH GET / requests in one write, back to back, and wait
-- for all DEPTH responses before the next write (HTTP/1.1 pipelining).
--
--   wrk -t1 -c64 -d10s --latency -s benches/wrk/pipeline.lua http://127.0.0.1:8080/ -- 16
--
-- wrk counts every response as a request, so Requests/sec is responses per
-- second; a latency sample is the time of one whole batch of DEPTH requests.

local batch = nil

function init(args)
   local depth = tonumber(args[1]) or 16
   local parts = {}
   for i = 1, depth do
      parts[i] = wrk.format("GET", "/")
   end
   batch = table.concat(parts)
end

function request()
   return batch
end
