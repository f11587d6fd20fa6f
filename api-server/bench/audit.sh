#!/usr/bin/env bash
# Audit benchmark of merchant-api with wrk: audited writes (PUT a product; every 2xx must leave
# exactly one audit record, none dropped) and the audit views over the records those writes left
# (logs page, stats, timeline summary, heatmap, retention compliance), plus the cashback stats.
# Not a test. Needs `scripts/testenv up api`.
# Usage: api-server/bench/audit.sh [seconds per run] [connections]   (PROFILE=debug to skip the release build)
source "$(dirname "$0")/common.sh"
DURATION=${1:-10}
CONNS=${2:-16}
export DISABLE_RATE_LIMIT=true
command -v wrk >/dev/null || { echo "wrk is missing (apt-get install wrk)"; exit 1; }

"$BIN" seed --merchants 1 --products 5 >/dev/null
start_server
TOKEN=$(login demo1@merchant.test demo-password)
PRODUCT=$(curl -fs "$BASE/api/merchant/products?limit=1" -H "authorization: Bearer $TOKEN" |
  python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["products"][0]["id"])')

LUA=$(mktemp -d)
# Drop the run's database afterwards (the test server is shared); needs pymongo, else it stays.
drop_db() {
  python3 -c 'import os, pymongo; pymongo.MongoClient(os.environ["MONGODB_URI"]).drop_database(os.environ["MONGODB_DATABASE"])' 2>/dev/null ||
    echo "database $MONGODB_DATABASE left behind (no pymongo)"
}
trap 'stop_server; rm -rf "$LUA"; drop_db' EXIT
cat >"$LUA/auth.lua" <<LUA
wrk.headers["Authorization"] = "Bearer $TOKEN"
done = function(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("RESULT requests=%d rps=%.0f p50=%.1fms p95=%.1fms p99=%.1fms non2xx=%d errors=%d\n",
    summary.requests, summary.requests / (summary.duration / 1e6), latency:percentile(50) / 1000,
    latency:percentile(95) / 1000, latency:percentile(99) / 1000, e.status,
    e.connect + e.read + e.write + e.timeout))
end
LUA
{ cat "$LUA/auth.lua"; cat <<'LUA'
wrk.method = "PUT"
wrk.headers["Content-Type"] = "application/json"
wrk.body = '{"price": 11.5}'
LUA
} >"$LUA/put.lua"

run() { # label path script
  local out
  out=$(wrk -t"$((CONNS < 2 ? 1 : 2))" -c"$CONNS" -d"${DURATION}s" --timeout 10s -s "$LUA/$3.lua" "$BASE$2" 2>&1 | grep RESULT || echo "RESULT failed")
  printf '%-26s c=%-4s %s\n' "$1" "$CONNS" "${out#RESULT }"
}
total_logs() {
  curl -fs "$BASE/api/merchant/audit/stats?action=product.updated" -H "authorization: Bearer $TOKEN" |
    python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["totalLogs"])'
}

echo "merchant-api $("$BIN" --version | awk '{print $2}') ($PROFILE), $(nproc) cores, MongoDB-wire: $MONGODB_URI"
put=$(run "PUT product (audited)" "/api/merchant/products/$PRODUCT" put)
echo "$put"
ok=$(($(sed -E 's/.*requests=([0-9]+).*/\1/' <<<"$put") - $(sed -E 's/.*non2xx=([0-9]+).*/\1/' <<<"$put")))
sleep 2 # let the writer drain its queue
echo "audited 2xx: $ok, product.updated records: $(total_logs)"
run "GET audit/logs (50)" "/api/merchant/audit/logs" auth
run "GET audit/stats" "/api/merchant/audit/stats" auth
run "GET timeline/summary" "/api/merchant/audit/timeline/summary" auth
run "GET timeline/heatmap" "/api/merchant/audit/timeline/heatmap" auth
run "GET retention/compliance" "/api/merchant/audit/retention/compliance" auth
run "GET cashback/stats" "/api/merchant/cashback/stats" auth
run "GET cashback/pending-count" "/api/merchant/cashback/pending-count" auth
