#!/usr/bin/env bash
# Builds the GPU bundle (../shared/gpu/bundle.sh: release test binaries, the `emergent` binary, a
# runner) and keeps only the test binaries that need a GPU, so it travels within the device tool's
# 64 MiB. Then, on the GPU machine: `bash benches/gpu_check.sh`. See DEVELOPERS.md.
set -euo pipefail
cd "$(git rev-parse --show-toplevel)"
../shared/gpu/bundle.sh --bin emergent
keep='^(cuda_kernels|cuda_wgmma|cuda_bench|cuda_ops|cuda_training|cuda_inference|cuda_matmul|cuda_adamw|devices|dry_run_after_cuda|nvrtc)-'
grep -E "$keep" .gpu/tests.tsv > .gpu/tests.keep
mv .gpu/tests.keep .gpu/tests.tsv
for f in .gpu/tests/*; do
  grep -q "^$(basename "$f")" .gpu/tests.tsv || rm "$f"
done
echo "kept $(wc -l < .gpu/tests.tsv) GPU test binaries, $(du -sh .gpu | cut -f1)"
# The NCCL test (the `nccl` feature, which the workspace build leaves out): a clique of one rank on
# the one GPU; gpu_check.sh runs it with the NCCL library of the machine's PyTorch.
cargo test --release -p tensor --features nccl --test nccl --no-run --message-format=json 2>/dev/null \
  | python3 -c '
import json, sys
for line in sys.stdin:
    m = json.loads(line)
    if m.get("reason") == "compiler-artifact" and m.get("executable") and m["target"]["name"] == "nccl":
        print(m["executable"])' | head -1 | xargs -I{} cp {} .gpu/nccl_test
strip .gpu/nccl_test
echo "with the NCCL test, $(du -sh .gpu | cut -f1)"
