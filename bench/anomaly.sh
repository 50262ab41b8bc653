#!/usr/bin/env bash
# Detector throughput and memory (ballast-anomaly): 1,000 series × 40,000 points scored by
# each built-in detector on 2 threads (target: ≤ 2 s each), bytes of state per series, and
# the wall time of a full NAB run over the development corpus.
#
#   bench/anomaly.sh                       # defaults: 1000 40000 2, corpus ../shared/data/nab
#   bench/anomaly.sh 1000 40000 2 /path/to/nab
#   ROUNDS=5 bench/anomaly.sh              # median of five rounds (default 3)
#
# Run it when the machine is otherwise quiet: on 2 shared cores other builds and fuzzers
# slow the figures down, which is why the script reports the median of several rounds and
# the load average beside it.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
SERIES=${1:-1000}
POINTS=${2:-40000}
THREADS=${3:-2}
NAB=${4:-../shared/data/nab}
ROUNDS=${ROUNDS:-3}
cargo build --release --quiet -p ballast-anomaly --example bench
bin=target/release/examples/bench
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
out=$(mktemp)
for round in $(seq "$ROUNDS"); do
  "$bin" "$SERIES" "$POINTS" "$THREADS" 2>>"$out" | sed "s/^/round $round: /"
done
echo
echo "median over $ROUNDS rounds:"
for detector in $(awk '/^RESULT/ {print $2}' "$out" | sort -u); do
  awk -v d="$detector" '$1 == "RESULT" && $2 == d {print $3, $4, $5}' "$out" | sort -n |
    awk -v d="$detector" '{s[NR]=$1; p=$2; e=$3} END {printf "%-10s %.3f s   state: %s bytes/series during warm-up, %s after\n", d, s[int((NR+1)/2)], p, e}'
done
rm -f "$out"
if [ -f "$NAB/combined_windows.json" ]; then
  echo
  "$bin" 0 0 "$THREADS" "$NAB" 2>/dev/null | grep '^NAB'
else
  echo "(no NAB corpus at $NAB: skipping the NAB run time)"
fi
