// Cross-entropy of each row of logits (rows, vocab; rows `stride` apart), a block per row:
// loss_r = log Σ_c exp(z_c) − z_y, and its gradient dz = dloss_r · (softmax(z) − onehot(y)); rows
// whose target is ignore_index get loss 0 and gradient 0. One kernel for both, fused: `losses` or
// `dlogits` may be null (then that half is skipped); `dloss` holds the upstream gradient of each
// row's loss (1 / number of counted rows for a mean). Given the forward's losses (`row_losses`),
// the gradient takes one pass over the row: log Σ_c exp(z_c) = loss_r + z_y, so
// dz = dloss_r · (exp(z − log Σ exp) − onehot) needs no max and sum first. The gradient's bf16
// copy, when given (bf16_copy.cuh), is what the LM head's two backward products read, so they
// need no conversion pass over the f32 gradient.

// Row r's gradient dz_c = scale · (exp(z_c − lse) − [c = y]), into dlogits and its copy. Each
// thread reads CE_BATCH packs of logits (packs.cuh: float4s where the row starts 16-byte aligned,
// as the LM head's product writes them) before it writes their gradients, so those loads are in
// flight together (a blockDim-strided loop that stores is otherwise one round trip per element);
// the last vocab % P logits follow one by one.
#define CE_BATCH 4
template <int P>
__device__ void write_row_gradient(const float* z, int r, int vocab, long long y, float scale, float lse,
                                   float* dlogits, Bf16Copy copy) {
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
            for (int e = 0; e < P; ++e) {
                int c = P * p + e;
                store_with_copy(dlogits, r, c, scale * (expf(zp[k].v[e] - lse) - (c == y ? 1.0f : 0.0f)), copy);
            }
        }
    }
    for (int c = packs * P + threadIdx.x; c < vocab; c += blockDim.x)
        store_with_copy(dlogits, r, c, scale * (expf(z[c] - lse) - (c == y ? 1.0f : 0.0f)), copy);
}

// The gradient of row r, in packs of 4 where its logits start 16-byte aligned and no bf16 copy is
// written. With a copy, a warp's 2-byte copy stores of packs fall 8 bytes apart, and on an H200
// GPT-2's two cross-entropy launches took 7.4 ms so against 5.3 ms element by element (whose
// stores are consecutive): with a copy, the gradient goes element by element.
__device__ void row_gradient(const float* z, int r, int vocab, long long y, float scale, float lse, float* dlogits,
                             Bf16Copy copy) {
    if (aligned_16(z) && !copy.data)
        write_row_gradient<4>(z, r, vocab, y, scale, lse, dlogits, copy);
    else
        write_row_gradient<1>(z, r, vocab, y, scale, lse, dlogits, copy);
}

extern "C" __global__ void __launch_bounds__(1024)
    cross_entropy_rows(int rows, int vocab, long long stride, const float* logits, const long long* targets, long long ignore_index,
                       const float* dloss, const float* row_losses, float* losses, float* dlogits, Bf16Copy copy) {
    int r = blockIdx.x;
    if (r >= rows) return;
    const float* z = logits + r * stride;
    long long y = targets[r];
    if (y == ignore_index) {
        if (dlogits)
            for (int c = threadIdx.x; c < vocab; c += blockDim.x) store_with_copy(dlogits, r, c, 0.0f, copy);
        if (losses && threadIdx.x == 0) losses[r] = 0.0f;
        return;
    }
    if (dlogits && row_losses && !losses) {
        row_gradient(z, r, vocab, y, dloss[r], row_losses[r] + z[y], dlogits, copy);
        return;
    }
    float m, s;
    if (aligned_16(z))
        block_max_and_sum_exp<4>(z, vocab, &m, &s);
    else
        block_max_and_sum_exp<1>(z, vocab, &m, &s);
    if (dlogits) row_gradient(z, r, vocab, y, dloss[r], m + logf(s), dlogits, copy);
    if (losses && threadIdx.x == 0) losses[r] = m + logf(s) - z[y];
}
