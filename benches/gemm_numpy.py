"""numpy (OpenBLAS) float32 GEMM GFLOP/s at the sizes of benches/benches/gemm.rs, 1 and 2 threads.

Median of repeated runs; prints one JSON object {"1": {"256": gflops, ...}, "2": {...}, "blas": ...}.
Run with OPENBLAS_CORETYPE / OPENBLAS_L2_SIZE unset (benches/gemm_report.sh does): on this machine
they select an older, slower OpenBLAS kernel.
"""
import json
import statistics
import sys
import time

import numpy as np
from threadpoolctl import threadpool_info, threadpool_limits

SIZES = [256, 512, 1024, 2048]


def gflops(n: int, threads: int) -> float:
    rng = np.random.default_rng(0)
    a = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    b = rng.uniform(-1, 1, (n, n)).astype(np.float32)
    out = np.empty((n, n), dtype=np.float32)
    reps = max(5, min(200, int(3e9 / (2 * n**3))))
    with threadpool_limits(limits=threads, user_api="blas"):
        np.matmul(a, b, out=out)
        times = []
        for _ in range(reps):
            t = time.perf_counter()
            np.matmul(a, b, out=out)
            times.append(time.perf_counter() - t)
    return 2 * n**3 / statistics.median(times) / 1e9


def main() -> None:
    threads = [int(t) for t in sys.argv[1:]] or [1, 2]
    result = {str(t): {str(n): round(gflops(n, t), 1) for n in SIZES} for t in threads}
    blas = [f"{i.get('internal_api')} {i.get('version')} ({i.get('architecture')})" for i in threadpool_info() if i.get("user_api") == "blas"]
    result["blas"] = blas
    result["numpy"] = np.__version__
    print(json.dumps(result))


if __name__ == "__main__":
    main()
