// GELU(x) = x·Φ(x): exact (erf) or GPT-2's tanh approximation
// 0.5·x·(1 + tanh(√(2/π)·(x + 0.044715·x³))), and its derivative. Shared by the elementwise kernels
// (the forward is a unary op) and gelu.cu (the backward).

#define SQRT_2_OVER_PI 0.7978845608028654f
#define INV_SQRT_2 0.7071067811865476f
#define INV_SQRT_2PI 0.3989422804014327f

// tanh_approx: 0 = erf, 1 = tanh.
__device__ float gelu_value(int tanh_approx, float v) {
    return tanh_approx ? 0.5f * v * (1.0f + tanhf(SQRT_2_OVER_PI * (v + 0.044715f * v * v * v)))
                       : 0.5f * v * (1.0f + erff(v * INV_SQRT_2));
}

// GELU'(x). erf: Φ(x) + x·φ(x); tanh: 0.5(1 + t) + 0.5x(1 − t²)·√(2/π)(1 + 3·0.044715x²).
__device__ float gelu_derivative(int tanh_approx, float v) {
    if (tanh_approx) {
        float t = tanhf(SQRT_2_OVER_PI * (v + 0.044715f * v * v * v));
        return 0.5f * (1.0f + t) + 0.5f * v * (1.0f - t * t) * SQRT_2_OVER_PI * (1.0f + 3.0f * 0.044715f * v * v);
    }
    return 0.5f * (1.0f + erff(v * INV_SQRT_2)) + v * INV_SQRT_2PI * expf(-0.5f * v * v);
}
