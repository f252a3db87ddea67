// Fused cross-entropy forward and backward, a block per row of logits (rows, vocab):
// loss_r = log Σ_c exp(z_c) − z_y, and dz = scale · (softmax(z) − onehot(y)); rows whose target is
// ignore_index get loss 0 and gradient 0. `scale` is the upstream gradient of each row's loss
// (1 / number of counted rows for a mean).

extern "C" __global__ void cross_entropy_fused(int rows, int vocab, const float* logits, const long long* targets,
                                               long long ignore_index, float scale, float* losses, float* dlogits) {
    int r = blockIdx.x;
    if (r >= rows) return;
    const float* z = logits + (long long)r * vocab;
    float* dz = dlogits + (long long)r * vocab;
    long long y = targets[r];
    if (y == ignore_index) {
        for (int c = threadIdx.x; c < vocab; c += blockDim.x) dz[c] = 0.0f;
        if (threadIdx.x == 0) losses[r] = 0.0f;
        return;
    }
    float m, s;
    block_max_and_sum_exp(z, vocab, &m, &s);
    for (int c = threadIdx.x; c < vocab; c += blockDim.x) dz[c] = scale * (expf(z[c] - m) / s - (c == y ? 1.0f : 0.0f));
    if (threadIdx.x == 0) losses[r] = m + logf(s) - z[y];
}
