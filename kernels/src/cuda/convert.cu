// Conversions and copies of strided tensors into dense buffers (layout.cuh prepended): element i
// of the output is element i of the input in row-major order, read through the input's layout.
// f32 → bf16 feeds the tensor-core matrix products of mixed precision (rounded to nearest even),
// into rows of `cols` elements that start `out_stride` apart (cuBLAS reads bf16 rows fastest when
// each starts 16-byte aligned: a 50257-wide vocabulary row is padded to 50264); u32 masks and i64
// ids become f32 (rounded to nearest, as Rust's `as f32`) or move as they are; bf16 tensors are
// copied or widened to f32.

#include <cuda_bf16.h>

template <class From, class To>
__device__ void convert_strided(long long n, const From* x, const Layout& lx, To* out) {
    GRID_STRIDE_LOOP(i, n) out[i] = (To)x[offset_of(i, lx)];
}

// Dense output: one grid-stride loop. Padded rows: blocks take rows, threads walk a row's columns,
// so no element pays a 64-bit division to find its row.
extern "C" __global__ void f32_to_bf16(long long n, const float* x, Layout lx, long long cols, long long out_stride,
                                       __nv_bfloat16* out) {
    if (out_stride == cols) {
        GRID_STRIDE_LOOP(i, n) out[i] = __float2bfloat16_rn(x[offset_of(i, lx)]);
        return;
    }
    for (long long row = blockIdx.x; row < n / cols; row += gridDim.x)
        for (long long c = threadIdx.x; c < cols; c += blockDim.x)
            out[row * out_stride + c] = __float2bfloat16_rn(x[offset_of(row * cols + c, lx)]);
}

extern "C" __global__ void bf16_to_f32(long long n, const __nv_bfloat16* x, Layout lx, float* out) {
    GRID_STRIDE_LOOP(i, n) out[i] = __bfloat162float(x[offset_of(i, lx)]);
}

extern "C" __global__ void copy_bf16(long long n, const __nv_bfloat16* x, Layout lx, __nv_bfloat16* out) {
    convert_strided(n, x, lx, out);
}

extern "C" __global__ void u32_to_f32(long long n, const unsigned int* x, Layout lx, float* out) {
    convert_strided(n, x, lx, out);
}

extern "C" __global__ void i64_to_f32(long long n, const long long* x, Layout lx, float* out) {
    convert_strided(n, x, lx, out);
}

extern "C" __global__ void copy_u32(long long n, const unsigned int* x, Layout lx, unsigned int* out) {
    convert_strided(n, x, lx, out);
}

extern "C" __global__ void copy_i64(long long n, const long long* x, Layout lx, long long* out) {
    convert_strided(n, x, lx, out);
}
