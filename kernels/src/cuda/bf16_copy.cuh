// The bf16 copy of a kernel's f32 output that bf16 matrix products read (the tensor crate's bf16
// images): written by the kernel that computes the f32 values, in the same pass, so that no
// conversion pass reads them again. Rows of `cols` elements start `stride` apart in the copy
// (padded to 16 bytes, as cuBLAS reads bf16 fastest). A copy with no data is not written.
// Prepended to the sources whose kernels write one (Bf16Copy in launch.rs), after packs.cuh.
#include <cuda_bf16.h>

struct Bf16Copy {
    __nv_bfloat16* data;
    long long cols, stride;
};

// Element (r, c) of a (rows, cols) f32 matrix `out` and of its copy.
__device__ void store_with_copy(float* out, long long r, long long c, float value, Bf16Copy copy) {
    out[r * copy.cols + c] = value;
    if (copy.data) copy.data[r * copy.stride + c] = __float2bfloat16_rn(value);
}

// Element i of a dense f32 buffer `out` (row i / cols) and of its copy.
__device__ void store_with_copy(float* out, long long i, float value, Bf16Copy copy) {
    out[i] = value;
    if (copy.data) copy.data[i / copy.cols * copy.stride + i % copy.cols] = __float2bfloat16_rn(value);
}

// Pack p (elements 4p … 4p + 3, in one row: cols a multiple of 4) of a dense f32 buffer `out` and of
// its copy: one division per pack finds the row.
__device__ void store_pack_with_copy(float* out, long long p, Pack<4> v, Bf16Copy copy) {
    store_pack<4>(out, p, v);
    if (!copy.data) return;
    long long i = 4 * p, r = i / copy.cols, c = i - r * copy.cols;
#pragma unroll
    for (int e = 0; e < 4; ++e) copy.data[r * copy.stride + c + e] = __float2bfloat16_rn(v.v[e]);
}
