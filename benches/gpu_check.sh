#!/usr/bin/env bash
# The final device check: GPU tests, GPT-2 124M training in each mode against PyTorch in the same run,
# the kernel table, a per-op profile, and the trainer end to end on the GPU. On the GPU machine, after
# `../shared/gpu/bundle.sh --bin emergent` here: `bash benches/gpu_check.sh` (logs in $OUT, default
# gpu-check/). See DEVELOPERS.md.
set -o pipefail
OUT=${OUT:-$PWD/gpu-check}; mkdir -p "$OUT"
export PYTHONUNBUFFERED=1
timeout 120 bash .gpu/run.sh 2>&1 | tee $OUT/tests.log | grep -vE "^test .* ok$|^$" | tail -30
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/local/cuda/targets/x86_64-linux/lib:/usr/local/nvidia/lib64:$LD_LIBRARY_PATH
E=$PWD/.gpu/bin/emergent
bench() { timeout 45 $E bench train --preset gpt2-124m --device cuda --seq 1024 --steps 5 "$@" 2>&1 | tail -1 | tee -a $OUT/train.log; }
torch() { timeout "$1" python3 .gpu/torch_gpt2_train.py --device cuda --steps 8 --warmup 3 "${@:2}" 2>&1 | tail -1 | tee -a $OUT/train.log; }
bench --batch 16 --precision bf16
torch 45 --batch 16
torch 110 --batch 16 --compile
timeout 90 $E bench kernels --iters 10 > $OUT/kernels.log 2>&1; grep -v ": Used" $OUT/kernels.log | tail -32
bench --batch 16 --precision bf16-in-cublas
bench --batch 16 --precision tf32
bench --batch 16 --precision f32
bench --batch 16 --precision bf16 --attention composed
bench --batch 32 --precision bf16
torch 45 --batch 32
timeout 45 $E bench train --preset gpt2-124m --device cuda --seq 1024 --batch 16 --steps 2 --precision bf16 --profile > $OUT/profile.log 2>&1; sed -n 5,75p $OUT/profile.log
(cd /tmp && timeout 60 $E train --device cuda --steps 600 --out /tmp/run 2>&1 | tr '\r' '\n' | grep -vE "^\s*$" | tail -12; cp /tmp/run/loss.png /tmp/run/metrics.jsonl $OUT/)
