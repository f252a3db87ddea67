// One AdamW step (F8) on a flat f32 tensor, in place:
// m ← β₁m + (1−β₁)g, v ← β₂v + (1−β₂)g², θ ← θ − lr·(m/(1−β₁ᵗ) / (sqrt(v/(1−β₂ᵗ)) + ε) + λθ).
// bias1 = 1 − β₁ᵗ and bias2 = 1 − β₂ᵗ are computed on the host; weight_decay is 0 for tensors that
// are not decayed.

extern "C" __global__ void adamw_step(long long n, float* param, const float* grad, float* m, float* v, float lr,
                                      float beta1, float beta2, float eps, float weight_decay, float bias1,
                                      float bias2) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        float g = grad[i];
        float mi = beta1 * m[i] + (1.0f - beta1) * g;
        float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        float update = (mi / bias1) / (sqrtf(vi / bias2) + eps);
        param[i] -= lr * (update + weight_decay * param[i]);
    }
}
