#!/usr/bin/env bash
# Peak RSS of `merchant-api serve` around one large upload (a 50 MB image), on the uploads
# directory or on S3. Needs the test servers: `source target/testenv/env.sh` first.
#
#   api-server/bench/upload_rss.sh [path/to/merchant-api] [local|s3]
#
# Prints the server's peak RSS (VmHWM) after start-up and after the upload.
set -euo pipefail
BIN=${1:-${CARGO_TARGET_DIR:-target}/debug/merchant-api}
PROVIDER=${2:-local}
work=$(mktemp -d)
db="upload_rss_${RANDOM}${RANDOM}"
storage=(UPLOADS_DIR="$work/uploads")
if [ "$PROVIDER" = s3 ]; then
  storage=(CLOUD_STORAGE_PROVIDER=s3 S3_ENDPOINT="$S3_ENDPOINT" S3_BUCKET="$S3_BUCKET"
    S3_REGION="$S3_REGION" S3_ACCESS_KEY_ID="$S3_ACCESS_KEY_ID" S3_SECRET_ACCESS_KEY="$S3_SECRET_ACCESS_KEY")
fi
env -i PATH="$PATH" PORT=0 ADMIN_PORT=0 HOST=127.0.0.1 MONGODB_URI="$MONGODB_URI" MONGODB_DATABASE="$db" \
  JWT_MERCHANT_SECRET=bench-access-secret-0123456789abcdef \
  JWT_REFRESH_SECRET=bench-refresh-secret-0123456789abcdef \
  NODE_ENV=test LOG_LEVEL=warn,merchant_api=info DISABLE_RATE_LIMIT=true "${storage[@]}" \
  "$BIN" serve >"$work/log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; rm -rf "$work"' EXIT
for _ in $(seq 100); do grep -q "merchant-api ready" "$work/log" && break; sleep 0.2; done
port=$(grep "merchant-api ready" "$work/log" | sed 's/.*"port":\([0-9]*\).*/\1/')
base="http://127.0.0.1:$port"
token=$(curl -sf "$base/api/merchant/auth/register" -H 'content-type: application/json' -d \
  "{\"businessName\":\"Bench\",\"ownerName\":\"Ann Owner\",\"email\":\"$db@example.com\",\"password\":\"secret1\",\"phone\":\"+1 555 0100\",\"businessAddress\":{\"street\":\"1 Main St\",\"city\":\"Springfield\",\"state\":\"IL\",\"zipCode\":\"62701\",\"country\":\"US\"},\"role\":\"owner\"}" |
  sed 's/.*"token":"\([^"]*\)".*/\1/')
# A PNG header (100x100) padded to 50 MB - 1 KiB.
python3 - "$work/big.png" <<'PY'
import struct, sys, zlib
ihdr = struct.pack(">IIBBBBB", 100, 100, 8, 6, 0, 0, 0)
head = b"\x89PNG\r\n\x1a\n" + struct.pack(">I", 13) + b"IHDR" + ihdr + struct.pack(">I", zlib.crc32(b"IHDR" + ihdr))
open(sys.argv[1], "wb").write(head + b"\0" * (50 * 1024 * 1024 - 1024 - len(head)))
PY
hwm() { grep VmHWM "/proc/$pid/status" | awk '{print $2}'; }
echo "provider=$PROVIDER peak RSS after start: $(hwm) KiB"
start=$(date +%s.%N)
code=$(curl -s -o "$work/out" -w '%{http_code}' -H "authorization: Bearer $token" \
  -F "image=@$work/big.png;type=image/png" "$base/api/merchant/uploads/image")
end=$(date +%s.%N)
echo "upload: HTTP $code in $(echo "$end - $start" | bc) s; peak RSS after: $(hwm) KiB"
head -c 300 "$work/out"; echo
