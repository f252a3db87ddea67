// The bf16 copy of a kernel's f32 output that bf16 matrix products read (the tensor crate's bf16
// images): written by the kernel that computes the f32 values, in the same pass, so that no
// conversion pass reads them again. Rows of `cols` elements start `stride` apart in the copy
// (padded to 16 bytes, as cuBLAS reads bf16 fastest). A copy with no data is not written.
// Prepended to the sources whose kernels write one (Bf16Copy in launch/mod.rs), after packs.cuh.
#include <cuda_bf16.h>

struct Bf16Copy {
    __nv_bfloat16* data;
    long long cols, stride;
};

// Two floats rounded to bf16 and packed in one 32-bit word, `lo` in the low half (first in memory).
__device__ unsigned bf16_pair(float lo, float hi) {
    return (unsigned)__bfloat16_as_ushort(__float2bfloat16_rn(lo)) |
           (unsigned)__bfloat16_as_ushort(__float2bfloat16_rn(hi)) << 16;
}

// bf16 rows read and written in packs widened to f32 (the overloads of packs.cuh's load_pack and
// store_pack for bf16 rows, so a kernel written for packs reads either): P = 4 moves 8 bytes, for
// rows that start 8-byte aligned.
template <int P>
__device__ Pack<P> load_pack(const __nv_bfloat16* x, long long i);
template <>
__device__ Pack<1> load_pack<1>(const __nv_bfloat16* x, long long i) {
    return {{__bfloat162float(x[i])}};
}
template <>
__device__ Pack<4> load_pack<4>(const __nv_bfloat16* x, long long i) {
    uint2 q = reinterpret_cast<const uint2*>(x)[i];
    return {{__uint_as_float(q.x << 16), __uint_as_float(q.x & 0xffff0000u), __uint_as_float(q.y << 16),
             __uint_as_float(q.y & 0xffff0000u)}};
}

template <int P>
__device__ void store_pack(__nv_bfloat16* y, long long i, Pack<P> p);
template <>
__device__ void store_pack<1>(__nv_bfloat16* y, long long i, Pack<1> p) {
    y[i] = __float2bfloat16_rn(p.v[0]);
}
template <>
__device__ void store_pack<4>(__nv_bfloat16* y, long long i, Pack<4> p) {
    reinterpret_cast<uint2*>(y)[i] = make_uint2(bf16_pair(p.v[0], p.v[1]), bf16_pair(p.v[2], p.v[3]));
}

// value_at and store_value (packs.cuh) for bf16 rows: widened on reading, rounded on storing.
__device__ float value_at(const __nv_bfloat16* x, long long i) {
    return __bfloat162float(x[i]);
}
__device__ void store_value(__nv_bfloat16* y, long long i, float value) {
    y[i] = __float2bfloat16_rn(value);
}

// Element (r, c) of the copy.
__device__ void store_copy(long long r, long long c, float value, Bf16Copy copy) {
    if (copy.data) copy.data[r * copy.stride + c] = __float2bfloat16_rn(value);
}

// Whether the copy's rows all start 8-byte aligned (or there is no copy), so that 4 bf16 at a
// multiple of 4 into a row are one 8-byte store.
__device__ bool copy_rows_aligned_8(Bf16Copy copy) {
    return !copy.data || (copy.stride % 4 == 0 && (unsigned long long)copy.data % 8 == 0);
}

// Pack p of row r of the copy (elements P·p … P·p + P − 1); a pack of 4 in one 8-byte store, for
// a copy whose rows start 8-byte aligned (copy_rows_aligned_8).
template <int P>
__device__ void store_copy_pack(long long r, long long p, Pack<P> v, Bf16Copy copy);
template <>
__device__ void store_copy_pack<1>(long long r, long long p, Pack<1> v, Bf16Copy copy) {
    store_copy(r, p, v.v[0], copy);
}
template <>
__device__ void store_copy_pack<4>(long long r, long long p, Pack<4> v, Bf16Copy copy) {
    if (copy.data)
        reinterpret_cast<uint2*>(copy.data + r * copy.stride)[p] =
            make_uint2(bf16_pair(v.v[0], v.v[1]), bf16_pair(v.v[2], v.v[3]));
}

// Element (r, c) of a (rows, cols) f32 matrix `out` and of its copy; with `out` null, of the copy
// alone (an output only matrix products read).
__device__ void store_with_copy(float* out, long long r, long long c, float value, Bf16Copy copy) {
    if (out) out[r * copy.cols + c] = value;
    store_copy(r, c, value, copy);
}

// Element i of a dense buffer's copy (row i / cols).
__device__ void store_copy_of_dense(long long i, float value, Bf16Copy copy) {
    if (copy.data) copy.data[i / copy.cols * copy.stride + i % copy.cols] = __float2bfloat16_rn(value);
}

// Element i of a dense f32 buffer `out` and of its copy (of the copy alone with `out` null).
__device__ void store_with_copy(float* out, long long i, float value, Bf16Copy copy) {
    if (out) out[i] = value;
    store_copy_of_dense(i, value, copy);
}

// Pack p (elements 4p … 4p + 3, in one row: cols a multiple of 4) of a dense buffer's copy (rows
// 8-byte aligned: copy_rows_aligned_8): one division per pack finds the row, and the pack is pack
// c / 4 of the copy's row.
__device__ void store_pack_copy_of_dense(long long p, Pack<4> v, Bf16Copy copy) {
    if (!copy.data) return;
    long long i = 4 * p, r = i / copy.cols, c = i - r * copy.cols;
    store_copy_pack<4>(r, c / 4, v, copy);
}

// Pack p of a dense f32 buffer `out` and of its copy (of the copy alone with `out` null).
__device__ void store_pack_with_copy(float* out, long long p, Pack<4> v, Bf16Copy copy) {
    if (out) store_pack<4>(out, p, v);
    store_pack_copy_of_dense(p, v, copy);
}
