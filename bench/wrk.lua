-- wrk script of bench/run.ts.
--
-- With BENCH_TOKENS (a file, one token per line), each request carries the next token in
-- cf-access-jwt-assertion; thread i of BENCH_WRK_THREADS takes lines i, i + n, i + 2n, ... Once a
-- thread has used all its tokens it starts over; unless BENCH_TOKENS_WRAP=1 (warm-ups, the
-- ceiling), every request that reuses a token is counted as "exhausted" (the run fails).
-- Without BENCH_TOKENS, wrk sends its static request (headers given with -H).
--
-- done() prints one line, "BENCH_RESULT <json>": wrk's counts and latency percentiles (µs), and
-- the CPU time wrk itself used while loading (os.clock() is the process's CPU time).

local tokens_file = os.getenv("BENCH_TOKENS")
local wrap = os.getenv("BENCH_TOKENS_WRAP") == "1"
local thread_count = tonumber(os.getenv("BENCH_WRK_THREADS") or "1")

local threads = {}

function setup(thread)
  thread:set("id", #threads)
  table.insert(threads, thread)
end

function init(args)
  issued = 0
  exhausted = 0
  if tokens_file then
    tokens = {}
    local line_number = 0
    for line in io.lines(tokens_file) do
      if line_number % thread_count == id then
        tokens[#tokens + 1] = line
      end
      line_number = line_number + 1
    end
    headers = {}
    for name, value in pairs(wrk.headers) do
      headers[name] = value
    end
  end
  ready_clock = os.clock()
end

if tokens_file then
  function request()
    if issued >= #tokens and not wrap then
      exhausted = exhausted + 1
    end
    headers["cf-access-jwt-assertion"] = tokens[issued % #tokens + 1]
    issued = issued + 1
    return wrk.format(nil, nil, headers)
  end
end

function done(summary, latency, requests)
  local ready, issued_total, exhausted_total = 0, 0, 0
  for _, thread in ipairs(threads) do
    ready = math.max(ready, thread:get("ready_clock") or 0)
    issued_total = issued_total + (thread:get("issued") or 0)
    exhausted_total = exhausted_total + (thread:get("exhausted") or 0)
  end
  local errors = summary.errors
  io.write(string.format(
    'BENCH_RESULT {"requests":%d,"durationUs":%d,"errors":{"connect":%d,"read":%d,"write":%d,"status":%d,"timeout":%d},'
      .. '"p50Us":%d,"p99Us":%d,"generatorCpuS":%.4f,"issued":%d,"exhausted":%d}\n',
    summary.requests, summary.duration, errors.connect, errors.read, errors.write, errors.status, errors.timeout,
    latency:percentile(50), latency:percentile(99), os.clock() - ready, issued_total, exhausted_total))
end
