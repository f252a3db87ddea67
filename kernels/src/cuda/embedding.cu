// Embedding lookup y[i, :] = E[ids[i], :] and its backward dE[ids[i], :] += dy[i, :] (atomics, as
// the same id may occur many times; dE must start at zero).

extern "C" __global__ void embedding_forward(long long n_ids, int dim, const long long* ids, const float* table,
                                             float* out) {
    long long total = n_ids * dim;
    for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < total; k += (long long)gridDim.x * blockDim.x) {
        long long i = k / dim;
        int c = k % dim;
        out[k] = table[ids[i] * dim + c];
    }
}

extern "C" __global__ void embedding_backward(long long n_ids, int dim, const long long* ids, const float* dy,
                                              float* dtable) {
    long long total = n_ids * dim;
    for (long long k = blockIdx.x * (long long)blockDim.x + threadIdx.x; k < total; k += (long long)gridDim.x * blockDim.x) {
        long long i = k / dim;
        int c = k % dim;
        atomicAdd(&dtable[ids[i] * dim + c], dy[k]);
    }
}
