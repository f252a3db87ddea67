// softmax(x)_c = exp(x_c − max x) / Σ_c' exp(x_c' − max x) over the rows of a dense (rows, cols) f32
// matrix, in four versions for study: one thread per row, one warp per row, one block per row, one
// cluster of blocks per row. Plus log-softmax and the backward.

// What a row's exponentials subtract: its maximum m, or 0 in a row entirely −∞ (fully masked),
// where exp(x − m) would be exp(NaN) and exp(x − 0) = exp(−∞) = 0. One test a row, none a value:
// the per-value loops have no branch.
__device__ float exp_shift(float m) {
    return m == NEG_INF ? 0.0f : m;
}

// A row's softmax as y = exp(x − m₀) · inv_s, from its maximum m and Σ exp(x − m) = s: m₀ =
// exp_shift(m) and inv_s = 1 / s (one division a row, as on the CPU, rather than one a value), or
// 0 in a fully masked row, whose softmax is then 0, as on the CPU.
struct RowSoftmax {
    float m0, inv_s;
};

__device__ RowSoftmax row_softmax(float m, float s) {
    return RowSoftmax{exp_shift(m), m == NEG_INF ? 0.0f : 1.0f / s};
}

__device__ float softmax_of(float x, RowSoftmax row) {
    return expf(x - row.m0) * row.inv_s;
}

// Version 1: one thread walks its whole row three times (max, sum, write). Simple; uncoalesced.
extern "C" __global__ void softmax_thread_per_row(int rows, int cols, const float* x, float* y) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    const float* in = x + (long long)r * cols;
    float* out = y + (long long)r * cols;
    float m = NEG_INF, s = 0.0f;
    for (int c = 0; c < cols; ++c) m = max_nan(m, in[c]);
    for (int c = 0; c < cols; ++c) s += expf(in[c] - exp_shift(m));
    RowSoftmax row = row_softmax(m, s);
    for (int c = 0; c < cols; ++c) out[c] = softmax_of(in[c], row);
}

// Version 2: a warp per row; lanes read consecutive elements (coalesced) and combine by shuffles.
extern "C" __global__ void softmax_warp_per_row(int rows, int cols, const float* x, float* y) {
    int r = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x % 32;
    if (r >= rows) return;
    const float* in = x + (long long)r * cols;
    float* out = y + (long long)r * cols;
    float m = NEG_INF;
    for (int c = lane; c < cols; c += 32) m = max_nan(m, in[c]);
    m = warp_max(m);
    float s = 0.0f;
    for (int c = lane; c < cols; c += 32) s += expf(in[c] - exp_shift(m));
    RowSoftmax row = row_softmax(m, warp_sum(s));
    for (int c = lane; c < cols; c += 32) out[c] = softmax_of(in[c], row);
}

// Version 3: a block per row (long rows such as a 50257-token vocabulary), of up to 1024 threads. A
// row of at most CACHED·blockDim values is read once into registers; a longer one once into
// shared memory (`staged`: the launch gives cols floats of dynamic shared memory, up to 200 KB),
// with the online pass for the maximum and the sum; longer still, it is read twice (that pass,
// then one for the output). `log = 1` writes log-softmax, x_c − max − log Σ exp(x − max). Rows
// that start 16-byte aligned move as float4 packs (packs.cuh), others float by float.
//
// A row held in registers (here, and in each block of version 4): each thread keeps the
// exponentials e = exp(x − m_t) against its own maximum m_t, so a value costs one exponential and,
// once the row's m and s are known, one product, y = e · exp(m_t − m) / s.
#define CACHED 16

// Packs first + threadIdx.x + u·blockDim.x (u < N) of a row, those before `end` (−∞ after it), into
// this thread's registers; its maximum m_t of them into `thread_max` and Σ exp(x − m_t) into `s`.
// For softmax (log = 0) the exponentials replace the values; log-softmax keeps the values.
template <int P, int N>
__device__ void hold_packs(int log, const float* in, int first, int end, Pack<P> (&vals)[N], float* thread_max,
                           float* s) {
    float m = NEG_INF, sum = 0.0f;
#pragma unroll
    for (int u = 0; u < N; ++u) {
        int p = first + threadIdx.x + u * blockDim.x;
        vals[u] = p < end ? load_pack<P>(in, p) : filled_pack<P>(NEG_INF);
#pragma unroll
        for (int e = 0; e < P; ++e) m = max_nan(m, vals[u].v[e]);
    }
    float m0 = exp_shift(m);  // this thread's values may all be −∞
#pragma unroll
    for (int u = 0; u < N; ++u)
#pragma unroll
        for (int e = 0; e < P; ++e) {
            float exp_v = expf(vals[u].v[e] - m0);
            sum += exp_v;
            if (!log) vals[u].v[e] = exp_v;
        }
    *thread_max = m;
    *s = sum;
}

// Writes the packs hold_packs held, once the row's maximum m and Σ exp(x − m) = s are known:
// log-softmax x − m − log s from the values; softmax e · exp(m_t − m) / s from the exponentials
// (zeros for a row entirely −∞).
template <int P, int N>
__device__ void store_held_packs(int log, float* out, int first, int end, Pack<P> (&vals)[N], float thread_max,
                                 float m, float s) {
    float log_s = logf(s), scale = m == NEG_INF ? 0.0f : expf(thread_max - m) / s;
#pragma unroll
    for (int u = 0; u < N; ++u) {
        int p = first + threadIdx.x + u * blockDim.x;
#pragma unroll
        for (int e = 0; e < P; ++e) vals[u].v[e] = log ? vals[u].v[e] - m - log_s : vals[u].v[e] * scale;
        if (p < end) store_pack<P>(out, p, vals[u]);
    }
}

template <int P>
__device__ void softmax_row(int log, int staged, int cols, const float* in, float* out, float* row_cache) {
    int packs = cols / P;
    float m = NEG_INF, s = 0.0f;
    if (packs <= CACHED / P * (int)blockDim.x) {
        Pack<P> vals[CACHED / P];
        float thread_max;
        hold_packs(log, in, 0, packs, vals, &thread_max, &s);
        m = thread_max;
        block_merge_max_and_sum(&m, &s);
        store_held_packs(log, out, 0, packs, vals, thread_max, m, s);
        return;
    }
    const float* row = staged ? row_cache : in;
    block_max_and_sum_exp<P>(in, cols, &m, &s, staged ? row_cache : nullptr);  // merging syncs the block
    float log_s = logf(s);
    RowSoftmax softmax = row_softmax(m, s);
#pragma unroll 4
    for (int p = threadIdx.x; p < packs; p += blockDim.x) {
        Pack<P> v = load_pack<P>(row, p);
#pragma unroll
        for (int e = 0; e < P; ++e) v.v[e] = log ? v.v[e] - m - log_s : softmax_of(v.v[e], softmax);
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

// Version 4: a cluster of blocks per row (Hopper's thread-block clusters, clusters.cuh). A row too
// long for one block's registers (a vocabulary) is cut into one slice per block of the cluster,
// held in its threads' registers (up to CLUSTER_CACHED values a thread, as version 3 holds short
// rows): the row is read from global memory once, and the blocks are small, so several share an
// SM and one loads while another reduces or writes (version 3 stages such a row in 200 KB of
// shared memory: one block, one row per SM, and the memory idles while it reduces). Each block
// reduces its slice to a softmax state (m, s) and sends it into every block's shared memory;
// after the cluster barrier each merges the states in rank order — the same m and s in every
// block — and writes its slice. The grid is (rows × blocks a cluster); shared memory: 64 floats
// for the block's merge, then a state (m, s) per block.
#define CLUSTER_CACHED 32
#ifdef HAS_CLUSTERS
template <int P>
__device__ void softmax_slice(int log, int cols, const float* in, float* out, float* shared) {
    float* block_states = shared + 64;
    unsigned rank = cluster_block_rank(), blocks = cluster_blocks();
    int packs = cols / P, per_block = (packs + blocks - 1) / blocks;
    int first = rank * per_block, end = min(first + per_block, packs);
    Pack<P> vals[CLUSTER_CACHED / P];
    float thread_max, s;
    hold_packs(log, in, first, end, vals, &thread_max, &s);
    float m = thread_max;
    block_merge_max_and_sum(&m, &s, shared);
    cluster_sync();  // every block has started: its shared memory may be written
    if (threadIdx.x < blocks) {
        float* state = peer_shared(block_states + 2 * rank, threadIdx.x);
        state[0] = m;
        state[1] = s;
    }
    cluster_sync();  // every block's state has arrived
    m = NEG_INF;
    s = 0.0f;
    for (unsigned b = 0; b < blocks; ++b) merge_max_and_sum(&m, &s, block_states[2 * b], block_states[2 * b + 1]);
    store_held_packs(log, out, first, end, vals, thread_max, m, s);
}

extern "C" __global__ void __launch_bounds__(1024)
    softmax_cluster_per_row(int log, int rows, int cols, const float* x, float* y) {
    extern __shared__ __align__(16) float cluster_shared[];
    long long r = blockIdx.x / cluster_blocks();  // the grid holds rows clusters exactly
    const float* in = x + r * cols;
    float* out = y + r * cols;
    if (rows_in_packs_of_4(cols, x, y))
        softmax_slice<4>(log, cols, in, out, cluster_shared);
    else
        softmax_slice<1>(log, cols, in, out, cluster_shared);
}
#endif

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
