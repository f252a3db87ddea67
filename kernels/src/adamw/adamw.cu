// AdamW (F8) on f32 tensors, in place, in PyTorch's order of operations (as the CPU kernel):
// θ ← θ·decay; m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; θ ← θ − step·m / (√v / √(1−β₂ᵗ) + ε),
// with decay = 1 − ηλ (λ = 0 for tensors that are not decayed) and step = η / (1 − β₁ᵗ), both
// computed on the host in f64.

// The update of element i: the moments in place, the parameter's new value returned.
__device__ float adamw_update(long long i, const float* param, const float* grad, float* m, float* v, float beta1,
                              float beta2, float eps, float decay, float step, float sqrt_bias2) {
    float g = grad[i], p = param[i] * decay;
    float mi = beta1 * m[i] + (1.0f - beta1) * g;
    float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    return p - step * mi / (sqrtf(vi) / sqrt_bias2 + eps);
}

// One tensor.
extern "C" __global__ void adamw_step(long long n, float* param, const float* grad, float* m, float* v, float beta1,
                                      float beta2, float eps, float decay, float step, float sqrt_bias2) {
    GRID_STRIDE_LOOP(i, n) { param[i] = adamw_update(i, param, grad, m, v, beta1, beta2, eps, decay, step, sqrt_bias2); }
}

// Many tensors in one launch ("multi-tensor apply", as PyTorch's fused AdamW): each tensor's
// elements are cut into chunks of ADAMW_CHUNK, numbered one tensor after another, and block b
// updates chunk b, finding its tensor by binary search over the tensors' first chunks. Each
// tensor has its own decay and step (weight decay, learning rate); β₁, β₂, ε and the step count
// are shared. A matrix with a bf16 copy (bf16_copy.cuh) gets its new values rounded there too:
// the copy that bf16 matrix products of the weight read, so the next step's forward needs no
// conversion pass. (AdamWTensorSlices in adamw/cuda.rs.)
#define ADAMW_CHUNK 4096
struct AdamWTensor {
    float* param;
    const float* grad;
    float* m;
    float* v;
    Bf16Copy copy;
    long long n, first_chunk;
    float decay, step;
};

extern "C" __global__ void adamw_step_multi_tensor(int count, const AdamWTensor* tensors, float beta1, float beta2,
                                                   float eps, float sqrt_bias2) {
    int lo = 0, hi = count - 1;  // the last tensor whose first chunk is at most this block's
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (tensors[mid].first_chunk <= (long long)blockIdx.x) lo = mid;
        else hi = mid - 1;
    }
    AdamWTensor t = tensors[lo];
    long long start = ((long long)blockIdx.x - t.first_chunk) * ADAMW_CHUNK, end = min(start + ADAMW_CHUNK, t.n);
    for (long long i = start + threadIdx.x; i < end; i += blockDim.x)
        store_with_copy(t.param, i, adamw_update(i, t.param, t.grad, t.m, t.v, beta1, beta2, eps, t.decay, t.step, sqrt_bias2),
                        t.copy);
}
