// GELU forward and backward on dense f32 buffers (formulas in gelu.cuh, prepended).

// y = GELU(x); approx: 0 = erf, 1 = tanh.
extern "C" __global__ void gelu_forward(int approx, long long n, const float* x, float* y) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        y[i] = gelu_value(approx, x[i]);
    }
}

// dx = dy · GELU'(x).
extern "C" __global__ void gelu_backward(int approx, long long n, const float* x, const float* dy, float* dx) {
    for (long long i = blockIdx.x * (long long)blockDim.x + threadIdx.x; i < n; i += (long long)gridDim.x * blockDim.x) {
        dx[i] = dy[i] * gelu_derivative(approx, x[i]);
    }
}
