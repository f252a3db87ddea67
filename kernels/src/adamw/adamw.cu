// AdamW (F8) on f32 tensors, in place, in PyTorch's order of operations (as the CPU kernel):
// θ ← θ·decay; m ← β₁m + (1−β₁)g; v ← β₂v + (1−β₂)g²; θ ← θ − step·m / (√v / √(1−β₂ᵗ) + ε),
// with decay = 1 − ηλ (λ = 0 for tensors that are not decayed) and step = η / (1 − β₁ᵗ), both
// computed on the host in f64.

// The update of element i with its gradient scaled by `scale` (1, or clipping's factor): the
// moments in place, the parameter's new value returned.
__device__ float adamw_update(long long i, const float* param, const float* grad, float scale, float* m, float* v,
                              float beta1, float beta2, float eps, float decay, float step, float sqrt_bias2) {
    float g = grad[i] * scale, p = param[i] * decay;
    float mi = beta1 * m[i] + (1.0f - beta1) * g;
    float vi = beta2 * v[i] + (1.0f - beta2) * g * g;
    m[i] = mi;
    v[i] = vi;
    return p - step * mi / (sqrtf(vi) / sqrt_bias2 + eps);
}

// One tensor.
extern "C" __global__ void adamw_step(long long n, float* param, const float* grad, float* m, float* v, float beta1,
                                      float beta2, float eps, float decay, float step, float sqrt_bias2) {
    GRID_STRIDE_LOOP(i, n) {
        param[i] = adamw_update(i, param, grad, 1.0f, m, v, beta1, beta2, eps, decay, step, sqrt_bias2);
    }
}

// Many tensors in one launch ("multi-tensor apply", as PyTorch's fused AdamW): each tensor's
// elements are cut into chunks of ADAMW_CHUNK, numbered one tensor after another, and block b
// updates chunk b, finding its tensor by binary search over the tensors' first chunks. Each
// tensor has its own decay and step (weight decay, learning rate); β₁, β₂, ε and the step count
// are shared. A matrix with a bf16 copy (bf16_copy.cuh) gets its new values rounded there too:
// the copy that bf16 matrix products of the weight read, so the next step's forward needs no
// conversion pass. With `clip` (`[‖g‖, factor]` from clip_factor), every gradient is first
// scaled by the factor. (AdamWTensorSlices in adamw/cuda.rs.)
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

// The tensor whose chunks include this block's: the last whose first chunk is at most blockIdx.x.
__device__ const AdamWTensor& tensor_of_block(int count, const AdamWTensor* tensors) {
    int lo = 0, hi = count - 1;
    while (lo < hi) {
        int mid = (lo + hi + 1) / 2;
        if (tensors[mid].first_chunk <= (long long)blockIdx.x) lo = mid;
        else hi = mid - 1;
    }
    return tensors[lo];
}

extern "C" __global__ void adamw_step_multi_tensor(int count, const AdamWTensor* tensors, float beta1, float beta2,
                                                   float eps, float sqrt_bias2, const float* clip) {
    AdamWTensor t = tensor_of_block(count, tensors);
    float scale = clip ? clip[1] : 1.0f;
    long long start = ((long long)blockIdx.x - t.first_chunk) * ADAMW_CHUNK, end = min(start + ADAMW_CHUNK, t.n);
    for (long long i = start + threadIdx.x; i < end; i += blockDim.x) {
        float p = adamw_update(i, t.param, t.grad, scale, t.m, t.v, beta1, beta2, eps, t.decay, t.step, sqrt_bias2);
        store_with_copy(t.param, i, p, t.copy);
    }
}

// Clipping by the global gradient norm on the device, in two launches before the step (no value
// goes to the host): block b adds the squares of the gradients of chunk b (the chunks of the
// step's table) in f64 into partials[b]; then one block adds the partials in order and writes
// clip = [‖g‖, factor], the factor min(1, max_norm / (‖g‖ + 10⁻⁶)) (PyTorch's clip_grad_norm_).
extern "C" __global__ void gradient_squares_multi_tensor(int count, const AdamWTensor* tensors, double* partials) {
    const AdamWTensor& t = tensor_of_block(count, tensors);
    long long start = ((long long)blockIdx.x - t.first_chunk) * ADAMW_CHUNK, end = min(start + ADAMW_CHUNK, t.n);
    double sum = 0.0;
    for (long long i = start + threadIdx.x; i < end; i += blockDim.x) sum += (double)t.grad[i] * t.grad[i];
    sum = block_sum_f64(sum);
    if (threadIdx.x == 0) partials[blockIdx.x] = sum;
}

extern "C" __global__ void clip_factor(long long chunks, const double* partials, float max_norm, float* clip) {
    double sum = 0.0;
    for (long long c = threadIdx.x; c < chunks; c += blockDim.x) sum += partials[c];
    sum = block_sum_f64(sum);
    if (threadIdx.x == 0) {
        double norm = sqrt(sum), factor = (double)max_norm / (norm + 1e-6);
        clip[0] = (float)norm;
        clip[1] = factor < 1.0 ? (float)factor : 1.0f;
    }
}
