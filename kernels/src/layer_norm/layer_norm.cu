// Layer normalisation over the last dimension:
// y = (x − μ) / sqrt(σ² + ε) · γ + β with μ, σ² the row's mean and (biased) variance; the forward
// keeps μ and rstd = 1/sqrt(σ² + ε) per row for the backward, and writes y's bf16 copy when given
// one (bf16_copy.cuh: a layer norm's output is the input of a linear layer), or the copy alone
// where y is null (an output only a linear layer reads, kept in bf16 only). Three forward
// versions for study (one thread, one warp, one block per row) and the backward (a warp per row).

// Version 1: one thread walks its row three times (mean, variance, output). Uncoalesced.
extern "C" __global__ void layer_norm_thread_per_row(int rows, int cols, float eps, const float* x,
                                                     const float* gamma, const float* beta, float* y, float* mean,
                                                     float* rstd, Bf16Copy copy) {
    int r = blockIdx.x * blockDim.x + threadIdx.x;
    if (r >= rows) return;
    const float* in = x + (long long)r * cols;
    float s = 0.0f;
    for (int c = 0; c < cols; ++c) s += in[c];
    float mu = s / cols, v = 0.0f;
    for (int c = 0; c < cols; ++c) v += (in[c] - mu) * (in[c] - mu);
    float inv = rsqrtf(v / cols + eps);
    for (int c = 0; c < cols; ++c) store_with_copy(y, r, c, (in[c] - mu) * inv * gamma[c] + beta[c], copy);
    mean[r] = mu;
    rstd[r] = inv;
}

// Version 3: a block per row (long rows); the partial sums meet in shared memory.
extern "C" __global__ void layer_norm_block_per_row(int rows, int cols, float eps, const float* x,
                                                    const float* gamma, const float* beta, float* y, float* mean,
                                                    float* rstd, Bf16Copy copy) {
    int r = blockIdx.x;
    if (r >= rows) return;
    const float* in = x + (long long)r * cols;
    float s = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) s += in[c];
    float mu = block_reduce(s, 0) / cols, v = 0.0f;
    for (int c = threadIdx.x; c < cols; c += blockDim.x) v += (in[c] - mu) * (in[c] - mu);
    float inv = rsqrtf(block_reduce(v, 0) / cols + eps);
    for (int c = threadIdx.x; c < cols; c += blockDim.x)
        store_with_copy(y, r, c, (in[c] - mu) * inv * gamma[c] + beta[c], copy);
    if (threadIdx.x == 0) {
        mean[r] = mu;
        rstd[r] = inv;
    }
}

// Version 2: a warp per row; lanes read consecutive elements and combine by shuffles. A row of up
// to 32·LN_CACHED columns (a Transformer's width) is read once, into registers, with all of a lane's
// loads in flight at once, in float4 packs where the rows, γ and β start 16-byte aligned
// (packs.cuh); longer rows are read three times. WRITE_Y false: the bf16 copy alone (y null), a
// version of its own, so that neither pays registers for the other's branch.
#define LN_CACHED 32
template <int P, bool WRITE_Y>
__device__ void layer_norm_cached_row(int r, int cols, float eps, const float* in, const float* gamma,
                                      const float* beta, float* y, float* mean, float* rstd, Bf16Copy copy) {
    int lane = threadIdx.x % 32, packs = cols / P;
    Pack<P> v[LN_CACHED / P];
    float s = 0.0f, var = 0.0f;
#pragma unroll
    for (int u = 0; u < LN_CACHED / P; ++u) {
        int p = lane + 32 * u;
        v[u] = p < packs ? load_pack<P>(in, p) : filled_pack<P>(0.0f);
#pragma unroll
        for (int e = 0; e < P; ++e) s += v[u].v[e];
    }
    float mu = warp_sum(s) / cols;
#pragma unroll
    for (int u = 0; u < LN_CACHED / P; ++u)
#pragma unroll
        for (int e = 0; e < P; ++e) {
            float centred = lane + 32 * u < packs ? v[u].v[e] - mu : 0.0f;
            var += centred * centred;
        }
    float inv = rsqrtf(warp_sum(var) / cols + eps);
#pragma unroll
    for (int u = 0; u < LN_CACHED / P; ++u) {
        int p = lane + 32 * u;
        if (p >= packs) continue;
        Pack<P> g = load_pack<P>(gamma, p), b = load_pack<P>(beta, p);
#pragma unroll
        for (int e = 0; e < P; ++e) v[u].v[e] = (v[u].v[e] - mu) * inv * g.v[e] + b.v[e];
        if (WRITE_Y)
            store_pack<P>(y + (long long)r * cols, p, v[u]);
        else
            store_copy_pack<P>(r, p, v[u], copy);
    }
    // Beside y, the copy in a loop of its own (no more registers): a pack of 4 is one 8-byte store.
    if (WRITE_Y && copy.data)
#pragma unroll
        for (int u = 0; u < LN_CACHED / P; ++u) {
            int p = lane + 32 * u;
            if (p < packs) store_copy_pack<P>(r, p, v[u], copy);
        }
    if (lane == 0) {
        mean[r] = mu;
        rstd[r] = inv;
    }
}

// A warp per row, into y and its copy (WRITE_Y) or into the copy alone: the two are kernels of
// their own, so that each keeps its registers (in one kernel, ptxas spilled).
template <bool WRITE_Y>
__device__ void layer_norm_warp_row(int rows, int cols, float eps, const float* x, const float* gamma,
                                    const float* beta, float* y, float* mean, float* rstd, Bf16Copy copy) {
    int r = (blockIdx.x * blockDim.x + threadIdx.x) / 32, lane = threadIdx.x % 32;
    if (r >= rows) return;
    const float* in = x + (long long)r * cols;
    if (cols <= 32 * LN_CACHED) {
        if (rows_in_packs_of_4(cols, x, y) && rows_in_packs_of_4(cols, gamma, beta) && copy_rows_aligned_8(copy))
            layer_norm_cached_row<4, WRITE_Y>(r, cols, eps, in, gamma, beta, y, mean, rstd, copy);
        else
            layer_norm_cached_row<1, WRITE_Y>(r, cols, eps, in, gamma, beta, y, mean, rstd, copy);
        return;
    }
    float s = 0.0f;
    for (int c = lane; c < cols; c += 32) s += in[c];
    float mu = warp_sum(s) / cols;
    float v = 0.0f;
    for (int c = lane; c < cols; c += 32) v += (in[c] - mu) * (in[c] - mu);
    float inv = rsqrtf(warp_sum(v) / cols + eps);
    for (int c = lane; c < cols; c += 32) store_with_copy(y, r, c, (in[c] - mu) * inv * gamma[c] + beta[c], copy);
    if (lane == 0) {
        mean[r] = mu;
        rstd[r] = inv;
    }
}

// Three blocks of 8 warps per SM (at most 85 registers): ptxas gives the version with the bf16
// copy 110 otherwise, and two.
extern "C" __global__ void __launch_bounds__(256, 3)
    layer_norm_warp_per_row(int rows, int cols, float eps, const float* x, const float* gamma, const float* beta,
                            float* y, float* mean, float* rstd, Bf16Copy copy) {
    layer_norm_warp_row<true>(rows, cols, eps, x, gamma, beta, y, mean, rstd, copy);
}

// The same with y null: the bf16 copy alone.
extern "C" __global__ void __launch_bounds__(256, 3)
    layer_norm_warp_per_row_bf16(int rows, int cols, float eps, const float* x, const float* gamma,
                                 const float* beta, float* y, float* mean, float* rstd, Bf16Copy copy) {
    layer_norm_warp_row<false>(rows, cols, eps, x, gamma, beta, y, mean, rstd, copy);
}

// Backward with x̂ = (x − μ)·rstd and g = dy ⊙ γ:
// dx = rstd · (g − mean(g) − x̂ · mean(g ⊙ x̂)); dγ = Σ_rows dy ⊙ x̂ and dβ = Σ_rows dy.
// A warp per row, each warp walking rows grid-stride (rows of up to 32·LN_CACHED columns held in
// registers, as in version 2's forward). A lane keeps the same columns for every row it visits, so
// it sums their dγ and dβ in registers and adds them once, when the warp is done; the block's warps
// add into shared memory first (`partials` of 2·cols floats, when given as dynamic shared memory),
// and the block adds those to dgamma and dbeta once, so the global atomics are per block, not per
// row (dgamma and dbeta must start at zero). Wider rows add per element. With `sum` (which may be
// dx itself), dx = sum + the above: the norm's input gradient added to what its input has received
// already (the residual stream's gradient, from the skip connection), so no separate pass adds them.
// dy is f32, or bf16 (D) where the product that made it wrote bf16 (the gradient of a norm's output
// kept in bf16 alone, which the next linear layer's dx product writes in its dtype).
template <class D>
__device__ void layer_norm_backward_of(int rows, int cols, int shared_partials, const float* x, const float* gamma,
                                       const float* mean, const float* rstd, const D* dy, const float* sum, float* dx,
                                       float* dgamma, float* dbeta) {
    extern __shared__ float partials[];
    float* dg = shared_partials ? partials : dgamma;
    float* db = shared_partials ? partials + cols : dbeta;
    if (shared_partials) {
        for (int c = threadIdx.x; c < 2 * cols; c += blockDim.x) partials[c] = 0.0f;
        __syncthreads();
    }
    int warps = blockDim.x / 32, lane = threadIdx.x % 32;
    bool cached = cols <= 32 * LN_CACHED;
    float dg_sum[LN_CACHED], db_sum[LN_CACHED];  // this lane's columns, over the warp's rows
#pragma unroll
    for (int u = 0; u < LN_CACHED; ++u) dg_sum[u] = db_sum[u] = 0.0f;
    for (int r = blockIdx.x * warps + threadIdx.x / 32; r < rows; r += gridDim.x * warps) {
        long long base = (long long)r * cols;
        float mu = mean[r], inv = rstd[r];
        if (cached) {
            // The row's x̂ and dy in registers: read once, every load of a lane in flight at once.
            float xhat[LN_CACHED], d[LN_CACHED], g_sum = 0.0f, gx_sum = 0.0f;
#pragma unroll
            for (int u = 0; u < LN_CACHED; ++u) {
                int c = lane + 32 * u;
                bool in_row = c < cols;
                xhat[u] = in_row ? (x[base + c] - mu) * inv : 0.0f;
                d[u] = in_row ? value_at(dy, base + c) : 0.0f;
                float g = in_row ? d[u] * gamma[c] : 0.0f;
                g_sum += g;
                gx_sum += g * xhat[u];
            }
            float g_mean = warp_sum(g_sum) / cols, gx_mean = warp_sum(gx_sum) / cols;
#pragma unroll
            for (int u = 0; u < LN_CACHED; ++u) {
                int c = lane + 32 * u;
                if (c >= cols) continue;
                float v = inv * (d[u] * gamma[c] - g_mean - xhat[u] * gx_mean);
                dx[base + c] = sum ? sum[base + c] + v : v;
                dg_sum[u] += d[u] * xhat[u];
                db_sum[u] += d[u];
            }
            continue;
        }
        float g_sum = 0.0f, gx_sum = 0.0f;
        for (int c = lane; c < cols; c += 32) {
            float xhat = (x[base + c] - mu) * inv, g = value_at(dy, base + c) * gamma[c];
            g_sum += g;
            gx_sum += g * xhat;
        }
        float g_mean = warp_sum(g_sum) / cols, gx_mean = warp_sum(gx_sum) / cols;
        for (int c = lane; c < cols; c += 32) {
            float d = value_at(dy, base + c), xhat = (x[base + c] - mu) * inv, g = d * gamma[c];
            float v = inv * (g - g_mean - xhat * gx_mean);
            dx[base + c] = sum ? sum[base + c] + v : v;
            atomicAdd(&dg[c], d * xhat);
            atomicAdd(&db[c], d);
        }
    }
    if (cached) {
#pragma unroll
        for (int u = 0; u < LN_CACHED; ++u) {
            int c = lane + 32 * u;
            if (c < cols) {
                atomicAdd(&dg[c], dg_sum[u]);
                atomicAdd(&db[c], db_sum[u]);
            }
        }
    }
    if (shared_partials) {
        __syncthreads();
        for (int c = threadIdx.x; c < cols; c += blockDim.x) {
            atomicAdd(&dgamma[c], partials[c]);
            atomicAdd(&dbeta[c], partials[cols + c]);
        }
    }
}

extern "C" __global__ void layer_norm_backward(int rows, int cols, int shared_partials, const float* x,
                                               const float* gamma, const float* mean, const float* rstd,
                                               const float* dy, const float* sum, float* dx, float* dgamma,
                                               float* dbeta) {
    layer_norm_backward_of(rows, cols, shared_partials, x, gamma, mean, rstd, dy, sum, dx, dgamma, dbeta);
}

extern "C" __global__ void layer_norm_backward_bf16_dy(int rows, int cols, int shared_partials, const float* x,
                                                       const float* gamma, const float* mean, const float* rstd,
                                                       const __nv_bfloat16* dy, const float* sum, float* dx,
                                                       float* dgamma, float* dbeta) {
    layer_norm_backward_of(rows, cols, shared_partials, x, gamma, mean, rstd, dy, sum, dx, dgamma, dbeta);
}
