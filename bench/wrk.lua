-- wrk script for `make bench`: a random key per request from a file, statuses counted per
-- thread, and one JSON line with the figures at the end.
-- Arguments (after --): path, header name, header value prefix, keys file (may be "").
local threads = {}

function setup(thread)
  table.insert(threads, thread)
end

function init(args)
  path, header, prefix = args[1], args[2], args[3]
  keys = {}
  if args[4] ~= nil and args[4] ~= "" then
    for line in io.lines(args[4]) do keys[#keys + 1] = line end
  end
  ok, other = 0, 0
  math.randomseed(os.time() + tonumber(tostring({}):sub(8), 16))
end

function request()
  local headers = {}
  if #keys > 0 then headers[header] = prefix .. keys[math.random(#keys)] end
  return wrk.format("GET", path, headers)
end

function response(status, headers, body)
  if status < 300 then ok = ok + 1 else other = other + 1 end
end

function done(summary, latency, requests)
  local ok_total, other_total = 0, 0
  for _, thread in ipairs(threads) do
    ok_total = ok_total + thread:get("ok")
    other_total = other_total + thread:get("other")
  end
  local e = summary.errors
  io.write(string.format(
    'WRK_JSON {"requests":%d,"duration_us":%d,"p50_us":%d,"p99_us":%d,"ok":%d,"other":%d,"socket_errors":%d}\n',
    summary.requests, summary.duration, latency:percentile(50), latency:percentile(99),
    ok_total, other_total, e.connect + e.read + e.write + e.timeout))
end
