#!/usr/bin/env bash
# Throughput of `ballast load` against wrk and oha, side by side in one run, and the rate
# accuracy of its open model. Installs what is missing (nginx, wrk from Debian; oha from
# crates.io), serves a tiny 200 from nginx (1 worker) on 127.0.0.1, and alternates the
# tools ROUNDS times. Prints medians, ratios and a Markdown table for docs/PERFORMANCE.md.
#
#   bench/load_vs_peers.sh                  # 64 connections, 10 s per run, 3 rounds
#   CONNECTIONS=128 DURATION=5 ROUNDS=5 bench/load_vs_peers.sh
#   BASELINE_BIN=/tmp/ballast-old BASELINE_NAME=2313e67 bench/load_vs_peers.sh  # an earlier build too
#   BALLAST_BIN=PATH uses that binary instead of building one
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
PORT=${PORT:-18080}

need_apt=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v wrk >/dev/null || need_apt+=(wrk)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]} (Debian packages)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
export PATH="$HOME/.cargo/bin:$PATH"
command -v oha >/dev/null || { echo "installing oha (cargo install oha --locked)" >&2; cargo install oha --locked >/dev/null; }
NGINX=$(command -v nginx || echo /usr/sbin/nginx)

if [ -n "${BALLAST_BIN:-}" ]; then
  BALLAST=$BALLAST_BIN
else
  echo "building ballast (release)" >&2
  cargo build --release --quiet -p ballast-cli
  BALLAST=$PWD/target/release/ballast
fi
BASELINE=${BASELINE_BIN:-}
tools="wrk oha ballast"
[ -n "$BASELINE" ] && tools="$tools baseline"

work=$(mktemp -d)
cleanup() { [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null; rm -rf "$work"; }
trap cleanup EXIT
cat > "$work/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $work/nginx.pid;
error_log $work/error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$PORT;
    location / { return 200 "ok\n"; }
  }
}
CONF
"$NGINX" -p "$work" -c "$work/nginx.conf"
URL="http://127.0.0.1:$PORT/"
for _ in $(seq 50); do curl -fs "$URL" >/dev/null 2>&1 && break; sleep 0.1; done

run_wrk() { wrk -t2 -c"$CONNECTIONS" -d"${DURATION}s" "$URL" | awk '/^Requests\/sec:/ {print $2}'; }
run_oha() {
  oha --no-tui -c "$CONNECTIONS" -z "${DURATION}s" --output-format json "$URL" \
    | python3 -c 'import json,sys; print(json.load(sys.stdin)["summary"]["requestsPerSec"])'
}
run_ballast() {
  "$BALLAST" load "$URL" --concurrency "$CONNECTIONS" --duration "${DURATION}s" --no-progress \
    --json "$work/b.json" >/dev/null
  python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["rps"])' "$work/b.json"
}
run_baseline() { BALLAST=$BASELINE run_ballast; }
median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -A results
for round in $(seq "$ROUNDS"); do
  for tool in $tools; do
    rps=$("run_$tool")
    results[$tool]+="$rps"$'\n'
    printf 'round %d  %-8s %12.0f req/s\n' "$round" "$tool" "$rps" >&2
  done
done
wrk_m=$(printf '%s' "${results[wrk]}" | median)
oha_m=$(printf '%s' "${results[oha]}" | median)
bal_m=$(printf '%s' "${results[ballast]}" | median)

rate=$(python3 -c "print(int($bal_m * 0.5))")
"$BALLAST" load "$URL" --rate "${rate}/s" --duration "${DURATION}s" --connections "$CONNECTIONS" \
  --no-progress --json "$work/rate.json" >/dev/null
read -r achieved rate_err late dropped p99 <<<"$(python3 - "$work/rate.json" "$rate" <<'PY'
import json, sys
r = json.load(open(sys.argv[1])); target = float(sys.argv[2])
print(r["rps"], (r["rps"] / target - 1) * 100, r["late"], r["dropped"], r["latency_ms"]["p99"])
PY
)"

cat <<REPORT

## load_vs_peers ($(date -u +%Y-%m-%d), $(nproc) cores, nginx 1 worker, $CONNECTIONS connections, ${DURATION}s × $ROUNDS rounds)

| tool | median req/s | ballast ÷ tool |
|---|---:|---:|
| wrk $(wrk --version 2>&1 | head -1 | awk '{print $2}') (2 threads) | $(printf '%.0f' "$wrk_m") | $(python3 -c "print(f'{$bal_m/$wrk_m:.3f}')") |
| oha $(oha --version | awk '{print $2}') | $(printf '%.0f' "$oha_m") | $(python3 -c "print(f'{$bal_m/$oha_m:.3f}')") |
| ballast load --concurrency $CONNECTIONS | $(printf '%.0f' "$bal_m") | 1.000 |
$([ -n "$BASELINE" ] && { base_m=$(printf '%s' "${results[baseline]}" | median); echo "| baseline: ${BASELINE_NAME:-$BASELINE} | $(printf '%.0f' "$base_m") | $(python3 -c "print(f'{$bal_m/$base_m:.3f}')") |"; })

Open model at 50 % of ballast's max: target ${rate}/s, achieved $(printf '%.1f' "$achieved")/s,
rate error $(printf '%+.3f' "$rate_err") %, late $late, dropped $dropped, corrected p99 ${p99} ms.
REPORT
