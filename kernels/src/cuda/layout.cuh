// A tensor layout as the host passes it (tensor::cuda::KernelLayout): rank ≤ 8, shape, strides
// (0 on broadcast dims) and offset, and the offset of the element with a given row-major index;
// and the grid-stride loop of the elementwise kernels. Prepended to the sources that use either.

#define MAX_DIMS 8

struct Layout {
    int rank;
    long long shape[MAX_DIMS];
    long long strides[MAX_DIMS];
    long long offset;
};

// Offset of the element with row-major index i in a tensor of this layout.
__device__ long long offset_of(long long i, const Layout& l) {
    // Dense and sliced tensors reach the kernels as rank 1 (the host merges dims): no division.
    if (l.rank == 1) return l.offset + i * l.strides[0];
    long long off = l.offset;
    for (int d = l.rank - 1; d >= 0; --d) {
        off += (i % l.shape[d]) * l.strides[d];
        i /= l.shape[d];
    }
    return off;
}

#define GRID_STRIDE_LOOP(i, n) \
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); i += (long long)gridDim.x * blockDim.x)

// Elements n − n % 4 … n − 1: the ones after a loop over whole packs of 4 (grid-stride).
#define TAIL_LOOP(i, n)                                                                                  \
    for (long long i = (n) - (n) % 4 + blockIdx.x * (long long)blockDim.x + threadIdx.x; i < (n); \
         i += (long long)gridDim.x * blockDim.x)
