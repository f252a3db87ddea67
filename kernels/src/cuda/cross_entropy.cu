// Cross-entropy of each row of logits (rows, vocab), a block per row:
// loss_r = log Σ_c exp(z_c) − z_y, and its gradient dz = dloss_r · (softmax(z) − onehot(y)); rows
// whose target is ignore_index get loss 0 and gradient 0. One kernel for both, fused: `losses` or
// `dlogits` may be null (then that half is skipped); `dloss` holds the upstream gradient of each
// row's loss (1 / number of counted rows for a mean). Given the forward's losses (`row_losses`),
// the gradient takes one pass over the row: log Σ_c exp(z_c) = loss_r + z_y, so
// dz = dloss_r · (exp(z − log Σ exp) − onehot) needs no max and sum first. Given an `image`, the
// gradient is also written there rounded to bf16, rows `image_stride` apart: the copy that the
// LM head's two backward products read, so they need no conversion pass over the f32 gradient.
#include <cuda_bf16.h>

// Element c of row r's gradient, into dlogits and, if given, the image.
__device__ void write_gradient(float g, int r, int c, int vocab, float* dlogits, __nv_bfloat16* image,
                               long long image_stride) {
    dlogits[(long long)r * vocab + c] = g;
    if (image) image[r * image_stride + c] = __float2bfloat16_rn(g);
}

extern "C" __global__ void __launch_bounds__(1024)
    cross_entropy_rows(int rows, int vocab, const float* logits, const long long* targets, long long ignore_index,
                       const float* dloss, const float* row_losses, float* losses, float* dlogits,
                       __nv_bfloat16* image, long long image_stride) {
    int r = blockIdx.x;
    if (r >= rows) return;
    const float* z = logits + (long long)r * vocab;
    long long y = targets[r];
    if (y == ignore_index) {
        if (dlogits)
            for (int c = threadIdx.x; c < vocab; c += blockDim.x) write_gradient(0.0f, r, c, vocab, dlogits, image, image_stride);
        if (losses && threadIdx.x == 0) losses[r] = 0.0f;
        return;
    }
    if (dlogits && row_losses && !losses) {
        float scale = dloss[r], lse = row_losses[r] + z[y];
#pragma unroll 4
        for (int c = threadIdx.x; c < vocab; c += blockDim.x)
            write_gradient(scale * (expf(z[c] - lse) - (c == y ? 1.0f : 0.0f)), r, c, vocab, dlogits, image, image_stride);
        return;
    }
    float m, s;
    block_max_and_sum_exp(z, vocab, &m, &s);
    if (dlogits) {
        float scale = dloss[r];
#pragma unroll 4
        for (int c = threadIdx.x; c < vocab; c += blockDim.x)
            write_gradient(scale * (expf(z[c] - m) / s - (c == y ? 1.0f : 0.0f)), r, c, vocab, dlogits, image, image_stride);
    }
    if (losses && threadIdx.x == 0) losses[r] = m + logf(s) - z[y];
}
