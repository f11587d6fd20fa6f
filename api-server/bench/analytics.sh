#!/usr/bin/env bash
# Dashboard/analytics latency benchmark (not a test): seeds one demo merchant with 1,000 products
# and 10,000 orders (`merchant-api seed --orders`), then measures p50/p95 of each endpoint
#   cold:   the merchant's analytics cache is dropped (POST /api/merchant/analytics/cache/invalidate,
#           not timed) before every timed GET, and the response must say `X-Cache: MISS`;
#   cached: the same GET repeated after one warming request (`X-Cache: HIT`).
# Requests are sequential from one client (latency, not throughput), timed by curl's time_total.
# Goal: p95 < 100 ms cached, < 500 ms cold.
#
# Usage: api-server/bench/analytics.sh [endpoint ...]
#   endpoints are paths below /api/merchant (default: dashboard + every analytics report;
#   dashboard/activity and analytics/realtime are never cached, orders/analytics uses HTTP caching);
#   ones answering other than 200 are reported as such and not timed.
# Env: BENCH_MONGODB_URI (e.g. "$FERRETDB_URI"), BENCH_ORDERS (10000), BENCH_PRODUCTS (1000),
#   COLD_RUNS (15), CACHED_RUNS (100), MERCHANT_TESTENV (test environment dir, see common.sh).
source "$(dirname "$0")/common.sh"
ORDERS=${BENCH_ORDERS:-10000}
PRODUCTS=${BENCH_PRODUCTS:-1000}
COLD_RUNS=${COLD_RUNS:-15}
CACHED_RUNS=${CACHED_RUNS:-100}
export DISABLE_RATE_LIMIT=true
# The in-process cache unless REDIS_URL is exported by the caller.
[ -n "${BENCH_REDIS:-}" ] || unset REDIS_URL

DEFAULT_ENDPOINTS=(
  dashboard dashboard/metrics dashboard/sales-data dashboard/top-products dashboard/activity
  analytics/sales/overview analytics/sales/trends analytics/sales/by-time analytics/sales/by-day
  analytics/products/top-selling analytics/categories/performance analytics/customers/insights
  analytics/inventory/status analytics/payments/breakdown analytics/forecast/sales
  analytics/trends/seasonal analytics/overview analytics/revenue/breakdown analytics/comparison
  analytics/customers/segments analytics/customers/list analytics/products/performance
  analytics/inventory/stockout-prediction analytics/offers/top
)
if [ $# -gt 0 ]; then ENDPOINTS=("$@"); else ENDPOINTS=("${DEFAULT_ENDPOINTS[@]}"); fi

t0=$(date +%s%N)
"$BIN" seed --merchants 1 --products "$PRODUCTS" --orders "$ORDERS" --seed 42 | tail -1
SEED_S=$(( ($(date +%s%N) - t0) / 1000000000 ))
start_server
trap stop_server EXIT
TOKEN=$(login demo1@merchant.test demo-password)
AUTH="authorization: Bearer $TOKEN"

# timed GET: prints "<status> <x-cache> <seconds>"
timed() {
  curl -s -o /dev/null -D /tmp/bench-analytics-headers -H "$AUTH" -w '%{http_code} %{time_total}\n' "$BASE/api/merchant/$1" |
    { read -r code secs; cache=$(tr -d '\r' </tmp/bench-analytics-headers | awk -F': ' 'tolower($1)=="x-cache"{print $2}'); echo "$code ${cache:--} $secs"; }
}
invalidate() { curl -fs -o /dev/null -X POST -H "$AUTH" "$BASE/api/merchant/analytics/cache/invalidate"; }
percentiles() { python3 -c 'import sys,statistics
v=sorted(float(x)*1000 for x in sys.stdin.read().split())
q=lambda p: v[min(len(v)-1, max(0, round(p/100*len(v)+0.5)-1))]
print(f"{q(50):8.1f} {q(95):8.1f}")'; }

echo "merchant-api $("$BIN" --version | awk '{print $2}'), $(nproc) cores; MongoDB-wire: $MONGODB_URI"
echo "seeded 1 merchant, $PRODUCTS products, $ORDERS orders in ${SEED_S}s; cold runs $COLD_RUNS, cached runs $CACHED_RUNS (ms)"
printf '%-42s %8s %8s %8s %8s  %s\n' endpoint cold-p50 cold-p95 hit-p50 hit-p95 note
for ep in "${ENDPOINTS[@]}"; do
  invalidate
  read -r code cache secs < <(timed "$ep")
  if [ "$code" != 200 ]; then
    printf '%-42s %8s %8s %8s %8s  %s\n' "$ep" - - - - "HTTP $code (not timed)"
    continue
  fi
  cold=() misses=0
  for _ in $(seq "$COLD_RUNS"); do
    invalidate
    read -r code cache secs < <(timed "$ep")
    cold+=("$secs")
    [ "$cache" = HIT ] || misses=$((misses + 1))
  done
  timed "$ep" >/dev/null # warm
  hot=() hits=0
  for _ in $(seq "$CACHED_RUNS"); do
    read -r code cache secs < <(timed "$ep")
    hot+=("$secs")
    [ "$cache" = HIT ] && hits=$((hits + 1))
  done
  read -r c50 c95 < <(printf '%s\n' "${cold[@]}" | percentiles)
  read -r h50 h95 < <(printf '%s\n' "${hot[@]}" | percentiles)
  note="misses $misses/$COLD_RUNS, hits $hits/$CACHED_RUNS"
  [ "$hits" = 0 ] && note="$note (endpoint not cached)"
  printf '%-42s %8s %8s %8s %8s  %s\n' "$ep" "$c50" "$c95" "$h50" "$h95" "$note"
done
