-- wrk script of bench_push.py: single check-ins to POST /api/v1/answers, each request's start
-- (wall clock) and latency written to a file per thread, so that the benchmark can take the
-- p99 of exactly the requests made while the reminders were being sent.
-- Arguments (after "--"): phase, seconds, session token, answered_at, output file prefix,
-- and the pause in ms after each response (0: as fast as the server answers).
-- Run with as many threads as connections (-t N -c N): one connection per thread, so a
-- request's start is the moment request() builds it and its end the next response().

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } push_bench_timespec;
int clock_gettime(int clk_id, push_bench_timespec *tp);
]]
local clock = ffi.new("push_bench_timespec")

local function wall()
  ffi.C.clock_gettime(0, clock) -- CLOCK_REALTIME: compared with the push service's times
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) * 1e-9
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  phase, seconds, answered_at, prefix = tonumber(args[1]), tonumber(args[2]), args[4], args[5]
  wrk.method = "POST"
  wrk.path = "/api/v1/answers"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Cookie"] = "spiegel_session=" .. args[3]
  pause = tonumber(args[6] or "0")
  seq, first, sent_at = 0, 0, 0
  lines = {}
  math.randomseed(tid * 1000 + phase)
end

function delay()
  return pause
end

function request()
  seq = seq + 1
  sent_at = wall() -- after delay(): wrk calls request() when the request is due
  first = first == 0 and sent_at or first
  return wrk.format(nil, nil, nil, string.format(
    '{"answers":[{"id":"%08x-%04x-4%03x-8%03x-%04x%08x","question":1,"value":%d,"answered_at":"%s"}]}',
    math.random(0, 0xffffffff), math.random(0, 0xffff), math.random(0, 0xfff),
    tid * 16 + phase, tid, seq, seq % 2 + 1, answered_at))
end

function response(status, headers, body)
  local now = wall()
  lines[#lines + 1] = string.format("%.6f %.6f %d", sent_at, now - sent_at, status)
  if now - first >= seconds then
    local out = io.open(string.format("%s-%d.txt", prefix, tid), "w")
    out:write(table.concat(lines, "\n"), "\n")
    out:close()
    wrk.thread:stop()
  end
end
