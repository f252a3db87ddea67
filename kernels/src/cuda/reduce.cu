// Row reductions of a dense (rows, cols) f32 matrix, one block per row: each thread folds a strided
// slice of the row, then `block_reduce` (reductions.cuh) combines the partial results.

// out[r] = Σ_c x[r, c]  (is_max = 0)  or  max_c x[r, c]  (is_max = 1).
extern "C" __global__ void reduce_rows_f32(int is_max, int rows, int cols, const float* x, float* out) {
    int r = blockIdx.x;
    if (r >= rows) return;
    const float* row = x + (long long)r * cols;
    float v = is_max ? NEG_INF : 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) v = is_max ? fmaxf(v, row[c]) : v + row[c];
    v = block_reduce(v, is_max);
    if (threadIdx.x == 0) out[r] = v;
}
