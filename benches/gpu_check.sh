#!/usr/bin/env bash
# The device check, sized for a 15-minute lease: GPT-2 124M bf16 training against PyTorch eager in
# the same run (and with the unpipelined attention), the per-op profile (each kernel beside its
# roofline time) and the dry run's prediction, the kernel table, the GPU
# tests, torch.compile, cuBLAS on the LM head's shapes (CuPy), then (while time is left) the other
# modes and the trainer end to end. Each step is time-boxed and the whole stops starting steps
# after BUDGET seconds (default 400). On the GPU machine, after `benches/gpu_bundle.sh` here:
# `bash benches/gpu_check.sh` (logs in $OUT, default gpu-check/).
# See DEVELOPERS.md.
set -o pipefail
OUT=${OUT:-$PWD/gpu-check}; mkdir -p "$OUT"
BUDGET=${BUDGET:-400}
export PYTHONUNBUFFERED=1
export LD_LIBRARY_PATH=/usr/local/cuda/lib64:/usr/local/cuda/targets/x86_64-linux/lib:/usr/local/nvidia/lib64:$LD_LIBRARY_PATH
nvidia-smi --query-gpu=name,driver_version,memory.total,clocks.max.sm --format=csv,noheader
E=$PWD/.gpu/bin/emergent
# run LIMIT CMD...: runs CMD for at most LIMIT seconds, if that still ends within the budget
run() {
  local left=$((BUDGET - SECONDS))
  if [ "$left" -lt "$1" ]; then echo "## skipped (${left}s left): ${*:2}"; return 1; fi
  echo "## [${SECONDS}s] ${*:2}"
  timeout "$1" "${@:2}"
}
bench() { run "$1" $E bench train --preset gpt2-124m --device cuda --seq 1024 --steps 5 "${@:2}" 2>&1 | tail -1 | tee -a $OUT/train.log; }
torch() { run "$1" python3 .gpu/torch_gpt2_train.py --device cuda --steps 8 --warmup 3 "${@:2}" 2>&1 | tail -1 | tee -a $OUT/train.log; }
bench 40 --batch 16 --precision bf16 || bench 40 --batch 16 --precision tf32
torch 40 --batch 16
bench 30 --batch 16 --precision bf16 --attention registers
run 40 $E bench train --preset gpt2-124m --device cuda --seq 1024 --batch 16 --steps 2 --precision bf16 --profile > $OUT/profile.log 2>&1; sed -n 5,75p $OUT/profile.log
# The same step on the roofline (the null driver, no kernel run): profile.log's last column, summed.
run 20 $E bench train --preset gpt2-124m --device cuda --seq 1024 --batch 16 --precision bf16 --dry-run > $OUT/dry_run.log 2>&1; tail -2 $OUT/dry_run.log
run 80 $E bench kernels --device cuda --iters 10 > $OUT/kernels.log 2>&1; grep -v ": Used" $OUT/kernels.log | tail -80
run 110 bash .gpu/run.sh 2>&1 | tee $OUT/tests.log | grep -vE "^test .* ok$|^$" | tail -40
# NCCL (a clique of one), with the libnccl of PyTorch's nvidia-nccl wheel where the system has none.
NCCL_LIB=$(python3 -c 'import nvidia.nccl, os; print(os.path.join(list(nvidia.nccl.__path__)[0], "lib"))' 2>/dev/null)
(cd tensor && LD_LIBRARY_PATH="$NCCL_LIB:$LD_LIBRARY_PATH" run 30 ../.gpu/nccl_test --include-ignored) 2>&1 | tee $OUT/nccl.log | tail -5
torch 100 --batch 16 --compile
run 30 python3 benches/cublas_alignment.py 2>&1 | tee $OUT/probe.log
bench 30 --batch 32 --precision bf16
torch 30 --batch 32
bench 30 --batch 16 --precision bf16-in-cublas
bench 30 --batch 16 --precision f32
bench 30 --batch 16 --precision bf16 --attention composed
(cd /tmp && run 50 $E train --device cuda --steps 600 --out /tmp/run 2>&1 | tr '\r' '\n' | grep -vE "^\s*$" | tail -12; cp /tmp/run/loss.png /tmp/run/metrics.jsonl $OUT/ 2>/dev/null)
echo "## done at ${SECONDS}s"
