#!/usr/bin/env bash
# `emergent bench train` against the same steps in PyTorch (benches/torch_train_bench.py) — Hugging
# Face's GPT2LMHeadModel and a nanoGPT-style model — in fp32, and in bf16 (the engine's
# `--precision bf16`, PyTorch's CPU bf16 autocast), alternating for ROUNDS rounds per preset so all
# see the same machine (a shared VM drifts by ±15% within minutes), then a table of the medians over
# rounds and the engine's speed against each PyTorch run of its precision, with each round's.
# Needs a Python with torch + transformers: PYTHON=.venv/bin/python. BF16=0 leaves out the bf16 rows.
# ISA=avx2 times both without AVX-512, as on a CPU that has only AVX2 (the engine's
# EMERGENT_CPU_ISA; PyTorch's ATEN_CPU_CAPABILITY, oneDNN's DNNL_MAX_CPU_ISA, MKL's
# MKL_ENABLE_INSTRUCTIONS).
set -euo pipefail
if [[ -n ${ISA:-} ]]; then
  [[ $ISA == avx2 ]] || { echo "ISA=$ISA: only avx2 is known" >&2; exit 2; }
  export EMERGENT_CPU_ISA=avx2 ATEN_CPU_CAPABILITY=avx2 DNNL_MAX_CPU_ISA=AVX2 MKL_ENABLE_INSTRUCTIONS=AVX2
fi
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
    for precision in $precisions; do
      target/release/emergent bench train --preset "$preset" --steps "$steps" --precision "${precision/fp32/f32}" \
        | tail -1 | sed 's/}$/,"framework":"emergent","model":"emergent","precision":"'"$precision"'","round":'"$round"'}/' \
        >>"$results"
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
print("| preset | run | precision | ms/step | tokens/s | emergent's speed vs it (same precision) |")
print("|---|---|---|---|---|---|")
ms = lambda rs: statistics.median(r["ms_per_step_median"] for r in rs)
tps = lambda rs: statistics.median(r["tokens_per_s"] for r in rs)
for preset in ("baby", "gpt2-124m"):
    for precision in ("fp32", "bf16"):
        here = [r for r in rows if r["preset"] == preset and r["precision"] == precision]
        ours = {r["round"]: r for r in here if r["model"] == "emergent"}
        for model in ("emergent", "hf", "nanogpt"):
            these = [r for r in here if r["model"] == model]
            if not these:
                continue
            if model == "emergent" or not ours:
                name, ratio = ("emergent" if model == "emergent" else f"PyTorch {model}"), "—"
            else:
                per_round = ", ".join(f"{r['ms_per_step_median'] / ours[r['round']]['ms_per_step_median']:.2f}"
                                      for r in these)
                name, ratio = f"PyTorch {model}", f"{ms(these) / ms(ours.values()):.2f}× (rounds: {per_round})"
            print(f"| {preset} | {name} | {precision} | {ms(these):.1f} | {tps(these):.0f} | {ratio} |")
PY
rm -f "$results"
