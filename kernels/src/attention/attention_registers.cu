// ---- FlashAttention-2 in registers (d ≤ 64): mma.sync tiles whose scores, probabilities and
// partial outputs never leave the registers ----
//
// The tensor-core kernels above pass every tile of scores through shared memory, because WMMA's
// fragments have no defined layout. mma.sync's have (mma_sync.cuh): the accumulator of
// S = Q·Kᵀ (two 16 × 8 tiles side by side) holds, lane by lane, exactly the elements that the A
// operand of P·V (16 × 16) needs. So the online softmax runs on the accumulators, P is rounded to
// bf16 where it lies, and the output is rescaled and summed in registers. Only the tiles that
// several warps read are staged in shared memory, as bf16 rows (read as rows by ldmatrix, as
// columns by ldmatrix.trans): K and V in the forward; Q, dO, dS and K in the backward. Scores are
// kept in base 2 (scale·log₂e folded in), so every exponential is one exp2. Inputs, outputs and
// sums are f32, as for the kernels above. Appended to attention.cu (Heads, last_key, NEG_INF)
// after mma_sync.cuh.

#define RG_D 64             // head size as staged (zero-padded)
#define RG_LD 36            // row stride of a staged 64-wide tile, in bf16 pairs (32 and 4 of padding)
#define RG_FWD_QUERIES 64   // queries per forward block: 16 per warp
#define RG_FWD_KEYS 64      // keys per forward step
#define RG_BWD_KEYS 64      // keys per backward block: 16 per warp
#define RG_BWD_QUERIES 32   // queries per backward step
#define LOG2E 1.4426950408889634f

// 2^x by the special-function unit alone (ex2.approx.ftz: relative error 2^-22, results below
// 2^-126 flushed to 0). exp2f adds a range test and two products to keep such tiny results, which
// the probabilities here, rounded to bf16 for the next product, cannot use: one instruction for
// four. (The CPU emulator computes exp2f.)
__device__ float fast_exp2(float x) {
#ifdef CUDA_EMULATOR
    return exp2f(x);
#else
    float y;
    asm("ex2.approx.ftz.f32 %0, %1;" : "=f"(y) : "f"(x));
    return y;
#endif
}

// The staging functions below run on all RG_THREADS threads of a block. Each thread reads
// RG_BATCH of its elements (rounded into bf16 pairs in registers) before it writes them, so those
// loads are in flight together. (A loop striding by blockDim.x is not unrolled: its PTX loads a
// pair, stores it and loops, one round trip to memory per pair. All 16 pairs of a 64-key tile at
// once would take the forward to 255 registers; batches of 8 leave it where it was.)
#define RG_THREADS 128
#define RG_BATCH 8

// Rows [row0, row0 + ROWS) of an (n, d) f32 matrix whose rows lie `stride` apart, rounded to bf16
// into tile[r][c] (64 columns, zeros past n and d), stored in pairs: word r·ld + c/2 (ld even). A
// tile wholly inside the rows and the head (row0 + ROWS ≤ n, d = 64) whose rows start 16-byte
// aligned is read four floats a load with no bounds test — a thread's loads 8 rows apart, one
// address and a step — and each four written as one 8-byte store (a half-warp fills a row: no
// bank conflict); any other tile pair by pair, each tested, a warp writing one row's 32 words.
// `src` is global memory, or the pipelined kernels' f32 stage in shared memory (always whole).
template <int ROWS>
__device__ void stage_rows(unsigned* tile, int ld, const float* src, long long stride, int row0, int n, int d) {
    if (row0 + ROWS <= n && d == RG_D && stride % 4 == 0 && (unsigned long long)src % 16 == 0) {
        constexpr int QUADS = ROWS * RG_D / 4 / RG_THREADS, ROWS_APART = RG_THREADS / (RG_D / 4);
        static_assert(QUADS % (RG_BATCH / 2) == 0, "whole batches of 2 · RG_BATCH floats");
        int r = threadIdx.x / (RG_D / 4), c = threadIdx.x % (RG_D / 4) * 4;
        const float* x = src + (long long)(row0 + r) * stride + c;
        unsigned* out = tile + r * ld + c / 2;
        long long step = ROWS_APART * stride;
        for (int k0 = 0; k0 < QUADS; k0 += RG_BATCH / 2) {
            float4 v[RG_BATCH / 2];
#pragma unroll
            for (int k = 0; k < RG_BATCH / 2; ++k) v[k] = *reinterpret_cast<const float4*>(x + (k0 + k) * step);
#pragma unroll
            for (int k = 0; k < RG_BATCH / 2; ++k)
                *reinterpret_cast<uint2*>(out + (k0 + k) * ROWS_APART * ld) =
                    make_uint2(bf16_pair(v[k].x, v[k].y), bf16_pair(v[k].z, v[k].w));
        }
        return;
    }
    constexpr int PAIRS = ROWS * RG_D / 2 / RG_THREADS;  // per thread
    static_assert(PAIRS % RG_BATCH == 0, "whole batches");
    for (int k0 = 0; k0 < PAIRS; k0 += RG_BATCH) {
        unsigned w[RG_BATCH];
#pragma unroll
        for (int k = 0; k < RG_BATCH; ++k) {
            int p = threadIdx.x + (k0 + k) * RG_THREADS, r = p / (RG_D / 2), c = 2 * (p % (RG_D / 2));
            bool in = row0 + r < n;
            const float* x = src + (long long)(row0 + r) * stride;
            w[k] = bf16_pair(in && c < d ? x[c] : 0.0f, in && c + 1 < d ? x[c + 1] : 0.0f);
        }
#pragma unroll
        for (int k = 0; k < RG_BATCH; ++k) {
            int p = threadIdx.x + (k0 + k) * RG_THREADS;
            tile[p / (RG_D / 2) * ld + p % (RG_D / 2)] = w[k];
        }
    }
}

// The A fragments of rows row0…row0 + 15 of an (n, d) f32 matrix, all 64 columns (4 slices of 16),
// rounded to bf16, zeros past n and d; read once from global memory. By one warp.
__device__ void load_a_rows(unsigned (&a)[4][4], const float* src, long long stride, int row0, int n, int d) {
    int g = threadIdx.x % 32 / 4, q = threadIdx.x % 4;
#pragma unroll
    for (int s = 0; s < 4; ++s)
#pragma unroll
        for (int i = 0; i < 4; ++i) {
            int r = row0 + g + 8 * (i % 2), c = 16 * s + 2 * q + 8 * (i / 2);
            const float* x = src + (long long)r * stride;
            a[s][i] = bf16_pair(r < n && c < d ? x[c] : 0.0f, r < n && c + 1 < d ? x[c + 1] : 0.0f);
        }
}

// The A fragment (16 × 16) at rows m0…, columns 16·s… of a staged tile (pairs, row stride ld, rows
// 16-byte aligned): one ldmatrix.x4, lanes 0–7 naming rows m0… (columns 16·s…), 8–15 rows m0 + 8…,
// 16–23 and 24–31 the same rows 8 columns on.
__device__ void load_a_shared(unsigned (&a)[4], const unsigned* tile, int ld, int m0, int s) {
    int lane = threadIdx.x % 32;
    ldmatrix(a, tile + (m0 + lane % 8 + 8 * (lane / 8 % 2)) * ld + 8 * s + 4 * (lane / 16));
}

// Two B fragments (16 × 8 each) whose 8 columns are rows n0… of a staged tile and whose 16 rows are
// its columns 16·s… and 16·(s + 1)… (pairs, row stride ld, rows 16-byte aligned): B = tileᵀ for
// the slices s and s + 1 of a product's k, into b[0] and b[1]. One ldmatrix.x4: lanes 0–7 name
// rows n0… at column 16·s, 8–15 the same rows 8 columns on, 16–31 the same 16 columns further.
__device__ void load_b_pair_shared(unsigned (&b)[2][2], const unsigned* tile, int ld, int n0, int s) {
    int lane = threadIdx.x % 32;
    unsigned r[4];
    ldmatrix(r, tile + (n0 + lane % 8) * ld + 8 * s + 4 * (lane / 8));
    b[0][0] = r[0], b[0][1] = r[1], b[1][0] = r[2], b[1][1] = r[3];
}

// Two B fragments (16 × 8 each) whose 16 rows are rows k0… of a staged tile and whose 8 columns
// are its columns n0… and n0 + 8… (pairs, row stride ld, rows 16-byte aligned, n0 a multiple of
// 8): B = tile, into b[0] and b[1]. One ldmatrix.x4.trans: lanes 0–15 name rows k0…k0 + 15 at
// column n0, 16–31 the same rows at column n0 + 8.
__device__ void load_b_pair_shared_trans(unsigned (&b)[2][2], const unsigned* tile, int ld, int k0, int n0) {
    int lane = threadIdx.x % 32;
    unsigned r[4];
    ldmatrix_trans(r, tile + (k0 + lane % 16) * ld + n0 / 2 + 4 * (lane / 16));
    b[0][0] = r[0], b[0][1] = r[1], b[1][0] = r[2], b[1][1] = r[3];
}

// The accumulators of two 16 × 8 products side by side, as the A operand (16 × 16) of the next.
__device__ void accumulators_as_a(unsigned (&a)[4], const float (&left)[4], const float (&right)[4]) {
    a[0] = bf16_pair(left[0], left[1]), a[1] = bf16_pair(left[2], left[3]);
    a[2] = bf16_pair(right[0], right[1]), a[3] = bf16_pair(right[2], right[3]);
}

// Rows [row0, row0 + ROWS) of two (n, d) f32 matrices a and b (rows a_row and b_row apart) into
// two f32 tiles (rows a_ld and b_ld floats apart) by cp.async, 16 bytes at a time, zeros past n and
// d (a multiple of 4). By all RG_THREADS threads, each copying the same 16 bytes of rows 8 apart:
// one address per matrix and a step; the caller commits the group.
template <int ROWS>
__device__ void copy_rows_async(float* a_tile, int a_ld, const float* a, long long a_row, float* b_tile, int b_ld,
                                const float* b, long long b_row, int row0, int n, int d) {
    constexpr int CHUNKS = ROWS * RG_D / 4 / RG_THREADS, ROWS_APART = RG_THREADS / (RG_D / 4);
    int r = threadIdx.x / (RG_D / 4), c = threadIdx.x % (RG_D / 4) * 4;
    const float *x = a + (row0 + r) * a_row + c, *y = b + (row0 + r) * b_row + c;
#pragma unroll
    for (int k = 0; k < CHUNKS; ++k, x += ROWS_APART * a_row, y += ROWS_APART * b_row) {
        int row = r + k * ROWS_APART;
        // Else 16 zero bytes, nothing read (x and y, past the matrix then, are not dereferenced).
        bool in = row0 + row < n && c < d;
        cp_async16(a_tile + row * a_ld + c, x, in);
        cp_async16(b_tile + row * b_ld + c, y, in);
    }
}

// Where the forward's K and V tiles lie while the block reads them, and how they get there: the
// main loop (forward_registers below) asks for step i's tile (acquire) and reads its B fragments;
// the next acquire may overwrite them.
//
// Both ways keep the tiles as bf16 rows (RG_LD pairs apart) and read their B fragments alike: K's
// rows by ldmatrix, V's columns by ldmatrix.trans.
struct KeyValueRows {
    unsigned *ks, *vs;
    // B = Kᵀ (16 × 8): keys n0…; head dims 16·sl… and 16·(sl + 1)….
    __device__ void k_fragments(unsigned (&b)[2][2], int n0, int sl) { load_b_pair_shared(b, ks, RG_LD, n0, sl); }
    // B = V (16 × 8): keys 16·kk…; head dims 8·dt… and 8·(dt + 1)….
    __device__ void v_fragments(unsigned (&b)[2][2], int dt, int kk) {
        load_b_pair_shared_trans(b, vs, RG_LD, 16 * kk, 8 * dt);
    }
};

// Bf16Tiles: K and V rounded to bf16 rows by the whole block, synchronously: every warp waits for
// each tile's loads before it multiplies. Any layout.
struct Bf16Tiles : KeyValueRows {
    const float *kb, *vb;
    long long k_row, v_row;
    int S, d;
    __device__ void begin(int steps) {}
    __device__ void acquire(int step, int steps) {
        __syncthreads();  // the previous keys and values are no longer read
        stage_rows<RG_FWD_KEYS>(ks, RG_LD, kb, k_row, step * RG_FWD_KEYS, S, d);
        stage_rows<RG_FWD_KEYS>(vs, RG_LD, vb, v_row, step * RG_FWD_KEYS, S, d);
        __syncthreads();
    }
};

// AsyncTiles: K and V copied as they are (f32 rows) by cp.async into a stage, step i + 1's tile
// loading while the warps multiply step i's; acquiring a tile, the block rounds the stage into the
// bf16 rows (stage_rows: a whole tile, four floats a read) and frees it for the next. Needs K's
// and V's rows 16-byte aligned (the launch checks) and d a multiple of 4.
struct AsyncTiles : KeyValueRows {
    float* stage;  // K's then V's 64 rows of 64 floats
    const float *kb, *vb;
    long long k_row, v_row;
    int S, d;
    // Step `step`'s tile into the stage: 16-byte chunks, zeros past S and d.
    __device__ void issue(int step) {
        float* v_stage = stage + RG_FWD_KEYS * RG_D;
        copy_rows_async<RG_FWD_KEYS>(stage, RG_D, kb, k_row, v_stage, RG_D, vb, v_row, step * RG_FWD_KEYS, S, d);
        cp_async_commit();
    }
    __device__ void begin(int steps) {
        if (steps > 0) issue(0);
    }
    __device__ void acquire(int step, int steps) {
        cp_async_wait<0>();
        __syncthreads();  // every thread's chunks are in place, and the previous rows no longer read
        stage_rows<RG_FWD_KEYS>(ks, RG_LD, stage, RG_D, 0, RG_FWD_KEYS, RG_D);
        stage_rows<RG_FWD_KEYS>(vs, RG_LD, stage + RG_FWD_KEYS * RG_D, RG_D, 0, RG_FWD_KEYS, RG_D);
        __syncthreads();  // the rows are in place, and the stage is free
        if (step + 1 < steps) issue(step + 1);
    }
};

// One step of the online softmax on a warp's 16 × 64 scores (rows row0…, keys k0…; lane (g, q)
// holds rows g and g + 8): the rows' running maximum m and sum l updated (m in base-2 units,
// scale·log₂e·S, the scale applied to the tile's maximum rather than to each score), the output
// accumulators rescaled by 2^(m_old − m_new), and the scores turned into P = 2^(scale·log₂e·s − m)
// in place, one fused multiply-add and one exponential each. MASKED: scores past the sequence's
// end or the causal diagonal become −∞ first, and a row that has seen no visible key keeps its
// empty state; a tile inside both (most of a long sequence's) skips those tests.
template <bool MASKED>
__device__ void online_softmax_step(float (&s)[8][4], float (&m)[2], float (&l)[2], float (&acc)[8][4], float scale2,
                                    int row0, int k0, int T, int S, int causal) {
    int g = threadIdx.x % 32 / 4, quad = threadIdx.x % 4;
    float tile_max[2] = {NEG_INF, NEG_INF};
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            if (MASKED) {
                int i = row0 + g + 8 * (e / 2), j = k0 + nt * 8 + 2 * quad + e % 2;
                if (!(j < S && j <= last_key(i, T, S, causal))) s[nt][e] = NEG_INF;
            }
            tile_max[e / 2] = max_nan(tile_max[e / 2], s[nt][e]);
        }
    float correction[2];
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        tile_max[h] = max_nan(tile_max[h], __shfl_xor_sync(0xffffffff, tile_max[h], 1));
        tile_max[h] = max_nan(tile_max[h], __shfl_xor_sync(0xffffffff, tile_max[h], 2));
        // The largest scaled score, so that no exponent below is positive (any reference would
        // give the same P/l and log-sum-exp; this one cannot overflow): for scale2 > 0 it is the
        // largest score, scaled.
        float m_new = max_nan(m[h], tile_max[h] * scale2);
        // A row that has seen no visible key yet keeps its empty state.
        correction[h] = m_new == NEG_INF ? 1.0f : fast_exp2(m[h] - m_new);
        m[h] = m_new;
        l[h] *= correction[h];
    }
#pragma unroll
    for (int nt = 0; nt < 8; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            float p = fast_exp2(fmaf(s[nt][e], scale2, -m[e / 2]));
            s[nt][e] = MASKED && s[nt][e] == NEG_INF ? 0.0f : p;  // P, in place
            l[e / 2] += s[nt][e];
            acc[nt][e] *= correction[e / 2];
        }
}

// A block of 4 warps owns 64 queries, 16 per warp. Per step of 64 keys, a warp computes its
// 16 × 64 scores (8 accumulator tiles), masks them where the tile needs it, updates each row's
// running maximum m and sum l (the 4 lanes of a quad share a row: a row's maximum is reduced over
// the quad, its sum stays per lane until the end), turns the scores into P in place and adds P·V
// to its 16 × 64 output, rescaled by 2^(m_old − m_new) (online_softmax_step). Lane (g, q) holds
// rows g and g + 8 of its warp's 16.
template <class Tiles>
__device__ void forward_registers(Tiles& tiles, int T, int S, int d, int causal, float scale, const float* q,
                                  Heads qh, float* o, Heads oh, float* lse, Bf16Copy copy) {
    int warp = threadIdx.x / 32, g = threadIdx.x % 32 / 4, quad = threadIdx.x % 4;
    int q0 = blockIdx.x * RG_FWD_QUERIES, row0 = q0 + warp * 16;
    unsigned qf[4][4];  // the warp's 16 queries, for every step
    load_a_rows(qf, q + sequence_start(qh, blockIdx.y), qh.row, row0, T, d);
    float scale2 = scale * LOG2E, m[2] = {NEG_INF, NEG_INF}, l[2] = {0.0f, 0.0f}, acc[8][4];
#pragma unroll
    for (int dt = 0; dt < 8; ++dt)
#pragma unroll
        for (int e = 0; e < 4; ++e) acc[dt][e] = 0.0f;
    int last = last_key(min(q0 + RG_FWD_QUERIES, T) - 1, T, S, causal);
    int steps = last < 0 ? 0 : last / RG_FWD_KEYS + 1;
    tiles.begin(steps);
    for (int step = 0; step < steps; ++step) {
        int k0 = step * RG_FWD_KEYS;
        tiles.acquire(step, steps);
        float s[8][4];  // S = Q·Kᵀ: 8 tiles of 8 keys
#pragma unroll
        for (int nt = 0; nt < 8; ++nt) {
#pragma unroll
            for (int e = 0; e < 4; ++e) s[nt][e] = 0.0f;
#pragma unroll
            for (int sl = 0; sl < 4; sl += 2) {
                unsigned b[2][2];
                tiles.k_fragments(b, nt * 8, sl);
                mma_m16n8k16_bf16(s[nt], qf[sl], b[0]);
                mma_m16n8k16_bf16(s[nt], qf[sl + 1], b[1]);
            }
        }
        // Only tiles that reach past the sequence's end or the diagonal need the mask: every key of
        // this one is visible if the warp's first query sees its last (last_key is at most S − 1).
        if (k0 + RG_FWD_KEYS - 1 <= last_key(row0, T, S, causal))
            online_softmax_step<false>(s, m, l, acc, scale2, row0, k0, T, S, causal);
        else
            online_softmax_step<true>(s, m, l, acc, scale2, row0, k0, T, S, causal);
#pragma unroll
        for (int kk = 0; kk < 4; ++kk) {  // O += P·V, 16 keys at a time
            unsigned p[4];
            accumulators_as_a(p, s[2 * kk], s[2 * kk + 1]);
#pragma unroll
            for (int dt = 0; dt < 8; dt += 2) {
                unsigned b[2][2];
                tiles.v_fragments(b, dt, kk);
                mma_m16n8k16_bf16(acc[dt], p, b[0]);
                mma_m16n8k16_bf16(acc[dt + 1], p, b[1]);
            }
        }
    }
    long long first = sequence_start(oh, blockIdx.y);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        l[h] += __shfl_xor_sync(0xffffffff, l[h], 1);
        l[h] += __shfl_xor_sync(0xffffffff, l[h], 2);
        int i = row0 + g + 8 * h;
        if (i >= T) continue;
#pragma unroll
        for (int dt = 0; dt < 8; ++dt)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                int c = dt * 8 + 2 * quad + e;
                if (c < d) store_with_copy(o, first + (long long)i * oh.row + c, acc[dt][2 * h + e] / l[h], copy);
            }
        // log Σ e^(scale·s) = (m + log₂ l) · ln 2, with m and l in base 2.
        if (quad == 0) lse[(long long)blockIdx.y * T + i] = (m[h] + log2f(l[h])) / LOG2E;
    }
}

// The forward with its tiles staged synchronously (Bf16Tiles).
extern "C" __global__ void __launch_bounds__(RG_THREADS, 3)
    attention_forward_registers(int T, int S, int d, int causal, float scale, const float* q, Heads qh,
                                const float* k, Heads kh, const float* v, Heads vh, float* o, Heads oh, float* lse,
                                Bf16Copy copy) {
    __shared__ __align__(16) unsigned ks[RG_FWD_KEYS * RG_LD];
    __shared__ __align__(16) unsigned vs[RG_FWD_KEYS * RG_LD];
    Bf16Tiles tiles{{ks, vs}, k + sequence_start(kh, blockIdx.y), v + sequence_start(vh, blockIdx.y), kh.row, vh.row, S, d};
    forward_registers(tiles, T, S, d, causal, scale, q, qh, o, oh, lse, copy);
}

// The same with K and V loaded through cp.async while the warps multiply (AsyncTiles; 50 KB of
// dynamic shared memory: the f32 stage, then the bf16 rows of K and V).
extern "C" __global__ void __launch_bounds__(RG_THREADS, 3)
    attention_forward_pipelined(int T, int S, int d, int causal, float scale, const float* q, Heads qh,
                                const float* k, Heads kh, const float* v, Heads vh, float* o, Heads oh, float* lse,
                                Bf16Copy copy) {
    extern __shared__ __align__(16) float stage[];
    unsigned* ks = reinterpret_cast<unsigned*>(stage + 2 * RG_FWD_KEYS * RG_D);
    AsyncTiles tiles{{ks, ks + RG_FWD_KEYS * RG_LD}, stage, k + sequence_start(kh, blockIdx.y),
                     v + sequence_start(vh, blockIdx.y), kh.row, vh.row, S, d};
    forward_registers(tiles, T, S, d, causal, scale, q, qh, o, oh, lse, copy);
}

// Where the backward's tiles of 32 queries lie while the block reads them — Q and dO, each in
// rows (for Sᵀ = K·Qᵀ and dPᵀ = V·dOᵀ) and in columns (for dK += dSᵀ·Q and dV += Pᵀ·dO), and
// their rows' L·log₂e and D — and how they get there, as for the forward's tiles.
//
// Query i's L·log₂e and D (zeros past T): what the backward reads of each query's row besides Q
// and dO, kept beside each tile.
__device__ void query_stats(const float* lse, const float* dot, long long row_base, int i, int T, float* l,
                            float* delta) {
    *l = i < T ? lse[row_base + i] * LOG2E : 0.0f;
    *delta = i < T ? dot[row_base + i] : 0.0f;
}

// Both ways keep the tiles as bf16 rows (RG_LD pairs apart) beside their rows' L·log₂e and D, and
// read their B fragments alike: rows by ldmatrix, columns by ldmatrix.trans.
struct QueryRows {
    unsigned *qs, *dos;
    float *ls, *ds_row;
    // B = Qᵀ or dOᵀ (16 × 8): queries n0…; head dims 16·sl… and 16·(sl + 1)….
    __device__ void q_rows(unsigned (&b)[2][2], int n0, int sl) { load_b_pair_shared(b, qs, RG_LD, n0, sl); }
    __device__ void do_rows(unsigned (&b)[2][2], int n0, int sl) { load_b_pair_shared(b, dos, RG_LD, n0, sl); }
    // B = Q or dO (16 × 8): queries 16·kk…; head dims 8·dt… and 8·(dt + 1)….
    __device__ void q_columns(unsigned (&b)[2][2], int dt, int kk) {
        load_b_pair_shared_trans(b, qs, RG_LD, 16 * kk, 8 * dt);
    }
    __device__ void do_columns(unsigned (&b)[2][2], int dt, int kk) {
        load_b_pair_shared_trans(b, dos, RG_LD, 16 * kk, 8 * dt);
    }
    __device__ float l(int qi) { return ls[qi]; }
    __device__ float delta(int qi) { return ds_row[qi]; }
};

// Bf16QueryTiles: Q and dO rounded to bf16 rows by the whole block, synchronously. Any layout.
struct Bf16QueryTiles : QueryRows {
    const float *qb, *dob, *lse, *dot;
    long long q_row, do_row, row_base;
    int T, d;
    __device__ void begin(int first, int steps) {}
    __device__ void acquire(int tile, int last_tile) {
        int i0 = tile * RG_BWD_QUERIES;
        __syncthreads();  // the previous tiles and dS are no longer read
        stage_rows<RG_BWD_QUERIES>(qs, RG_LD, qb, q_row, i0, T, d);
        stage_rows<RG_BWD_QUERIES>(dos, RG_LD, dob, do_row, i0, T, d);
        if (threadIdx.x < RG_BWD_QUERIES)
            query_stats(lse, dot, row_base, i0 + threadIdx.x, T, &ls[threadIdx.x], &ds_row[threadIdx.x]);
        __syncthreads();
    }
};

// AsyncQueryTiles: Q and dO copied as they are (f32 rows) by cp.async into a stage, the next
// tile's loading while the warps multiply this one's, and rounded into the bf16 rows by the block
// when acquired, as AsyncTiles does; the next tile's L and D come into registers when it is issued
// (32 threads, one row each). Needs every row of Q and dO 16-byte aligned and d a multiple of 4.
struct AsyncQueryTiles : QueryRows {
    float* stage;  // Q's then dO's 32 rows of 64 floats
    const float *qb, *dob, *lse, *dot;
    long long q_row, do_row, row_base;
    int T, d;
    float next_l, next_d;  // this thread's row of the tile issued last
    __device__ void issue(int tile) {
        int i0 = tile * RG_BWD_QUERIES;
        float* do_stage = stage + RG_BWD_QUERIES * RG_D;
        copy_rows_async<RG_BWD_QUERIES>(stage, RG_D, qb, q_row, do_stage, RG_D, dob, do_row, i0, T, d);
        cp_async_commit();
        if (threadIdx.x < RG_BWD_QUERIES) query_stats(lse, dot, row_base, i0 + threadIdx.x, T, &next_l, &next_d);
    }
    __device__ void begin(int first, int steps) {
        if (first < steps) issue(first);
    }
    __device__ void acquire(int tile, int last_tile) {
        cp_async_wait<0>();
        __syncthreads();  // every thread's chunks are in place; the previous rows and dS no longer read
        stage_rows<RG_BWD_QUERIES>(qs, RG_LD, stage, RG_D, 0, RG_BWD_QUERIES, RG_D);
        stage_rows<RG_BWD_QUERIES>(dos, RG_LD, stage + RG_BWD_QUERIES * RG_D, RG_D, 0, RG_BWD_QUERIES, RG_D);
        if (threadIdx.x < RG_BWD_QUERIES) ls[threadIdx.x] = next_l, ds_row[threadIdx.x] = next_d;
        __syncthreads();  // the rows are in place, and the stage is free
        if (tile < last_tile) issue(tile + 1);
    }
};

// Hopper adds 16 bytes to global memory in one reduction (atomicAdd of a float4, sm_90 on).
#if (defined(__CUDA_ARCH__) && __CUDA_ARCH__ >= 900) || defined(CUDA_EMULATOR)
#define HAS_VECTOR_ATOMICS 1
#endif

// Whether the backward may add into dq 4 columns at a time: vector reductions, d a multiple of 4,
// and every row of dq starting 16-byte aligned.
__device__ bool dq_in_packs_of_4(const float* grads, Heads dqh, int d) {
#ifdef HAS_VECTOR_ATOMICS
    return d % 4 == 0 && aligned_16(grads) && (dqh.offset | dqh.batch | dqh.head | dqh.row) % 4 == 0;
#else
    return false;
#endif
}

// dq[rows i0…i0 + 15, columns c0…c0 + 31] += scale · part, a warp's quarter of a query tile's dQ
// held as mma accumulators (lane (g, q) has rows g and g + 8, columns 2q and 2q + 1 of each 8-column
// tile), by atomics: other blocks add into the same rows. In packs of 4 (`packs`): lanes q and
// q ^ 1 swap halves, so the even one holds row g's columns 2q … 2q + 3 and the odd one row g + 8's
// columns 2q − 2 … 2q + 1, and each adds its 4 in one reduction (4 a tile where there were 16).
__device__ void add_dq_quarter(float* dq, long long row_stride, bool packs, float scale, const float (&part)[4][4],
                               int i0, int c0, int T, int d) {
    int g = threadIdx.x % 32 / 4, quad = threadIdx.x % 4;
#pragma unroll
    for (int nt = 0; nt < 4; ++nt) {
#ifdef HAS_VECTOR_ATOMICS
        if (packs) {
            bool even = quad % 2 == 0;
            float got0 = __shfl_xor_sync(0xffffffff, even ? part[nt][2] : part[nt][0], 1);
            float got1 = __shfl_xor_sync(0xffffffff, even ? part[nt][3] : part[nt][1], 1);
            float4 v = even ? make_float4(part[nt][0], part[nt][1], got0, got1)
                            : make_float4(got0, got1, part[nt][2], part[nt][3]);
            v.x *= scale, v.y *= scale, v.z *= scale, v.w *= scale;
            int i = i0 + g + (even ? 0 : 8), c = c0 + nt * 8 + 2 * (quad & ~1);
            if (i < T && c < d) atomicAdd(reinterpret_cast<float4*>(&dq[(long long)i * row_stride + c]), v);
            continue;
        }
#endif
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            int i = i0 + g + 8 * (e / 2), c = c0 + nt * 8 + 2 * quad + e % 2;
            if (i < T && c < d) atomicAdd(&dq[(long long)i * row_stride + c], scale * part[nt][e]);
        }
    }
}

// A warp's Sᵀ and dPᵀ (its 16 keys kw… × the tile's 32 queries i0…, as mma accumulators: lane
// (g, q) holds keys g and g + 8, queries 2q and 2q + 1 of each 8-query tile) turned in place into
// Pᵀ = 2^(scale·log₂e·Sᵀ − L·log₂e) and dSᵀ = Pᵀ ⊙ (dPᵀ − D). MASKED: pairs past the sequences'
// ends or the causal diagonal get P = 0; a tile inside them (most of a long sequence's) skips
// those tests.
template <bool MASKED, class QueryTiles>
__device__ void probabilities_and_score_gradients(QueryTiles& tiles, float (&p)[4][4], float (&ds)[4][4], float scale2,
                                                  int i0, int kw, int T, int S, int causal) {
    int g = threadIdx.x % 32 / 4, quad = threadIdx.x % 4;
#pragma unroll
    for (int nt = 0; nt < 4; ++nt)
#pragma unroll
        for (int e = 0; e < 4; ++e) {
            int qi = nt * 8 + 2 * quad + e % 2, i = i0 + qi, j = kw + g + 8 * (e / 2);
            bool visible = !MASKED || (i < T && j < S && (!causal || j <= i + S - T));
            p[nt][e] = visible ? fast_exp2(fmaf(p[nt][e], scale2, -tiles.l(qi))) : 0.0f;
            ds[nt][e] = p[nt][e] * (ds[nt][e] - tiles.delta(qi));
        }
}

// Backward, FlashAttention-2's order: a block of 4 warps owns 64 keys (16 per warp, their K and V
// rows as A fragments in registers) and keeps their dK and dV in accumulators while it walks the
// tiles of 32 queries that see them. Per tile a warp computes Sᵀ = K·Qᵀ and dPᵀ = V·dOᵀ (16 keys ×
// 32 queries), turns them in place into Pᵀ = 2^(scale·log₂e·Sᵀ − L·log₂e) and
// dSᵀ = Pᵀ ⊙ (dPᵀ − D), and adds dV += Pᵀ·dO and dK += dSᵀ·Q straight from those registers.
// dQ += scale·dS·K needs all 64 keys of a query: the warps write dS to shared memory, then each
// computes a quarter of the tile's dQ (16 queries × 32 columns) and adds it to global memory by
// atomics, so dq must start at zero (dK and dV are written). attention_backward_dot, which computes
// D = rowsum(dO ⊙ O), zeroes it.
template <class QueryTiles>
__device__ void backward_registers(QueryTiles& tiles, unsigned* dss, unsigned* ks, int T, int S, int d, int causal,
                                   float scale, const float* k, Heads kh, const float* v, Heads vh, float* grads,
                                   Heads dqh, Heads dkh, Heads dvh) {
    const float *kb = k + sequence_start(kh, blockIdx.y), *vb = v + sequence_start(vh, blockIdx.y);
    float* dq = grads + sequence_start(dqh, blockIdx.y);
    bool dq_packs = dq_in_packs_of_4(grads, dqh, d);
    int warp = threadIdx.x / 32, g = threadIdx.x % 32 / 4, quad = threadIdx.x % 4;
    int k0 = blockIdx.x * RG_BWD_KEYS, kw = k0 + warp * 16;  // the block's and the warp's first key
    unsigned kf[4][4], vf[4][4];
    load_a_rows(kf, kb, kh.row, kw, S, d);
    load_a_rows(vf, vb, vh.row, kw, S, d);
    stage_rows<RG_BWD_KEYS>(ks, RG_LD, kb, kh.row, k0, S, d);
    float scale2 = scale * LOG2E, dk[8][4], dv[8][4];
#pragma unroll
    for (int dt = 0; dt < 8; ++dt)
#pragma unroll
        for (int e = 0; e < 4; ++e) dk[dt][e] = dv[dt][e] = 0.0f;
    int first = causal ? max(0, k0 - (S - T)) : 0;  // the first query that sees key k0
    int first_tile = first / RG_BWD_QUERIES, last_tile = (T + RG_BWD_QUERIES - 1) / RG_BWD_QUERIES - 1;
    tiles.begin(first_tile, last_tile + 1);
    for (int tile = first_tile; tile <= last_tile; ++tile) {
        int i0 = tile * RG_BWD_QUERIES;
        tiles.acquire(tile, last_tile);
        float p[4][4], ds[4][4];  // Sᵀ → Pᵀ and dPᵀ → dSᵀ: 4 tiles of 8 queries
#pragma unroll
        for (int nt = 0; nt < 4; ++nt) {
#pragma unroll
            for (int e = 0; e < 4; ++e) p[nt][e] = ds[nt][e] = 0.0f;
#pragma unroll
            for (int sl = 0; sl < 4; sl += 2) {
                unsigned b[2][2];
                tiles.q_rows(b, nt * 8, sl);
                mma_m16n8k16_bf16(p[nt], kf[sl], b[0]);
                mma_m16n8k16_bf16(p[nt], kf[sl + 1], b[1]);
                tiles.do_rows(b, nt * 8, sl);
                mma_m16n8k16_bf16(ds[nt], vf[sl], b[0]);
                mma_m16n8k16_bf16(ds[nt], vf[sl + 1], b[1]);
            }
        }
        // Only tiles that reach past the sequences' ends or the causal diagonal need the mask.
        int tile_end = i0 + RG_BWD_QUERIES - 1, warp_end = kw + 15;  // the last query and key
        if (tile_end < T && warp_end < S && (!causal || warp_end <= i0 + S - T))
            probabilities_and_score_gradients<false>(tiles, p, ds, scale2, i0, kw, T, S, causal);
        else
            probabilities_and_score_gradients<true>(tiles, p, ds, scale2, i0, kw, T, S, causal);
#pragma unroll
        for (int kk = 0; kk < 2; ++kk) {  // dV += Pᵀ·dO and dK += dSᵀ·Q, 16 queries at a time
            unsigned pa[4], dsa[4];
            accumulators_as_a(pa, p[2 * kk], p[2 * kk + 1]);
            accumulators_as_a(dsa, ds[2 * kk], ds[2 * kk + 1]);
#pragma unroll
            for (int dt = 0; dt < 8; dt += 2) {
                unsigned b[2][2];
                tiles.do_columns(b, dt, kk);
                mma_m16n8k16_bf16(dv[dt], pa, b[0]);
                mma_m16n8k16_bf16(dv[dt + 1], pa, b[1]);
                tiles.q_columns(b, dt, kk);
                mma_m16n8k16_bf16(dk[dt], dsa, b[0]);
                mma_m16n8k16_bf16(dk[dt + 1], dsa, b[1]);
            }
        }
        // dS (query rows, key columns) into shared memory in bf16 pairs of neighbouring keys: lanes
        // g and g ^ 1 of a quad column hold keys g and g ^ 1; the even one writes the pair of their
        // first query, the odd one the pair of their second, each sending the other its half.
#pragma unroll
        for (int nt = 0; nt < 4; ++nt)
#pragma unroll
            for (int h = 0; h < 2; ++h) {
                bool even = g % 2 == 0;
                float first_query = ds[nt][2 * h], second_query = ds[nt][2 * h + 1];
                float other = __shfl_xor_sync(0xffffffff, even ? second_query : first_query, 4);
                int qi = nt * 8 + 2 * quad + (even ? 0 : 1), key = warp * 16 + (g & ~1) + 8 * h;
                dss[qi * RG_LD + key / 2] = even ? bf16_pair(first_query, other) : bf16_pair(other, second_query);
            }
        __syncthreads();  // every warp's dS is in place
        int mq = warp % 2 * 16, nd = warp / 2 * 32;  // this warp's quarter: 16 queries × 32 columns
        float dq_part[4][4];
#pragma unroll
        for (int nt = 0; nt < 4; ++nt)
#pragma unroll
            for (int e = 0; e < 4; ++e) dq_part[nt][e] = 0.0f;
#pragma unroll
        for (int sl = 0; sl < 4; ++sl) {
            unsigned a[4];
            load_a_shared(a, dss, RG_LD, mq, sl);
#pragma unroll
            for (int nt = 0; nt < 4; nt += 2) {
                unsigned b[2][2];
                load_b_pair_shared_trans(b, ks, RG_LD, 16 * sl, nd + nt * 8);
                mma_m16n8k16_bf16(dq_part[nt], a, b[0]);
                mma_m16n8k16_bf16(dq_part[nt + 1], a, b[1]);
            }
        }
        add_dq_quarter(dq, dqh.row, dq_packs, scale, dq_part, i0 + mq, nd, T, d);
    }
    float* dk_out = grads + sequence_start(dkh, blockIdx.y);
    float* dv_out = grads + sequence_start(dvh, blockIdx.y);
#pragma unroll
    for (int h = 0; h < 2; ++h) {
        int j = kw + g + 8 * h;
        if (j >= S) continue;
#pragma unroll
        for (int dt = 0; dt < 8; ++dt)
#pragma unroll
            for (int e = 0; e < 2; ++e) {
                int c = dt * 8 + 2 * quad + e;
                if (c < d) {
                    dk_out[(long long)j * dkh.row + c] = scale * dk[dt][2 * h + e];
                    dv_out[(long long)j * dvh.row + c] = dv[dt][2 * h + e];
                }
            }
    }
}

// The backward with its query tiles staged synchronously (Bf16QueryTiles).
extern "C" __global__ void __launch_bounds__(RG_THREADS)
    attention_backward_registers(int T, int S, int d, int causal, float scale, const float* q, Heads qh,
                                 const float* k, Heads kh, const float* v, Heads vh, const float* dout, Heads doh,
                                 const float* lse, const float* dot, float* grads, Heads dqh, Heads dkh, Heads dvh) {
    __shared__ __align__(16) unsigned qs[RG_BWD_QUERIES * RG_LD];    // Q: query rows
    __shared__ __align__(16) unsigned dos[RG_BWD_QUERIES * RG_LD];   // dO
    __shared__ __align__(16) unsigned dss[RG_BWD_QUERIES * RG_LD];   // dS: query rows, the block's 64 key columns
    __shared__ __align__(16) unsigned ks[RG_BWD_KEYS * RG_LD];       // K: the block's key rows
    __shared__ float ls[RG_BWD_QUERIES], ds_row[RG_BWD_QUERIES];  // L·log₂e and D of the tile's queries
    Bf16QueryTiles tiles{{qs, dos, ls, ds_row}, q + sequence_start(qh, blockIdx.y),
                         dout + sequence_start(doh, blockIdx.y), lse, dot, qh.row, doh.row, (long long)blockIdx.y * T,
                         T, d};
    backward_registers(tiles, dss, ks, T, S, d, causal, scale, k, kh, v, vh, grads, dqh, dkh, dvh);
}

// The same with the query tiles loaded through cp.async while the warps multiply
// (AsyncQueryTiles), all its shared memory dynamic (39 KB: dS, K, Q and dO as bf16 rows; the
// rows' L·log₂e and D; then the f32 stage).
extern "C" __global__ void __launch_bounds__(RG_THREADS)
    attention_backward_pipelined(int T, int S, int d, int causal, float scale, const float* q, Heads qh,
                                 const float* k, Heads kh, const float* v, Heads vh, const float* dout, Heads doh,
                                 const float* lse, const float* dot, float* grads, Heads dqh, Heads dkh, Heads dvh) {
    extern __shared__ __align__(16) unsigned shared_words[];
    unsigned *dss = shared_words, *ks = dss + RG_BWD_QUERIES * RG_LD, *qs = ks + RG_BWD_KEYS * RG_LD;
    unsigned* dos = qs + RG_BWD_QUERIES * RG_LD;
    float* ls = reinterpret_cast<float*>(dos + RG_BWD_QUERIES * RG_LD);
    float *ds_row = ls + RG_BWD_QUERIES, *stage = ds_row + RG_BWD_QUERIES;
    AsyncQueryTiles tiles{{qs, dos, ls, ds_row}, stage, q + sequence_start(qh, blockIdx.y),
                          dout + sequence_start(doh, blockIdx.y), lse, dot, qh.row, doh.row, (long long)blockIdx.y * T,
                          T, d, 0.0f, 0.0f};
    backward_registers(tiles, dss, ks, T, S, d, causal, scale, k, kh, v, vh, grads, dqh, dkh, dvh);
}
