#!/usr/bin/env bash
# `emergent bench train` and the same steps in PyTorch (benches/torch_train_bench.py), back to back,
# for both presets. Needs a Python with torch + transformers: PYTHON=.venv/bin/python.
set -euo pipefail
cd "$(dirname "$0")/.."
python=${PYTHON:-python3}
steps=${STEPS:-10}
cargo build --release -p train --bin emergent >&2
for preset in baby gpt2-124m; do
  target/release/emergent bench train --preset "$preset" --steps "$steps" | tail -1
  "$python" benches/torch_train_bench.py --preset "$preset" --steps "$steps" --threads 2 2>/dev/null | tail -1
done
