#!/usr/bin/env bash
# Load benchmark of merchant-api on loopback with wrk (Debian package `wrk`): requests/s and
# p50/p95/p99 for GET /health, login, GET /api/merchant/products (20 items), GET a product and
# create a product, at 64 and 1000 connections; RSS idle and under load; start-to-ready time.
# Not a test. Needs `scripts/testenv up api`. Usage: api-server/bench/bench.sh [seconds per run]
# BENCH_MONGODB_URI=$FERRETDB_URI runs it against FerretDB; MONGODB_MAX_POOL_SIZE sizes the pool.
#
# Every row is real: `n=` is the number of answered requests, a response later than TIMEOUT
# seconds (default: half the run) counts as an error, requests still unanswered at the end are
# shown as `unanswered` (wrk alone ignores them, so a row whose requests all waited longer than
# the run showed 0 requests and 0 errors), and the next row starts only when the server has no
# request in flight.
# The contract's rate limits (e.g. 100 product reads/min per IP) would turn every row into 429s
# from one loopback client, so the limiters are off for the run (DISABLE_RATE_LIMIT=true).
source "$(dirname "$0")/common.sh"
DURATION=${1:-10}
TIMEOUT=${TIMEOUT:-$(((DURATION + 1) / 2))}
export DISABLE_RATE_LIMIT=true
ulimit -n "$(ulimit -Hn)" 2>/dev/null || true
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)"; exit 1; }

"$BIN" seed --merchants 1 --products 20 >/dev/null
start_server
sleep 2
RSS_IDLE=$(rss_kib VmRSS)
TOKEN=$(login demo1@merchant.test demo-password)
PRODUCT=$(curl -fs "$BASE/api/merchant/products?limit=1" -H "authorization: Bearer $TOKEN" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["products"][0]["id"])')

LUA=$(mktemp -d)
trap 'stop_server; rm -rf "$LUA"' EXIT
# wrk counts only answered requests (a response later than --timeout counts as a timeout), so a
# request still unanswered when the run ends is invisible to it: count sent requests per thread
# and report the difference as `unanswered` (up to one per connection is simply the request in
# flight when the run stops; more means requests waited longer than the run).
cat >"$LUA/report.lua" <<'LUA'
local threads = {}
setup = function(thread) thread:set("id", #threads); table.insert(threads, thread) end
init = function(args) sent = 0 end
make = function() return wrk.request() end
request = function() sent = sent + 1; return make() end
done = function(summary, latency, requests)
  local e = summary.errors
  local total = 0
  for _, t in ipairs(threads) do total = total + t:get("sent") end
  local unanswered = total - summary.requests
  io.write(string.format("RESULT n=%d rps=%.0f p50=%.1fms p95=%.1fms p99=%.1fms non2xx=%d errors=%d (timeouts=%d unanswered=%d)\n",
    summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, e.status,
    e.connect + e.read + e.write + e.timeout, e.timeout, unanswered))
end
LUA
post() { # name body
  { cat "$LUA/report.lua"; cat <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $TOKEN"
wrk.body = '$2'
LUA
  } >"$LUA/$1.lua"
}
get() { # name
  { cat "$LUA/report.lua"; echo "wrk.headers[\"Authorization\"] = \"Bearer $TOKEN\""; } >"$LUA/$1.lua"
}
post login '{"email":"demo1@merchant.test","password":"demo-password"}'
get auth
# Product creation: a distinct name per request (as real clients send), so the SKU and slug
# derived from the name do not all collide within the same millisecond.
{ cat "$LUA/report.lua"; cat <<LUA
local n = 0
make = function()
  n = n + 1
  local body = string.format('{"name":"%s Bench %d-%d","description":"Created by the benchmark","price":9.5,"category":"General","status":"active","inventory":{"stock":10}}',
    string.char(65 + (n % 26), 65 + (math.floor(n / 26) % 26), 65 + id), id, n)
  return wrk.format("POST", nil, {["Content-Type"] = "application/json", ["Authorization"] = "Bearer $TOKEN"}, body)
end
LUA
} >"$LUA/create.lua"

in_flight() { curl -fs "$ADMIN_BASE/metrics" | awk '/^merchant_api_http_requests_in_flight /{print $2}'; }
settle() { # wait (at most 60 s) until no request is in flight (the admin port is not counted)
  local i
  for i in $(seq 600); do
    [ "$(in_flight)" -le 0 ] 2>/dev/null && return 0
    sleep 0.1
  done
  echo "warning: requests still in flight after 60 s"
}
run() { # label path script connections
  local out
  settle
  out=$(wrk -t2 -c"$4" -d"${DURATION}s" --timeout "${TIMEOUT}s" -s "$LUA/$3.lua" "$BASE$2" 2>&1 | grep RESULT || echo "RESULT failed")
  printf '%-22s c=%-5s %s\n' "$1" "$4" "${out#RESULT }"
}
echo "merchant-api $("$BIN" --version | awk '{print $2}'), $(nproc) cores, MongoDB-wire: $MONGODB_URI," \
  "pool ${MONGODB_MAX_POOL_SIZE:-20}, AUTH_CACHE_TTL_MS=${AUTH_CACHE_TTL_MS:-2000}, ${DURATION}s runs, timeout ${TIMEOUT}s"
echo "start to ready: ${READY_MS} ms (log: $(grep -o '"elapsed_ms":[0-9]*' "${SERVER_LOG:-/tmp/merchant-api-bench.log}" | head -1))"
echo "RSS idle: $((RSS_IDLE / 1024)) MiB"
for c in 64 1000; do
  run "GET /health" /health report "$c"
  run "POST login" /api/merchant/auth/login login "$c"
  run "GET products (20)" "/api/merchant/products?limit=20" auth "$c"
  run "GET product by id" "/api/merchant/products/$PRODUCT" auth "$c"
  run "POST product" /api/merchant/products create "$c"
done
settle
echo "RSS peak under load: $(($(rss_kib VmHWM) / 1024)) MiB, after the runs: $(($(rss_kib VmRSS) / 1024)) MiB"
