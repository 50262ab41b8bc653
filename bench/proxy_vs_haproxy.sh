#!/usr/bin/env bash
# The chaos proxy's cost with no toxics: nginx behind (a) nothing, (b) haproxy in TCP mode,
# (c) `ballast chaos serve`, the same wrk load through each. Installs nginx, haproxy and wrk
# from Debian when missing; everything listens on 127.0.0.1.
#
# Each round runs, for each path (direct → haproxy → ballast, alternating):
#   - a throughput run: wrk -t2 -cCONNECTIONS -dDURATION (requests/s, p50, p99);
#   - an unloaded-latency run: wrk -t1 -c1 -dDURATION (p50, p99 of one request at a time),
#     which is where "added latency" means the proxy's own cost rather than queueing.
# Prints the rounds, medians, ratios ballast ÷ haproxy, and a Markdown table.
#
#   bench/proxy_vs_haproxy.sh                    # 64 connections, 10 s per run, 3 rounds
#   CONNECTIONS=128 DURATION=5 ROUNDS=5 bench/proxy_vs_haproxy.sh
#   BASELINE_BIN=/tmp/ballast-old BASELINE_NAME=2313e67 bench/proxy_vs_haproxy.sh  # an earlier build too
#   BALLAST_BIN=PATH uses that binary instead of building one
set -euo pipefail
cd "$(dirname "$0")/.."

CONNECTIONS=${CONNECTIONS:-64}
DURATION=${DURATION:-10}
ROUNDS=${ROUNDS:-3}
NGINX_PORT=${NGINX_PORT:-18081}
HAPROXY_PORT=${HAPROXY_PORT:-18082}
BALLAST_PORT=${BALLAST_PORT:-18083}
API_PORT=${API_PORT:-18084}
BASELINE_PORT=${BASELINE_PORT:-18085}
BASELINE_API_PORT=${BASELINE_API_PORT:-18086}

need_apt=()
command -v nginx >/dev/null || [ -x /usr/sbin/nginx ] || need_apt+=(nginx)
command -v haproxy >/dev/null || [ -x /usr/sbin/haproxy ] || need_apt+=(haproxy)
command -v wrk >/dev/null || need_apt+=(wrk)
if [ ${#need_apt[@]} -gt 0 ]; then
  echo "installing ${need_apt[*]} (Debian packages)" >&2
  apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${need_apt[@]}" >/dev/null
fi
export PATH="$HOME/.cargo/bin:$PATH"
NGINX=$(command -v nginx || echo /usr/sbin/nginx)
HAPROXY=$(command -v haproxy || echo /usr/sbin/haproxy)

if [ -n "${BALLAST_BIN:-}" ]; then
  BALLAST=$BALLAST_BIN
else
  echo "building ballast (release)" >&2
  cargo build --release --quiet -p ballast-cli
  BALLAST=$PWD/target/release/ballast
fi
BASELINE=${BASELINE_BIN:-}
paths="direct haproxy ballast"
[ -n "$BASELINE" ] && paths="$paths baseline"

work=$(mktemp -d)
ballast_pid=""
baseline_pid=""
cleanup() {
  [ -n "$baseline_pid" ] && kill "$baseline_pid" 2>/dev/null
  [ -f "$work/nginx.pid" ] && kill "$(cat "$work/nginx.pid")" 2>/dev/null
  [ -f "$work/haproxy.pid" ] && kill "$(cat "$work/haproxy.pid")" 2>/dev/null
  [ -n "$ballast_pid" ] && kill "$ballast_pid" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT

cat > "$work/nginx.conf" <<CONF
worker_processes 1;
daemon on;
pid $work/nginx.pid;
error_log $work/nginx-error.log warn;
events { worker_connections 4096; }
http {
  access_log off;
  keepalive_requests 1000000;
  server {
    listen 127.0.0.1:$NGINX_PORT;
    location / { return 200 "ok\n"; }
  }
}
CONF
"$NGINX" -p "$work" -c "$work/nginx.conf"

# haproxy reserves about 2 × maxconn descriptors; these machines allow 20,000 per process.
cat > "$work/haproxy.cfg" <<CONF
global
  maxconn 9000
  pidfile $work/haproxy.pid
defaults
  mode tcp
  timeout connect 5s
  timeout client 60s
  timeout server 60s
frontend fe
  bind 127.0.0.1:$HAPROXY_PORT
  default_backend be
backend be
  server nginx 127.0.0.1:$NGINX_PORT
CONF
"$HAPROXY" -D -f "$work/haproxy.cfg"

cat > "$work/chaos.json" <<CONF
[{"name": "nginx", "listen": "127.0.0.1:$BALLAST_PORT", "upstream": "127.0.0.1:$NGINX_PORT"}]
CONF
"$BALLAST" chaos serve --api "127.0.0.1:$API_PORT" --config "$work/chaos.json" >"$work/ballast.log" 2>&1 &
ballast_pid=$!
if [ -n "$BASELINE" ]; then
  cat > "$work/baseline.json" <<CONF
[{"name": "nginx", "listen": "127.0.0.1:$BASELINE_PORT", "upstream": "127.0.0.1:$NGINX_PORT"}]
CONF
  "$BASELINE" chaos serve --api "127.0.0.1:$BASELINE_API_PORT" --config "$work/baseline.json" >"$work/baseline.log" 2>&1 &
  baseline_pid=$!
fi

for port in $NGINX_PORT $HAPROXY_PORT $BALLAST_PORT ${BASELINE:+$BASELINE_PORT}; do
  for _ in $(seq 100); do curl -fs "http://127.0.0.1:$port/" >/dev/null 2>&1 && break; sleep 0.1; done
  curl -fs "http://127.0.0.1:$port/" >/dev/null || { echo "nothing answers on $port" >&2; cat "$work/ballast.log" >&2; exit 1; }
done

# wrk's "Latency Distribution" values (e.g. 85.00us, 1.20ms) in microseconds.
to_us() {
  python3 -c '
import re, sys
m = re.match(r"([0-9.]+)(us|ms|s)$", sys.argv[1])
v, u = float(m.group(1)), m.group(2)
print(v * {"us": 1, "ms": 1000, "s": 1e6}[u])' "$1"
}

# run_wrk THREADS CONNECTIONS PORT → "rps p50_us p99_us"
run_wrk() {
  local out rps p50 p99
  out=$(wrk -t"$1" -c"$2" -d"${DURATION}s" --latency "http://127.0.0.1:$3/")
  rps=$(awk '/^Requests\/sec:/ {print $2}' <<<"$out")
  p50=$(awk '$1 == "50%" {print $2}' <<<"$out")
  p99=$(awk '$1 == "99%" {print $2}' <<<"$out")
  echo "$rps $(to_us "$p50") $(to_us "$p99")"
}

median() { sort -g | awk '{a[NR]=$1} END {print (NR%2) ? a[(NR+1)/2] : (a[NR/2]+a[NR/2+1])/2}'; }

declare -A port=([direct]=$NGINX_PORT [haproxy]=$HAPROXY_PORT [ballast]=$BALLAST_PORT [baseline]=$BASELINE_PORT)
declare -A rps p50 p99 lat50 lat99
for round in $(seq "$ROUNDS"); do
  for path in $paths; do
    read -r r a b <<<"$(run_wrk 2 "$CONNECTIONS" "${port[$path]}")"
    read -r _ c d <<<"$(run_wrk 1 1 "${port[$path]}")"
    rps[$path]+="$r"$'\n'; p50[$path]+="$a"$'\n'; p99[$path]+="$b"$'\n'
    lat50[$path]+="$c"$'\n'; lat99[$path]+="$d"$'\n'
    printf 'round %d  %-8s %10.0f req/s  p50 %7.0f us  p99 %7.0f us | one at a time: p50 %5.1f us  p99 %5.1f us\n' \
      "$round" "$path" "$r" "$a" "$b" "$c" "$d" >&2
  done
done

m() { printf '%s' "$1" | median; }
declare -A M
for path in $paths; do
  M[$path.rps]=$(m "${rps[$path]}"); M[$path.p50]=$(m "${p50[$path]}"); M[$path.p99]=$(m "${p99[$path]}")
  M[$path.l50]=$(m "${lat50[$path]}"); M[$path.l99]=$(m "${lat99[$path]}")
done
py() { python3 -c "print($1)"; }
ratio=$(py "f'{${M[ballast.rps]}/${M[haproxy.rps]}:.3f}'")
added=$(py "f'{${M[ballast.l50]}-${M[direct.l50]}:.1f}'")
added_hap=$(py "f'{${M[haproxy.l50]}-${M[direct.l50]}:.1f}'")
row() {
  printf '| %s | %.0f | %.0f | %.0f | %.1f | %.1f |\n' "$1" "${M[$2.rps]}" "${M[$2.p50]}" "${M[$2.p99]}" "${M[$2.l50]}" "${M[$2.l99]}"
}

cat <<REPORT

## proxy_vs_haproxy ($(date -u +%Y-%m-%d), $(nproc) cores, nginx 1 worker, wrk -t2 -c$CONNECTIONS and -t1 -c1, ${DURATION}s × $ROUNDS rounds, medians)

| path | req/s (c=$CONNECTIONS) | p50 µs (c=$CONNECTIONS) | p99 µs (c=$CONNECTIONS) | p50 µs (c=1) | p99 µs (c=1) |
|---|---:|---:|---:|---:|---:|
$(row "nginx direct" direct)
$(row "haproxy $("$HAPROXY" -v | head -1 | awk '{print $3}') tcp mode" haproxy)
$(row "ballast chaos, no toxics" ballast)
$([ -n "$BASELINE" ] && row "baseline: ${BASELINE_NAME:-$BASELINE}, no toxics" baseline)

ballast ÷ haproxy throughput: **$ratio** (target ≥ 0.9).
Added p50 over direct, one request at a time: ballast **${added} µs**, haproxy ${added_hap} µs (target ≤ 30 µs).
REPORT
