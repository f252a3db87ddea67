// Cross-entropy of each row of logits (rows, vocab; rows `stride` apart), a block per row:
// loss_r = log Σ_c exp(z_c) − z_y, and its gradient dz = dloss_r · (softmax(z) − onehot(y)); rows
// whose target is ignore_index get loss 0 and gradient 0. One kernel for both, fused: `losses` or
// `dlogits` (rows `dlogits_stride` apart) may be null (then that half is skipped); `dloss` holds
// the upstream gradient of each row's loss (1 / number of counted rows for a mean). Given the
// forward's losses (`row_losses`), the gradient takes one pass over the row:
// log Σ_c exp(z_c) = loss_r + z_y, so dz = dloss_r · (exp(z − log Σ exp) − onehot) needs no max and
// sum first. The gradient's bf16 copy, when given (bf16_copy.cuh), is what the LM head's two
// backward products read, so they need no conversion pass over the f32 gradient.

// Row r's gradient dz_c = scale · (exp(z_c − lse) − [c = y]) into its row `dz` and the copy's row r.
// Each thread reads CE_BATCH packs of logits (packs.cuh) before it writes their gradients, so
// those loads are in flight together (a blockDim-strided loop that stores is otherwise one round
// trip per element), and writes each pack whole: 16 bytes of dz, 8 of the copy (P = 4, where the
// logits, dz and the copy all have rows that start aligned: a warp's stores then cover 512 and
// 256 consecutive bytes). The last vocab % P follow one by one. The logits and dz are f32 or bf16
// (Z, D); dz may be the logits' own row (a thread writes only the elements it has read).
#define CE_BATCH 4
template <int P, class Z, class D>
__device__ void write_row_gradient(const Z* z, int r, int vocab, long long y, float scale, float lse, D* dz,
                                   Bf16Copy copy) {
    int packs = vocab / P;
    for (int p0 = threadIdx.x; p0 < packs; p0 += CE_BATCH * blockDim.x) {
        Pack<P> zp[CE_BATCH];
#pragma unroll
        for (int k = 0; k < CE_BATCH; ++k) {
            int p = p0 + k * blockDim.x;
            zp[k] = p < packs ? load_pack<P>(z, p) : filled_pack<P>(0.0f);
        }
#pragma unroll
        for (int k = 0; k < CE_BATCH; ++k) {
            int p = p0 + k * blockDim.x;
            if (p >= packs) continue;
#pragma unroll
            for (int e = 0; e < P; ++e) zp[k].v[e] = scale * (expf(zp[k].v[e] - lse) - (P * p + e == y ? 1.0f : 0.0f));
            store_pack<P>(dz, p, zp[k]);
            store_copy_pack<P>(r, p, zp[k], copy);
        }
    }
    for (int c = packs * P + threadIdx.x; c < vocab; c += blockDim.x) {
        float g = scale * (expf(value_at(z, c) - lse) - (c == y ? 1.0f : 0.0f));
        store_value(dz, c, g);
        store_copy(r, c, g, copy);
    }
}

// The gradient of row r, in packs of 4 where its logits, its gradient and the copy's row start
// aligned (16 bytes for f32 rows, 8 for bf16: the padded rows of a product's logits and of the
// gradient the tensor layer allocates), else element by element.
template <class Z, class D>
__device__ void row_gradient(const Z* z, int r, int vocab, long long y, float scale, float lse, D* dz, Bf16Copy copy) {
    if (packs_aligned<4>(z) && packs_aligned<4>(dz) && copy_rows_aligned_8(copy))
        write_row_gradient<4>(z, r, vocab, y, scale, lse, dz, copy);
    else
        write_row_gradient<1>(z, r, vocab, y, scale, lse, dz, copy);
}

// The maximum m and Σ exp(z − m) of a row, in packs where it starts aligned.
template <class Z>
__device__ void row_max_and_sum_exp(const Z* z, int vocab, float* m, float* s) {
    if (packs_aligned<4>(z))
        block_max_and_sum_exp<4>(z, vocab, m, s);
    else
        block_max_and_sum_exp<1>(z, vocab, m, s);
}

extern "C" __global__ void __launch_bounds__(1024)
    cross_entropy_rows(int rows, int vocab, long long stride, const float* logits, const long long* targets, long long ignore_index,
                       const float* dloss, const float* row_losses, float* losses, float* dlogits,
                       long long dlogits_stride, Bf16Copy copy) {
    int r = blockIdx.x;
    if (r >= rows) return;
    const float* z = logits + r * stride;
    float* dz = dlogits ? dlogits + r * dlogits_stride : nullptr;
    long long y = targets[r];
    if (y == ignore_index) {
        if (dz)
            for (int c = threadIdx.x; c < vocab; c += blockDim.x) {
                dz[c] = 0.0f;
                store_copy(r, c, 0.0f, copy);
            }
        if (losses && threadIdx.x == 0) losses[r] = 0.0f;
        return;
    }
    if (dz && row_losses && !losses) {
        row_gradient(z, r, vocab, y, dloss[r], row_losses[r] + z[y], dz, copy);
        return;
    }
    float m, s;
    row_max_and_sum_exp(z, vocab, &m, &s);
    if (dz) row_gradient(z, r, vocab, y, dloss[r], m + logf(s), dz, copy);
    if (losses && threadIdx.x == 0) losses[r] = m + logf(s) - z[y];
}

// The fused classifier's pass (the LM head's logits never exist in f32): bf16 logits, rows
// `stride` apart, each read once by its block for the row's loss_r = log Σ_c exp(z_c) − z_y and,
// with `gradient`, overwritten by dz = dloss · (softmax(z) − onehot(y)) in bf16, the operand the
// head's two backward products read. `dloss` is every counted row's upstream gradient (1 / the
// number of counted rows, for a mean); ignored rows get loss 0 and, with `gradient`, a zero row.
// z_y is read before the first pass's block-wide merge, after which the row is overwritten.
extern "C" __global__ void __launch_bounds__(1024)
    cross_entropy_bf16_in_place(int rows, int vocab, long long stride, __nv_bfloat16* logits,
                                const long long* targets, long long ignore_index, float dloss, int gradient,
                                float* losses) {
    int r = blockIdx.x;
    if (r >= rows) return;
    __nv_bfloat16* z = logits + r * stride;
    long long y = targets[r];
    Bf16Copy no_copy = {nullptr, vocab, 0};
    if (y == ignore_index) {
        if (gradient)
            for (int c = threadIdx.x; c < vocab; c += blockDim.x) store_value(z, c, 0.0f);
        if (threadIdx.x == 0) losses[r] = 0.0f;
        return;
    }
    float z_y = value_at(z, y), m, s;
    row_max_and_sum_exp(z, vocab, &m, &s);
    if (threadIdx.x == 0) losses[r] = m + logf(s) - z_y;
    if (gradient) row_gradient(z, r, vocab, y, dloss, m + logf(s), z, no_copy);
}
