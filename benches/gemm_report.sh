#!/usr/bin/env bash
# One run that measures our SGEMM, matrixmultiply and numpy/OpenBLAS on this machine, then prints a
# table of GFLOP/s and the ratio ours/numpy. Needs `pip install numpy threadpoolctl`.
# Check that the machine is otherwise idle first (`ps`): the numbers are medians, not miracles.
set -euo pipefail
cd "$(dirname "$0")/.."
for t in 1 2; do
  MATMUL_NUM_THREADS=$t GEMM_THREADS=$t cargo bench -p kernel-bench --bench gemm -- "sgemm/${t}t" >&2
done
numpy_json=$(env -u OPENBLAS_CORETYPE -u OPENBLAS_L2_SIZE python3 benches/gemm_numpy.py 1 2)
python3 - "$numpy_json" <<'PY'
import json, pathlib, sys
numpy = json.loads(sys.argv[1])
root = pathlib.Path("target/criterion")
def gflops(group, impl, n):
    f = root / group / impl / str(n) / "new" / "estimates.json"
    if not f.exists():
        return None
    ns = json.loads(f.read_text())["median"]["point_estimate"]
    return 2 * n**3 / ns
print(f"numpy {numpy['numpy']}, BLAS: {', '.join(numpy['blas'])}. GFLOP/s, medians.")
avx2 = "kernel avx2+fma 6x16"
print("| threads | n | naive | matrixmultiply | emergent, AVX2 kernel | emergent | numpy (OpenBLAS) | emergent / numpy |")
print("|---|---|---|---|---|---|---|---|")
for t in ("1", "2"):
    for n in (256, 512, 1024, 2048):
        g = f"sgemm_{t}t"
        ours, mm, naive = gflops(g, "emergent", n), gflops(g, "matrixmultiply", n), gflops(g, "naive", n)
        ours_avx2 = gflops(g, avx2, n)
        ref = numpy[t][str(n)]
        fmt = lambda v: "—" if v is None else f"{v:.1f}"
        print(f"| {t} | {n} | {fmt(naive)} | {fmt(mm)} | {fmt(ours_avx2)} | {fmt(ours)} | {ref:.1f} | {ours / ref:.2f} |")
PY
