// Shared by the kernels that reduce rows (prepended to their sources by kernels::cuda::SOURCES,
// after packs.cuh): warp reductions through shuffles and a block reduction through shared memory.

// −∞ (NVRTC has no math.h and so no INFINITY).
#define NEG_INF __int_as_float(0xff800000)

__device__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffff, v, o);
    return v;
}

__device__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = max_nan(v, __shfl_xor_sync(0xffffffff, v, o));
    return v;
}

// The sum (is_max = 0) or maximum (is_max = 1) of v over the block; every thread gets the result.
// Each warp reduces by shuffles, warp leaders meet in shared memory, the first warp finishes.
__device__ float block_reduce(float v, int is_max) {
    __shared__ float partial[32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = (blockDim.x + 31) / 32;
    v = is_max ? warp_max(v) : warp_sum(v);
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = threadIdx.x < warps ? partial[threadIdx.x] : (is_max ? NEG_INF : 0.0f);
    if (warp == 0) v = is_max ? warp_max(v) : warp_sum(v);
    if (threadIdx.x == 0) partial[0] = v;
    __syncthreads();
    float result = partial[0];
    __syncthreads();
    return result;
}

// The f64 sum of v over the block (for sums that must not lose the small terms); every thread gets it.
__device__ double block_sum_f64(double v) {
    __shared__ double partial[32];
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = (blockDim.x + 31) / 32;
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffff, v, o);
    if (lane == 0) partial[warp] = v;
    __syncthreads();
    v = threadIdx.x < warps ? partial[threadIdx.x] : 0.0;
    if (warp == 0)
        for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffff, v, o);
    if (threadIdx.x == 0) partial[0] = v;
    __syncthreads();
    double result = partial[0];
    __syncthreads();
    return result;
}

// Two running softmax states (m, s) — a maximum and Σ exp(x − m) of the values seen — as one:
// the larger maximum, and each sum rescaled to it.
__device__ void merge_max_and_sum(float* m, float* s, float m2, float s2) {
    float top = max_nan(*m, m2);
    *s = top == NEG_INF ? 0.0f : *s * expf(*m - top) + s2 * expf(m2 - top);
    *m = top;
}

// Combines every thread's softmax state (m, s) into the block's: shuffles within warps, then the
// warp leaders' states in shared memory — `scratch` (64 floats) when given, else a static array
// (a kernel launched in clusters gives its own: clusters.cuh). Every thread gets the result.
__device__ void block_merge_max_and_sum(float* m, float* s, float* scratch = nullptr) {
    __shared__ float own[64];
    float* warp_m = scratch ? scratch : own;
    float* warp_s = warp_m + 32;
    for (int o = 16; o > 0; o >>= 1) {
        float m2 = __shfl_xor_sync(0xffffffff, *m, o), s2 = __shfl_xor_sync(0xffffffff, *s, o);
        merge_max_and_sum(m, s, m2, s2);
    }
    int lane = threadIdx.x % 32, warp = threadIdx.x / 32, warps = (blockDim.x + 31) / 32;
    if (lane == 0) {
        warp_m[warp] = *m;
        warp_s[warp] = *s;
    }
    __syncthreads();
    *m = NEG_INF;
    *s = 0.0f;
    for (int w = 0; w < warps; ++w) merge_max_and_sum(m, s, warp_m[w], warp_s[w]);
    __syncthreads();  // the partials may be reused by the next call
}

// One value x into a running softmax state (m, s): one exponential, rescaling the sum only when
// the maximum grows (or x is NaN, which the state then keeps: m and s both NaN).
__device__ void add_to_max_and_sum(float* m, float* s, float x) {
    if (x > *m || x != x) {
        *s = *s * expf(*m - x) + 1.0f;  // e^(−∞) = 0 while the state is empty
        *m = x;
    } else if (x != NEG_INF) {
        *s += expf(x - *m);
    }
}

// A pack of values into a running softmax state: the pack's maximum first, then its exponentials,
// which are independent of one another, and one rescaling of the sum. (Value by value, each
// update would wait on the last one's exponential: four times the chain per pack.)
template <int P>
__device__ void add_pack_to_max_and_sum(float* m, float* s, const Pack<P>& p) {
    if (P == 1) return add_to_max_and_sum(m, s, p.v[0]);
    float top = *m;
#pragma unroll
    for (int e = 0; e < P; ++e) top = max_nan(top, p.v[e]);
    if (top == NEG_INF) return;  // nothing seen yet, nothing new
    float sum = 0.0f;
#pragma unroll
    for (int e = 0; e < P; ++e) sum += expf(p.v[e] - top);
    *s = *s * expf(*m - top) + sum;  // e^(−∞) = 0 while the state is empty
    *m = top;
}

// The maximum m and Σ exp(z − m) of a row of n values (its n / P whole packs, then the last n % P
// values one by one), computed by the whole block in one pass over the row (online softmax: each
// thread keeps running states, rescaled when a maximum grows). Four independent states per thread
// keep four packs in flight rather than one: a long row (a vocabulary) is read at the memory's
// pace, not its latency's. Given `keep` (shared memory of n floats), the row is also left there,
// so a second pass need not read global memory again. The row may be bf16 (E = __nv_bfloat16,
// with bf16_copy.cuh's packs and value_at before this file), widened to f32 as it is read.
template <int P = 1, class E = float>
__device__ void block_max_and_sum_exp(const E* z, int n, float* m_out, float* s_out, float* keep = nullptr) {
    float m[4] = {NEG_INF, NEG_INF, NEG_INF, NEG_INF}, s[4] = {0.0f, 0.0f, 0.0f, 0.0f};
    int packs = n / P, c = threadIdx.x, stride = blockDim.x;
    for (; c + 3 * stride < packs; c += 4 * stride) {
        Pack<P> v[4];
#pragma unroll
        for (int u = 0; u < 4; ++u) v[u] = load_pack<P>(z, c + u * stride);
#pragma unroll
        for (int u = 0; u < 4; ++u) {
            add_pack_to_max_and_sum(&m[u], &s[u], v[u]);
            if (keep) store_pack<P>(keep, c + u * stride, v[u]);
        }
    }
    for (; c < packs; c += stride) {
        Pack<P> v = load_pack<P>(z, c);
        add_pack_to_max_and_sum(&m[0], &s[0], v);
        if (keep) store_pack<P>(keep, c, v);
    }
    for (c = packs * P + threadIdx.x; c < n; c += stride) {
        float v = value_at(z, c);
        add_to_max_and_sum(&m[1], &s[1], v);
        if (keep) keep[c] = v;
    }
#pragma unroll
    for (int u = 1; u < 4; ++u) merge_max_and_sum(&m[0], &s[0], m[u], s[u]);
    block_merge_max_and_sum(&m[0], &s[0]);
    *m_out = m[0];
    *s_out = s[0];
}
