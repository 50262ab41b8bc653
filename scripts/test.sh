#!/usr/bin/env bash
# Every test ballast has, on a fresh Debian 12 machine with only the Rust toolchain:
# formatting, clippy (warnings are errors), unit + integration + doc tests, and a short
# fuzzing pass. Tests start their own HTTP servers on 127.0.0.1; the shared services a
# test suite needs (scripts/services.sh) are checked and started here when down.
#
#   scripts/test.sh            # everything
#   FUZZ_SECONDS=0 scripts/test.sh   # skip the fuzzing pass
set -euo pipefail
cd "$(dirname "$0")/.."
export PATH="$HOME/.cargo/bin:$PATH"
export CARGO_TERM_COLOR=${CARGO_TERM_COLOR:-never}
# Fuzzing runs 12 s per target in CI (20 targets: about 4 minutes after the build, keeping
# the whole run under 40 minutes); locally it is opt-in (FUZZ_SECONDS=20). The long runs
# are in docs/RELIABILITY.md.
if [ "${CI:-}" = "true" ]; then FUZZ_SECONDS=${FUZZ_SECONDS:-12}; else FUZZ_SECONDS=${FUZZ_SECONDS:-0}; fi
started=$(date +%s)
step() { printf '\n==> %s (%ss)\n' "$*" "$(( $(date +%s) - started ))"; }

step "toolchain components"
for component in rustfmt clippy; do
  rustup component list --installed 2>/dev/null | grep -q "^$component" || rustup component add "$component"
done

step "programs the tests need (Debian packages)"
# promtool checks and unit-tests the generated SLO rules; the SLO status test runs a real
# Prometheus and VictoriaMetrics; the HTML report is looked at in headless Chromium by hand.
missing=()
command -v promtool >/dev/null || missing+=(prometheus)
command -v victoria-metrics >/dev/null || missing+=(victoria-metrics)
# ballast-anomaly's live tests: anomaly alerts go to a real Alertmanager; the leak test
# builds two small stdlib-only Go programs and lets Prometheus scrape them.
command -v prometheus-alertmanager >/dev/null || missing+=(prometheus-alertmanager)
command -v go >/dev/null || missing+=(golang-go)
# ballast-tower's heap-profile tests build jemalloc (tikv-jemalloc-sys) from C with make.
command -v make >/dev/null || missing+=(make)
# The chaos proxy's and the demo's tests go through a real Redis and PostgreSQL.
command -v redis-server >/dev/null || missing+=(redis-server)
installed_postgres=no
if ! command -v pg_ctlcluster >/dev/null || [ -z "$(ls /etc/postgresql 2>/dev/null)" ]; then
  missing+=(postgresql)
  installed_postgres=yes
fi
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]}"
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
if [ "$installed_postgres" = yes ]; then
  # A cluster this script just installed gets what the project's machines have
  # (../shared/SERVICES.md): trust on loopback and a database named test. A machine's own
  # cluster is never changed.
  version=$(ls /etc/postgresql | sort -V | tail -1)
  hba=/etc/postgresql/$version/main/pg_hba.conf
  if ! grep -q '^host all all 127.0.0.1/32 trust' "$hba"; then
    sed -i '1i host all all 127.0.0.1/32 trust\nhost all all ::1/128 trust' "$hba"
  fi
fi
# services.sh starts Redis with its working and log directories here.
mkdir -p /var/log/redis /var/lib/redis

step "services the tests need"
# shellcheck source=scripts/services.sh
. scripts/services.sh
# The chaos proxy's tests go through the real Redis and PostgreSQL (and start a private
# redis-server of their own to kill and restart).
ensure_services "redis postgres"
if [ "$installed_postgres" = yes ]; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql | sort -V | tail -1)" main reload
  su postgres -c "psql -qtAc \"SELECT 1 FROM pg_database WHERE datname = 'test'\"" | grep -q 1 ||
    su postgres -c "createdb test"
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy --all-targets -- -D warnings"
cargo clippy --workspace --all-targets --quiet -- -D warnings

step "tests"
if ! cargo nextest --version >/dev/null 2>&1; then
  echo "installing cargo-nextest (crates.io)"
  cargo install cargo-nextest --locked --quiet || true
fi
if cargo nextest --version >/dev/null 2>&1; then
  # Tests that compare latencies across phases (the example contracts) or load the machine
  # hardest run afterwards, alone (.config/nextest.toml says why each is there).
  alone='(package(ballast-cli) & binary(verify) & test(/^(basic_example|golden_table_example|request_templates_example|ramp_example|chaos_proxy_example|a_server_that_slows)_/))
    | (package(ballast-cli) & binary(chaos) & test(=chaos_serve_holds_9900_connections_without_leaks_and_survives_an_upstream_restart))
    | (package(ballast-load) & binary(load) & test(=open_model_holds_the_rate_within_one_percent))
    | (package(ballast-cli) & binary(faults))
    | (package(ballast-attribution) & binary(planted)) | (package(ballast-cli) & binary(profile))
    | (package(ballast-tower) & binary(pprof_cpu)) | (package(ballast-testkit) & binary(gcpause))'
  cargo nextest run --workspace --no-fail-fast --failure-output final -E "not ($alone)"
  step "tests that time phases against each other (alone on the machine)"
  cargo nextest run --workspace --no-fail-fast --failure-output final -j 1 -E "$alone"
  step "doc tests"
  cargo test --workspace --doc --quiet
else
  cargo test --workspace --no-fail-fast
fi

step "demo: the golden contract, quick, with and without the fallback (alone on the machine)"
if cargo nextest --version >/dev/null 2>&1; then
  # --workspace with a filter, not -p: the same feature set as the suite above, so
  # nothing is compiled again for these steps.
  cargo nextest run --workspace -E 'package(ballast-cli) & binary(demo)' --run-ignored only -j 1 --failure-output final
else
  cargo test -p ballast-cli --test demo -- --ignored --test-threads 1
fi

step "heal: the loop end to end with Prometheus and two clustered Alertmanagers (alone on the machine)"
if cargo nextest --version >/dev/null 2>&1; then
  cargo nextest run --workspace -E 'package(ballast-cli) & binary(heal_loop)' --run-ignored only -j 1 --failure-output final --no-capture
else
  cargo test -p ballast-cli --test heal_loop -- --ignored --test-threads 1 --nocapture
fi

step "Go integration package: go vet and go test"
(cd integrations/go && go vet ./... && go test ./...)

if [ "$FUZZ_SECONDS" != "0" ]; then
  step "fuzzing, ${FUZZ_SECONDS}s per target"
  scripts/fuzz.sh "$FUZZ_SECONDS"
fi

step "all tests passed"
