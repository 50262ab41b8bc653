#!/usr/bin/env bash
# Runs every fuzz target in fuzz/ for SECONDS each (default 20) with cargo-fuzz
# (libFuzzer; needs a nightly toolchain, which rustup installs when missing).
# Seeds come from fuzz/seeds/<target>/; the growing corpus stays in fuzz/corpus/ (ignored by git).
# A crash stops the script with libFuzzer's report and the input in fuzz/artifacts/<target>/.
#
#   scripts/fuzz.sh 12          # what CI runs
#   scripts/fuzz.sh 600         # a longer session; put the figures in docs/RELIABILITY.md
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_PER_TARGET=${1:-20}
export PATH="$HOME/.cargo/bin:$PATH"

if ! rustup toolchain list | grep -q '^nightly'; then
  echo "fuzz: installing the nightly toolchain (libFuzzer needs its sanitizer flags)" >&2
  rustup toolchain install nightly --profile minimal >&2
fi
if ! command -v cargo-fuzz >/dev/null; then
  echo "fuzz: installing cargo-fuzz from crates.io" >&2
  cargo install cargo-fuzz --locked >&2
fi

targets=$(sed -n 's/^name = "\(.*\)"/\1/p' fuzz/Cargo.toml | grep -v '^ballast-fuzz$')
cd fuzz
for target in $targets; do
  mkdir -p "corpus/$target"
  cp -n seeds/"$target"/* "corpus/$target/" 2>/dev/null || true
  echo "fuzz: $target for ${SECONDS_PER_TARGET}s" >&2
  log=$(mktemp)
  if ! cargo +nightly fuzz run "$target" "corpus/$target" -- \
      -max_total_time="$SECONDS_PER_TARGET" -rss_limit_mb=2048 -print_final_stats=1 >"$log" 2>&1; then
    tail -n 60 "$log" >&2
    echo "fuzz: $target FAILED (input saved under fuzz/artifacts/$target/)" >&2
    exit 1
  fi
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  echo "fuzz: $target ok: ${runs:-?} executions in ${SECONDS_PER_TARGET}s, no crash" >&2
  rm -f "$log"
done
