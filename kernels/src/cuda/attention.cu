// Fused causal attention (F1) without the T×T matrix in global memory — the flash-attention idea:
// keys and values stream through shared memory in tiles while each query keeps a running maximum m,
// a running sum l and an unnormalised output o (online softmax):
//   for each key j:  m' = max(m, s_j);  l = l·e^(m−m') + e^(s_j−m');  o = o·e^(m−m') + e^(s_j−m')·v_j
// and finally O = o / l, with L = m + log l (the row's log-sum-exp) kept for the backward.
// Layout: q, k, v, o, do, dq, dk, dv are (B·H, T, d) contiguous, d ≤ 128; scale = 1/√d.
// These are the readable versions (a thread per query or key row), not tuned ones.

#define D_MAX 128
#define KEY_TILE 32

// A block of `blockDim.x` threads handles that many consecutive queries of one (batch, head).
extern "C" __global__ void attention_forward(int T, int d, float scale, const float* q, const float* k,
                                             const float* v, float* o, float* lse) {
    __shared__ float ks[KEY_TILE][D_MAX];
    __shared__ float vs[KEY_TILE][D_MAX];
    long long base = (long long)blockIdx.y * T * d;
    int i = blockIdx.x * blockDim.x + threadIdx.x;  // this thread's query
    int last_query = min((int)(blockIdx.x * blockDim.x + blockDim.x), T) - 1;
    float qi[D_MAX], acc[D_MAX];
    float m = __int_as_float(0xff800000), l = 0.0f;
    for (int c = 0; c < d; ++c) {
        qi[c] = i < T ? q[base + (long long)i * d + c] * scale : 0.0f;
        acc[c] = 0.0f;
    }
    // Causal: keys beyond the block's last query are never needed.
    for (int j0 = 0; j0 <= last_query; j0 += KEY_TILE) {
        for (int idx = threadIdx.x; idx < KEY_TILE * d; idx += blockDim.x) {
            int r = idx / d, c = idx % d, j = j0 + r;
            ks[r][c] = j < T ? k[base + (long long)j * d + c] : 0.0f;
            vs[r][c] = j < T ? v[base + (long long)j * d + c] : 0.0f;
        }
        __syncthreads();
        for (int r = 0; r < KEY_TILE && i < T; ++r) {
            int j = j0 + r;
            if (j > i) break;
            float s = 0.0f;
            for (int c = 0; c < d; ++c) s += qi[c] * ks[r][c];
            float m_new = fmaxf(m, s);
            float correction = expf(m - m_new), p = expf(s - m_new);
            l = l * correction + p;
            for (int c = 0; c < d; ++c) acc[c] = acc[c] * correction + p * vs[r][c];
            m = m_new;
        }
        __syncthreads();
    }
    if (i < T) {
        for (int c = 0; c < d; ++c) o[base + (long long)i * d + c] = acc[c] / l;
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

// Backward, step 1: D_i = Σ_c dO_i,c · O_i,c (one thread per query row).
extern "C" __global__ void attention_backward_dot(long long rows, int d, const float* o, const float* dout,
                                                  float* dot) {
    long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x;
    if (i >= rows) return;
    float s = 0.0f;
    for (int c = 0; c < d; ++c) s += o[i * d + c] * dout[i * d + c];
    dot[i] = s;
}

// Backward, step 2, a thread per key j: with p_ij = exp(s_ij − L_i) recomputed (s = scale·q_i·k_j),
// dV_j = Σ_{i ≥ j} p_ij·dO_i and dK_j = scale·Σ_{i ≥ j} ds_ij·q_i, where ds_ij = p_ij·(dO_i·v_j − D_i).
extern "C" __global__ void attention_backward_dkdv(int T, int d, float scale, const float* q, const float* k,
                                                   const float* v, const float* dout, const float* lse,
                                                   const float* dot, float* dk, float* dv) {
    long long base = (long long)blockIdx.y * T * d, row_base = (long long)blockIdx.y * T;
    int j = blockIdx.x * blockDim.x + threadIdx.x;
    if (j >= T) return;
    float kj[D_MAX], vj[D_MAX], dkj[D_MAX], dvj[D_MAX];
    for (int c = 0; c < d; ++c) {
        kj[c] = k[base + (long long)j * d + c];
        vj[c] = v[base + (long long)j * d + c];
        dkj[c] = 0.0f;
        dvj[c] = 0.0f;
    }
    for (int i = j; i < T; ++i) {
        const float* qi = q + base + (long long)i * d;
        const float* doi = dout + base + (long long)i * d;
        float s, dp;
        score_and_dp(qi, kj, doi, vj, d, &s, &dp);
        float p = expf(s * scale - lse[row_base + i]);
        float ds = p * (dp - dot[row_base + i]);
        for (int c = 0; c < d; ++c) {
            dvj[c] += p * doi[c];
            dkj[c] += scale * ds * qi[c];
        }
    }
    for (int c = 0; c < d; ++c) {
        dk[base + (long long)j * d + c] = dkj[c];
        dv[base + (long long)j * d + c] = dvj[c];
    }
}

// Backward, step 3, a thread per query i: dQ_i = scale·Σ_{j ≤ i} ds_ij·k_j.
extern "C" __global__ void attention_backward_dq(int T, int d, float scale, const float* q, const float* k,
                                                 const float* v, const float* dout, const float* lse,
                                                 const float* dot, float* dq) {
    long long base = (long long)blockIdx.y * T * d, row_base = (long long)blockIdx.y * T;
    int i = blockIdx.x * blockDim.x + threadIdx.x;
    if (i >= T) return;
    const float* qi = q + base + (long long)i * d;
    const float* doi = dout + base + (long long)i * d;
    float dqi[D_MAX];
    for (int c = 0; c < d; ++c) dqi[c] = 0.0f;
    for (int j = 0; j <= i; ++j) {
        const float* kj = k + base + (long long)j * d;
        const float* vj = v + base + (long long)j * d;
        float s, dp;
        score_and_dp(qi, kj, doi, vj, d, &s, &dp);
        float ds = expf(s * scale - lse[row_base + i]) * (dp - dot[row_base + i]);
        for (int c = 0; c < d; ++c) dqi[c] += scale * ds * kj[c];
    }
    for (int c = 0; c < d; ++c) dq[base + (long long)i * d + c] = dqi[c];
}
