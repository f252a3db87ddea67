#!/usr/bin/env bash
# `emergent bench train` against the same steps in PyTorch (benches/torch_train_bench.py) — Hugging
# Face's GPT2LMHeadModel and a nanoGPT-style model, fp32, plus both under PyTorch's CPU bf16
# autocast — alternating for ROUNDS rounds per preset so all see the same machine (a shared VM
# drifts by ±15% within minutes), then a table of the medians over rounds and the speed ratios
# with each round's. Needs a Python with torch + transformers: PYTHON=.venv/bin/python.
# BF16=0 leaves out the bf16 rows.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
steps=${STEPS:-10}
rounds=${ROUNDS:-3}
precisions=fp32
[[ ${BF16:-1} == 1 ]] && precisions="fp32 bf16"
cargo build --release -p train --bin emergent >&2
results=$(mktemp)
for preset in baby gpt2-124m; do
  for round in $(seq "$rounds"); do
    echo "$preset, round $round of $rounds" >&2
    target/release/emergent bench train --preset "$preset" --steps "$steps" | tail -1 \
      | sed 's/}$/,"framework":"emergent","model":"emergent","precision":"fp32","round":'"$round"'}/' >>"$results"
    for precision in $precisions; do
      for model in hf nanogpt; do
        "$python" benches/torch_train_bench.py --preset "$preset" --model "$model" --precision "$precision" \
          --steps "$steps" --threads 2 2>/dev/null | tail -1 \
          | sed 's/}$/,"model":"'"$model"'","round":'"$round"'}/' >>"$results"
      done
    done
  done
done
cat "$results"
"$python" - "$results" <<'PY'
import json, statistics, sys
rows = [json.loads(line) for line in open(sys.argv[1])]
print("| preset | run | precision | ms/step | tokens/s | emergent fp32's speed vs it |")
print("|---|---|---|---|---|---|")
for preset in ("baby", "gpt2-124m"):
    ours = {r["round"]: r for r in rows if r["preset"] == preset and r["model"] == "emergent"}
    ms = lambda rs: statistics.median(r["ms_per_step_median"] for r in rs)
    tps = lambda rs: statistics.median(r["tokens_per_s"] for r in rs)
    runs = sorted({(r["model"], r["precision"]) for r in rows if r["preset"] == preset},
                  key=lambda mp: (mp[0] != "emergent", mp[1] != "fp32", mp[0]))
    for model, precision in runs:
        these = [r for r in rows if r["preset"] == preset and r["model"] == model and r["precision"] == precision]
        name = "emergent" if model == "emergent" else f"PyTorch {model}"
        if model == "emergent":
            ratio = "—"
        else:
            per_round = ", ".join(f"{r['ms_per_step_median'] / ours[r['round']]['ms_per_step_median']:.2f}"
                                  for r in these)
            ratio = f"{ms(these) / ms(ours.values()):.2f}× (rounds: {per_round})"
        print(f"| {preset} | {name} | {precision} | {ms(these):.1f} | {tps(these):.0f} | {ratio} |")
PY
rm -f "$results"
