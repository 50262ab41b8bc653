#!/usr/bin/env bash
# Is `ballast slo rules --compat sloth` a drop-in for Sloth? For every example spec of a Sloth
# checkout (examples/*.yml|yaml with a generated examples/_gen/<name>), ballast writes the rules
# the way Sloth's scripts/examplesgen.sh does (`--extra-labels cmd=examplesgen.sh`), and the
# equivalence tool (crates/judge/slo/examples/rules_equivalence.rs) evaluates both rule files
# with `promtool test rules` on the same synthetic series, scenario by scenario.
#
#   scripts/compare-sloth.sh SLOTH_CHECKOUT [BALLAST_BIN]
#
# SLOTH_CHECKOUT: a git work tree or an extracted archive (a plain directory) holding examples/.
# BALLAST_BIN: a ballast binary; without it, ballast is built (release).
# Environment:
#   OUT_DIR            where generated rules and reports go (default: a new temporary directory)
#   JOBS               promtool runs at a time per spec (default 1)
#   EQ_ARGS            more arguments for the tool (e.g. "--eval-interval 1m --scenario ramp")
#   EQ_IGNORE_LABELS   static labels left out of the comparison (default: sloth_version, which
#                      names the generator: Sloth's examples say "dev", ballast its own version)
#   EQ_BIN             a built rules_equivalence binary (default: built here, release)
#
# Exit 0 when every spec ballast accepts gives equivalent rules; 1 when one differs (or ballast's
# rules cannot be evaluated); 2 on a usage problem or a ballast without --compat/--extra-labels.
set -euo pipefail

if [[ $# -lt 1 || $# -gt 2 ]]; then
    echo "usage: $0 SLOTH_CHECKOUT [BALLAST_BIN]" >&2
    exit 2
fi
checkout=$1
examples="$checkout/examples"
if [[ ! -d "$examples/_gen" ]]; then
    echo "$0: $examples/_gen is not a directory: is $checkout a Sloth checkout?" >&2
    exit 2
fi
root=$(cd "$(dirname "$0")/.." && pwd)

if [[ $# -eq 2 ]]; then
    ballast=$2
else
    echo "building ballast (release)…" >&2
    (cd "$root" && nice cargo build -q --release -p ballast-cli)
    ballast="$root/target/release/ballast"
fi
if [[ -n "${EQ_BIN:-}" ]]; then
    eq=$EQ_BIN
else
    echo "building the equivalence tool (release)…" >&2
    (cd "$root" && nice cargo build -q --release -p ballast-slo --example rules_equivalence)
    eq="$root/target/release/examples/rules_equivalence"
fi

help=$("$ballast" slo rules --help 2>&1) || {
    echo "$0: '$ballast slo rules --help' failed: $help" >&2
    exit 2
}
for flag in --compat --extra-labels; do
    if ! grep -q -- "$flag" <<<"$help"; then
        echo "$0: this ballast has no 'slo rules $flag' yet ($ballast); nothing compared" >&2
        exit 2
    fi
done
if ! grep -q 'sloth' <<<"$help"; then
    echo "$0: this ballast's 'slo rules --compat' does not offer sloth yet ($ballast); nothing compared" >&2
    exit 2
fi

out=${OUT_DIR:-$(mktemp -d -t compare-sloth.XXXXXX)}
mkdir -p "$out"
jobs=${JOBS:-1}
ignore=()
for l in ${EQ_IGNORE_LABELS-sloth_version}; do
    ignore+=(--ignore-label "$l")
done
# shellcheck disable=SC2206
extra=(${EQ_ARGS:-})

rows=()
failed=0
compared=0
shopt -s nullglob
for spec in "$examples"/*.yml "$examples"/*.yaml; do
    name=$(basename "$spec")
    gen="$examples/_gen/$name"
    [[ -f "$gen" ]] || continue
    base=${name%.*}
    ours="$out/$base.ballast.yml"
    report="$out/$base.report.txt"
    if ! err=$("$ballast" slo rules --compat sloth --extra-labels cmd=examplesgen.sh "$spec" -o "$ours" 2>&1 >/dev/null); then
        # "error: …:" and its first detail line
        reason=$(grep -v '^\s*$' <<<"$err" | head -n 2 | sed 's/^ *//' | paste -sd' ' - | sed "s|$examples/||g" | cut -c1-220)
        rows+=("$name"$'\t'"refused: ${reason:-no reason given}"$'\t'"-")
        continue
    fi
    echo "comparing $name…" >&2
    set +e
    "$eq" "$ours" "$gen" --jobs "$jobs" "${ignore[@]}" "${extra[@]}" >"$report" 2>"$report.err"
    code=$?
    set -e
    verdict=$(grep '^verdict:' "$report" | tail -n 1 || true)
    total=$(grep -o '[a-z-]*=\(equal\|different\)' <<<"$verdict" | grep -vc '^static=' || true)
    equal=$(grep -o '[a-z-]*=equal' <<<"$verdict" | grep -vc '^static=' || true)
    case $code in
        0)
            compared=$((compared + 1))
            rows+=("$name"$'\t'"accepted"$'\t'"equivalent: $equal/$total scenarios equal")
            ;;
        1)
            compared=$((compared + 1))
            failed=1
            diffs=$(grep -o '[a-z-]*=different' <<<"$verdict" | sed 's/=different//' | paste -sd, -)
            first=$(grep -m 1 '^    at ' "$report" | sed 's/^ *//' | cut -c1-160 || true)
            rows+=("$name"$'\t'"accepted"$'\t'"DIFFERENT: $equal/$total equal (different: $diffs); $first")
            ;;
        *)
            msg=$(head -n 1 "$report.err" | sed 's/^rules_equivalence: //' | sed "s|$out/||g; s|$examples/||g" | cut -c1-240)
            if grep -q -- "$ours" "$report.err"; then
                failed=1
                rows+=("$name"$'\t'"accepted"$'\t'"FAILED: ballast's rules: $msg")
            else
                rows+=("$name"$'\t'"accepted"$'\t'"not compared: Sloth's rules: $msg")
            fi
            ;;
    esac
done

printf '\n%-40s %-12s %s\n' "spec" "ballast" "equivalence (scenarios: healthy blip outage slow-burn ramp)"
for r in "${rows[@]}"; do
    IFS=$'\t' read -r a b c <<<"$r"
    if [[ $b == refused:* ]]; then
        printf '%-40s %s\n' "$a" "$b"
    else
        printf '%-40s %-12s %s\n' "$a" "$b" "$c"
    fi
done
echo
echo "rules and reports in $out (ignored labels: ${EQ_IGNORE_LABELS-sloth_version}; $compared spec(s) compared)"
exit $failed
