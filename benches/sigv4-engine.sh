#!/usr/bin/env bash
# What SigV4 signing (`[target] auth = { sigv4 = … }`) costs the load engine per request:
# the closed-model scenario of benches/load-vs-oha-wrk.sh (64 users, nginx on 127.0.0.1
# pinned to CPU 1, stormwatch pinned to CPU 0, full recording), run unsigned and signed in
# alternating rounds, with a third run unsigned but carrying headers of the signed ones' sizes;
# prints requests/s and client CPU µs per request (user+sys / requests)
# of each, and the difference of the medians. Credentials are dummies from the environment
# (nginx does not check them); the signed run sends a 540-byte session token as STS
# credentials do (TOKEN_BYTES=N to change it, 0 for none).
#
# Usage: benches/sigv4-engine.sh [ROUNDS] [SECONDS]
set -euo pipefail

ROUNDS=${1:-5}
SECS=${2:-10}
CONNS=64
PORT=${PORT:-18081}
ROOT=$(cd "$(dirname "$0")/.." && pwd)
WORK=$(mktemp -d)
trap '[ -f "$WORK/nginx.pid" ] && kill "$(cat "$WORK/nginx.pid")" 2>/dev/null; rm -rf "$WORK"' EXIT

# shellcheck source=benches/common.sh
source "$ROOT/benches/common.sh"
install_nginx_wrk
build_stormwatch
start_nginx
URL="http://127.0.0.1:$PORT/"
write_closed_scenario
sed 's|^url = .*|&\nauth = { sigv4 = { service = "execute-api", region = "us-east-1" } }|' \
  "$WORK/closed.toml" > "$WORK/signed.toml"

export AWS_ACCESS_KEY_ID=ASIABENCHEXAMPLE1234
export AWS_SECRET_ACCESS_KEY=bench-secret-not-real
export AWS_EC2_METADATA_DISABLED=true
# TOKEN_BYTES=0: long-term access keys, no session token.
TOKEN_BYTES=${TOKEN_BYTES:-540}
if [ "$TOKEN_BYTES" -gt 0 ]; then
  AWS_SESSION_TOKEN=$(head -c "$TOKEN_BYTES" /dev/zero | tr '\0' 'x')
  export AWS_SESSION_TOKEN
fi

# "padded": unsigned, but with headers of the signed request's sizes (x-amz-date, the token,
# an Authorization of the same length), so that signed - padded is the signer's own CPU and
# padded - plain what the longer request costs the client and the server.
signed_headers="host;x-amz-date"
token_header=""
if [ "$TOKEN_BYTES" -gt 0 ]; then
  signed_headers="host;x-amz-date;x-amz-security-token"
  token_header=", \"x-amz-security-token\" = \"$AWS_SESSION_TOKEN\""
fi
authorization="AWS4-HMAC-SHA256 Credential=$AWS_ACCESS_KEY_ID/20261202/us-east-1/execute-api/aws4_request, SignedHeaders=$signed_headers, Signature=$(head -c 64 /dev/zero | tr '\0' 'f')"
sed "s|^url = .*|&\nheaders = { \"x-amz-date\" = \"20261202T120000Z\", \"authorization\" = \"$authorization\"$token_header }|" \
  "$WORK/closed.toml" > "$WORK/padded.toml"

printf '%-6s %-9s %12s %14s\n' round run 'req/s' 'cpu µs/req'
: > "$WORK/plain.us"
: > "$WORK/padded.us"
: > "$WORK/signed.us"
for r in $(seq 1 "$ROUNDS"); do
  for kind in plain padded signed; do
    scenario="$WORK/closed.toml"
    [ "$kind" = signed ] && scenario="$WORK/signed.toml"
    [ "$kind" = padded ] && scenario="$WORK/padded.toml"
    rm -rf "$WORK/runs"
    measure "$SW" --quiet run "$scenario" --out "$WORK/runs"
    n=$(count_records "$WORK"/runs/*)
    us=$(awk -v c="$CPU" -v n="$n" 'BEGIN{print c*1e6/n}')
    echo "$us" >> "$WORK/$kind.us"
    printf '%-6s %-9s %12.0f %14.2f\n' "$r" "$kind" "$(awk -v n="$n" -v s="$SECS" 'BEGIN{print n/s}')" "$us"
  done
done
median() { sort -g "$1" | awk '{a[NR]=$1} END{print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }
p=$(median "$WORK/plain.us")
d=$(median "$WORK/padded.us")
s=$(median "$WORK/signed.us")
printf 'median cpu µs/request: unsigned %.2f, unsigned with the signed headers'"'"' bytes %.2f, signed %.2f\n' "$p" "$d" "$s"
printf 'signing (signed - same bytes unsigned) %.2f µs (target <= 2); the longer request %.2f µs\n' \
  "$(awk -v a="$s" -v b="$d" 'BEGIN{print a-b}')" "$(awk -v a="$d" -v b="$p" 'BEGIN{print a-b}')"
