#!/usr/bin/env bash
# Runs every Pyrra ServiceLevelObjective in a Pyrra checkout through ballast: each must load
# (`ballast slo check`), give rules (`slo rules --rule-file`, Pyrra's filesystem mode) and pass
# `promtool check rules`; a refusal prints its reason. Pyrra publishes no generated rule files
# to compare values with; docs/slo.md ("Pyrra's rules and ballast's") maps its rules to ours.
#
#   scripts/check-pyrra.sh PYRRA_CHECKOUT [BALLAST_BIN]
set -euo pipefail
checkout=${1:?usage: scripts/check-pyrra.sh PYRRA_CHECKOUT [BALLAST_BIN]}
[ -d "$checkout/examples" ] || { echo "no examples/ in $checkout" >&2; exit 2; }
command -v promtool >/dev/null || { echo "promtool is needed (Debian package prometheus)" >&2; exit 2; }
bin=${2:-}
if [ -z "$bin" ]; then
  cargo build --release -q -p ballast-cli
  bin="$(cargo metadata --format-version 1 --no-deps | sed -n 's/.*"target_directory":"\([^"]*\)".*/\1/p')/release/ballast"
fi
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
accepted=0 refused=0 failed=0
while IFS= read -r spec; do
  # The CRD's own definition mentions the kind but is not a resource.
  grep -q '^kind: ServiceLevelObjective' "$spec" || continue
  name=${spec#"$checkout"/}
  if ! "$bin" slo rules --rule-file "$spec" -o "$work/rules.yaml" 2>"$work/err"; then
    printf 'refused   %s: %s\n' "$name" "$(grep -v '^error' "$work/err" | head -1 | sed 's/^ *//')"
    refused=$((refused + 1))
  elif ! promtool check rules "$work/rules.yaml" >"$work/promtool" 2>&1; then
    printf 'PROMTOOL  %s: %s\n' "$name" "$(tail -1 "$work/promtool")"
    failed=$((failed + 1))
  else
    printf 'accepted  %s\n' "$name"
    accepted=$((accepted + 1))
  fi
done < <(grep -rl 'kind: ServiceLevelObjective' "$checkout/examples" --include='*.yaml' --include='*.yml' | sort)
echo "accepted $accepted, refused $refused, rules promtool rejected $failed"
[ "$failed" -eq 0 ]
