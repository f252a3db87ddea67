// ---- Tensor-core versions (d ≤ 64): the tiled kernels' loop order, with every matrix product of a
// step on tensor cores (WMMA, bf16 × bf16 → f32) ----
//
// Forward:  S = Q·Kᵀ, then O += P·V;  backward: Sᵀ = K·Qᵀ, dPᵀ = V·dOᵀ, dV += Pᵀ·dO, dK += dSᵀ·Q,
// dQ += dS·K. Inputs and outputs stay f32, as for the kernels above: tiles are rounded to bf16 as
// they are staged in shared memory (zero-padded to 64 columns), and P and dS are rounded to bf16
// before they multiply. The softmax state (m, l), L, D and every sum stay f32. Heads are read and
// written in place, as above. Appended to attention.cu (Heads, last_key, NEG_INF).

#include <cuda_bf16.h>
#include <mma.h>

#define TC_D 64               // head size as staged (zero-padded)
#define TC_LD (TC_D + 8)      // row stride of staged tiles, in bf16: 16 bytes of padding against bank conflicts
#define TC_FWD_QUERIES 64     // queries per forward block: 16 per warp
#define TC_FWD_KEYS 32        // keys per forward step
#define TC_BWD_KEYS 64        // keys per backward block: 16 per warp
#define TC_BWD_QUERIES 32     // queries per backward step
#define TC_P_LD 40            // row stride of the P and dS tiles (32 wide), in bf16
#define TC_FWD_SCRATCH_LD 68  // row stride of the forward warp's f32 scratch (16 × 64)
#define TC_BWD_SCRATCH_LD 36  // row stride of the backward warp's f32 scratch (16 × 32)

typedef nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, __nv_bfloat16, nvcuda::wmma::row_major> FragA;
typedef nvcuda::wmma::fragment<nvcuda::wmma::matrix_a, 16, 16, 16, __nv_bfloat16, nvcuda::wmma::col_major> FragAT;
typedef nvcuda::wmma::fragment<nvcuda::wmma::matrix_b, 16, 16, 16, __nv_bfloat16, nvcuda::wmma::row_major> FragB;
typedef nvcuda::wmma::fragment<nvcuda::wmma::matrix_b, 16, 16, 16, __nv_bfloat16, nvcuda::wmma::col_major> FragBT;
typedef nvcuda::wmma::fragment<nvcuda::wmma::accumulator, 16, 16, 16, float> FragC;

// Rows [row0, row0 + tile_rows) of a (rows, d) f32 matrix, rows `stride` apart, into a bf16 tile
// of stride TC_LD, zeros past the last row and past column d; by all the block's threads.
__device__ void stage_bf16_tile(__nv_bfloat16* tile, int tile_rows, const float* src, long long stride, int row0,
                                int rows, int d) {
    for (int idx = threadIdx.x; idx < tile_rows * TC_D; idx += blockDim.x) {
        int r = idx / TC_D, c = idx % TC_D;
        float x = row0 + r < rows && c < d ? src[(long long)(row0 + r) * stride + c] : 0.0f;
        tile[r * TC_LD + c] = __float2bfloat16_rn(x);
    }
}

// 16 rows of a staged tile (stride TC_LD) as the four A fragments of their 64 columns. By one warp.
__device__ void load_rows(FragA* a, const __nv_bfloat16* rows) {
#pragma unroll
    for (int kk = 0; kk < TC_D / 16; ++kk) nvcuda::wmma::load_matrix_sync(a[kk], rows + kk * 16, TC_LD);
}

// out (16 × 16·n, f32, stride ldo) = A·Bᵀ for A (16 × 64, from load_rows) and B (16·n × 64, a
// staged tile): the scores of 16 rows against 16·n rows. By one warp.
__device__ void warp_product_abt(float* out, int ldo, const FragA* a, const __nv_bfloat16* b, int n) {
    using namespace nvcuda;
    for (int nb = 0; nb < n; ++nb) {
        FragC c;
        wmma::fill_fragment(c, 0.0f);
#pragma unroll
        for (int kk = 0; kk < TC_D / 16; ++kk) {
            FragBT fb;  // Bᵀ: column-major view of B's rows
            wmma::load_matrix_sync(fb, b + nb * 16 * TC_LD + kk * 16, TC_LD);
            wmma::mma_sync(c, a[kk], fb, c);
        }
        wmma::store_matrix_sync(out + nb * 16, c, ldo, wmma::mem_row_major);
    }
}

// acc (16 × 64, four fragments) += A·B for A (16 × depth, stride lda) and B (depth × 64, a staged
// tile). By one warp.
__device__ void warp_accumulate_ab(FragC* acc, const __nv_bfloat16* a, int lda, const __nv_bfloat16* b, int depth) {
    using namespace nvcuda;
    for (int kk = 0; kk < depth; kk += 16) {
        FragA fa;
        wmma::load_matrix_sync(fa, a + kk, lda);
#pragma unroll
        for (int cb = 0; cb < 4; ++cb) {
            FragB fb;
            wmma::load_matrix_sync(fb, b + kk * TC_LD + cb * 16, TC_LD);
            wmma::mma_sync(acc[cb], fa, fb, acc[cb]);
        }
    }
}

// A block of 4 warps owns 64 queries, 16 per warp, whose fragments stay in registers. Per step of
// 32 keys a warp computes its 16 × 32 scores on tensor cores into shared memory; lane pair
// (2r, 2r + 1) runs the online softmax of row r, half the columns each, writes P (bf16) and
// rescales its half of the row's output, held in registers; the warp's P·V (16 × 64) lands in the
// same scratch and each lane adds its half-row.
extern "C" __global__ void __launch_bounds__(128)
    attention_forward_tensor_cores(int T, int S, int d, int causal, float scale, const float* q, Heads qh,
                                   const float* k, Heads kh, const float* v, Heads vh, float* o, Heads oh,
                                   float* lse, Bf16Copy copy) {
    __shared__ __align__(32) __nv_bfloat16 qs[TC_FWD_QUERIES * TC_LD];
    __shared__ __align__(32) __nv_bfloat16 ks[TC_FWD_KEYS * TC_LD];
    __shared__ __align__(32) __nv_bfloat16 vs[TC_FWD_KEYS * TC_LD];
    __shared__ __align__(32) __nv_bfloat16 ps[4][16 * TC_P_LD];
    __shared__ __align__(32) float scratch[4][16 * TC_FWD_SCRATCH_LD];
    const float* kb = k + sequence_start(kh, blockIdx.y);
    const float* vb = v + sequence_start(vh, blockIdx.y);
    int q0 = blockIdx.x * TC_FWD_QUERIES, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int r = lane / 2, half = lane % 2, i = q0 + warp * 16 + r;  // this lane's row and query
    float* sw = scratch[warp];
    __nv_bfloat16* pw = ps[warp];
    stage_bf16_tile(qs, TC_FWD_QUERIES, q + sequence_start(qh, blockIdx.y), qh.row, q0, T, d);
    __syncthreads();
    FragA q_rows[TC_D / 16];  // the warp's 16 queries, in registers for every step
    load_rows(q_rows, qs + warp * 16 * TC_LD);
    float m = NEG_INF, l = 0.0f, acc[32];
#pragma unroll
    for (int e = 0; e < 32; ++e) acc[e] = 0.0f;
    int block_last = min(q0 + TC_FWD_QUERIES, T) - 1;
    for (int k0 = 0; k0 <= last_key(block_last, T, S, causal); k0 += TC_FWD_KEYS) {
        __syncthreads();  // the previous keys and values are no longer read
        stage_bf16_tile(ks, TC_FWD_KEYS, kb, kh.row, k0, S, d);
        stage_bf16_tile(vs, TC_FWD_KEYS, vb, vh.row, k0, S, d);
        __syncthreads();
        warp_product_abt(sw, TC_FWD_SCRATCH_LD, q_rows, ks, TC_FWD_KEYS / 16);
        __syncwarp();
        float s[16], tile_max = NEG_INF;
#pragma unroll
        for (int jj = 0; jj < 16; ++jj) {
            int j = k0 + half * 16 + jj;
            bool visible = i < T && j < S && j <= last_key(i, T, S, causal);
            s[jj] = visible ? sw[r * TC_FWD_SCRATCH_LD + half * 16 + jj] * scale : NEG_INF;
            tile_max = max_nan(tile_max, s[jj]);
        }
        float m_new = max_nan(m, max_nan(tile_max, __shfl_xor_sync(0xffffffff, tile_max, 1)));
        // A row that has seen no visible key yet keeps its empty state.
        float correction = m_new == NEG_INF ? 1.0f : expf(m - m_new), sum = 0.0f;
#pragma unroll
        for (int jj = 0; jj < 16; ++jj) {
            float p = s[jj] == NEG_INF ? 0.0f : expf(s[jj] - m_new);
            sum += p;
            pw[r * TC_P_LD + half * 16 + jj] = __float2bfloat16_rn(p);
        }
        l = l * correction + sum + __shfl_xor_sync(0xffffffff, sum, 1);
        m = m_new;
        __syncwarp();  // P is complete and the scores are read: the scratch takes P·V
        FragC pv[4];
#pragma unroll
        for (int cb = 0; cb < 4; ++cb) nvcuda::wmma::fill_fragment(pv[cb], 0.0f);
        warp_accumulate_ab(pv, pw, TC_P_LD, vs, TC_FWD_KEYS);
#pragma unroll
        for (int cb = 0; cb < 4; ++cb)
            nvcuda::wmma::store_matrix_sync(sw + cb * 16, pv[cb], TC_FWD_SCRATCH_LD, nvcuda::wmma::mem_row_major);
        __syncwarp();
#pragma unroll
        for (int e = 0; e < 32; ++e) acc[e] = acc[e] * correction + sw[r * TC_FWD_SCRATCH_LD + half * 32 + e];
    }
    if (i < T) {
        long long row = sequence_start(oh, blockIdx.y) + (long long)i * oh.row;
#pragma unroll
        for (int e = 0; e < 32; ++e)
            if (half * 32 + e < d) store_with_copy(o, row + half * 32 + e, acc[e] / l, copy);
        if (half == 0) lse[(long long)blockIdx.y * T + i] = m + logf(l);
    }
}

// Writes a warp's 16 × 64 accumulator (rows row0…, of a (rows, d) matrix whose rows lie `stride`
// apart) times `factor`, one fragment at a time through the warp's 16 × 16 corner of scratch.
__device__ void store_warp_rows(FragC* acc, float* scratch, float* dst, long long stride, int row0, int rows, int d,
                                float factor) {
    int lane = threadIdx.x % 32;
    for (int cb = 0; cb < 4; ++cb) {
        nvcuda::wmma::store_matrix_sync(scratch, acc[cb], TC_BWD_SCRATCH_LD, nvcuda::wmma::mem_row_major);
        __syncwarp();
        for (int e = lane; e < 256; e += 32) {
            int rr = e / 16, c = cb * 16 + e % 16;
            if (row0 + rr < rows && c < d)
                dst[(long long)(row0 + rr) * stride + c] = factor * scratch[rr * TC_BWD_SCRATCH_LD + e % 16];
        }
        __syncwarp();
    }
}

// Backward, FlashAttention-2's order: a block of 4 warps owns 64 keys (16 per warp) and keeps
// their dK and dV in accumulator fragments while it walks the tiles of 32 queries that see them.
// Per tile a warp computes Sᵀ and dPᵀ for its keys (lane pair = key row, half the queries each),
// P = exp(scale·S − L) and dS = P ⊙ (dP − D) into shared memory; then dV += Pᵀ·dO and dK += dSᵀ·Q,
// and, once every warp's dS is in place, dQ += scale·dS·K (2 of the tile's 8 fragments per warp),
// added to global memory by atomics: dq must start at zero (dK and dV are written).
// attention_backward_dot, which computes D = rowsum(dO ⊙ O), zeroes it.
extern "C" __global__ void __launch_bounds__(128)
    attention_backward_tensor_cores(int T, int S, int d, int causal, float scale, const float* q, Heads qh,
                                    const float* k, Heads kh, const float* v, Heads vh, const float* dout, Heads doh,
                                    const float* lse, const float* dot, float* grads, Heads dqh, Heads dkh,
                                    Heads dvh) {
    using namespace nvcuda;
    __shared__ __align__(32) __nv_bfloat16 ks[TC_BWD_KEYS * TC_LD];
    __shared__ __align__(32) __nv_bfloat16 vs[TC_BWD_KEYS * TC_LD];
    __shared__ __align__(32) __nv_bfloat16 qs[TC_BWD_QUERIES * TC_LD];
    __shared__ __align__(32) __nv_bfloat16 dos[TC_BWD_QUERIES * TC_LD];
    __shared__ __align__(32) __nv_bfloat16 pts[TC_BWD_KEYS * TC_P_LD];   // Pᵀ: key rows, query columns
    __shared__ __align__(32) __nv_bfloat16 dsts[TC_BWD_KEYS * TC_P_LD];  // dSᵀ
    __shared__ __align__(32) float scratch[4][16 * TC_BWD_SCRATCH_LD];
    __shared__ float ls[TC_BWD_QUERIES], ds_row[TC_BWD_QUERIES];
    const float *qb = q + sequence_start(qh, blockIdx.y), *dob = dout + sequence_start(doh, blockIdx.y);
    float* dq = grads + sequence_start(dqh, blockIdx.y);
    long long row_base = (long long)blockIdx.y * T;
    int k0 = blockIdx.x * TC_BWD_KEYS, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    int r = lane / 2, half = lane % 2, j = k0 + warp * 16 + r;  // this lane's key row and key
    float* sw = scratch[warp];
    stage_bf16_tile(ks, TC_BWD_KEYS, k + sequence_start(kh, blockIdx.y), kh.row, k0, S, d);
    stage_bf16_tile(vs, TC_BWD_KEYS, v + sequence_start(vh, blockIdx.y), vh.row, k0, S, d);
    FragC dk_acc[4], dv_acc[4];
#pragma unroll
    for (int cb = 0; cb < 4; ++cb) {
        wmma::fill_fragment(dk_acc[cb], 0.0f);
        wmma::fill_fragment(dv_acc[cb], 0.0f);
    }
    int first = causal ? max(0, k0 - (S - T)) : 0;  // the first query that sees key k0
    for (int i0 = first / TC_BWD_QUERIES * TC_BWD_QUERIES; i0 < T; i0 += TC_BWD_QUERIES) {
        __syncthreads();  // the previous query tile and dS are no longer read
        stage_bf16_tile(qs, TC_BWD_QUERIES, qb, qh.row, i0, T, d);
        stage_bf16_tile(dos, TC_BWD_QUERIES, dob, doh.row, i0, T, d);
        if (threadIdx.x < TC_BWD_QUERIES) {
            int i = i0 + threadIdx.x;
            ls[threadIdx.x] = i < T ? lse[row_base + i] : 0.0f;
            ds_row[threadIdx.x] = i < T ? dot[row_base + i] : 0.0f;
        }
        __syncthreads();
        FragA rows[TC_D / 16];  // the warp's 16 keys, then values (reloaded per tile: registers are short here)
        load_rows(rows, ks + warp * 16 * TC_LD);
        warp_product_abt(sw, TC_BWD_SCRATCH_LD, rows, qs, TC_BWD_QUERIES / 16);
        __syncwarp();
        float p[16];
#pragma unroll
        for (int ii = 0; ii < 16; ++ii) {
            int qi = half * 16 + ii, i = i0 + qi;
            bool visible = i < T && j < S && (!causal || j <= i + S - T);
            p[ii] = visible ? expf(sw[r * TC_BWD_SCRATCH_LD + qi] * scale - ls[qi]) : 0.0f;
            pts[(warp * 16 + r) * TC_P_LD + qi] = __float2bfloat16_rn(p[ii]);
        }
        __syncwarp();  // the scores are read: the scratch takes dPᵀ
        load_rows(rows, vs + warp * 16 * TC_LD);
        warp_product_abt(sw, TC_BWD_SCRATCH_LD, rows, dos, TC_BWD_QUERIES / 16);
        __syncwarp();
#pragma unroll
        for (int ii = 0; ii < 16; ++ii) {
            int qi = half * 16 + ii;
            float ds = p[ii] * (sw[r * TC_BWD_SCRATCH_LD + qi] - ds_row[qi]);
            dsts[(warp * 16 + r) * TC_P_LD + qi] = __float2bfloat16_rn(ds);
        }
        __syncwarp();
        warp_accumulate_ab(dv_acc, pts + warp * 16 * TC_P_LD, TC_P_LD, dos, TC_BWD_QUERIES);
        warp_accumulate_ab(dk_acc, dsts + warp * 16 * TC_P_LD, TC_P_LD, qs, TC_BWD_QUERIES);
        __syncthreads();  // every warp's rows of dSᵀ are in place
        for (int f = warp * 2; f < warp * 2 + 2; ++f) {
            int rb = f / 4, cb = f % 4;  // the fragment's query rows and head columns
            FragC c;
            wmma::fill_fragment(c, 0.0f);
#pragma unroll
            for (int kk = 0; kk < TC_BWD_KEYS; kk += 16) {
                FragAT a;  // dS = (dSᵀ)ᵀ: a column-major view of dSᵀ
                FragB b;
                wmma::load_matrix_sync(a, dsts + kk * TC_P_LD + rb * 16, TC_P_LD);
                wmma::load_matrix_sync(b, ks + kk * TC_LD + cb * 16, TC_LD);
                wmma::mma_sync(c, a, b, c);
            }
            wmma::store_matrix_sync(sw, c, TC_BWD_SCRATCH_LD, wmma::mem_row_major);
            __syncwarp();
            for (int e = lane; e < 256; e += 32) {
                int i = i0 + rb * 16 + e / 16, col = cb * 16 + e % 16;
                if (i < T && col < d)
                    atomicAdd(&dq[(long long)i * dqh.row + col], scale * sw[(e / 16) * TC_BWD_SCRATCH_LD + e % 16]);
            }
            __syncwarp();
        }
    }
    float* dk = grads + sequence_start(dkh, blockIdx.y);
    float* dv = grads + sequence_start(dvh, blockIdx.y);
    store_warp_rows(dk_acc, sw, dk, dkh.row, k0 + warp * 16, S, d, scale);
    store_warp_rows(dv_acc, sw, dv, dvh.row, k0 + warp * 16, S, d, 1.0f);
}
