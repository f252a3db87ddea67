// Shared by the kernels that reduce rows (prepended to their sources by kernels::cuda::SOURCES):
// warp reductions through shuffles and a block reduction through shared memory.

// −∞ (NVRTC has no math.h and so no INFINITY).
#define NEG_INF __int_as_float(0xff800000)

__device__ float warp_sum(float v) {
    for (int o = 16; o > 0; o >>= 1) v += __shfl_xor_sync(0xffffffff, v, o);
    return v;
}

__device__ float warp_max(float v) {
    for (int o = 16; o > 0; o >>= 1) v = fmaxf(v, __shfl_xor_sync(0xffffffff, v, o));
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

// The maximum m and Σ exp(z − m) of a row of n values, computed by the whole block (the two numbers
// every softmax and cross-entropy of the row needs).
__device__ void block_max_and_sum_exp(const float* z, int n, float* m_out, float* s_out) {
    float m = NEG_INF;
    for (int c = threadIdx.x; c < n; c += blockDim.x) m = fmaxf(m, z[c]);
    m = block_reduce(m, 1);
    float s = 0.0f;
    for (int c = threadIdx.x; c < n; c += blockDim.x) s += expf(z[c] - m);
    *m_out = m;
    *s_out = block_reduce(s, 0);
}
