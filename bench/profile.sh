#!/usr/bin/env bash
# Reading a large profile: `ballast profile top` against `go tool pprof -top` on the same
# file, side by side in one run: wall time, CPU time (user + sys) and peak memory (GNU
# time's maximum resident set). The file is a synthetic Go-shaped CPU profile of SIZE_MB
# of raw profile.proto (crates/sense/profile/examples/synth.rs: 20,000 functions, 200,000
# locations, stacks 10 to 60 deep, inlined frames, labels), written once raw and once
# gzipped as Go writes them. pprof runs at its best setting found on this machine: GOGC is
# swept (100, 200, 400) and symbolisation is off (the file has nothing to symbolise; the
# sweep keeps its fastest run). Both print the same top 20, checked below.
#
#   bench/profile.sh            # 50 MB
#   bench/profile.sh 20         # a smaller file
#
# Needs Go (golang-go) and GNU time (package time). Run it on a quiet machine.
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
SIZE=${1:-50}
command -v go >/dev/null || { echo "go is needed (apt-get install golang-go)"; exit 2; }
[ -x /usr/bin/time ] || { echo "GNU time is needed (apt-get install time)"; exit 2; }
cargo build --release --quiet -p ballast-cli -p ballast-profile --example synth
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
target/release/examples/synth "$SIZE" "$dir/raw.pb"
target/release/examples/synth "$SIZE" "$dir/gz.pb.gz" --gzip
echo "machine: $(nproc) cores, load average $(cut -d' ' -f1-3 /proc/loadavg)"
printf '%-34s %10s %10s %12s\n' "run" "wall s" "cpu s" "peak MiB"
measure() { # name, command...
  local name=$1; shift
  /usr/bin/time -f "%e %U %S %M" -o "$dir/time" "$@" > "$dir/out.$name" 2>/dev/null
  read -r wall user sys peak < "$dir/time"
  printf '%-34s %10.2f %10.2f %12.0f\n' "$name" "$wall" "$(echo "$user + $sys" | bc)" "$(echo "$peak / 1024" | bc)"
}
for file in raw.pb gz.pb.gz; do
  measure "ballast profile top ($file)" target/release/ballast profile top "$dir/$file" -n 20
  for gogc in 100 200 400; do
    measure "go tool pprof -top GOGC=$gogc ($file)" env GOGC=$gogc HOME="$dir" \
      go tool pprof -symbolize=none -top -nodecount=20 "$dir/$file"
  done
  # The same rows: name, flat and cum of the top 20 (pprof prints shares with fewer digits).
  ours=$(awk '/^ +flat +flat%/ {go=1; next} go {print $1, $4, $6}' "$dir/out.ballast profile top ($file)")
  theirs=$(awk '/^ +flat +flat%/ {go=1; next} go {print $1, $4, $6}' "$dir/out.go tool pprof -top GOGC=100 ($file)")
  if [ "$ours" = "$theirs" ]; then echo "  ($file: the same top 20 rows)"; else echo "  ($file: THE TOP 20 DIFFER)"; diff <(echo "$ours") <(echo "$theirs") | head; fi
done
