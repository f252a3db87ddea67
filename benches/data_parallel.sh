#!/usr/bin/env bash
# Data-parallel training on one machine: 2 MPI ranks × 1 thread (optimizer state whole, and sharded
# with --zero 1) against 1 process × 2 threads, on the baby preset's model (6 × 384, T = 256) and the
# same global batch (2 × 8 rows), alternating for ROUNDS rounds. Tokens/s are the trainer's own (metrics.jsonl), the first log line (warm-up)
# left out. Needs Open MPI (Debian: libopenmpi-dev openmpi-bin libclang-dev) and a text file:
#   benches/data_parallel.sh TEXT_FILE
set -euo pipefail
cd "$(dirname "$0")/.."
data=$(realpath "${1:?usage: benches/data_parallel.sh TEXT_FILE}")
steps=${STEPS:-12}
rounds=${ROUNDS:-3}
cargo build --release -p train --bin emergent --features mpi >&2
work=$(mktemp -d)
# A copy of the binary: another build during the run must not swap it for one without MPI.
cp target/release/emergent "$work/emergent"
emergent="$work/emergent"
model="--data $data --n-layer 6 --n-head 6 --n-embd 384 --block-size 256 --batch-size 8 --steps $steps --eval-interval 20"
rate() { python3 -c 'import json,sys,statistics; r=[json.loads(l) for l in open(sys.argv[1])][1:]; print(round(statistics.median(x["tokens_per_s"] for x in r)))' "$1/metrics.jsonl"; }
echo "| round | 1 process × 2 threads | 2 ranks × 1 thread | ratio | 2 ranks, --zero 1 | ratio |"
echo "|---|---|---|---|---|---|"
for round in $(seq "$rounds"); do
  RAYON_NUM_THREADS=2 "$emergent" train $model --grad-accum 2 --out "$work/one-$round" >/dev/null
  mpirun --allow-run-as-root --oversubscribe -np 2 -x RAYON_NUM_THREADS=1 \
    "$emergent" train $model --out "$work/two-$round" >/dev/null
  mpirun --allow-run-as-root --oversubscribe -np 2 -x RAYON_NUM_THREADS=1 \
    "$emergent" train $model --zero 1 --out "$work/zero-$round" >/dev/null
  one=$(rate "$work/one-$round"); two=$(rate "$work/two-$round"); zero=$(rate "$work/zero-$round")
  ratio() { python3 -c "print(f'{$1 / $one:.2f}')"; }
  echo "| $round | $one | $two | $(ratio "$two") | $zero | $(ratio "$zero") |"
done
rm -rf "$work"
