#!/usr/bin/env bash
# `emergent bench train` and the same steps in PyTorch (benches/torch_train_bench.py), alternating
# for ROUNDS rounds per preset so both see the same machine (a shared VM drifts by ±15% within
# minutes), then a table of the medians over rounds and the ratio. Needs a Python with
# torch + transformers: PYTHON=.venv/bin/python.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
steps=${STEPS:-10}
rounds=${ROUNDS:-3}
cargo build --release -p train --bin emergent >&2
results=$(mktemp)
for preset in baby gpt2-124m; do
  for round in $(seq "$rounds"); do
    echo "$preset, round $round of $rounds" >&2
    target/release/emergent bench train --preset "$preset" --steps "$steps" | tail -1 | sed 's/^{/{"framework":"emergent",/' >>"$results"
    "$python" benches/torch_train_bench.py --preset "$preset" --steps "$steps" --threads 2 2>/dev/null | tail -1 >>"$results"
  done
done
cat "$results"
"$python" - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print("| preset | emergent ms/step | PyTorch ms/step | emergent tokens/s | PyTorch tokens/s | speed vs PyTorch |")
print("|---|---|---|---|---|---|")
for preset in ("baby", "gpt2-124m"):
    ours = [r for r in rows if r["preset"] == preset and r["framework"] == "emergent"]
    theirs = [r for r in rows if r["preset"] == preset and r["framework"] != "emergent"]
    ms = lambda rs: statistics.median(r["ms_per_step_median"] for r in rs)
    tps = lambda rs: statistics.median(r["tokens_per_s"] for r in rs)
    ratios = ", ".join(f"{t['ms_per_step_median'] / o['ms_per_step_median']:.2f}" for o, t in zip(ours, theirs))
    print(f"| {preset} | {ms(ours):.1f} | {ms(theirs):.1f} | {tps(ours):.0f} | {tps(theirs):.0f} "
          f"| {ms(theirs) / ms(ours):.2f}× (rounds: {ratios}) |")
PY
rm -f "$results"
