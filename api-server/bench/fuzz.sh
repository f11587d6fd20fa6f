#!/usr/bin/env bash
# Property-based fuzz run of every operation in /openapi.json with schemathesis (PyPI): fails on
# any 5xx or response that violates the document. Needs `scripts/testenv up api`.
# Usage: api-server/bench/fuzz.sh [max examples per operation]
source "$(dirname "$0")/common.sh"
EXAMPLES=${1:-30}
ST=${SCHEMATHESIS:-$HOME/.cache/merchant-stack-tools/schemathesis-venv/bin/schemathesis}
if [ ! -x "$ST" ]; then
  python3 -m venv "$(dirname "$(dirname "$ST")")"
  "$(dirname "$ST")/pip" install -q schemathesis
fi
export DISABLE_RATE_LIMIT=true
"$BIN" seed --merchants 1 --products 3 >/dev/null
start_server
trap stop_server EXIT
TOKEN=$(login demo1@merchant.test demo-password)
# schemathesis keeps a cache in its working directory: run it outside the repository.
cd "$(mktemp -d)"
"$ST" run "$BASE/openapi.json" -H "Authorization: Bearer $TOKEN" -n "$EXAMPLES" \
  --checks not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance \
  --phases examples,coverage,fuzzing --no-color --suppress-health-check all
