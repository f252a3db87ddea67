"""How cuBLAS's bf16 products of GPT-2's LM head depend on alignment (on the GPU machine, with CuPy).

The LM head has the vocabulary (50257, odd) as a dimension of all three of its products. The
profile of `emergent bench train --profile` showed two of them far below the others:

  logits  = h · Eᵀ        16384 × 50257 × 768    f32 C with rows 50257 apart (not 16-byte aligned)
  dh      = dlogits · E   16384 × 768 × 50257    K = 50257, not a multiple of 8

This times each as the engine first called it, and split as it now calls it: n and k each into
their largest multiple of 8 and a remainder, the parts over the remainder of k accumulated onto C;
the logits with C's rows 50257 apart and padded to 50260 (a multiple of 4 floats). Prints one JSON
line per product.

    python3 benches/cublas_alignment.py [--rows 16384]
"""

import argparse
import json

import cupy as cp
import numpy as np
from cupy_backends.cuda.libs import cublas

R_16BF, R_32F, COMPUTE_32F, DEFAULT_ALGO = 14, 0, 68, -1
N, T = cublas.CUBLAS_OP_N, cublas.CUBLAS_OP_T


def bf16(rows, cols, ld):
    """A (rows, ld) uint16 buffer of bf16 values in [-1, 1) (row-major, rows of `cols` used)."""
    x = cp.random.uniform(-1, 1, (rows, ld), dtype=cp.float32)
    return (x.view(cp.uint32) >> 16).astype(cp.uint16)


def gemm(c, c_ld, a, a_ld, b, b_ld, m, n, k, beta=0.0, a_off=0, b_off=0):
    """Row-major C (m × n) = A (m × k, rows a_ld apart) · B (k × n, rows b_ld apart): cuBLAS's
    column-major Cᵀ = Bᵀ·Aᵀ, as the engine calls it."""
    alpha, beta = np.array(1.0, np.float32), np.array(beta, np.float32)
    cublas.gemmEx(
        cp.cuda.device.get_cublas_handle(), N, N, n, m, k, alpha.ctypes.data,
        b.data.ptr + 2 * b_off, R_16BF, b_ld, a.data.ptr + 2 * a_off, R_16BF, a_ld,
        beta.ctypes.data, c.data.ptr, R_32F, c_ld, COMPUTE_32F, DEFAULT_ALGO)


def timed(name, flops, run, iters=10):
    run()
    start, end = cp.cuda.Event(), cp.cuda.Event()
    times = []
    for _ in range(iters):
        start.record()
        run()
        end.record()
        end.synchronize()
        times.append(cp.cuda.get_elapsed_time(start, end))
    ms = float(np.median(times))
    print(json.dumps({"product": name, "ms": round(ms, 3), "tflops": round(flops / ms / 1e9, 1)}), flush=True)


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--rows", type=int, default=16384)
    ap.add_argument("--vocab", type=int, default=50257)
    ap.add_argument("--width", type=int, default=768)
    a = ap.parse_args()
    m, v, d = a.rows, a.vocab, a.width
    flops = 2.0 * m * v * d
    pad8, pad4 = -(-v // 8) * 8, -(-v // 4) * 4
    h, e = bf16(m, d, d), bf16(v, d, d)
    dlogits = bf16(m, v, pad8)
    c_logits = cp.empty((m, pad4), cp.float32)
    timed("logits, C rows 50257 apart", flops, lambda: gemm_logits(c_logits, v, h, e, m, v, d))
    timed("logits, C rows padded to 4 floats", flops, lambda: gemm_logits(c_logits, pad4, h, e, m, v, d))
    v8 = v - v % 8

    def split_logits(c_ld):
        gemm_logits(c_logits, c_ld, h, e, m, v8, d)
        gemm_logits(c_logits, c_ld, h, e, m, v - v8, d, first_class=v8)

    timed("logits, n split 50256 + 1, C rows 50257 apart", flops, lambda: split_logits(v))
    timed("logits, n split 50256 + 1, C rows padded", flops, lambda: split_logits(pad4))
    c_dh = cp.empty((m, d), cp.float32)
    timed("dh, K = 50257", flops, lambda: gemm(c_dh, d, dlogits, pad8, e, d, m, d, v))
    k8 = v - v % 8

    def split():
        gemm(c_dh, d, dlogits, pad8, e, d, m, d, k8)
        gemm(c_dh, d, dlogits, pad8, e, d, m, d, v - k8, beta=1.0, a_off=k8, b_off=k8 * d)

    timed("dh, K split 50256 + 1", flops, split)


def gemm_logits(c, c_ld, h, e, m, v, d, first_class=0):
    """logits[:, first_class..first_class + v] (m × v) = h (m × d) · Eᵀ, E (v × d) row-major:
    cuBLAS's Cᵀ = E·hᵀ (E transposed)."""
    alpha, beta = np.array(1.0, np.float32), np.array(0.0, np.float32)
    cublas.gemmEx(
        cp.cuda.device.get_cublas_handle(), T, N, v, m, d, alpha.ctypes.data,
        e.data.ptr + 2 * first_class * d, R_16BF, d, h.data.ptr, R_16BF, d,
        beta.ctypes.data, c.data.ptr + 4 * first_class, R_32F, c_ld, COMPUTE_32F, DEFAULT_ALGO)


if __name__ == "__main__":
    main()
