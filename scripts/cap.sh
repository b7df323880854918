#!/usr/bin/env bash
# CAP, made visible: runs quorum-kv and lww-kv under the same partition schedule (one node cut
# off from the other two for 4 s of an 8 s run, same seed), then prints for each store the
# availability (fraction of ops invoked during the partition that completed ok) on each side
# of the partition, next to its consistency verdict.
#   scripts/cap.sh [SEED] [extra ferrocheck test options...]
# Needs root and `ip` (each node in its own network namespace) and python3.
# Clients map to nodes as the toy targets place them: process p talks to node n(p mod 3 + 1).
set -u
seed=${1:-1}
shift || true
bin=${FERROCHECK:-target/release/ferrocheck}
out=$(mktemp -d)
trap 'rm -rf "$out"' EXIT
cat > "$out/partition.toml" <<'TOML'
name = "cap"
description = "one node cut off from the other two for 4 s"
faults = ["partition"]
interval = 1.5
jitter = 0.3
duration = 4.0
[partition]
kinds = ["one"]
TOML
for target in quorum-kv lww-kv; do
    "$bin" test --target "$target" --quiet --seed "$seed" --time-limit 8 --rate 200 \
        --keys 3 --values unique --nemesis "$out/partition.toml" \
        --history-dir "$out/$target/histories" --report-dir "$out/$target/reports" "$@" \
        > "$out/$target.summary" 2>&1
    code=$?
    verdict=$(grep -E '^verdict' "$out/$target.summary" | awk '{print $2}')
    history=$(ls "$out/$target"/histories/*/history.jsonl 2>/dev/null | head -n 1)
    if [ -z "$history" ]; then
        echo "$target: no history (exit $code):"; cat "$out/$target.summary"; continue
    fi
    python3 - "$target" "$history" "$code" "${verdict:-?}" <<'PY'
import json, sys
target, path, code, verdict = sys.argv[1:]
ops, windows, start = [], [], None
with open(path) as f:
    header = json.loads(f.readline())["ferrocheck"]
    nodes = header["run"].get("nodes") or 3
    for line in f:
        op = json.loads(line)
        if op["process"] == "nemesis":
            if op["f"] == "start-partition" and op["type"] == "ok":
                start = (op["time"], op["value"][1])
            elif op["f"] == "stop-partition" and op["type"] == "invoke" and start:
                windows.append((start[0], op["time"], start[1]))
                start = None
        elif isinstance(op["process"], int):
            ops.append(op)
if start:
    windows.append((start[0], max(o["time"] for o in ops), start[1]))
# Pair each invoke with its completion.
pending, done = {}, []
for op in ops:
    if op["type"] == "invoke":
        pending[op["process"]] = op
    elif op["process"] in pending:
        inv = pending.pop(op["process"])
        done.append((inv["time"], op["process"], op["type"]))
done += [(inv["time"], p, "info") for p, inv in pending.items()]
for (t0, t1, cuts) in windows:
    cut = {n: set(c) for n, c in cuts}
    every = [f"n{i + 1}" for i in range(nodes)]
    sides = []
    for n in every:
        side = frozenset(m for m in every if m not in cut.get(n, set()))
        if side not in sides:
            sides.append(side)
    print(f"{target}: partition {t0 / 1e9:.2f}-{t1 / 1e9:.2f} s, verdict {verdict} (exit {code})")
    for side in sorted(sides, key=len):
        mine = [d for d in done if t0 <= d[0] < t1 and f"n{d[1] % nodes + 1}" in side]
        ok = sum(1 for d in mine if d[2] == "ok")
        share = ok / len(mine) if mine else float("nan")
        label = "minority" if len(side) * 2 < nodes else "majority"
        print(f"  {label} side {{{', '.join(sorted(side))}}}: availability {share:.2f} "
              f"({ok} of {len(mine)} ops ok)")
PY
    grep -E '^(linearizable|lost-updates|  \*| +eventual)' "$out/$target.summary" | cut -c1-110 | sed 's/^/  /'
done
