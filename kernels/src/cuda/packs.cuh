// Rows read and written P consecutive floats at a time. P = 4 moves a float4: one 16-byte access
// per thread where P = 1 makes four, so a thread keeps four times the bytes in flight per load
// instruction (a memory-bound kernel is paced by the bytes in flight, Little's law). It needs rows
// that start 16-byte aligned, which rows_in_packs_of_4 checks; P = 1 is the plain element.
// Prepended (first) to the sources whose kernels read this way.

template <int P>
struct Pack {
    float v[P];
};

// Pack i of x: x[P·i], …, x[P·i + P − 1].
template <int P>
__device__ Pack<P> load_pack(const float* x, long long i);
template <>
__device__ Pack<1> load_pack<1>(const float* x, long long i) {
    return {{x[i]}};
}
template <>
__device__ Pack<4> load_pack<4>(const float* x, long long i) {
    float4 q = reinterpret_cast<const float4*>(x)[i];
    return {{q.x, q.y, q.z, q.w}};
}

template <int P>
__device__ void store_pack(float* y, long long i, Pack<P> p);
template <>
__device__ void store_pack<1>(float* y, long long i, Pack<1> p) {
    y[i] = p.v[0];
}
template <>
__device__ void store_pack<4>(float* y, long long i, Pack<4> p) {
    reinterpret_cast<float4*>(y)[i] = make_float4(p.v[0], p.v[1], p.v[2], p.v[3]);
}

template <int P>
__device__ Pack<P> filled_pack(float value) {
    Pack<P> p;
#pragma unroll
    for (int e = 0; e < P; ++e) p.v[e] = value;
    return p;
}

// Element i of a row, as f32, and a value stored into one: the plain access for f32 rows, which
// bf16_copy.cuh overloads for bf16 rows (so a template over the element type reads either).
__device__ float value_at(const float* x, long long i) {
    return x[i];
}
__device__ void store_value(float* y, long long i, float value) {
    y[i] = value;
}

// Whether x starts where packs of P of its elements are aligned (P·4 bytes for f32, P·2 for bf16).
template <int P, class E>
__device__ bool packs_aligned(const E* x) {
    return (unsigned long long)x % (P * sizeof(E)) == 0;
}

__device__ bool aligned_16(const void* p) {
    return (unsigned long long)p % 16 == 0;
}

// Whether rows of `cols` floats from a and from b all start 16-byte aligned.
__device__ bool rows_in_packs_of_4(int cols, const void* a, const void* b) {
    return cols % 4 == 0 && aligned_16(a) && aligned_16(b);
}
