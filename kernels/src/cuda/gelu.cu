// GELU forward and backward on dense f32 buffers (the formulas in gelu.cuh and the loop in
// layout.cuh, prepended).

// y = GELU(x); approx: 0 = erf, 1 = tanh.
extern "C" __global__ void gelu_forward(int approx, long long n, const float* x, float* y) {
    GRID_STRIDE_LOOP(i, n) {
        y[i] = gelu_value(approx, x[i]);
    }
}

// dx = dy · GELU'(x).
extern "C" __global__ void gelu_backward(int approx, long long n, const float* x, const float* dy, float* dx) {
    GRID_STRIDE_LOOP(i, n) {
        dx[i] = dy[i] * gelu_derivative(approx, x[i]);
    }
}
