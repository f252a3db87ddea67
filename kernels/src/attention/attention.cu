// Fused attention (F1) without the T×S matrix in global memory — the flash-attention idea: keys and
// values stream through shared memory in tiles while each query keeps a running maximum m, a running
// sum l and an unnormalised output o (online softmax):
//   for each key j:  m' = max(m, s_j);  l = l·e^(m−m') + e^(s_j−m');  o = o·e^(m−m') + e^(s_j−m')·v_j
// and finally O = o / l, with L = m + log l (the row's log-sum-exp) kept for the backward.
// Layout: q, o, do, dq hold B·H sequences of T rows of d ≤ 128 columns, k, v, dk, dv B·H of S rows,
// each where its `Heads` says (below): heads are read and written in place, e.g. in the packed
// (B, T, 3·H·d) output of the qkv projection. lse and D are dense (B·H, T). scale = 1/√d. With
// `causal`, query i sees key j iff j ≤ i + S − T. reductions.cuh is prepended (warp reductions,
// NEG_INF), and bf16_copy.cuh: every forward also writes O's bf16 copy when given one (the input of
// the output projection), the buffer seen as rows of oh.row. First the readable versions (a
// thread per query or key row).

#define D_MAX 128
#define KEY_TILE 32

// Where the rows of each (batch, head) sequence lie in a buffer (HeadLayout on the host): row r of
// sequence n starts at offset + (n / heads)·batch + (n % heads)·head + r·row, and its d columns
// are consecutive. Dense (B·H, rows, d) is heads = 1, batch = rows·d, row = d.
struct Heads {
    long long offset, batch, head, row, heads;
};

// The first element of sequence n.
__device__ long long sequence_start(Heads h, int n) { return h.offset + (n / h.heads) * h.batch + (n % h.heads) * h.head; }

// The last key query i may see.
__device__ int last_key(int i, int T, int S, int causal) { return causal ? min(i + S - T, S - 1) : S - 1; }

// A block of `blockDim.x` threads handles that many consecutive queries of one (batch, head).
extern "C" __global__ void attention_forward(int T, int S, int d, int causal, float scale, const float* q,
                                             Heads qh, const float* k, Heads kh, const float* v, Heads vh, float* o,
                                             Heads oh, float* lse, Bf16Copy copy) {
    __shared__ float ks[KEY_TILE][D_MAX];
    __shared__ float vs[KEY_TILE][D_MAX];
    const float* qb = q + sequence_start(qh, blockIdx.y);
    const float *kb = k + sequence_start(kh, blockIdx.y), *vb = v + sequence_start(vh, blockIdx.y);
    int i = blockIdx.x * blockDim.x + threadIdx.x;  // this thread's query
    int block_last = min((int)(blockIdx.x * blockDim.x + blockDim.x), T) - 1;
    int last = i < T ? last_key(i, T, S, causal) : -1;
    float qi[D_MAX], acc[D_MAX];
    float m = NEG_INF, l = 0.0f;
    for (int c = 0; c < d; ++c) {
        qi[c] = i < T ? qb[(long long)i * qh.row + c] * scale : 0.0f;
        acc[c] = 0.0f;
    }
    // Keys beyond what the block's last query sees are never loaded.
    for (int j0 = 0; j0 <= last_key(block_last, T, S, causal); j0 += KEY_TILE) {
        for (int idx = threadIdx.x; idx < KEY_TILE * d; idx += blockDim.x) {
            int r = idx / d, c = idx % d, j = j0 + r;
            ks[r][c] = j < S ? kb[(long long)j * kh.row + c] : 0.0f;
            vs[r][c] = j < S ? vb[(long long)j * vh.row + c] : 0.0f;
        }
        __syncthreads();
        for (int r = 0; r < KEY_TILE && j0 + r <= last; ++r) {
            float s = 0.0f;
            for (int c = 0; c < d; ++c) s += qi[c] * ks[r][c];
            float m_new = max_nan(m, s);
            float correction = expf(m - m_new), p = expf(s - m_new);
            l = l * correction + p;
            for (int c = 0; c < d; ++c) acc[c] = acc[c] * correction + p * vs[r][c];
            m = m_new;
        }
        __syncthreads();
    }
    if (i < T) {
        long long row = sequence_start(oh, blockIdx.y) + (long long)i * oh.row;
        for (int c = 0; c < d; ++c) store_with_copy(o, row + c, acc[c] / l, copy);
        lse[(long long)blockIdx.y * T + i] = m + logf(l);
    }
}

// s = q·k and dp = dO·v for one (query, key) pair: the two dot products every backward step needs.
__device__ void score_and_dp(const float* q, const float* k, const float* dout, const float* v, int d, float* s,
                             float* dp) {
    float a = 0.0f, b = 0.0f;
    for (int c = 0; c < d; ++c) {
        a += q[c] * k[c];
        b += dout[c] * v[c];
    }
    *s = a;
    *dp = b;
}

// Backward, step 1: D_i = Σ_c dO_i,c · O_i,c, a warp per query row of the B·H sequences (its lanes
// read the row's consecutive columns together, then add their products by shuffles). The warp also
// zeroes the row's dQ (in `grads`, where dqh says), which the next kernels add into: the gradient
// buffer needs no memset of its own.
extern "C" __global__ void attention_backward_dot(long long rows, int T, int d, const float* o, Heads oh,
                                                  const float* dout, Heads doh, float* dot, float* grads,
                                                  Heads dqh) {
    long long i = (blockIdx.x * (long long)blockDim.x + threadIdx.x) / 32;
    int lane = threadIdx.x % 32;
    if (i >= rows) return;  // whole warps: rows are per warp
    int n = i / T, r = i % T;
    const float* oi = o + sequence_start(oh, n) + (long long)r * oh.row;
    const float* doi = dout + sequence_start(doh, n) + (long long)r * doh.row;
    float s = 0.0f;
    for (int c = lane; c < d; c += 32) s += oi[c] * doi[c];
    s = warp_sum(s);
    if (lane == 0) dot[i] = s;
    float* dqi = grads + sequence_start(dqh, n) + (long long)r * dqh.row;
    for (int c = lane; c < d; c += 32) dqi[c] = 0.0f;
}

// Backward, step 2, a thread per key j: with p_ij = exp(s_ij − L_i) recomputed (s = scale·q_i·k_j),
// dV_j = Σ_i p_ij·dO_i and dK_j = scale·Σ_i ds_ij·q_i over the queries i that see j, where
// ds_ij = p_ij·(dO_i·v_j − D_i).
extern "C" __global__ void attention_backward_dkdv(int T, int S, int d, int causal, float scale, const float* q,
                                                   Heads qh, const float* k, Heads kh, const float* v, Heads vh,
                                                   const float* dout, Heads doh, const float* lse, const float* dot,
                                                   float* grads, Heads dkh, Heads dvh) {
    const float *qb = q + sequence_start(qh, blockIdx.y), *dob = dout + sequence_start(doh, blockIdx.y);
    long long row_base = (long long)blockIdx.y * T;
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= S) return;
    const float *kr = k + sequence_start(kh, blockIdx.y) + (long long)j * kh.row;
    const float *vr = v + sequence_start(vh, blockIdx.y) + (long long)j * vh.row;
    float kj[D_MAX], vj[D_MAX], dkj[D_MAX], dvj[D_MAX];
    for (int c = 0; c < d; ++c) {
        kj[c] = kr[c];
        vj[c] = vr[c];
        dkj[c] = 0.0f;
        dvj[c] = 0.0f;
    }
    for (int i = causal ? max(0, j - (S - T)) : 0; i < T; ++i) {
        const float* qi = qb + (long long)i * qh.row;
        const float* doi = dob + (long long)i * doh.row;
        float s, dp;
        score_and_dp(qi, kj, doi, vj, d, &s, &dp);
        float p = expf(s * scale - lse[row_base + i]);
        float ds = p * (dp - dot[row_base + i]);
        for (int c = 0; c < d; ++c) {
            dvj[c] += p * doi[c];
            dkj[c] += scale * ds * qi[c];
        }
    }
    float* dk = grads + sequence_start(dkh, blockIdx.y) + (long long)j * dkh.row;
    float* dv = grads + sequence_start(dvh, blockIdx.y) + (long long)j * dvh.row;
    for (int c = 0; c < d; ++c) {
        dk[c] = dkj[c];
        dv[c] = dvj[c];
    }
}

// Backward, step 3, a thread per query i: dQ_i = scale·Σ_j ds_ij·k_j over the keys i sees.
extern "C" __global__ void attention_backward_dq(int T, int S, int d, int causal, float scale, const float* q,
                                                 Heads qh, const float* k, Heads kh, const float* v, Heads vh,
                                                 const float* dout, Heads doh, const float* lse, const float* dot,
                                                 float* grads, Heads dqh) {
    const float *kb = k + sequence_start(kh, blockIdx.y), *vb = v + sequence_start(vh, blockIdx.y);
    long long row_base = (long long)blockIdx.y * T;
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= T) return;
    const float* qi = q + sequence_start(qh, blockIdx.y) + (long long)i * qh.row;
    const float* doi = dout + sequence_start(doh, blockIdx.y) + (long long)i * doh.row;
    float dqi[D_MAX];
    for (int c = 0; c < d; ++c) dqi[c] = 0.0f;
    for (int j = 0; j <= last_key(i, T, S, causal); ++j) {
        const float* kj = kb + (long long)j * kh.row;
        const float* vj = vb + (long long)j * vh.row;
        float s, dp;
        score_and_dp(qi, kj, doi, vj, d, &s, &dp);
        float ds = expf(s * scale - lse[row_base + i]) * (dp - dot[row_base + i]);
        for (int c = 0; c < d; ++c) dqi[c] += scale * ds * kj[c];
    }
    float* dq = grads + sequence_start(dqh, blockIdx.y) + (long long)i * dqh.row;
    for (int c = 0; c < d; ++c) dq[c] = dqi[c];
}

// ---- Tiled versions (d ≤ 64): warps share tiles of keys and values in shared memory. ----
//
// Forward: a block of 4 warps owns 32 queries, 8 per warp. For each tile of 32 keys, lane j of a
// warp scores key j against one of its queries at a time, the warp combines the 32 scores by
// shuffles (online softmax as above), and every lane accumulates its columns (lane, lane + 32) of
// the output from the 32 probabilities, passed around by shuffles.

#define TILE 32
#define D_TILED 64

// Loads rows [row0, row0 + TILE) of a (rows, d) matrix, rows `stride` apart, into a shared tile of
// width `width` (zeros past the last row), by all the block's threads.
__device__ void load_tile(float* tile, int width, const float* src, long long stride, int row0, int rows, int d) {
    for (int idx = threadIdx.x; idx < TILE * d; idx += blockDim.x) {
        int r = idx / d, c = idx % d;
        tile[r * width + c] = row0 + r < rows ? src[(long long)(row0 + r) * stride + c] : 0.0f;
    }
}

extern "C" __global__ void attention_forward_tiled(int T, int S, int d, int causal, float scale, const float* q,
                                                   Heads qh, const float* k, Heads kh, const float* v, Heads vh,
                                                   float* o, Heads oh, float* lse, Bf16Copy copy) {
    __shared__ float qs[TILE][D_TILED];
    __shared__ float ks[TILE][D_TILED + 1];  // padded: lane j reads row j without bank conflicts
    __shared__ float vs[TILE][D_TILED];
    const float* qb = q + sequence_start(qh, blockIdx.y);
    const float* kb = k + sequence_start(kh, blockIdx.y);
    const float* vb = v + sequence_start(vh, blockIdx.y);
    int q0 = blockIdx.x * TILE, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    load_tile(&qs[0][0], D_TILED, qb, qh.row, q0, T, d);
    float m[8], l[8], acc[8][2];
#pragma unroll
    for (int r = 0; r < 8; ++r) {
        m[r] = NEG_INF;
        l[r] = 0.0f;
        acc[r][0] = acc[r][1] = 0.0f;
    }
    int block_last = min(q0 + TILE, T) - 1;
    for (int k0 = 0; k0 <= last_key(block_last, T, S, causal); k0 += TILE) {
        __syncthreads();  // the previous tile is no longer read
        load_tile(&ks[0][0], D_TILED + 1, kb, kh.row, k0, S, d);
        load_tile(&vs[0][0], D_TILED, vb, vh.row, k0, S, d);
        __syncthreads();
        // Scores of the warp's 8 queries against key `lane`: each key value is read once for all
        // 8 rows (the loops over rows are unrolled, so the rows' state stays in registers).
        float sc[8], p[8];
#pragma unroll
        for (int r = 0; r < 8; ++r) sc[r] = 0.0f;
        for (int c = 0; c < d; ++c) {
            float kc = ks[lane][c];
#pragma unroll
            for (int r = 0; r < 8; ++r) sc[r] += qs[warp * 8 + r][c] * kc;
        }
#pragma unroll
        for (int r = 0; r < 8; ++r) {
            int i = q0 + warp * 8 + r, j = k0 + lane;
            bool visible = i < T && j < S && j <= last_key(i, T, S, causal);
            float s_r = visible ? sc[r] * scale : NEG_INF;
            float m_new = max_nan(m[r], warp_max(s_r));
            // A row that has seen no visible key yet keeps its empty state.
            float correction = m_new == NEG_INF ? 1.0f : expf(m[r] - m_new);
            p[r] = visible ? expf(s_r - m_new) : 0.0f;
            l[r] = l[r] * correction + warp_sum(p[r]);
            acc[r][0] *= correction;
            acc[r][1] *= correction;
            m[r] = m_new;
        }
        // The rows' probabilities weight the tile's value rows: each value read once for 8 rows.
        for (int jj = 0; jj < TILE; ++jj) {
            float v0 = vs[jj][lane], v1 = lane + 32 < d ? vs[jj][lane + 32] : 0.0f;
#pragma unroll
            for (int r = 0; r < 8; ++r) {
                float pj = __shfl_sync(0xffffffff, p[r], jj);
                acc[r][0] += pj * v0;
                acc[r][1] += pj * v1;
            }
        }
    }
#pragma unroll
    for (int r = 0; r < 8; ++r) {
        int i = q0 + warp * 8 + r;
        if (i >= T) continue;
        long long row = sequence_start(oh, blockIdx.y) + (long long)i * oh.row;
        if (lane < d) store_with_copy(o, row + lane, acc[r][0] / l[r], copy);
        if (lane + 32 < d) store_with_copy(o, row + lane + 32, acc[r][1] / l[r], copy);
        if (lane == 0) lse[(long long)blockIdx.y * T + i] = m[r] + logf(l[r]);
    }
}

// Backward (FlashAttention-2's order): a block of 4 warps owns a tile of 32 keys and keeps their
// dK and dV in registers while it walks the tiles of 32 queries that see them. Per query tile:
// S = scale·Q·Kᵀ and dP = dO·Vᵀ (lane = key), P = exp(S − L), dS = P ⊙ (dP − D) into shared memory;
// then dV += Pᵀ·dO, dK += scale·dSᵀ·Q, and dQ += scale·dS·K added to global memory by atomics (dq
// starts at zero: attention_backward_dot, which computes D = rowsum(dO ⊙ O), zeroes it; dK and dV
// are written).
extern "C" __global__ void attention_backward_tiled(int T, int S, int d, int causal, float scale, const float* q,
                                                    Heads qh, const float* k, Heads kh, const float* v, Heads vh,
                                                    const float* dout, Heads doh, const float* lse, const float* dot,
                                                    float* grads, Heads dqh, Heads dkh, Heads dvh) {
    __shared__ float ks[TILE][D_TILED + 1];
    __shared__ float vs[TILE][D_TILED + 1];
    __shared__ float qs[TILE][D_TILED + 1];
    __shared__ float dos[TILE][D_TILED + 1];
    __shared__ float ps[TILE][TILE + 1];
    __shared__ float dss[TILE][TILE + 1];
    __shared__ float ls[TILE], ds_row[TILE];
    const float *qb = q + sequence_start(qh, blockIdx.y), *dob = dout + sequence_start(doh, blockIdx.y);
    float* dq = grads + sequence_start(dqh, blockIdx.y);
    long long row_base = (long long)blockIdx.y * T;
    int k0 = blockIdx.x * TILE, warp = threadIdx.x / 32, lane = threadIdx.x % 32;
    load_tile(&ks[0][0], D_TILED + 1, k + sequence_start(kh, blockIdx.y), kh.row, k0, S, d);
    load_tile(&vs[0][0], D_TILED + 1, v + sequence_start(vh, blockIdx.y), vh.row, k0, S, d);
    // This thread's share of dK and dV: column c, key rows half, half + 2, …
    int c = threadIdx.x % 64, half = threadIdx.x / 64;
    float dk_acc[16], dv_acc[16];
#pragma unroll
    for (int e = 0; e < 16; ++e) dk_acc[e] = dv_acc[e] = 0.0f;
    // The first query that sees key k0.
    int first = causal ? max(0, k0 - (S - T)) : 0;
    for (int i0 = (first / TILE) * TILE; i0 < T; i0 += TILE) {
        __syncthreads();  // the previous query tile is no longer read
        load_tile(&qs[0][0], D_TILED + 1, qb, qh.row, i0, T, d);
        load_tile(&dos[0][0], D_TILED + 1, dob, doh.row, i0, T, d);
        if (threadIdx.x < TILE) {
            int i = i0 + threadIdx.x;
            ls[threadIdx.x] = i < T ? lse[row_base + i] : 0.0f;
            ds_row[threadIdx.x] = i < T ? dot[row_base + i] : 0.0f;
        }
        __syncthreads();
        // P and dS: warp w takes query rows w, w + 4, …; lane = key. Each key and value element
        // is read once for the warp's 8 rows.
        float sc[8], dp[8];
#pragma unroll
        for (int e = 0; e < 8; ++e) sc[e] = dp[e] = 0.0f;
        for (int cc = 0; cc < d; ++cc) {
            float kc = ks[lane][cc], vc = vs[lane][cc];
#pragma unroll
            for (int e = 0; e < 8; ++e) {
                sc[e] += qs[warp + 4 * e][cc] * kc;
                dp[e] += dos[warp + 4 * e][cc] * vc;
            }
        }
#pragma unroll
        for (int e = 0; e < 8; ++e) {
            int qr = warp + 4 * e, i = i0 + qr, j = k0 + lane;
            bool visible = i < T && j < S && (!causal || j <= i + S - T);
            float p = visible ? expf(sc[e] * scale - ls[qr]) : 0.0f;
            ps[qr][lane] = p;
            dss[qr][lane] = p * (dp[e] - ds_row[qr]);
        }
        __syncthreads();
        if (c < d) {
            // dV and dK rows of this tile's keys (column c): each query-tile element read once.
            for (int qr = 0; qr < TILE; ++qr) {
                float d_o = dos[qr][c], qc = qs[qr][c];
#pragma unroll
                for (int e = 0; e < 16; ++e) {
                    dv_acc[e] += ps[qr][half + 2 * e] * d_o;
                    dk_acc[e] += dss[qr][half + 2 * e] * qc;
                }
            }
            // dQ rows of this query tile (column c), added to global memory: each key element
            // read once for the thread's 16 rows.
            float dq_acc[16];
#pragma unroll
            for (int e = 0; e < 16; ++e) dq_acc[e] = 0.0f;
            for (int kr = 0; kr < TILE; ++kr) {
                float kc = ks[kr][c];
#pragma unroll
                for (int e = 0; e < 16; ++e) dq_acc[e] += dss[half + 2 * e][kr] * kc;
            }
#pragma unroll
            for (int e = 0; e < 16; ++e) {
                int i = i0 + half + 2 * e;
                if (i < T) atomicAdd(&dq[(long long)i * dqh.row + c], scale * dq_acc[e]);
            }
        }
    }
    if (c < d) {
        float* dk = grads + sequence_start(dkh, blockIdx.y);
        float* dv = grads + sequence_start(dvh, blockIdx.y);
#pragma unroll
        for (int e = 0; e < 16; ++e) {
            int j = k0 + half + 2 * e;
            if (j >= S) continue;
            dk[(long long)j * dkh.row + c] = scale * dk_acc[e];
            dv[(long long)j * dvh.row + c] = dv_acc[e];
        }
    }
}
