// GELU forward and backward on dense f32 buffers (the formulas in gelu.cuh, the loop in
// layout.cuh and bf16_copy.cuh, prepended).

// y = GELU(x); approx: 0 = erf, 1 = tanh. With y's bf16 copy when given one (bf16_copy.cuh: a
// GELU's output is the input of the MLP's second linear layer).
extern "C" __global__ void gelu_forward(int approx, long long n, const float* x, float* y, Bf16Copy copy) {
    GRID_STRIDE_LOOP(i, n) { store_with_copy(y, i, gelu_value(approx, x[i]), copy); }
}

// dx = dy · GELU'(x).
extern "C" __global__ void gelu_backward(int approx, long long n, const float* x, const float* dy, float* dx) {
    GRID_STRIDE_LOOP(i, n) {
        dx[i] = dy[i] * gelu_derivative(approx, x[i]);
    }
}
