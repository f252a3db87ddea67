// Row reductions of a dense (rows, cols) f32 matrix, one block per row: each thread folds a strided
// slice of the row, then the block combines the partial results (reductions.cuh). Sums accumulate
// in f64, as the CPU does.

// out[r] = Σ_c x[r, c]  (op 0),  max_c x[r, c]  (op 1)  or  min_c x[r, c]  (op 2).
extern "C" __global__ void reduce_rows_f32(int op, int rows, long long cols, const float* x, float* out) {
    int r = blockIdx.x;
    if (r >= rows) return;
    const float* row = x + (long long)r * cols;
    if (op == 0) {
        double s = 0.0;
        for (long long c = threadIdx.x; c < cols; c += blockDim.x) s += row[c];
        s = block_sum_f64(s);
        if (threadIdx.x == 0) out[r] = (float)s;
        return;
    }
    // min is −max(−x).
    float sign = op == 2 ? -1.0f : 1.0f, v = NEG_INF;
    for (long long c = threadIdx.x; c < cols; c += blockDim.x) v = max_nan(v, sign * row[c]);
    v = block_reduce(v, 1);
    if (threadIdx.x == 0) out[r] = sign * v;
}

// out[r] = the first c with x[r, c] the row's maximum (is_min = 0) or minimum (is_min = 1), or the
// first NaN, as PyTorch: a thread per row, as the readable version (argmax is rare in training).
extern "C" __global__ void argreduce_rows_f32(int is_min, int rows, long long cols, const float* x, long long* out) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    const float* row = x + (long long)r * cols;
    long long best = 0;
    for (long long c = 1; c < cols && row[best] == row[best]; ++c)
        if (row[c] != row[c] || (is_min ? row[c] < row[best] : row[c] > row[best])) best = c;
    out[r] = best;
}

// Column sums of a (rows, cols) matrix whose rows lie `stride` apart (the bias gradient: Σ over
// the batch rows), in two deterministic steps with f64 sums. First each block column sums its
// chunk of rows for 256 consecutive columns (coalesced reads) into partial (chunks, cols); given a
// bf16 copy (bf16_copy.cuh), the same pass writes x rounded there (the copy a bf16 product of x
// reads: a layer's output gradient is read once for its bias gradient and both products). x is
// f32, or bf16 (T) where the gradient itself was written in bf16...
template <class T>
__device__ void column_sums_of(long long rows, int cols, long long stride, long long chunk, const T* x,
                               double* partial, Bf16Copy copy) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= cols) return;
    long long r0 = blockIdx.y * chunk, r1 = min(rows, r0 + chunk);
    double s = 0.0;
    // 8 rows read before they are summed and copied: the loads in flight together (with the
    // copy's stores between them, the loop would make one round trip per row).
    for (long long r = r0; r < r1; r += 8) {
        float v[8];
#pragma unroll
        for (int k = 0; k < 8; ++k) v[k] = r + k < r1 ? value_at(x, (r + k) * stride + col) : 0.0f;
#pragma unroll
        for (int k = 0; k < 8; ++k) {
            if (r + k >= r1) break;
            s += v[k];
            if (copy.data) copy.data[(r + k) * copy.stride + col] = __float2bfloat16_rn(v[k]);
        }
    }
    partial[(long long)blockIdx.y * cols + col] = s;
}

extern "C" __global__ void column_sums_partial(long long rows, int cols, long long chunk, const float* x,
                                               double* partial, Bf16Copy copy) {
    column_sums_of(rows, cols, cols, chunk, x, partial, copy);
}

extern "C" __global__ void column_sums_partial_bf16(long long rows, int cols, long long stride, long long chunk,
                                                    const __nv_bfloat16* x, double* partial) {
    Bf16Copy none = {nullptr, cols, 0};
    column_sums_of(rows, cols, stride, chunk, x, partial, none);
}

// ...then each column adds its chunks in order.
extern "C" __global__ void column_sums_finish(int chunks, int cols, const double* partial, float* out) {
    int col = blockIdx.x * blockDim.x + threadIdx.x;
    if (col >= cols) return;
    double s = 0.0;
    for (int c = 0; c < chunks; ++c) s += partial[(long long)c * cols + col];
    out[col] = (float)s;
}
