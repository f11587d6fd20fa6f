#!/usr/bin/env bash
# Load benchmark of merchant-api on loopback with wrk (Debian package `wrk`): requests/s and
# p50/p95/p99 for GET /health, login, GET /api/merchant/products (20 items), GET a product and
# create a product, at 64 and 1000 connections; RSS idle and under load; start-to-ready time.
# Not a test. Needs `scripts/testenv up api`. Usage: api-server/bench/bench.sh [seconds per run]
source "$(dirname "$0")/common.sh"
DURATION=${1:-10}
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
cat >"$LUA/report.lua" <<'LUA'
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT rps=%.0f p50=%.1fms p95=%.1fms p99=%.1fms non2xx=%d errors=%d\n",
    summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, e.status,
    e.connect + e.read + e.write + e.timeout))
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
post create '{"name":"Bench Product","description":"Created by the benchmark","price":9.5,"category":"General","status":"active","inventory":{"stock":10}}'
get auth

run() { # label path script connections
  local out
  out=$(wrk -t2 -c"$4" -d"${DURATION}s" --timeout 10s -s "$LUA/$3.lua" "$BASE$2" 2>&1 | grep RESULT || echo "RESULT failed")
  printf '%-22s c=%-5s %s\n' "$1" "$4" "${out#RESULT }"
}
echo "merchant-api $("$BIN" --version | awk '{print $2}'), $(nproc) cores, MongoDB-wire: $MONGODB_URI"
echo "start to ready: ${READY_MS} ms (log: $(grep -o '"elapsed_ms":[0-9]*' "${SERVER_LOG:-/tmp/merchant-api-bench.log}" | head -1))"
echo "RSS idle: $((RSS_IDLE / 1024)) MiB"
for c in 64 1000; do
  run "GET /health" /health report "$c"
  run "POST login" /api/merchant/auth/login login "$c"
  run "GET products (20)" "/api/merchant/products?limit=20" auth "$c"
  run "GET product by id" "/api/merchant/products/$PRODUCT" auth "$c"
  run "POST product" /api/merchant/products create "$c"
done
echo "RSS peak under load: $(($(rss_kib VmHWM) / 1024)) MiB, now: $(($(rss_kib VmRSS) / 1024)) MiB"
