// Index ops on dense f32 tensors seen as (outer, size, inner) around the indexed dim, with i64
// indices. The backward kernels add with atomics (an index may repeat) into a zeroed output.

// out (outer, n, inner)[o, j, c] = x (outer, size, inner)[o, ids[j], c]: index_select, and the
// embedding lookup (outer = 1).
extern "C" __global__ void index_select_f32(long long outer, long long size, long long inner, long long n,
                                            const long long* ids, const float* x, float* out) {
    long long total = outer * n * inner;
    GRID_STRIDE_LOOP(k, total) {
        long long c = k % inner, j = (k / inner) % n, o = k / (inner * n);
        out[k] = x[(o * size + ids[j]) * inner + c];
    }
}

// The adjoint: out (outer, size, inner)[o, ids[j], c] += dy (outer, n, inner)[o, j, c].
extern "C" __global__ void index_add_f32(long long outer, long long size, long long inner, long long n,
                                         const long long* ids, const float* dy, float* out) {
    long long total = outer * n * inner;
    GRID_STRIDE_LOOP(k, total) {
        long long c = k % inner, j = (k / inner) % n, o = k / (inner * n);
        atomicAdd(&out[(o * size + ids[j]) * inner + c], dy[k]);
    }
}

// out (outer, m, inner)[o, j, c] = x (outer, size, inner)[o, index[o, j, c], c].
extern "C" __global__ void gather_f32(long long outer, long long size, long long inner, long long m,
                                      const long long* index, const float* x, float* out) {
    long long total = outer * m * inner;
    GRID_STRIDE_LOOP(k, total) {
        long long c = k % inner, o = k / (inner * m);
        out[k] = x[(o * size + index[k]) * inner + c];
    }
}

// The adjoint: out (outer, size, inner)[o, index[o, j, c], c] += src (outer, m, inner)[o, j, c].
extern "C" __global__ void scatter_add_f32(long long outer, long long size, long long inner, long long m,
                                           const long long* index, const float* src, float* out) {
    long long total = outer * m * inner;
    GRID_STRIDE_LOOP(k, total) {
        long long c = k % inner, o = k / (inner * m);
        atomicAdd(&out[(o * size + index[k]) * inner + c], src[k]);
    }
}
