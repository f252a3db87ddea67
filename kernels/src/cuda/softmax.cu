// softmax(x)_c = exp(x_c − max x) / Σ_c' exp(x_c' − max x) over the rows of a dense (rows, cols) f32
// matrix, in three versions for study: one thread per row, one warp per row, one block per row.
// Plus log-softmax and the backward.

// Version 1: one thread walks its whole row three times (max, sum, write). Simple; uncoalesced.
extern "C" __global__ void softmax_thread_per_row(int rows, int cols, const float* x, float* y) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    const float* in = x + (long long)r * cols;
    float* out = y + (long long)r * cols;
    float m = NEG_INF, s = 0.0f;
    for (int c = 0; c < cols; ++c) m = fmaxf(m, in[c]);
    for (int c = 0; c < cols; ++c) s += expf(in[c] - m);
    for (int c = 0; c < cols; ++c) out[c] = expf(in[c] - m) / s;
}

// Version 2: a warp per row; lanes read consecutive elements (coalesced) and combine by shuffles.
extern "C" __global__ void softmax_warp_per_row(int rows, int cols, const float* x, float* y) {
    int r = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x % 32;
    if (r >= rows) return;
    const float* in = x + (long long)r * cols;
    float* out = y + (long long)r * cols;
    float m = NEG_INF;
    for (int c = lane; c < cols; c += 32) m = fmaxf(m, in[c]);
    m = warp_max(m);
    float s = 0.0f;
    for (int c = lane; c < cols; c += 32) s += expf(in[c] - m);
    s = warp_sum(s);
    for (int c = lane; c < cols; c += 32) out[c] = expf(in[c] - m) / s;
}

// Version 3: a block per row (long rows such as a 50257-token vocabulary), of up to 1024 threads. A
// row of at most CACHED·blockDim values is read once into registers; a longer one once into
// shared memory (`staged`: the launch gives cols floats of dynamic shared memory, up to 200 KB),
// with the online pass for the maximum and the sum; longer still, it is read twice (that pass,
// then one for the output). `log = 1` writes log-softmax, x_c − max − log Σ exp(x − max). Rows
// that start 16-byte aligned move as float4 packs (packs.cuh), others float by float.
#define CACHED 16
template <int P>
__device__ void softmax_row(int log, int staged, int cols, const float* in, float* out, float* row_cache) {
    int packs = cols / P;
    float m = NEG_INF, s = 0.0f;
    if (packs <= CACHED / P * (int)blockDim.x) {
        Pack<P> vals[CACHED / P];
#pragma unroll
        for (int u = 0; u < CACHED / P; ++u) {
            int p = threadIdx.x + u * blockDim.x;
            vals[u] = p < packs ? load_pack<P>(in, p) : filled_pack<P>(NEG_INF);
#pragma unroll
            for (int e = 0; e < P; ++e) m = fmaxf(m, vals[u].v[e]);
        }
#pragma unroll
        for (int u = 0; u < CACHED / P; ++u)
#pragma unroll
            for (int e = 0; e < P; ++e) s += m == NEG_INF ? 0.0f : expf(vals[u].v[e] - m);
        block_merge_max_and_sum(&m, &s);
        float log_s = logf(s);
#pragma unroll
        for (int u = 0; u < CACHED / P; ++u) {
            int p = threadIdx.x + u * blockDim.x;
#pragma unroll
            for (int e = 0; e < P; ++e) vals[u].v[e] = log ? vals[u].v[e] - m - log_s : expf(vals[u].v[e] - m) / s;
            if (p < packs) store_pack<P>(out, p, vals[u]);
        }
        return;
    }
    const float* row = staged ? row_cache : in;
    block_max_and_sum_exp<P>(in, cols, &m, &s, staged ? row_cache : nullptr);  // merging syncs the block
    float log_s = logf(s);
#pragma unroll 4
    for (int p = threadIdx.x; p < packs; p += blockDim.x) {
        Pack<P> v = load_pack<P>(row, p);
#pragma unroll
        for (int e = 0; e < P; ++e) v.v[e] = log ? v.v[e] - m - log_s : expf(v.v[e] - m) / s;
        store_pack<P>(out, p, v);
    }
}

extern "C" __global__ void __launch_bounds__(1024)
    softmax_block_per_row(int log, int staged, int rows, int cols, const float* x, float* y) {
    extern __shared__ __align__(16) float row_cache[];
    int r = blockIdx.x;
    if (r >= rows) return;
    const float* in = x + (long long)r * cols;
    float* out = y + (long long)r * cols;
    if (rows_in_packs_of_4(cols, x, y))
        softmax_row<4>(log, staged, cols, in, out, row_cache);
    else
        softmax_row<1>(log, staged, cols, in, out, row_cache);
}

// Backward, a block per row: of y = softmax(x), dx_c = y_c · (dy_c − Σ_c' dy_c' y_c'); of
// y = log_softmax(x) (log = 1), dx_c = dy_c − exp(y_c) · Σ_c' dy_c'.
extern "C" __global__ void __launch_bounds__(1024) softmax_backward(int log, int rows, int cols, const float* y, const float* dy, float* dx) {
    int r = blockIdx.x;
    if (r >= rows) return;
    long long base = (long long)r * cols;
    float dot = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) dot += log ? dy[base + c] : dy[base + c] * y[base + c];
    dot = block_reduce(dot, 0);
    for (int c = threadIdx.x; c < cols; c += blockDim.x)
        dx[base + c] = log ? dy[base + c] - expf(y[base + c]) * dot : y[base + c] * (dy[base + c] - dot);
}
