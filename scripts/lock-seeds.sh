#!/usr/bin/env bash
# Runs the headline lock experiment over many seeds and tallies the verdicts:
#   scripts/lock-seeds.sh [SEEDS] [extra ferrocheck test options...]
# e.g. scripts/lock-seeds.sh 20 --nemesis pause
#      scripts/lock-seeds.sh 20 --nemesis pause --fencing
#      scripts/lock-seeds.sh 20 --nemesis none
# Prints one line per seed (exit code, seconds, the lock checker's summary), then the totals.
set -u
seeds=${1:-20}
shift || true
bin=${FERROCHECK:-target/release/ferrocheck}
out=$(mktemp -d)
declare -A tally
for seed in $(seq 1 "$seeds"); do
    start=$(date +%s%N)
    "$bin" test --target redis-lock --quiet --seed "$seed" \
        --history-dir "$out/histories" --report-dir "$out/reports" "$@" > "$out/summary" 2>&1
    code=$?
    line=$(grep -E '^(fenced-)?lock:' "$out/summary" | head -n 1)
    ms=$(( ($(date +%s%N) - start) / 1000000 ))
    tally[$code]=$(( ${tally[$code]:-0} + 1 ))
    printf 'seed %2d  exit %s  %d.%01d s  %s\n' "$seed" "$code" $((ms / 1000)) $((ms % 1000 / 100)) "$line"
done
for code in "${!tally[@]}"; do
    echo "exit $code: ${tally[$code]} of $seeds runs"
done
rm -rf "$out"
