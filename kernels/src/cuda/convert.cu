// f32 → bf16 for the tensor-core matrix products of mixed precision: a strided f32 tensor (read
// through its layout, layout.cuh prepended) into a dense bf16 buffer, rounded to nearest even.

#include <cuda_bf16.h>

extern "C" __global__ void f32_to_bf16(long long n, const float* x, Layout lx, __nv_bfloat16* out) {
    GRID_STRIDE_LOOP(i, n) out[i] = __float2bfloat16_rn(x[offset_of(i, lx)]);
}
