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
// then one for the output). `log = 1` writes log-softmax, x_c − max − log Σ exp(x − max).
#define CACHED 16
extern "C" __global__ void __launch_bounds__(1024)
    softmax_block_per_row(int log, int staged, int rows, int cols, const float* x, float* y) {
    extern __shared__ float row_cache[];
    int r = blockIdx.x;
    if (r >= rows) return;
    const float* in = x + (long long)r * cols;
    float* out = y + (long long)r * cols;
    float m = NEG_INF, s = 0.0f;
    if (cols <= CACHED * (int)blockDim.x) {
        float vals[CACHED];
#pragma unroll
        for (int u = 0; u < CACHED; ++u) {
            int c = threadIdx.x + u * blockDim.x;
            vals[u] = c < cols ? in[c] : NEG_INF;
            m = fmaxf(m, vals[u]);
        }
#pragma unroll
        for (int u = 0; u < CACHED; ++u) s += m == NEG_INF ? 0.0f : expf(vals[u] - m);
        block_merge_max_and_sum(&m, &s);
        float log_s = logf(s);
#pragma unroll
        for (int u = 0; u < CACHED; ++u) {
            int c = threadIdx.x + u * blockDim.x;
            if (c < cols) out[c] = log ? vals[u] - m - log_s : expf(vals[u] - m) / s;
        }
        return;
    }
    const float* row = staged ? row_cache : in;
    block_max_and_sum_exp(in, cols, &m, &s, staged ? row_cache : nullptr);  // merging syncs the block
    float log_s = logf(s);
#pragma unroll 4
    for (int c = threadIdx.x; c < cols; c += blockDim.x) out[c] = log ? row[c] - m - log_s : expf(row[c] - m) / s;
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
