-- wrk script: each request is an RFC 8058 one-click POST to another
-- profile's link. Arguments (after --): the file of link paths, one a line,
-- and the number of threads. Thread k takes lines k, k + threads, ...
-- so no two requests of a run name the same profile while links last.

local threads = {}

function setup(thread)
  thread:set("thread_number", #threads)
  table.insert(threads, thread)
end

function init(args)
  paths = {}
  for line in io.lines(args[1]) do
    paths[#paths + 1] = line
  end
  step = tonumber(args[2])
  position = thread_number
  body = "List-Unsubscribe=One-Click"
  headers = {["Content-Type"] = "application/x-www-form-urlencoded"}
end

function request()
  local path = paths[(position % #paths) + 1]
  position = position + step
  return wrk.format("POST", path, headers, body)
end

function done(summary, latency, requests)
  io.write(string.format(
    "WRK_JSON {\"requests\": %d, \"duration_us\": %d, \"connect_errors\": %d, " ..
    "\"read_errors\": %d, \"write_errors\": %d, \"status_errors\": %d, " ..
    "\"timeouts\": %d, \"latency_p50_us\": %d, \"latency_p99_us\": %d, " ..
    "\"latency_max_us\": %d}\n",
    summary.requests, summary.duration, summary.errors.connect,
    summary.errors.read, summary.errors.write, summary.errors.status,
    summary.errors.timeout, latency:percentile(50), latency:percentile(99),
    latency.max))
end
