-- wrk script of bench_ingest.py: POST /api/v1/answers with ids that are never reused.
-- An id starts with random digits, as a client's UUIDv4 does, so that inserts land all over
-- the primary key's index; it ends with the thread, phase and a counter, so it is unique.
-- Arguments (after "--"): phase, answers per request, seconds, session token, answered_at.
-- Run with as many threads as connections (-t N -c N): each thread then has one connection,
-- and stopping the thread after a response leaves no request of it unanswered, so every
-- answer the server committed was also counted here (bench_ingest.py checks that).

local ffi = require("ffi")
ffi.cdef [[
typedef struct { long tv_sec; long tv_nsec; } bench_timespec;
int clock_gettime(int clk_id, bench_timespec *tp);
]]
local clock = ffi.new("bench_timespec")

local function now()
  ffi.C.clock_gettime(1, clock) -- CLOCK_MONOTONIC: Lua's os.time has whole seconds only
  return tonumber(clock.tv_sec) + tonumber(clock.tv_nsec) * 1e-9
end

local threads = {}

function setup(thread)
  table.insert(threads, thread)
  thread:set("tid", #threads)
end

function init(args)
  phase, batch, seconds = tonumber(args[1]), tonumber(args[2]), tonumber(args[3])
  answered_at = args[5]
  wrk.method = "POST"
  wrk.path = "/api/v1/answers"
  wrk.headers["Content-Type"] = "application/json"
  wrk.headers["Cookie"] = "spiegel_session=" .. args[4]
  seq, sent, received, stored, failed = 0, 0, 0, 0, 0
  math.randomseed(tid * 1000 + phase)
  started, finished = 0, 0
end

function request()
  if tid == 1 and not checked then
    -- wrk calls request() once on the first thread to check the script; that one is not sent.
    checked = true
  else
    sent = sent + 1
    started = started == 0 and now() or started
  end
  local parts = {}
  for i = 1, batch do
    seq = seq + 1
    parts[i] = string.format(
      '{"id":"%08x-%04x-4%03x-8%03x-%04x%08x","question":1,"value":%d,"answered_at":"%s"}',
      math.random(0, 0xffffffff), math.random(0, 0xffff), math.random(0, 0xfff),
      tid * 16 + phase, tid, seq, seq % 2 + 1, answered_at)
  end
  return wrk.format(nil, nil, nil, '{"answers":[' .. table.concat(parts, ",") .. ']}')
end

function response(status, headers, body)
  received = received + 1
  if status == 200 then
    local _, n = string.gsub(body, '"stored"', "")
    stored = stored + n
  else
    failed = failed + 1
  end
  finished = now()
  if finished - started >= seconds then
    wrk.thread:stop()
  end
end

function done(summary, latency, requests)
  local t = { sent = 0, received = 0, stored = 0, failed = 0, first = math.huge, last = 0 }
  for _, thread in ipairs(threads) do
    for _, name in ipairs({ "sent", "received", "stored", "failed" }) do
      t[name] = t[name] + thread:get(name)
    end
    t.first = math.min(t.first, thread:get("started"))
    t.last = math.max(t.last, thread:get("finished"))
  end
  local e = summary.errors
  io.write(string.format(
    'BENCH {"sent":%d,"received":%d,"stored":%d,"failed":%d,"seconds":%.6f,' ..
    '"p50_ms":%.3f,"p90_ms":%.3f,"p99_ms":%.3f,"max_ms":%.3f,' ..
    '"socket_errors":%d,"timeouts":%d}\n',
    t.sent, t.received, t.stored, t.failed, t.last - t.first,
    latency:percentile(50) / 1000, latency:percentile(90) / 1000,
    latency:percentile(99) / 1000, latency.max / 1000,
    e.connect + e.read + e.write, e.timeout))
end
