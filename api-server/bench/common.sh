# Shared by bench.sh and fuzz.sh: start a release merchant-api over a fresh database of the
# test environment. Source it; it defines start_server/stop_server and sets BIN, PORT, BASE.
set -euo pipefail
ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
# The test environment: MERCHANT_TESTENV, else this checkout's target/testenv; a worktree
# without one uses the variables already exported (`source /path/to/main/target/testenv/env.sh`).
TESTENV_DIR=${MERCHANT_TESTENV:-$ROOT/target/testenv}
if [ -f "$TESTENV_DIR/env.sh" ]; then
  # shellcheck disable=SC1091
  source "$TESTENV_DIR/env.sh"
elif [ -z "${MONGODB_URI:-}" ]; then
  echo "no test environment: run scripts/testenv up api (or export MONGODB_URI)" >&2
  exit 1
fi
# BENCH_MONGODB_URI points the run at another MongoDB-wire server, e.g. "$FERRETDB_URI" from
# `scripts/testenv up ferretdb` (throughput beside the single-threaded SecantusDB).
MONGODB_URI=${BENCH_MONGODB_URI:-$MONGODB_URI}
export MONGODB_URI
export CARGO_TARGET_DIR=${CARGO_TARGET_DIR:-$HOME/.cache/merchant-stack/cargo-target-1.95.0}
# PROFILE=debug skips the (slow, LTO) release build, e.g. for fuzzing.
PROFILE=${PROFILE:-release}
if [ -n "${SKIP_BUILD:-}" ]; then
  : # use the binary as built
elif [ "$PROFILE" = release ]; then
  (cd "$ROOT" && cargo build -q -p merchant-api --release)
else
  (cd "$ROOT" && cargo build -q -p merchant-api)
fi
BIN=$CARGO_TARGET_DIR/$PROFILE/merchant-api
PORT=${PORT:-5099}
BASE=http://127.0.0.1:$PORT
ADMIN_PORT=${ADMIN_PORT:-$((PORT + 1))}
ADMIN_BASE=http://127.0.0.1:$ADMIN_PORT
export PORT ADMIN_PORT HOST=127.0.0.1 MONGODB_DATABASE=${MONGODB_DATABASE:-bench_$(date +%s)}
export JWT_MERCHANT_SECRET=bench-access-secret-0123456789abcdef JWT_REFRESH_SECRET=bench-refresh-secret-0123456789abcdef
export NODE_ENV=production CORS_ORIGIN=http://localhost:3000 LOG_LEVEL=${LOG_LEVEL:-warn}
unset SMTP_HOST SMTP_PORT

# start_server: start `serve`, wait for /health/ready; sets PID and READY_MS (process start to ready).
start_server() {
  local t0 t1
  t0=$(date +%s%N)
  "$BIN" serve >"${SERVER_LOG:-/tmp/merchant-api-bench.log}" 2>&1 &
  PID=$!
  until curl -fs -o /dev/null "$BASE/health/ready"; do
    kill -0 "$PID" 2>/dev/null || { echo "server died:"; tail -20 "${SERVER_LOG:-/tmp/merchant-api-bench.log}"; exit 1; }
    sleep 0.002
  done
  t1=$(date +%s%N)
  READY_MS=$(((t1 - t0) / 1000000))
}

stop_server() {
  kill -TERM "$PID" 2>/dev/null || true
  wait "$PID" 2>/dev/null || true
}

rss_kib() { awk -v k="$1" '$1 == k":" { print $2 }' "/proc/$PID/status"; }

# login EMAIL PASSWORD -> prints the access token
login() {
  curl -fs -X POST "$BASE/api/merchant/auth/login" -H 'content-type: application/json' \
    -d "{\"email\":\"$1\",\"password\":\"$2\"}" | python3 -c 'import json,sys; print(json.load(sys.stdin)["data"]["token"])'
}
