// One AdamW step (F8) on a flat f32 tensor, in place, in PyTorch's order of operations (as the CPU
// kernel): θ ← θ·decay; m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; θ ← θ − step·m / (√v / √(1−β₂ᵗ) + ε),
// with decay = 1 − ηλ (λ = 0 for tensors that are not decayed) and step = η / (1 − β₁ᵗ), both
// computed on the host in f64.

extern "C" __global__ void adamw_step(long long n, float* param, const float* grad, float* m, float* v, float beta1,
                                      float beta2, float eps, float decay, float step, float sqrt_bias2) {
    GRID_STRIDE_LOOP(i, n) {
        float g = grad[i], p = param[i] * decay;
        float mi = beta1 * m[i] + (1.0f - beta1) * g;
        float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
        m[i] = mi;
        v[i] = vi;
        param[i] = p - step * mi / (sqrtf(vi) / sqrt_bias2 + eps);
    }
}
